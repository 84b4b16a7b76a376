"""The ledger's transitions on DynamoDB, each one conditional write, and DynamoDB's errors in domain terms.

Every transition is conditional on the state it leaves (the rules in ``model``), so two invocations can
never both win, and a claim that loses returns the current item in the same call
(``ReturnValuesOnConditionCheckFailure``): a duplicate event costs exactly one ledger call.

The item is written for operators too: ``aws dynamodb get-item --key '{"instance_id": {"S": "i-..."}}'``
shows the status, the dispatch ID the workflow run carries in its name, the run's URL, the attempts, the
last error and a ``history`` list of what happened when.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from deploy_trigger.errors import ClaimContended, LedgerUnavailable
from deploy_trigger.events import LAUNCH_SUCCESSFUL, InstanceLaunch
from deploy_trigger.ledger.codec import (
    PER_LAUNCH_ATTRIBUTES,
    decode_entry,
    encode,
    encode_item,
    expiry,
    history_event,
    new_claim,
)
from deploy_trigger.ledger.dynamodb import ConditionFailed, call
from deploy_trigger.ledger.model import (
    IS_HELD,
    IS_IN_BATCH,
    IS_NEW,
    IS_QUEUED,
    IS_TRACKED,
    IS_WARM_POOL_ENTRY,
    MAY_CLAIM_AGAIN,
    MAY_JOIN_BATCH,
    MAY_JOIN_BATCH_AFTER_DRAINER,
    MAY_RESET,
    MAY_SWEEP_CLAIM_AGAIN,
    MAY_TAKE_FROM_QUEUE,
    MAY_TAKE_OVER,
    Claimed,
    Existing,
    LedgerEntry,
    Status,
    may_claim_again,
    may_sweep_claim_again,
)
from deploy_trigger.ledger.schema import (
    OPEN_DEPLOYMENTS,
    PARTITION_KEY,
    SWEEP_SINCE_ATTRIBUTE,
    SWEEP_SINCE_KEY,
    TRACKING_INDEX,
    TRACKING_KEY,
    TRACKING_SORT_KEY,
    TTL_ATTRIBUTE,
    UNCONFIRMED_OUTCOMES,
    UNRESOLVED_AFTER_SECONDS,
    WAITING_FOR_BUDGET,
    iso_time,
)
from deploy_trigger.ledger.update import Update
from deploy_trigger.runs import RunRef, WorkflowRun

#: BatchGetItem reads at most 100 keys per call.
BATCH_GET_KEYS = 100
#: Rounds of BatchGetItem for the keys DynamoDB left unprocessed (throttling) before giving up for this pass.
BATCH_GET_ROUNDS = 3


class Ledger:
    def __init__(self, client: Any, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    # -- the dispatcher's transitions -------------------------------------------------------------------------

    def claim(
        self, launch: InstanceLaunch, dispatch_id: str, owner: str, lease_until: float, *, queued: bool = False
    ) -> Claimed | Existing:
        """Claim a launch no one has dispatched; return the current item instead when it cannot be claimed.
        ``queued`` (batch mode): the claim parks the launch in the queue, for the drainer's next batch.

        The first launch of an instance is one conditional PutItem (the cheapest write to evaluate), which
        returns the existing item when there is one. An item that may be claimed anyway (``may_claim_again``)
        is claimed with a conditional update that keeps the instance's history: one write more, on that rare
        path only.
        """
        now = self._clock()
        attributes = {
            PARTITION_KEY: launch.instance_id,
            **new_claim(launch, dispatch_id, owner, lease_until, now, queued=queued),
            "created_at": iso_time(now),
            "updated_at": iso_time(now),
            "history": [history_event(now, *_claimed(dispatch_id, launch, queued=queued))],
        }
        item = encode_item(attributes)
        try:
            call(
                "claim",
                self._client.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression=IS_NEW.expression,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ConditionFailed as lost:
            current = decode_entry(lost.item)
            may = (
                may_sweep_claim_again(current, launch.launch_key)
                if launch.found_by_sweep
                else may_claim_again(current, launch.launch_key, launch.started_at(now))
            )
            if may:
                return self._claim_again(launch, dispatch_id, owner, lease_until, queued=queued)
            return Existing(current)
        return Claimed(decode_entry(item))

    def _claim_again(
        self, launch: InstanceLaunch, dispatch_id: str, owner: str, lease_until: float, *, queued: bool
    ) -> Claimed | Existing:
        """Claim an instance's existing item for a new (or reset) launch, keeping its history."""
        now = self._clock()
        attributes = new_claim(launch, dispatch_id, owner, lease_until, now, queued=queued)
        update = (
            Update(launch.instance_id, now)
            .set(**attributes)
            .remove(*(name for name in PER_LAUNCH_ATTRIBUTES if name not in attributes))
            .history(*_claimed(dispatch_id, launch, queued=queued))
        )
        if launch.found_by_sweep:
            update.when(MAY_SWEEP_CLAIM_AGAIN, launch_key=launch.launch_key)
        else:
            update.when(MAY_CLAIM_AGAIN, launch_key=launch.launch_key, launch_time=launch.started_at(now))
        try:
            call("claim", self._client.update_item, **update.arguments(self._table), **_RETURN_OLD)
        except ConditionFailed as lost:
            return Existing(decode_entry(lost.item))  # another invocation claimed it first
        return Claimed(decode_entry(encode_item({PARTITION_KEY: launch.instance_id, **attributes})))

    def take_over(
        self,
        current: LedgerEntry,
        owner: str,
        lease_until: float,
        *,
        launch: InstanceLaunch | None = None,
        dispatch_id: str | None = None,
    ) -> LedgerEntry:
        """Take an expired claim from the invocation that held it (compare-and-swap on its lease).

        With ``launch``, the expired claim belonged to an earlier launch of the instance and this launch
        replaces it under a new ``dispatch_id``. Raises :class:`ClaimContended` when another invocation
        took it first. The returned entry is the one read before the takeover (its ``post_unconfirmed``
        says whether to reconcile), with this invocation's lease.
        """
        now = self._clock()
        update = Update(current.instance_id, now)
        if launch is None or dispatch_id is None:
            update.set(lease_owner=owner, lease_expires_at=lease_until, post_unconfirmed=True).increment("attempts")
            update.history("taken_over", f"attempt {current.attempts + 1}; lease of {current.lease_owner} had expired")
            taken = replace(current, lease_owner=owner, lease_expires_at=lease_until, attempts=current.attempts + 1)
        else:
            attributes = new_claim(launch, dispatch_id, owner, lease_until, now)
            update.set(**attributes).remove(*(name for name in PER_LAUNCH_ATTRIBUTES if name not in attributes))
            update.history("superseded", f"new launch {dispatch_id} replaces unfinished dispatch {current.dispatch_id}")
            fresh = decode_entry(encode_item({PARTITION_KEY: current.instance_id, **attributes}))
            taken = replace(fresh, post_unconfirmed=False)  # a fresh dispatch ID was never sent: nothing to reconcile
        update.remove(TRACKING_KEY, TRACKING_SORT_KEY)  # a retry is on it: no longer unresolved
        update.when(
            MAY_TAKE_OVER,
            seen_launch_key=current.launch_key,
            seen_owner=current.lease_owner or "",
            seen_lease=current.lease_expires_at or 0,
        )
        try:
            call("take-over", self._client.update_item, **update.arguments(self._table))
        except ConditionFailed:
            raise ClaimContended(f"{current.instance_id}: another invocation took over the claim first") from None
        return taken

    def record_dispatched(self, entry: LedgerEntry, owner: str, run: RunRef, *, reconciled: bool) -> bool:
        """GitHub accepted (or reconciliation found) the run. False if this invocation no longer held the claim.

        The hot path's second write, kept to what changes: the lease and last error stay, as the record of how
        the claim went.
        """
        how = "found by reconciliation" if reconciled else "accepted by GitHub"
        update = (
            Update(entry.instance_id, self._clock())
            .set(status=Status.DISPATCHED.value, post_unconfirmed=False, dispatched_at=iso_time(self._clock()))
            .set(**{TRACKING_KEY: OPEN_DEPLOYMENTS, TRACKING_SORT_KEY: self._clock()})  # the tracker follows it
            .set(run_id=run.run_id, run_url=run.html_url or None)
            .history("dispatched", f"{how}; run {run.run_id or 'id not returned'}")
        )
        return self._held(update, entry, owner)

    def record_failed(self, entry: LedgerEntry, owner: str, reason: str) -> bool:
        """GitHub rejected the dispatch for good: no more POSTs until an operator resets the item."""
        now = self._clock()
        update = (
            Update(entry.instance_id, now)
            .set(status=Status.FAILED.value, post_unconfirmed=False, failure_reason=reason, last_error=reason)
            .set(**{TTL_ATTRIBUTE: expiry(now)})
            .remove("lease_expires_at", TRACKING_KEY, TRACKING_SORT_KEY)
            .history("rejected", reason)
        )
        return self._held(update, entry, owner)

    def release(self, entry: LedgerEntry, owner: str, error: str, *, post_unconfirmed: bool, until: float) -> bool:
        """Give the claim up after a failed attempt, so a retry may take over from ``until`` on.

        ``post_unconfirmed`` is False only when GitHub proved it did not act (rate limit, no time to start
        the call) and no earlier POST is unaccounted for; then the next attempt may POST without listing runs.
        """
        now = self._clock()
        update = Update(entry.instance_id, now).set(
            lease_expires_at=until, post_unconfirmed=post_unconfirmed, last_error=error
        )
        if post_unconfirmed:
            # Listed for the tracker: if no retry has settled it by then, a human should know.
            update.set(**{TRACKING_KEY: UNCONFIRMED_OUTCOMES, TRACKING_SORT_KEY: now + UNRESOLVED_AFTER_SECONDS})
        else:
            update.remove(TRACKING_KEY, TRACKING_SORT_KEY)
        return self._held(update.history("released", error), entry, owner)

    def record_warm_pool_continued(self, entry: LedgerEntry, answer: str) -> bool:
        """The warm-pool entry's lifecycle action was continued (or had already ended): the instance's record."""
        update = (
            Update(entry.instance_id, self._clock())
            .set(lifecycle_result=answer)
            .history("warm_pool_continued", answer)
            .when(IS_WARM_POOL_ENTRY, warm_launch_key=entry.launch_key)
        )
        return self._conditional(update)

    # -- the queue of launches waiting for GitHub budget ----------------------------------------------------------

    def park(self, entry: LedgerEntry, owner: str, reason: str, *, not_before: float, post_unconfirmed: bool) -> bool:
        """Park a held claim in the queue, in line at ``not_before``: GitHub's budget has no room for its POST now
        (GitHub did not act on this attempt), and the drainer sends it. ``post_unconfirmed``: an earlier POST of this
        dispatch is still unaccounted for, so the drainer lists runs before sending. False if the claim was lost."""
        update = (
            Update(entry.instance_id, self._clock())
            .set(status=Status.WAITING.value, post_unconfirmed=post_unconfirmed, last_error=reason)
            .set(**{TRACKING_KEY: WAITING_FOR_BUDGET, TRACKING_SORT_KEY: not_before})
            .remove("lease_expires_at")
            .history("waiting", f"{reason}; queued from {iso_time(not_before)}")
        )
        return self._held(update, entry, owner)

    def queued(self, now: float | None, limit: int) -> list[LedgerEntry]:
        """The queue in order (earliest due first), at most ``limit``: ``now`` keeps those due by then, None all."""
        return [decode_entry(item) for item in self._due(WAITING_FOR_BUDGET, now, limit)]

    def take_from_queue(self, seen: LedgerEntry, owner: str, lease_until: float, *, due_again_at: float) -> LedgerEntry:
        """Take a launch from the queue for this drainer: a parked one, or a drainer's expired claim of it.

        It stays in the queue, due again at ``due_again_at`` (after this lease and the run-listing delay), so if this
        drainer dies the next one takes it over and lists runs first: the claim says a POST may happen
        (``post_unconfirmed``) before there is one. Raises :class:`ClaimContended` when another drainer or a
        redelivered event took it first. The returned entry is the one read, with this lease; its
        ``post_unconfirmed`` says whether to reconcile before any POST.
        """
        update = (
            Update(seen.instance_id, self._clock())
            .set(status=Status.CLAIMED.value, lease_owner=owner, lease_expires_at=lease_until, post_unconfirmed=True)
            .set(**{TRACKING_SORT_KEY: due_again_at})
            .increment("attempts")
        )
        if seen.status is Status.WAITING:
            update.when(MAY_TAKE_FROM_QUEUE, seen_dispatch_id=seen.dispatch_id, seen_attempts=seen.attempts)
            update.history("taken_from_queue", f"attempt {seen.attempts + 1}")
        else:
            update.when(
                MAY_TAKE_OVER,
                seen_launch_key=seen.launch_key,
                seen_owner=seen.lease_owner or "",
                seen_lease=seen.lease_expires_at or 0,
            )
            update.history("taken_over", f"attempt {seen.attempts + 1}; the drainer {seen.lease_owner} had stopped")
        try:
            call("take-from-queue", self._client.update_item, **update.arguments(self._table))
        except ConditionFailed:
            raise ClaimContended(f"{seen.instance_id}: taken from the queue by another invocation first") from None
        unconfirmed = seen.post_unconfirmed or seen.status is Status.CLAIMED
        return replace(
            seen,
            status=Status.CLAIMED,
            lease_owner=owner,
            lease_expires_at=lease_until,
            attempts=seen.attempts + 1,
            post_unconfirmed=unconfirmed,
        )

    # -- batch mode: the drainer's batches of queued launches ---------------------------------------------------

    def join_batch(
        self,
        candidates: Sequence[LedgerEntry],
        owner: str,
        lease_until: float,
        *,
        due_again_at: float,
        batch_id: str,
    ) -> list[LedgerEntry]:
        """Take queued launches into a new batch, each as it was read and only if it is in no batch yet
        (``may_join_batch``): those that joined, in order, each with its place (the next free one, so the places
        run without gaps). One conditional write each, one after another: a launch whose condition fails (a
        redelivered event, another drainer) is left out. Like ``take_from_queue``, each stays in the queue, due again
        at ``due_again_at``, so a batch whose drainer died comes due again by itself.

        Why not TransactWriteItems, 100 at a time: a transaction is all or nothing, so one launch taken meanwhile
        cancels it for the other 99, and it bills each item twice; a batch's writes need no atomicity beyond each
        launch's own (the manifest, written after, is what says the batch exists)."""
        joined: list[LedgerEntry] = []
        for seen in candidates:
            place = len(joined)
            update = self._join(seen, owner, lease_until, due_again_at=due_again_at, batch_id=batch_id, place=place)
            if self._conditional(update):
                joined.append(
                    replace(
                        seen,
                        status=Status.CLAIMED,
                        lease_owner=owner,
                        lease_expires_at=lease_until,
                        attempts=seen.attempts + 1,
                        batch_id=batch_id,
                        batch_position=place,
                        next_check_at=due_again_at,
                    )
                )
        return joined

    def leave_batch(self, member: LedgerEntry) -> bool:
        """Back into the queue, in its old place, from a batch that never got a manifest (its drainer stopped
        before writing it, so no POST of the batch can have happened). False if it moved on meanwhile."""
        update = (
            Update(member.instance_id, self._clock())
            .set(status=Status.WAITING.value)
            .set(**{TRACKING_SORT_KEY: member.launch_time or member.first_claimed_at})
            .remove("batch_id", "batch_position", "lease_expires_at")
            .history("left_batch", f"batch {member.batch_id} was never sent: back in the queue")
            .when(IS_IN_BATCH, batch_id=member.batch_id or "")
        )
        return self._conditional(update)

    def record_batch_dispatched(
        self, members: Sequence[str], batch_id: str, run: RunRef, *, reconciled: bool
    ) -> list[str]:
        """The batch's run is known: each member still in the batch (``is_in_batch``) is dispatched, for the
        tracker to follow its own job. Returns those recorded. A write that fails raises (``LedgerUnavailable``):
        the members not yet recorded stay in the queue, in the batch, and its next holder records them from the
        manifest."""
        now = self._clock()
        how = "found by reconciliation" if reconciled else "accepted by GitHub"

        def dispatched(instance_id: str) -> Update:
            return (
                Update(instance_id, now)
                .set(status=Status.DISPATCHED.value, post_unconfirmed=False, dispatched_at=iso_time(now))
                .set(**{TRACKING_KEY: OPEN_DEPLOYMENTS, TRACKING_SORT_KEY: now})
                .set(run_id=run.run_id, run_url=run.html_url or None)
                .remove("lease_expires_at")
                .history("dispatched", f"in batch {batch_id}, {how}; run {run.run_id or 'id not returned'}")
                .when(IS_IN_BATCH, batch_id=batch_id)
            )

        return self._each_in_batch(members, dispatched)

    def record_batch_failed(self, members: Sequence[str], batch_id: str, reason: str) -> list[str]:
        """GitHub rejected the batch for good: each member FAILED, as a rejected single dispatch."""
        now = self._clock()

        def failed(instance_id: str) -> Update:
            return (
                Update(instance_id, now)
                .set(status=Status.FAILED.value, post_unconfirmed=False, failure_reason=reason, last_error=reason)
                .set(**{TTL_ATTRIBUTE: expiry(now)})
                .remove("lease_expires_at", TRACKING_KEY, TRACKING_SORT_KEY)
                .history("rejected", f"batch {batch_id}: {reason}")
                .when(IS_IN_BATCH, batch_id=batch_id)
            )

        return self._each_in_batch(members, failed)

    def _each_in_batch(self, members: Sequence[str], update: Callable[[str], Update]) -> list[str]:
        return [instance_id for instance_id in members if self._conditional(update(instance_id))]

    def _join(
        self, seen: LedgerEntry, owner: str, lease_until: float, *, due_again_at: float, batch_id: str, place: int
    ) -> Update:
        update = (
            Update(seen.instance_id, self._clock())
            .set(status=Status.CLAIMED.value, lease_owner=owner, lease_expires_at=lease_until)
            .set(batch_id=batch_id, batch_position=place, **{TRACKING_SORT_KEY: due_again_at})
            .increment("attempts")
            .history("batched", f"attempt {seen.attempts + 1}; place {place} of batch {batch_id}")
        )
        if seen.status is Status.WAITING:
            return update.when(MAY_JOIN_BATCH, seen_dispatch_id=seen.dispatch_id, seen_attempts=seen.attempts)
        return update.when(
            MAY_JOIN_BATCH_AFTER_DRAINER,
            seen_launch_key=seen.launch_key,
            seen_owner=seen.lease_owner or "",
            seen_lease=seen.lease_expires_at or 0,
        )

    def record_queued_heartbeat(self, entry: LedgerEntry, at: float) -> bool:
        """The tracker heartbeat a queued launch's lifecycle action; False if it left the queue meanwhile."""
        update = (
            Update(entry.instance_id, self._clock())
            .set(last_heartbeat_at=at)
            .when(IS_QUEUED, queued_dispatch_id=entry.dispatch_id)
        )
        return self._conditional(update)

    # -- the operator's transition -----------------------------------------------------------------------------

    def reset_failed(self, instance_id: str, note: str) -> bool:
        """Allow a launch GitHub rejected to be dispatched again, once its cause is fixed (an explicit operator act).

        Only a FAILED item can be reset; False if the item is not FAILED (or does not exist).
        """
        now = self._clock()
        update = (
            Update(instance_id, now)
            .set(status=Status.RESET.value, **{TTL_ATTRIBUTE: expiry(now)})
            .history("reset", note)
            .when(MAY_RESET)
        )
        return self._conditional(update)

    def get(self, instance_id: str) -> LedgerEntry | None:
        answer = call(
            "get",
            self._client.get_item,
            TableName=self._table,
            Key={PARTITION_KEY: encode(instance_id)},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        return decode_entry(item) if item else None

    def known(self, instance_ids: Sequence[str]) -> dict[str, LedgerEntry]:
        """The entries of those of ``instance_ids`` the ledger holds (the sweep's question: which has it never seen).

        BatchGetItem, 100 keys a call, with only the attributes an entry needs to be decoded and told apart (no
        history): one call for a normal pass's handful of waiting instances. Only the keys asked for come back, and
        the sweep asks for instance IDs only, so the ``SWEEP_SINCE_KEY`` item never reaches the codec here. Keys
        DynamoDB leaves unprocessed are asked again a few times; any left then fail the read
        (:class:`LedgerUnavailable`), never read as unseen.
        """
        found: dict[str, LedgerEntry] = {}
        unique = list(dict.fromkeys(instance_ids))
        for start in range(0, len(unique), BATCH_GET_KEYS):
            keys = [{PARTITION_KEY: encode(i)} for i in unique[start : start + BATCH_GET_KEYS]]
            for _ in range(BATCH_GET_ROUNDS):
                request = {
                    self._table: {
                        "Keys": keys,
                        "ConsistentRead": True,
                        "ProjectionExpression": "instance_id, #status, launch_key, dispatch_id, launch_time",
                        "ExpressionAttributeNames": {"#status": "status"},
                    }
                }
                answer = call("batch-get", self._client.batch_get_item, RequestItems=request)
                for item in answer.get("Responses", {}).get(self._table, []):
                    entry = decode_entry(item)
                    found[entry.instance_id] = entry
                keys = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not keys:
                    break
            if keys:
                raise LedgerUnavailable(f"batch-get left {len(keys)} keys unprocessed", code="UnprocessedKeys")
        return found

    def sweep_since(self, now: float) -> float:
        """Since when the launch-successful sweep looks: ``now`` if this is the table's first sweep, else the time the
        first one recorded. One UpdateItem that sets the time only if it is not there yet (``if_not_exists``) and
        returns what the item then holds: the first writer wins, concurrent or not, and no read is needed. The tracker
        already updates the table, so this needs no permission of its own."""
        answer = call(
            "sweep-since",
            self._client.update_item,
            TableName=self._table,
            Key={PARTITION_KEY: encode(SWEEP_SINCE_KEY)},
            UpdateExpression="SET #since = if_not_exists(#since, :now), #at = if_not_exists(#at, :at)",
            ExpressionAttributeNames={"#since": SWEEP_SINCE_ATTRIBUTE, "#at": "created_at"},
            ExpressionAttributeValues={":now": encode(float(now)), ":at": encode(iso_time(now))},
            ReturnValues="ALL_NEW",
        )
        return float(answer["Attributes"][SWEEP_SINCE_ATTRIBUTE]["N"])

    # -- the tracker's transitions ---------------------------------------------------------------------------

    def due_for_tracking(self, now: float, limit: int) -> list[LedgerEntry]:
        """Unfinished deployments whose next check is due, oldest check first, at most ``limit``."""
        return [decode_entry(item) for item in self._due(OPEN_DEPLOYMENTS, now, limit)]

    def unresolved_outcomes(self, now: float, limit: int = 50) -> list[str]:
        """Instances whose dispatch outcome is still unknown long after the attempt: no retry reconciled them."""
        return [item[PARTITION_KEY]["S"] for item in self._due(UNCONFIRMED_OUTCOMES, now, limit)]

    def record_run_progress(
        self,
        entry: LedgerEntry,
        run: WorkflowRun | None,
        *,
        next_check_at: float,
        heartbeat_at: float | None = None,
        note: str | None = None,
    ) -> bool:
        """The run is not finished: remember what GitHub said and when to look again."""
        update = Update(entry.instance_id, self._clock()).set(
            **{TRACKING_SORT_KEY: next_check_at}, last_heartbeat_at=heartbeat_at
        )
        if run is not None:
            update.set(status=Status.RUNNING.value, run_id=run.run_id, run_status=run.status, run_url=run.html_url)
        if note:
            update.history("tracked", note)
        elif run is not None and run.status != entry.run_status:
            update.history("run_" + run.status, f"run {run.run_id} is {run.status}")
        return self._tracked(update, entry)

    def record_lifecycle_intent(self, entry: LedgerEntry, result: str) -> bool:
        """Written before completing the lifecycle action, so a tracker killed mid-call knows what it meant."""
        update = Update(entry.instance_id, self._clock()).set(lifecycle_intent=result).history("completing", result)
        return self._tracked(update, entry)

    def record_deploy_finished(
        self,
        entry: LedgerEntry,
        *,
        succeeded: bool,
        outcome: str,
        conclusion: str | None,
        lifecycle_result: str | None,
        detail: str,
        head_sha: str | None = None,
    ) -> bool:
        """The deployment ended: the item leaves the tracking index. ``head_sha``: the commit the run deployed."""
        now = self._clock()
        update = (
            Update(entry.instance_id, now)
            .set(status=(Status.SUCCEEDED if succeeded else Status.DEPLOY_FAILED).value, deploy_outcome=outcome)
            .set(finished_at=iso_time(now), conclusion=conclusion or None, lifecycle_result=lifecycle_result or None)
            .set(head_sha=head_sha)
            .set(**{TTL_ATTRIBUTE: expiry(now)})
            .remove(TRACKING_KEY, TRACKING_SORT_KEY, "lifecycle_intent")
            .history("deploy_" + outcome.replace(" ", "_"), detail)
        )
        return self._tracked(update, entry)

    # -- plumbing --------------------------------------------------------------------------------------------

    def _due(self, partition: str, now: float | None, limit: int) -> list[dict[str, Any]]:
        """Items of one tracking-index partition whose time is due (all, with ``now`` None), oldest first, at most
        ``limit``."""
        items: list[dict[str, Any]] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": TRACKING_INDEX,
            "KeyConditionExpression": f"{TRACKING_KEY} = :partition",
            "ExpressionAttributeValues": {":partition": encode(partition)},
        }
        if now is not None:
            arguments["KeyConditionExpression"] += f" AND {TRACKING_SORT_KEY} <= :now"
            arguments["ExpressionAttributeValues"][":now"] = encode(now)
        while len(items) < limit:
            page = call("query", self._client.query, **arguments, Limit=limit - len(items))
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                break
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return items

    def _held(self, update: Update, entry: LedgerEntry, owner: str) -> bool:
        """Only while this invocation still holds the claim on this dispatch."""
        return self._conditional(update.when(IS_HELD, held_by=owner, held_dispatch_id=entry.dispatch_id))

    def _tracked(self, update: Update, entry: LedgerEntry) -> bool:
        """Only while this dispatch is still being tracked (a newer launch replaces it)."""
        return self._conditional(update.when(IS_TRACKED, tracked_dispatch_id=entry.dispatch_id))

    def _conditional(self, update: Update) -> bool:
        """An update that may lose to the item's current state: False when its condition does not hold."""
        try:
            call("update", self._client.update_item, **update.arguments(self._table))
        except ConditionFailed:
            return False
        return True


_RETURN_OLD = {"ReturnValuesOnConditionCheckFailure": "ALL_OLD"}


def _claimed(dispatch_id: str, launch: InstanceLaunch, *, queued: bool = False) -> tuple[str, str]:
    if launch.into_warm_pool:
        return "warm_pool_entered", f"into the warm pool (event {launch.event_id}); continued, not deployed"
    if launch.found_by_sweep:
        seen = "in service" if launch.detail_type == LAUNCH_SUCCESSFUL else "waiting in Pending:Wait"
        return "claimed", (
            f"dispatch {dispatch_id}, found by the sweep: {seen}, no launch event arrived (event {launch.event_id})"
        )
    if queued:
        return "claimed", f"dispatch {dispatch_id} (event {launch.event_id}); queued for the drainer's next batch"
    return "claimed", f"dispatch {dispatch_id} (event {launch.event_id})"
