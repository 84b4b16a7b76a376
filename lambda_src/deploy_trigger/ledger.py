"""The DynamoDB ledger: one item per instance, and every state change a conditional write.

The item is written for operators too: ``aws dynamodb get-item --key '{"instance_id": {"S": "i-..."}}'``
shows the status, the dispatch ID the workflow run carries in its name, the run's URL, the attempts, the
last error and a ``history`` list of what happened when.

Each transition is conditional on the state it leaves (architecture rule 6), so two invocations can never
both win, and a claim that loses returns the current item in the same call
(``ReturnValuesOnConditionCheckFailure``): a duplicate event costs exactly one ledger call.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger.errors import ClaimContended, LedgerUnavailable
from deploy_trigger.events import InstanceLaunch
from deploy_trigger.runs import RunRef, WorkflowRun

#: The table's schema, shared with the CDK construct and the local stand-ins.
PARTITION_KEY = "instance_id"
TTL_ATTRIBUTE = "expires_at"
#: A sparse index of the deployments still being followed: only items with ``tracking`` are in it, so the
#: tracker queries what is unfinished and due, never scans the table.
TRACKING_INDEX = "open-deployments"
TRACKING_KEY = "tracking"
TRACKING_SORT_KEY = "next_check_at"
_OPEN = "OPEN"  # dispatched; the tracker follows the run
#: Released after an outcome-unknown attempt; a retry should reconcile it within minutes. Still there
#: ``UNRESOLVED_AFTER_SECONDS`` later, it is counted by the tracker (metric UnresolvedOutcomes, alarmed).
_UNCONFIRMED = "UNCONFIRMED"
UNRESOLVED_AFTER_SECONDS = 15 * 60
#: Items expire this long after their last change.
RETENTION_SECONDS = 90 * 24 * 3600
_CONDITION_FAILED = "ConditionalCheckFailedException"
_PLACEHOLDER = re.compile(r":\w+")
#: What belongs to one launch of an instance; a new launch's claim starts without it (history stays).
_PER_LAUNCH_FIELDS = (
    "run_id",
    "run_url",
    "dispatched_at",
    "last_error",
    "failure_reason",
    TRACKING_KEY,
    TRACKING_SORT_KEY,
    "run_status",
    "conclusion",
    "deploy_outcome",
    "lifecycle_intent",
    "lifecycle_result",
    "last_heartbeat_at",
    "finished_at",
)


class Status(StrEnum):
    CLAIMED = "CLAIMED"  # an invocation holds the lease and may be calling GitHub
    DISPATCHED = "DISPATCHED"  # GitHub accepted the dispatch (run ID recorded when GitHub returned it)
    FAILED = "FAILED"  # GitHub rejected the dispatch for good; an operator resets it after fixing the cause
    RESET = "RESET"  # an operator reset a FAILED launch: the next event for the instance dispatches anew
    RUNNING = "RUNNING"  # the tracker saw the run queued or in progress
    SUCCEEDED = "SUCCEEDED"  # the run succeeded (and the lifecycle action was continued)
    DEPLOY_FAILED = "DEPLOY_FAILED"  # the run failed, never appeared or got stuck (the instance was abandoned)


#: Statuses the tracker follows (the item is in the tracking index).
TRACKED = (Status.DISPATCHED, Status.RUNNING)


@dataclass(frozen=True)
class LedgerEntry:
    instance_id: str
    status: str
    launch_key: str
    dispatch_id: str
    attempts: int
    lease_owner: str | None
    lease_expires_at: float | None
    #: True while a POST for ``dispatch_id`` may have reached GitHub unconfirmed: a takeover reconciles first.
    post_unconfirmed: bool
    #: When ``dispatch_id`` was first claimed; no run for it can be older (the lower bound when listing runs).
    first_claimed_at: float
    run_id: int | None = None
    run_url: str | None = None
    last_error: str | None = None
    asg_name: str = ""
    lifecycle_hook_name: str | None = None
    run_status: str | None = None
    last_heartbeat_at: float | None = None
    lifecycle_intent: str | None = None

    def lease_live(self, now: float) -> bool:
        return self.lease_expires_at is not None and self.lease_expires_at > now


@dataclass(frozen=True)
class Claimed:
    """This invocation won the claim for a new launch."""

    entry: LedgerEntry


@dataclass(frozen=True)
class Existing:
    """The claim lost: the item as it stands (an earlier claim of this or another launch)."""

    entry: LedgerEntry


class Ledger:
    def __init__(self, client: Any, table_name: str, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    def claim(self, launch: InstanceLaunch, dispatch_id: str, owner: str, lease_until: float) -> Claimed | Existing:
        """Claim a launch no one has dispatched; return the current item instead when it cannot be claimed.

        The first launch of an instance is one conditional PutItem (the cheapest write to evaluate), which
        returns the existing item when there is one: a duplicate event costs exactly this one call. An item
        that may be claimed anyway, because an operator reset it or it belongs to an earlier launch whose
        dispatch is settled (a warm-pool instance coming back with a new lifecycle token), is claimed with a
        conditional update that keeps the instance's history: one write more, on that rare path only.
        """
        now = self._clock()
        iso_now = _iso(now)
        item: dict[str, Any] = {
            PARTITION_KEY: _s(launch.instance_id),
            "status": _s(Status.CLAIMED),
            "launch_key": _s(launch.launch_key),
            "dispatch_id": _s(dispatch_id),
            "attempts": _n(1),
            "lease_owner": _s(owner),
            "lease_expires_at": _n(lease_until),
            "post_unconfirmed": {"BOOL": True},
            "first_claimed_at": _n(now),
            "asg_name": _s(launch.asg_name),
            "event_id": _s(launch.event_id),
            "detail_type": _s(launch.detail_type),
            "created_at": _s(iso_now),
            "updated_at": _s(iso_now),
            TTL_ATTRIBUTE: _n(int(now) + RETENTION_SECONDS),
            "history": {"L": [_history_entry(now, "claimed", f"dispatch {dispatch_id} (event {launch.event_id})")]},
        }
        if launch.lifecycle_hook_name and launch.lifecycle_action_token:
            item["lifecycle_hook_name"] = _s(launch.lifecycle_hook_name)
            item["lifecycle_action_token"] = _s(launch.lifecycle_action_token)
        try:
            self._client.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(instance_id)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _code(error) != _CONDITION_FAILED:
                raise LedgerUnavailable(f"claim failed: {_code(error)}") from None
            current = _entry(error.response.get("Item", {}))
            if current.status == Status.RESET or (
                current.launch_key != launch.launch_key and current.status != Status.CLAIMED
            ):
                return self._claim_again(launch, dispatch_id, owner, lease_until)
            return Existing(current)
        except BotoCoreError as error:
            raise LedgerUnavailable(f"DynamoDB unreachable: {type(error).__name__}") from None
        return Claimed(_entry(item))

    def _claim_again(
        self, launch: InstanceLaunch, dispatch_id: str, owner: str, lease_until: float
    ) -> Claimed | Existing:
        """Claim an instance's existing item for a new (or reset) launch, keeping its history."""
        now = self._clock()
        values: dict[str, Any] = {
            ":launch_key": _s(launch.launch_key),
            ":dispatch_id": _s(dispatch_id),
            ":one": _n(1),
            ":owner": _s(owner),
            ":lease": _n(lease_until),
            ":true": {"BOOL": True},
            ":now": _n(now),
            ":asg": _s(launch.asg_name),
            ":event_id": _s(launch.event_id),
            ":detail_type": _s(launch.detail_type),
            ":reset": _s(Status.RESET),
        }
        assignments = [
            "#status = :claimed",
            "launch_key = :launch_key",
            "dispatch_id = :dispatch_id",
            "attempts = :one",
            "lease_owner = :owner",
            "lease_expires_at = :lease",
            "post_unconfirmed = :true",
            "first_claimed_at = :now",
            "asg_name = :asg",
            "event_id = :event_id",
            "detail_type = :detail_type",
            f"{TTL_ATTRIBUTE} = :expires_at",
        ]
        removals = [*_PER_LAUNCH_FIELDS]
        if launch.lifecycle_hook_name and launch.lifecycle_action_token:
            values |= {":hook": _s(launch.lifecycle_hook_name), ":token": _s(launch.lifecycle_action_token)}
            assignments += ["lifecycle_hook_name = :hook", "lifecycle_action_token = :token"]
        else:
            removals += ["lifecycle_hook_name", "lifecycle_action_token"]
        try:
            self._update(
                launch.instance_id,
                now,
                assignments,
                values,
                history=("claimed", f"dispatch {dispatch_id} (event {launch.event_id})"),
                condition="#status = :reset OR (launch_key <> :launch_key AND #status <> :claimed)",
                remove=removals,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if _code(error) != _CONDITION_FAILED:
                raise LedgerUnavailable(f"claim failed: {_code(error)}") from None
            return Existing(_entry(error.response.get("Item", {})))  # another invocation claimed it first
        return Claimed(
            LedgerEntry(
                instance_id=launch.instance_id,
                status=Status.CLAIMED,
                launch_key=launch.launch_key,
                dispatch_id=dispatch_id,
                attempts=1,
                lease_owner=owner,
                lease_expires_at=lease_until,
                post_unconfirmed=True,
                first_claimed_at=now,
                asg_name=launch.asg_name,
                lifecycle_hook_name=launch.lifecycle_hook_name,
            )
        )

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
        values: dict[str, Any] = {
            ":owner": _s(owner),
            ":lease": _n(lease_until),
            ":true": {"BOOL": True},
            ":old_owner": _s(current.lease_owner or ""),
            ":old_lease": _n(current.lease_expires_at or 0),
            ":old_launch_key": _s(current.launch_key),
            ":one": _n(1),
        }
        assignments = ["lease_owner = :owner", "lease_expires_at = :lease", "post_unconfirmed = :true"]
        if launch is None or dispatch_id is None:
            assignments.append("attempts = attempts + :one")
            history = ("taken_over", f"attempt {current.attempts + 1}; lease of {current.lease_owner} had expired")
            taken = current
        else:
            values |= {
                ":launch_key": _s(launch.launch_key),
                ":dispatch_id": _s(dispatch_id),
                ":now": _n(now),
                ":event_id": _s(launch.event_id),
            }
            assignments += [
                "launch_key = :launch_key",
                "dispatch_id = :dispatch_id",
                "attempts = :one",
                "first_claimed_at = :now",
                "event_id = :event_id",
            ]
            history = ("superseded", f"new launch {dispatch_id} replaces unfinished dispatch {current.dispatch_id}")
            taken = LedgerEntry(
                instance_id=current.instance_id,
                status=Status.CLAIMED,
                launch_key=launch.launch_key,
                dispatch_id=dispatch_id,
                attempts=0,
                lease_owner=None,
                lease_expires_at=None,
                post_unconfirmed=False,  # a fresh dispatch ID has never been sent: nothing to reconcile
                first_claimed_at=now,
            )
        try:
            self._update(
                current.instance_id,
                now,
                assignments,
                values,
                history=history,
                condition=(
                    "#status = :claimed AND launch_key = :old_launch_key "
                    "AND lease_owner = :old_owner AND lease_expires_at = :old_lease"
                ),
                remove=[TRACKING_KEY, TRACKING_SORT_KEY],  # a retry is on it: no longer unresolved
            )
        except ClientError as error:
            if _code(error) == _CONDITION_FAILED:
                raise ClaimContended(f"{current.instance_id}: another invocation took over the claim first") from None
            raise LedgerUnavailable(f"take-over failed: {_code(error)}") from None
        return LedgerEntry(
            **{
                **taken.__dict__,
                "lease_owner": owner,
                "lease_expires_at": lease_until,
                "attempts": taken.attempts + 1,
            }
        )

    def record_dispatched(self, entry: LedgerEntry, owner: str, run: RunRef, *, reconciled: bool) -> bool:
        """GitHub accepted (or reconciliation found) the run. False if this invocation no longer held the claim."""
        values: dict[str, Any] = {
            ":dispatched": _s(Status.DISPATCHED),
            ":false": {"BOOL": False},
            ":open": _s(_OPEN),
            ":check_at": _n(self._clock()),
        }
        assignments = [
            "#status = :dispatched",
            "post_unconfirmed = :false",
            "dispatched_at = :iso_now",
            f"{TRACKING_KEY} = :open",  # the tracker follows the run from now on
            f"{TRACKING_SORT_KEY} = :check_at",
        ]
        if run.run_id is not None:
            values[":run_id"] = _n(run.run_id)
            assignments.append("run_id = :run_id")
        if run.html_url:
            values[":run_url"] = _s(run.html_url)
            assignments.append("run_url = :run_url")
        how = "found by reconciliation" if reconciled else "accepted by GitHub"
        # The hot path's second write: kept to what changes (the lease and last error stay, as the record of
        # how the claim went), because every clause costs DynamoDB (and moto, in the drill) evaluation time.
        return self._held_update(
            entry, owner, assignments, values, history=("dispatched", f"{how}; run {run.run_id or 'id not returned'}")
        )

    def record_failed(self, entry: LedgerEntry, owner: str, reason: str) -> bool:
        """GitHub rejected the dispatch for good: no more POSTs until an operator resets the item."""
        values = {":failed": _s(Status.FAILED), ":false": {"BOOL": False}, ":reason": _s(reason)}
        return self._held_update(
            entry,
            owner,
            [
                "#status = :failed",
                "post_unconfirmed = :false",
                "failure_reason = :reason",
                "last_error = :reason",
                f"{TTL_ATTRIBUTE} = :expires_at",
            ],
            values,
            history=("rejected", reason),
            remove=["lease_expires_at", TRACKING_KEY, TRACKING_SORT_KEY],
        )

    def release(self, entry: LedgerEntry, owner: str, error: str, *, post_unconfirmed: bool, until: float) -> bool:
        """Give the claim up after a failed attempt, so a retry may take over from ``until`` on.

        ``post_unconfirmed`` is False only when GitHub proved it did not act (rate limit, no time to start
        the call) and no earlier POST is unaccounted for; then the next attempt may POST without listing runs.
        """
        values: dict[str, Any] = {
            ":until": _n(until),
            ":unconfirmed": {"BOOL": post_unconfirmed},
            ":error": _s(error),
        }
        assignments = ["lease_expires_at = :until", "post_unconfirmed = :unconfirmed", "last_error = :error"]
        remove = None
        if post_unconfirmed:
            # Listed for the tracker: if no retry has settled it by then, a human should know.
            values |= {":unresolved": _s(_UNCONFIRMED), ":due": _n(self._clock() + UNRESOLVED_AFTER_SECONDS)}
            assignments += [f"{TRACKING_KEY} = :unresolved", f"{TRACKING_SORT_KEY} = :due"]
        else:
            remove = [TRACKING_KEY, TRACKING_SORT_KEY]
        return self._held_update(entry, owner, assignments, values, history=("released", error), remove=remove)

    def reset_failed(self, instance_id: str, note: str) -> bool:
        """Allow a launch GitHub rejected to be dispatched again, once its cause is fixed (an explicit operator act).

        Only a FAILED item can be reset; False if the item is not FAILED (or does not exist).
        """
        values = {":failed": _s(Status.FAILED), ":reset_status": _s(Status.RESET)}
        return self._conditional_update(
            instance_id,
            ["#status = :reset_status", f"{TTL_ATTRIBUTE} = :expires_at"],
            values,
            history=("reset", note),
            condition="#status = :failed",
        )

    # -- the tracker's transitions ---------------------------------------------------------------------------

    def due_for_tracking(self, now: float, limit: int) -> list[LedgerEntry]:
        """Unfinished deployments whose next check is due, oldest check first, at most ``limit``."""
        entries: list[LedgerEntry] = []
        arguments: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": TRACKING_INDEX,
            "KeyConditionExpression": f"{TRACKING_KEY} = :open AND {TRACKING_SORT_KEY} <= :now",
            "ExpressionAttributeValues": {":open": _s(_OPEN), ":now": _n(now)},
        }
        try:
            while len(entries) < limit:
                page = self._client.query(**arguments, Limit=limit - len(entries))
                entries += [_entry(item) for item in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    break
                arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as error:
            raise LedgerUnavailable(f"querying open deployments failed: {_code(error)}") from None
        return entries

    def unresolved_outcomes(self, now: float, limit: int = 50) -> list[str]:
        """Instances whose dispatch outcome is still unknown long after the attempt: no retry reconciled them."""
        try:
            page = self._client.query(
                TableName=self._table,
                IndexName=TRACKING_INDEX,
                KeyConditionExpression=f"{TRACKING_KEY} = :unresolved AND {TRACKING_SORT_KEY} <= :now",
                ExpressionAttributeValues={":unresolved": _s(_UNCONFIRMED), ":now": _n(now)},
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as error:
            raise LedgerUnavailable(f"querying unresolved outcomes failed: {_code(error)}") from None
        return [item["instance_id"]["S"] for item in page.get("Items", [])]

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
        values: dict[str, Any] = {":check_at": _n(next_check_at)}
        assignments = [f"{TRACKING_SORT_KEY} = :check_at"]
        if run is not None:
            values |= {":running": _s(Status.RUNNING), ":run_id": _n(run.run_id), ":run_status": _s(run.status)}
            assignments += ["#status = :running", "run_id = :run_id", "run_status = :run_status"]
            if run.html_url:
                values[":run_url"] = _s(run.html_url)
                assignments.append("run_url = :run_url")
        if heartbeat_at is not None:
            values[":heartbeat_at"] = _n(heartbeat_at)
            assignments.append("last_heartbeat_at = :heartbeat_at")
        history = None
        if note:
            history = ("tracked", note)
        elif run is not None and run.status != entry.run_status:
            history = ("run_" + run.status, f"run {run.run_id} is {run.status}")
        return self._tracked_update(entry, assignments, values, history=history)

    def record_lifecycle_intent(self, entry: LedgerEntry, result: str) -> bool:
        """Written before completing the lifecycle action, so a tracker killed mid-call knows what it meant."""
        return self._tracked_update(
            entry, ["lifecycle_intent = :intent"], {":intent": _s(result)}, history=("completing", result)
        )

    def record_deploy_finished(
        self,
        entry: LedgerEntry,
        *,
        succeeded: bool,
        outcome: str,
        conclusion: str | None,
        lifecycle_result: str | None,
        detail: str,
    ) -> bool:
        """The deployment ended: the item leaves the tracking index."""
        values: dict[str, Any] = {
            ":final": _s(Status.SUCCEEDED if succeeded else Status.DEPLOY_FAILED),
            ":outcome": _s(outcome),
        }
        assignments = [
            "#status = :final",
            "deploy_outcome = :outcome",
            "finished_at = :iso_now",
            f"{TTL_ATTRIBUTE} = :expires_at",
        ]
        for name, value in (("conclusion", conclusion), ("lifecycle_result", lifecycle_result)):
            if value:
                values[f":{name}"] = _s(value)
                assignments.append(f"{name} = :{name}")
        return self._tracked_update(
            entry,
            assignments,
            values,
            history=("deploy_" + outcome.replace(" ", "_"), detail),
            remove=[TRACKING_KEY, TRACKING_SORT_KEY, "lifecycle_intent"],
        )

    def _tracked_update(
        self,
        entry: LedgerEntry,
        assignments: list[str],
        values: dict[str, Any],
        *,
        history: tuple[str, str] | None,
        remove: list[str] | None = None,
    ) -> bool:
        """An update allowed only while this dispatch is still being tracked (a newer launch replaces it)."""
        values = {
            **values,
            ":dispatch_id": _s(entry.dispatch_id),
            ":tracked_a": _s(TRACKED[0]),
            ":tracked_b": _s(TRACKED[1]),
        }
        return self._conditional_update(
            entry.instance_id,
            assignments,
            values,
            history=history,
            condition="dispatch_id = :dispatch_id AND #status IN (:tracked_a, :tracked_b)",
            remove=remove,
        )

    def get(self, instance_id: str) -> LedgerEntry | None:
        try:
            answer = self._client.get_item(
                TableName=self._table, Key={"instance_id": _s(instance_id)}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as error:
            raise LedgerUnavailable(f"get failed: {_code(error)}") from None
        item = answer.get("Item")
        return _entry(item) if item else None

    def _held_update(
        self,
        entry: LedgerEntry,
        owner: str,
        assignments: list[str],
        values: dict[str, Any],
        *,
        history: tuple[str, str],
        remove: list[str] | None = None,
    ) -> bool:
        """An update allowed only while this invocation still holds the claim on this dispatch."""
        values = {**values, ":owner": _s(owner), ":dispatch_id": _s(entry.dispatch_id)}
        return self._conditional_update(
            entry.instance_id,
            assignments,
            values,
            history=history,
            condition="#status = :claimed AND lease_owner = :owner AND dispatch_id = :dispatch_id",
            remove=remove,
        )

    def _conditional_update(
        self,
        instance_id: str,
        assignments: list[str],
        values: Mapping[str, Any],
        *,
        history: tuple[str, str] | None,
        condition: str,
        remove: list[str] | None = None,
    ) -> bool:
        """An update that may lose to the item's current state: False when its condition does not hold."""
        try:
            self._update(
                instance_id, self._clock(), assignments, values, history=history, condition=condition, remove=remove
            )
        except ClientError as error:
            if _code(error) == _CONDITION_FAILED:
                return False
            raise LedgerUnavailable(f"update failed: {_code(error)}") from None
        return True

    def _update(
        self,
        instance_id: str,
        now: float,
        assignments: list[str],
        values: Mapping[str, Any],
        *,
        history: tuple[str, str] | None,
        condition: str,
        remove: list[str] | None = None,
        **extra: Any,
    ) -> None:
        """One conditional UpdateItem; every write refreshes ``updated_at``, most add to ``history``.

        The TTL is set by the claim and refreshed where a launch's story ends (``:expires_at`` is offered to
        every write; only those that name it use it): an item expires RETENTION_SECONDS after its last launch.
        """
        clauses = [*assignments, "updated_at = :iso_now"]
        all_values = {
            **values,
            ":claimed": _s(Status.CLAIMED),
            ":iso_now": _s(_iso(now)),
            ":expires_at": _n(int(now) + RETENTION_SECONDS),  # used by the writes that refresh the TTL
        }
        if history is not None:
            event, detail = history
            clauses.append("history = list_append(if_not_exists(history, :no_history), :history)")
            all_values[":no_history"] = {"L": []}
            all_values[":history"] = {"L": [_history_entry(now, event, detail)]}
        expression = "SET " + ", ".join(clauses)
        if remove:
            expression += " REMOVE " + ", ".join(remove)
        used = set(_PLACEHOLDER.findall(f"{expression} {condition}"))
        try:
            self._client.update_item(
                TableName=self._table,
                Key={"instance_id": _s(instance_id)},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={name: all_values[name] for name in sorted(used)},
                **extra,
            )
        except BotoCoreError as error:
            raise LedgerUnavailable(f"DynamoDB unreachable: {type(error).__name__}") from None


def _entry(item: Mapping[str, Any]) -> LedgerEntry:
    def text(key: str) -> str | None:
        value = item.get(key, {}).get("S")
        return str(value) if value is not None else None

    def number(key: str) -> float | None:
        value = item.get(key, {}).get("N")
        return float(value) if value is not None else None

    run_id = number("run_id")
    return LedgerEntry(
        instance_id=text("instance_id") or "",
        status=text("status") or "",
        launch_key=text("launch_key") or "",
        dispatch_id=text("dispatch_id") or "",
        attempts=int(number("attempts") or 0),
        lease_owner=text("lease_owner"),
        lease_expires_at=number("lease_expires_at"),
        post_unconfirmed=bool(item.get("post_unconfirmed", {}).get("BOOL", False)),
        first_claimed_at=number("first_claimed_at") or 0.0,
        run_id=int(run_id) if run_id is not None else None,
        run_url=text("run_url"),
        last_error=text("last_error"),
        asg_name=text("asg_name") or "",
        lifecycle_hook_name=text("lifecycle_hook_name"),
        run_status=text("run_status"),
        last_heartbeat_at=number("last_heartbeat_at"),
        lifecycle_intent=text("lifecycle_intent"),
    )


def _history_entry(now: float, event: str, detail: str) -> dict[str, Any]:
    return {"M": {"at": _s(_iso(now)), "event": _s(event), "detail": _s(detail[:500])}}


def _s(value: str) -> dict[str, str]:
    return {"S": str(value)}


def _n(value: float) -> dict[str, str]:
    return {"N": str(round(value, 3)) if isinstance(value, float) else str(value)}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _code(error: Exception) -> str:
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "Unknown"))
    return type(error).__name__
