"""The exactly-once algorithm: claim the launch in the ledger, then dispatch, reconciling before any resend.

The rules it keeps (the README's "Exactly once: the rules"):
1. Nothing calls GitHub without holding the claim, won by a conditional write.
2. The claim records, before the POST, that a POST may happen (``post_unconfirmed``), so whoever takes
   the claim over after a crash lists runs before sending anything.
3. A lease ends at the holder's deadline plus a small margin, and the holder bounds every call by its
   deadline, so a killed invocation's claim is taken over by the retry, never by a concurrent live one.
4. Only an answer proving GitHub did not act (a rate limit, no connection) allows a later POST without
   reconciling; any other 4xx ends in FAILED; anything else is reconciled first.
5. The ``dispatch_id`` never changes for a launch, so reconciliation finds the run by it.
6. A rate limit is never retried by the invocation that met it: the launch is parked in the ledger's queue
   (WAITING) under its claim's dispatch ID, the pause is shared (``github_budget``), and only the drainer
   (``drain``) sends it, once, in order, at GitHub's pace. A redelivered event for a queued launch is a duplicate,
   also while a drainer holds it (or died holding it: a later drainer run takes it over).

In batch mode (``DispatchConfig.batch_max_instances``) the claim itself parks every launch, and the queue is sent as
batches (``batching``, rules 11 to 13): by the dispatcher itself when no one has sent within GitHub's interval (a
lone launch goes at once), else by the drainer.

Talks only to the two interfaces below; the DynamoDB and HTTP adapters live in ``ledger.table`` and
``github_client``.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from deploy_trigger import observability
from deploy_trigger.deadline import Deadline
from deploy_trigger.errors import (
    ClaimContended,
    CredentialsInvalid,
    DispatchRejected,
    GitHubUnavailable,
    OutcomeUnknown,
    OutOfTime,
    PreviouslyRejected,
    RateLimited,
    RetryLater,
)
from deploy_trigger.events import InstanceLaunch
from deploy_trigger.github_budget import BudgetGate
from deploy_trigger.ledger.model import Claimed, Existing, LedgerEntry, Status, is_newer_launch, is_settled
from deploy_trigger.ledger.schema import WAITING_FOR_BUDGET
from deploy_trigger.lifecycle import LifecycleAnswer, LifecycleResult
from deploy_trigger.runs import RunRef


class LedgerPort(Protocol):
    def claim(
        self, launch: InstanceLaunch, dispatch_id: str, owner: str, lease_until: float, *, queued: bool = ...
    ) -> Claimed | Existing: ...
    def take_over(
        self,
        current: LedgerEntry,
        owner: str,
        lease_until: float,
        *,
        launch: InstanceLaunch | None = None,
        dispatch_id: str | None = None,
    ) -> LedgerEntry: ...
    def record_dispatched(self, entry: LedgerEntry, owner: str, run: RunRef, *, reconciled: bool) -> bool: ...
    def record_failed(self, entry: LedgerEntry, owner: str, reason: str) -> bool: ...
    def release(self, entry: LedgerEntry, owner: str, error: str, *, post_unconfirmed: bool, until: float) -> bool: ...
    def park(
        self, entry: LedgerEntry, owner: str, reason: str, *, not_before: float, post_unconfirmed: bool
    ) -> bool: ...
    def queued(self, now: float | None, limit: int) -> list[LedgerEntry]: ...
    def record_warm_pool_continued(self, entry: LedgerEntry, answer: str) -> bool: ...


class GitHubPort(Protocol):
    def dispatch(self, ref: str, inputs: Mapping[str, str], deadline: Deadline) -> RunRef: ...
    def find_run(self, dispatch_id: str, created_since: float, deadline: Deadline) -> RunRef | None: ...


class LifecyclePort(Protocol):
    def complete(
        self, asg_name: str, hook_name: str, instance_id: str, result: LifecycleResult, *, token: str | None = None
    ) -> LifecycleAnswer: ...


class DrainerPort(Protocol):
    def wake(self) -> None: ...


class BatchPort(Protocol):
    def compose(self, queued: Sequence[LedgerEntry], owner: str, step: Deadline) -> BatchResultLike: ...


class BatchResultLike(Protocol):
    members: tuple[str, ...]
    run: RunRef | None
    rejection: DispatchRejected | None


class Outcome(StrEnum):
    DISPATCHED = "dispatched"  # this invocation's POST was accepted
    RECONCILED = "reconciled"  # an earlier attempt's run was found and recorded; no POST
    DUPLICATE = "duplicate"  # the launch was already dispatched; no GitHub call
    STALE = "stale"  # a late event of an earlier launch of the instance; nothing sent, nothing changed
    WARM_POOL = "warm pool"  # the instance entered the warm pool: its action continued, nothing deployed
    QUEUED = "queued"  # GitHub's budget has no room now: parked in the ledger's queue for the drainer to send


@dataclass(frozen=True)
class DispatchResult:
    outcome: Outcome
    instance_id: str
    dispatch_id: str
    run: RunRef
    #: True when a takeover listed runs, found none, and dispatched (metric: ReconciledNotFound).
    reconciled_not_found: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "result": self.outcome.value,
            "instance_id": self.instance_id,
            "dispatch_id": self.dispatch_id,
            "run_id": self.run.run_id,
            "run_url": self.run.html_url,
        }


@dataclass(frozen=True)
class DispatchConfig:
    """What the dispatcher needs from the settings (kept small so tests can build it directly)."""

    ref: str
    aws_region: str
    extra_inputs: Mapping[str, str]
    lease_margin_seconds: float
    #: A takeover that must reconcile waits this long past the lease: GitHub may list a new run late.
    run_listing_delay_seconds: float = 10.0
    #: Batch mode (context key ``batchDispatch``): 0 is off; else the most instances one run deploys
    #: (``workflow_contract.MAX_BATCH_INSTANCES`` at most), in batches a quiet period's dispatcher or the drainer sends.
    batch_max_instances: int = 0

    @property
    def batched(self) -> bool:
        return self.batch_max_instances > 0


def new_dispatch_id() -> str:
    return uuid.uuid4().hex


class Dispatcher:
    def __init__(
        self,
        ledger: LedgerPort,
        github: GitHubPort,
        config: DispatchConfig,
        *,
        lifecycle: LifecyclePort,
        budget: BudgetGate,
        drainer: DrainerPort | None = None,
        batches: BatchPort | None = None,
        clock: Callable[[], float] = time.time,
        make_id: Callable[[], str] = new_dispatch_id,
    ) -> None:
        self._ledger = ledger
        self._github = github
        self._config = config
        self._lifecycle = lifecycle
        self._budget = budget
        self._drainer = drainer
        self._batches = batches
        self._clock = clock
        self._make_id = make_id

    def handle(self, launch: InstanceLaunch, deadline: Deadline) -> DispatchResult:
        owner = self._make_id()  # identifies this invocation's lease
        lease_until = deadline.wall_clock_end() + self._config.lease_margin_seconds
        dispatch_id = self._make_id()
        claim = self._ledger.claim(launch, dispatch_id, owner, lease_until, queued=self._config.batched)
        if isinstance(claim, Claimed):
            observability.logger.append_keys(dispatch_id=dispatch_id)
            if claim.entry.status is Status.WAITING:  # batch mode: claimed straight into the queue
                return self._queued_for_batch(launch, claim.entry, owner, deadline)
            return self._act(launch, claim.entry, owner, deadline, reconcile=False)

        current = claim.entry
        observability.logger.append_keys(dispatch_id=current.dispatch_id)
        settled = self._settled(launch, current)
        if settled is not None:
            return settled
        now = self._clock()
        if current.lease_live(now):
            raise ClaimContended(
                f"{launch.instance_id}: another invocation holds the claim until {current.lease_expires_at:.0f}"
            )
        listable_at = (current.lease_expires_at or 0.0) + self._config.run_listing_delay_seconds
        if current.launch_key == launch.launch_key and current.post_unconfirmed and now < listable_at:
            # A POST may have been sent just before the lease ended; a listing now could miss its run, and
            # "no run listed" would send it again. Whoever retries (Lambda, or a duplicate delivery) waits.
            raise ClaimContended(
                f"{launch.instance_id}: GitHub may not list a run of dispatch {current.dispatch_id} yet; "
                f"reconciling from {listable_at:.0f}"
            )
        if current.launch_key == launch.launch_key:
            entry = self._ledger.take_over(current, owner, lease_until)
            observability.logger.info(
                "took over an expired claim",
                extra={"attempt": entry.attempts, "reconcile": entry.post_unconfirmed},
            )
        else:
            # The instance launched again while an earlier launch's dispatch never settled (its invocation
            # died): the new launch needs its own deployment anyway, under a new dispatch ID.
            observability.logger.warning(
                "new launch replaces an unsettled dispatch", extra={"replaced_dispatch_id": current.dispatch_id}
            )
            dispatch_id = self._make_id()
            entry = self._ledger.take_over(current, owner, lease_until, launch=launch, dispatch_id=dispatch_id)
            observability.logger.append_keys(dispatch_id=dispatch_id)
        return self._act(launch, entry, owner, deadline, reconcile=entry.post_unconfirmed)

    def _settled(self, launch: InstanceLaunch, current: LedgerEntry) -> DispatchResult | None:
        """What a lost claim means when nothing more is to be sent, or None when this launch still needs its
        dispatch (an expired claim to take over). Raises for a launch GitHub rejected before."""
        if current.launch_key != launch.launch_key:
            # A swept launch is never newer than an item an event wrote (``may_sweep_claim_again``): that event
            # may be this launch's own, and replacing its dispatch could start a second run.
            if not launch.found_by_sweep and is_newer_launch(
                current, launch.launch_key, launch.started_at(self._clock())
            ):
                return None
            observability.logger.info(
                "late event of an earlier launch: ignored", extra={"current_launch_time": current.launch_time}
            )
            return DispatchResult(Outcome.STALE, launch.instance_id, current.dispatch_id, _run_of(current))
        if current.status is Status.WARMED:
            if current.lifecycle_result is None:  # an earlier attempt stopped before the action was continued
                return self._continue_warm_pool(launch, current)
            return DispatchResult(Outcome.DUPLICATE, launch.instance_id, current.dispatch_id, RunRef())
        if current.status is Status.FAILED:
            raise PreviouslyRejected(
                f"{launch.instance_id}: GitHub rejected dispatch {current.dispatch_id} before ({current.last_error}); "
                "fix the cause, then reset the ledger entry"
            )
        if is_settled(current) or _queued(current):
            return DispatchResult(Outcome.DUPLICATE, launch.instance_id, current.dispatch_id, _run_of(current))
        return None

    def _act(
        self, launch: InstanceLaunch, entry: LedgerEntry, owner: str, deadline: Deadline, *, reconcile: bool
    ) -> DispatchResult:
        """What a won claim does: continue a warm-pool entry, or dispatch the launch's deployment."""
        if launch.into_warm_pool:
            return self._continue_warm_pool(launch, entry)
        return self._dispatch(launch, entry, owner, deadline, reconcile=reconcile)

    def _continue_warm_pool(self, launch: InstanceLaunch, entry: LedgerEntry) -> DispatchResult:
        """Nobody deploys an instance entering the warm pool: continue its action at once, or the hook times out
        and its default result (ABANDON) terminates every pooled instance. Completing by the action's token ends
        exactly this action; a second completion answers "no active action", so a retry after a crash is safe."""
        answer = self._lifecycle.complete(
            launch.asg_name,
            launch.lifecycle_hook_name or "",
            launch.instance_id,
            LifecycleResult.CONTINUE,
            token=launch.lifecycle_action_token,
        )
        result = "CONTINUE" if answer is LifecycleAnswer.DONE else "ALREADY_ENDED"
        self._ledger.record_warm_pool_continued(entry, result)
        return DispatchResult(Outcome.WARM_POOL, launch.instance_id, entry.dispatch_id, RunRef())

    def _dispatch(
        self, launch: InstanceLaunch, entry: LedgerEntry, owner: str, deadline: Deadline, *, reconcile: bool
    ) -> DispatchResult:
        if reconcile:
            try:
                found = self._github.find_run(entry.dispatch_id, entry.first_claimed_at, deadline)
            except RateLimited as error:
                return self._park_limited(launch, entry, owner, error, post_unconfirmed=True)
            except RetryLater as error:
                self._release(entry, owner, error, post_unconfirmed=True)
                raise
            if found is not None:
                self._record_dispatched(entry, owner, found, reconciled=True)
                return DispatchResult(Outcome.RECONCILED, launch.instance_id, entry.dispatch_id, found)

        if self._config.batched:
            return self._park(
                launch, entry, owner, "batch mode: the drainer sends it in its next batch", post_unconfirmed=reconcile
            )
        held_until = self._budget.held_until()
        if held_until is not None:
            reason = f"GitHub's budget is paused (until {held_until:.0f}) or its queue is draining: joins the queue"
            return self._park(launch, entry, owner, reason, post_unconfirmed=reconcile)
        inputs = dispatch_inputs(self._config, entry, region=launch.region)
        try:
            run = self._github.dispatch(self._config.ref, inputs, deadline)
        except RateLimited as error:
            return self._park_limited(launch, entry, owner, error, post_unconfirmed=reconcile)
        except (GitHubUnavailable, OutOfTime, CredentialsInvalid) as error:
            # GitHub did not act on this POST; an earlier one is as (un)confirmed as before.
            self._release(entry, owner, error, post_unconfirmed=reconcile)
            raise
        except DispatchRejected as error:
            self._ledger.record_failed(entry, owner, str(error))
            raise
        except OutcomeUnknown as error:
            # Hold the claim a little longer: whoever takes over lists runs, and GitHub gets the margin to
            # make a run it did create visible there.
            self._release(entry, owner, error, post_unconfirmed=True)
            raise
        self._record_dispatched(entry, owner, run, reconciled=False)
        return DispatchResult(
            Outcome.DISPATCHED, launch.instance_id, entry.dispatch_id, run, reconciled_not_found=reconcile
        )

    def _park_limited(
        self, launch: InstanceLaunch, entry: LedgerEntry, owner: str, error: RateLimited, *, post_unconfirmed: bool
    ) -> DispatchResult:
        """GitHub refused for a rate limit (it did not act): everyone waits as long as it asked, this launch queued."""
        self._budget.limited(self._clock() + error.retry_after, str(error))
        return self._park(launch, entry, owner, str(error), post_unconfirmed=post_unconfirmed)

    def _park(
        self,
        launch: InstanceLaunch,
        entry: LedgerEntry,
        owner: str,
        reason: str,
        *,
        post_unconfirmed: bool,
    ) -> DispatchResult:
        """Queue the launch in arrival order; the shared pause, not its place, says when the drainer may send it."""
        if not self._ledger.park(entry, owner, reason, not_before=self._clock(), post_unconfirmed=post_unconfirmed):
            # Only if this invocation overran its lease: whoever took the claim over carries on from the ledger.
            observability.logger.error("lost the claim before parking the launch")
        observability.logger.info("queued for GitHub budget", extra={"reason": reason})
        if self._drainer is not None:
            self._drainer.wake()
        return DispatchResult(Outcome.QUEUED, launch.instance_id, entry.dispatch_id, RunRef())

    def _queued_for_batch(
        self, launch: InstanceLaunch, entry: LedgerEntry, owner: str, deadline: Deadline
    ) -> DispatchResult:
        """Batch mode: the claim parked the launch. If no one has sent within GitHub's interval (a quiet period), this
        invocation sends what is queued now, itself included, as one batch at once: a lone launch is not held for a
        window. Otherwise (a burst, a pause) the drainer sends it with what queues up meanwhile."""
        if self._batches is not None and self._budget.take_slot(deadline.wall_clock_end()):
            run = self._send_batch(self._batches, entry, owner, deadline)
            if run is not None:
                return DispatchResult(Outcome.DISPATCHED, launch.instance_id, entry.dispatch_id, run)
        observability.logger.info("queued for the drainer's next batch")
        if self._drainer is not None:
            self._drainer.wake()
        return DispatchResult(Outcome.QUEUED, launch.instance_id, entry.dispatch_id, RunRef())

    def _send_batch(self, batches: BatchPort, entry: LedgerEntry, owner: str, deadline: Deadline) -> RunRef | None:
        """The batch's run if this launch went in it; None if it waits for the drainer (a rate limit, no answer: its
        batch, if it joined one, is the drainer's to finish)."""
        # This launch first: the index may not list its claim yet.
        others = [
            seen
            for seen in self._ledger.queued(self._clock(), self._config.batch_max_instances)
            if seen.instance_id != entry.instance_id
        ]
        try:
            result = batches.compose([entry, *others], owner, deadline)
        except RateLimited as error:
            self._budget.limited(self._clock() + error.retry_after, str(error))
            return None
        except RetryLater as error:
            observability.logger.warning("could not send the batch now", extra={"error": f"{type(error).__name__}"})
            return None
        if result.rejection is not None and entry.instance_id in result.members:
            raise result.rejection
        return result.run if entry.instance_id in result.members else None

    def _record_dispatched(self, entry: LedgerEntry, owner: str, run: RunRef, *, reconciled: bool) -> None:
        if not self._ledger.record_dispatched(entry, owner, run, reconciled=reconciled):
            # Only possible if this invocation overran its lease; whoever took over reconciles and finds
            # this run by its dispatch ID, so nothing is dispatched twice. Loud, because it should not happen.
            observability.logger.error("lost the claim before recording the dispatch", extra={"run_id": run.run_id})

    def _release(self, entry: LedgerEntry, owner: str, error: Exception, *, post_unconfirmed: bool) -> None:
        until = self._clock() + self._config.lease_margin_seconds if post_unconfirmed else self._clock()
        self._ledger.release(
            entry, owner, f"{type(error).__name__}: {error}", post_unconfirmed=post_unconfirmed, until=until
        )


def dispatch_inputs(config: DispatchConfig, entry: LedgerEntry, *, region: str | None = None) -> dict[str, str]:
    """The workflow's inputs for a claimed launch, from its ledger entry alone (the drainer has no event)."""
    return {
        **config.extra_inputs,
        "instance_id": entry.instance_id,
        "dispatch_id": entry.dispatch_id,
        "asg_name": entry.asg_name,
        "lifecycle_hook_name": entry.lifecycle_hook_name or "",
        "aws_region": region or entry.region or config.aws_region,
    }


def _queued(entry: LedgerEntry) -> bool:
    """Waiting for budget, or taken from the queue by a drainer (live or dead): the drainer sends it, once."""
    return entry.status is Status.WAITING or entry.tracking == WAITING_FOR_BUDGET


def _run_of(entry: LedgerEntry) -> RunRef:
    return RunRef(run_id=entry.run_id, html_url=entry.run_url)
