"""Batch mode: the drainer sends queued launches as batches, one run deploying many instances, each exactly once.

In batch mode every launch is claimed straight into the queue, and the drainer (``drain``) sends what has queued up
since its last dispatch as one ``workflow_dispatch`` whose ``instances`` input lists them (``workflow_contract``):
a lone launch goes alone at once, a burst goes in runs of up to ``batch_max_instances``. The rules (the README's
"Exactly once: the rules", 11 to 13), on top of the dispatcher's:

11. A launch joins a batch with a conditional write (as the drainer read it, and in no batch yet), which records the
    batch's dispatch ID and the launch's place: a launch is in one batch at most, and a redelivered event for it is a
    duplicate. Launches whose own earlier POST is unaccounted for are reconciled before they may join.
12. The batch's manifest (``ledger.batch_item``) is written after its members joined and before its POST, and its
    composition never changes: a batch whose drainer died is reconciled by the batch's dispatch ID in the run name
    and, only if GitHub has no run for it, re-sent with the same inputs. A batch that never got a manifest was never
    sent: its members go back into the queue.
13. Only the batch's holder records its outcome on the members, each write conditional on the member still being in
    that batch; the tracker then follows each member's own job in the run.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from deploy_trigger import metric_names, observability
from deploy_trigger.deadline import Deadline
from deploy_trigger.dispatch import DispatchConfig, GitHubPort, dispatch_inputs
from deploy_trigger.errors import ClaimContended, DispatchRejected, OutcomeUnknown, RateLimited, RetryLater
from deploy_trigger.ledger.batch_item import BatchManifest
from deploy_trigger.ledger.model import LedgerEntry
from deploy_trigger.runs import RunRef
from deploy_trigger.workflow_contract import BATCH_INSTANCE_FIELDS, MAX_BATCH_INSTANCES, MAX_INPUTS_CHARACTERS


class BatchLedgerPort(Protocol):
    def join_batch(
        self,
        candidates: Sequence[LedgerEntry],
        owner: str,
        lease_until: float,
        *,
        due_again_at: float,
        batch_id: str,
    ) -> list[LedgerEntry]: ...
    def leave_batch(self, member: LedgerEntry) -> bool: ...
    def record_batch_dispatched(
        self, members: Sequence[str], batch_id: str, run: RunRef, *, reconciled: bool
    ) -> list[str]: ...
    def record_batch_failed(self, members: Sequence[str], batch_id: str, reason: str) -> list[str]: ...
    def take_from_queue(
        self, seen: LedgerEntry, owner: str, lease_until: float, *, due_again_at: float
    ) -> LedgerEntry: ...
    def record_dispatched(self, entry: LedgerEntry, owner: str, run: RunRef, *, reconciled: bool) -> bool: ...


class ManifestPort(Protocol):
    def create(self, manifest: BatchManifest, now: float) -> None: ...
    def read(self, batch_id: str) -> BatchManifest | None: ...
    def take_over(self, seen: BatchManifest, owner: str, lease_until: float) -> BatchManifest: ...
    def record_run(self, held: BatchManifest, run: RunRef) -> bool: ...
    def record_rejected(self, held: BatchManifest, reason: str) -> bool: ...
    def record_attempt(self, held: BatchManifest, error: str, *, post_unconfirmed: bool) -> bool: ...


@dataclass
class BatchResult:
    """What one batch step did: the members settled (dispatched, rejected or back in the queue)."""

    settled: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    #: The batch's members and its run once known (GitHub accepted it, or reconciliation found it).
    members: tuple[str, ...] = ()
    run: RunRef | None = None
    #: GitHub's answer when it rejected the batch for good (its members are FAILED).
    rejection: DispatchRejected | None = None

    def add(self, metric: str, value: int = 1) -> None:
        self.counts[metric] = self.counts.get(metric, 0) + value


class BatchSender:
    def __init__(
        self,
        ledger: BatchLedgerPort,
        manifests: ManifestPort,
        github: GitHubPort,
        config: DispatchConfig,
        *,
        clock: Callable[[], float] = time.time,
        make_id: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self._ledger = ledger
        self._manifests = manifests
        self._github = github
        self._config = config
        self._clock = clock
        self._make_id = make_id

    def compose(self, queued: Sequence[LedgerEntry], owner: str, step: Deadline) -> BatchResult:
        """Send the due launches that are in no batch as one new batch (as many as fit), in queue order.

        Raises what GitHub answered that stops the drainer (a rate limit: the batch keeps its composition and is
        re-sent when budget returns), after recording it on the manifest.
        """
        result = BatchResult()
        lease_until = step.wall_clock_end() + self._config.lease_margin_seconds
        due_again_at = lease_until + self._config.run_listing_delay_seconds
        candidates = [seen for seen in queued if not self._sent_before(seen, owner, step, result)]
        batch_id = self._make_id()
        members = self._ledger.join_batch(
            self._fitting(candidates, batch_id), owner, lease_until, due_again_at=due_again_at, batch_id=batch_id
        )
        if not members:
            return result
        observability.logger.append_keys(batch_id=batch_id)
        manifest = BatchManifest(
            batch_id=batch_id,
            members=tuple(member.instance_id for member in members),
            inputs=self._inputs(batch_id, members),
            lease_owner=owner,
            lease_expires_at=lease_until,
            post_unconfirmed=True,  # written before the POST, so a takeover after a crash lists runs first
            composed_at=self._clock(),
        )
        self._manifests.create(manifest, self._clock())
        result.members = manifest.members
        self._post(manifest, step, result, earlier_unconfirmed=False)
        return result

    def resume(self, due: Sequence[LedgerEntry], owner: str, step: Deadline) -> BatchResult:
        """Members of an earlier batch came due (``due``, all of one batch): its drainer stopped before recording the
        batch's outcome. Finish that batch from its manifest: record a run already known, reconcile a POST unaccounted
        for, or re-send it unchanged. Nothing when another drainer holds the batch, or GitHub may not list its run
        yet."""
        result = BatchResult()
        batch_id = due[0].batch_id or ""
        manifest = self._manifests.read(batch_id)
        if manifest is None:
            # No manifest, so no POST: the drainer stopped while its batch was forming.
            for member in due:
                if self._ledger.leave_batch(member):
                    result.settled += 1
                    result.add(metric_names.REQUEUED)
            return result
        now = self._clock()
        listable_at = manifest.lease_expires_at + self._config.run_listing_delay_seconds
        if manifest.lease_live(now) or (manifest.post_unconfirmed and not manifest.dispatched and now < listable_at):
            return result
        lease_until = step.wall_clock_end() + self._config.lease_margin_seconds
        try:
            held = self._manifests.take_over(manifest, owner, lease_until)
        except ClaimContended:
            return result
        observability.logger.append_keys(batch_id=batch_id)
        self._finish(held, step, result)
        return result

    def _finish(self, held: BatchManifest, step: Deadline, result: BatchResult) -> None:
        """A batch taken over: its outcome from the manifest if known, else from GitHub, else sent again as is."""
        if held.rejected is not None:
            self._reject(held, held.rejected, result)
            return
        if held.dispatched:
            self._record(held, held.run(), result, reconciled=True)
            return
        if held.post_unconfirmed:
            try:
                found = self._github.find_run(held.batch_id, held.composed_at, step)
            except RetryLater as error:
                self._manifests.record_attempt(held, f"{type(error).__name__}: {error}", post_unconfirmed=True)
                raise
            if found is not None:
                self._manifests.record_run(held, found)
                self._record(held, found, result, reconciled=True)
                result.add(metric_names.RECONCILED_FOUND)
                return
        self._post(held, step, result, earlier_unconfirmed=held.post_unconfirmed)

    def _post(self, held: BatchManifest, step: Deadline, result: BatchResult, *, earlier_unconfirmed: bool) -> None:
        try:
            run = self._github.dispatch(self._config.ref, held.inputs, step)
        except DispatchRejected as error:
            self._manifests.record_rejected(held, str(error))  # first: no later holder sends it again
            self._reject(held, str(error), result)
            result.rejection = error
            return
        except OutcomeUnknown as error:
            # Its members stay in the batch, due again after the lease and the listing delay: then reconciled.
            self._manifests.record_attempt(held, f"{type(error).__name__}: {error}", post_unconfirmed=True)
            result.add(metric_names.OUTCOME_UNKNOWN)
            return
        except RetryLater as error:  # a rate limit, no connection, no time: GitHub did not act on this POST
            reason = f"{type(error).__name__}: {error}"
            self._manifests.record_attempt(held, reason, post_unconfirmed=earlier_unconfirmed)
            if isinstance(error, RateLimited):
                raise
            return
        self._manifests.record_run(held, run)
        result.add(metric_names.BATCHES_DISPATCHED)
        self._record(held, run, result, reconciled=False)

    def _reject(self, held: BatchManifest, reason: str, result: BatchResult) -> None:
        rejected = self._ledger.record_batch_failed(held.members, held.batch_id, reason)
        result.settled += len(rejected)
        result.add(metric_names.DISPATCH_REJECTED, len(rejected))
        observability.logger.error("GitHub rejected a batch for good", extra={"error": reason})

    def _record(self, held: BatchManifest, run: RunRef, result: BatchResult, *, reconciled: bool) -> None:
        result.run = run
        recorded = self._ledger.record_batch_dispatched(held.members, held.batch_id, run, reconciled=reconciled)
        result.settled += len(recorded)
        result.add(metric_names.DISPATCHED, len(recorded))
        result.add(metric_names.DRAINED, len(recorded))
        observability.logger.info(
            "batch dispatched", extra={"run_id": run.run_id, "members": len(held.members), "recorded": len(recorded)}
        )

    def _sent_before(self, seen: LedgerEntry, owner: str, step: Deadline, result: BatchResult) -> bool:
        """A launch whose own earlier POST may have reached GitHub (one dispatch, before batch mode) is looked for
        first: found, it is recorded and joins no batch; not found, it may join one (rule 11)."""
        if not seen.post_unconfirmed:
            return False
        found = self._github.find_run(seen.dispatch_id, seen.first_claimed_at, step)
        if found is None:
            return False
        lease_until = step.wall_clock_end() + self._config.lease_margin_seconds
        try:
            entry = self._ledger.take_from_queue(
                seen, owner, lease_until, due_again_at=lease_until + self._config.run_listing_delay_seconds
            )
        except ClaimContended:
            return True
        if self._ledger.record_dispatched(entry, owner, found, reconciled=True):
            result.settled += 1
            result.add(metric_names.RECONCILED_FOUND)
        return True

    def _fitting(self, candidates: Sequence[LedgerEntry], batch_id: str) -> list[LedgerEntry]:
        """As many of ``candidates`` as one run takes: ``batch_max_instances`` (GitHub's matrix: 256 jobs at most)
        and GitHub's 65,535 characters of inputs in all, counted as the POST's body carries them (the ``instances``
        JSON inside a JSON string, its quotes escaped): a conservative count."""
        limit = min(self._config.batch_max_instances or MAX_BATCH_INSTANCES, MAX_BATCH_INSTANCES)
        size = len(json.dumps(self._inputs(batch_id, [])))
        fitting: list[LedgerEntry] = []
        for entry in candidates[:limit]:
            size += (
                len(json.dumps(_json(self._instance(entry)))) - 2 + 1
            )  # the escaped object, less its quotes; a comma
            if size > MAX_INPUTS_CHARACTERS:
                break
            fitting.append(entry)
        return fitting

    def _inputs(self, batch_id: str, members: Sequence[LedgerEntry]) -> dict[str, str]:
        instances = [self._instance(member) for member in members]
        return {**self._config.extra_inputs, "dispatch_id": batch_id, "instances": _json(instances)}

    def _instance(self, entry: LedgerEntry) -> Mapping[str, str]:
        inputs = dispatch_inputs(self._config, entry)
        return {name: inputs[name] for name in BATCH_INSTANCE_FIELDS}


def _json(value: object) -> str:
    """Compact JSON: GitHub counts the characters of the inputs."""
    return json.dumps(value, separators=(",", ":"))
