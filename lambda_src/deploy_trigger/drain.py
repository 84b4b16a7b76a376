"""The drainer: sends the queue of launches that waited for GitHub budget, one at a time, at GitHub's pace.

A launch GitHub had no budget for is parked in the ledger's queue (status WAITING, the tracking index's WAITING
partition, ordered by when each may be tried) by the dispatcher (``dispatch``, rule 6). One drainer runs at a
time (the function's reserved concurrency), and every dispatch it sends first takes a slot on the
shared budget item with a conditional write, so every container and every group using the credential share one
pace even if two drainers overlap: a dispatch at most every ``mutation_interval_seconds``, none before the pause
GitHub last asked for, and a rate limit met here pauses everyone again. A drainer that dies holds nothing but the
launch it had taken. The exactly-once rules are the dispatcher's, applied to a queued launch:

- the drainer takes a launch with a conditional write (the launch as it read it, or a drainer's expired claim), and
  the claim says a POST may happen before there is one, so a drainer killed mid-POST leaves a launch that the next
  drainer takes over (when its lease and the run-listing delay have passed) and reconciles by its dispatch ID;
- a launch whose earlier POST is unaccounted for is reconciled before any POST;
- only GitHub's proof that it did not act (a rate limit, no connection) puts a launch back without reconciling.

Run by a schedule every minute and woken by a dispatcher that parked a launch; each run also reports the queue
(launches waiting, the oldest one's age, the expected drain time and the headroom of the lifecycle hooks waiting).
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger import metric_names, observability
from deploy_trigger.batching import BatchResult, BatchSender
from deploy_trigger.deadline import Deadline
from deploy_trigger.dispatch import DispatchConfig, GitHubPort, dispatch_inputs
from deploy_trigger.errors import (
    ClaimContended,
    DispatchRejected,
    OutcomeUnknown,
    RateLimited,
    RetryLater,
)
from deploy_trigger.github_budget import BudgetState, SharedBudget
from deploy_trigger.ledger.model import LedgerEntry
from deploy_trigger.runs import RunRef

#: Each launch's work (take, reconcile, POST, record) is bounded by this much of the run: GitHub cuts a request at
#: 10 s, and a launch's claim lease ends with it, so a drainer that dies frees its launch soon.
LAUNCH_SECONDS = 15.0
#: Batch mode: each batch's work (join, manifest, POST, record) is bounded by this much of the run; its claim on
#: its members, and its manifest's lease, end with it.
BATCH_SECONDS = 60.0
#: The queue is read this many launches at a time (in batch mode, one batch's worth).
QUEUE_PAGE = 25
#: The most of the queue a run reads for its report (a Query of the index's WAITING partition).
QUEUE_REPORT_LIMIT = 5000
#: GitHub's documented limit of content-creating requests an hour per credential ("Rate limits for the REST API"):
#: only the queue's expected drain time uses it; the pace itself follows GitHub's answers.
HOURLY_CONTENT_LIMIT = 500
HOUR, MINUTE = 3600.0, 60.0
#: How long a run waits before it reads a queue page again on which nothing could be taken.
STALE_QUEUE_WAIT_SECONDS = 1.0
#: A dispatcher's container wakes the drainer at most this often (its schedule runs it every minute anyway).
WAKE_INTERVAL_SECONDS = 10.0
#: A launch GitHub could not be reached for is tried again this much later (GitHub did not act on it).
UNAVAILABLE_RETRY_SECONDS = 30.0


class QueuePort(Protocol):
    def queued(self, now: float | None, limit: int) -> list[LedgerEntry]: ...
    def take_from_queue(
        self, seen: LedgerEntry, owner: str, lease_until: float, *, due_again_at: float
    ) -> LedgerEntry: ...
    def park(
        self, entry: LedgerEntry, owner: str, reason: str, *, not_before: float, post_unconfirmed: bool
    ) -> bool: ...
    def record_dispatched(self, entry: LedgerEntry, owner: str, run: RunRef, *, reconciled: bool) -> bool: ...
    def record_failed(self, entry: LedgerEntry, owner: str, reason: str) -> bool: ...


@dataclass(frozen=True)
class DrainConfig:
    dispatch: DispatchConfig
    #: GitHub asks for mutating requests one at a time, at least a second apart.
    mutation_interval_seconds: float = 1.0
    #: Auto Scaling ends a lifecycle action after min(100 x heartbeat timeout, 48 h), heartbeats or not.
    hook_global_timeout_seconds: float = 90_000.0


@dataclass
class DrainReport:
    """What one run did and how the queue stands after it; the handler turns it into metrics."""

    counts: Counter[str] = field(default_factory=Counter)
    waiting: int = 0
    oldest_wait_seconds: float = 0.0
    expected_drain_seconds: float = 0.0
    #: The least time any waiting hook launch would have left when its turn comes (negative: it will expire first).
    hook_headroom_seconds: float | None = None
    paused_until: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            **dict(self.counts),
            "waiting": self.waiting,
            "oldest_wait_seconds": round(self.oldest_wait_seconds, 1),
            "expected_drain_seconds": round(self.expected_drain_seconds, 1),
            "hook_headroom_seconds": (
                round(self.hook_headroom_seconds, 1) if self.hook_headroom_seconds is not None else None
            ),
            "paused_until": self.paused_until,
        }


class _Stop(Exception):
    """GitHub paused dispatches beyond this run, or the run is out of time: the rest waits for the next run."""


class Drainer:
    def __init__(
        self,
        ledger: QueuePort,
        budget: SharedBudget,
        github: GitHubPort,
        config: DrainConfig,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        make_id: Callable[[], str] = lambda: uuid.uuid4().hex,
        batches: BatchSender | None = None,
    ) -> None:
        self._ledger = ledger
        self._batches = batches
        self._budget = budget
        self._github = github
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._make_id = make_id

    def drain(self, deadline: Deadline) -> DrainReport:
        report = DrainReport()
        if not self._ledger.queued(None, 1):
            return report  # nothing waits: no slot taken, so the fast path is never held for nothing
        owner = self._make_id()  # identifies this run's claims on the launches it takes
        pace = Pace(self._budget.read(), self._config.mutation_interval_seconds)
        self._drain(owner, pace, deadline, report)
        self._describe_queue(report, pace)
        if self._batches is not None and not report.waiting and pace.draining_until > self._clock():
            # Batch mode: nothing left to batch, so a dispatcher's next launch is a quiet period's, sent at once. (Off,
            # the draining mark runs out by itself, as it always did.)
            self._budget.end_draining(pace.draining_until, self._clock())
        return report

    def _drain(self, owner: str, pace: Pace, deadline: Deadline, report: DrainReport) -> None:
        page = self._config.dispatch.batch_max_instances if self._batches is not None else QUEUE_PAGE
        empty_since: float | None = None
        while True:
            head = self._ledger.queued(None, page)
            if not head:
                if self._batches is None:
                    return
                # Batch mode: a dispatcher wakes the drainer at most every few seconds per container, so a run that
                # emptied the queue looks again for as long, and a launch arriving just after is not left to wait
                # for the schedule's next minute.
                empty_since = empty_since or self._clock()
                if self._clock() - empty_since >= WAKE_INTERVAL_SECONDS:
                    return
                if not self._wait_until(self._clock() + STALE_QUEUE_WAIT_SECONDS, deadline):
                    return
                continue
            empty_since = None
            due_at = max(head[0].next_check_at or 0.0, pace.paused_until)
            if not self._wait_until(due_at, deadline):
                return
            now = self._clock()
            due = [seen for seen in head if (seen.next_check_at or 0.0) <= now]  # in order: the rest is not due yet
            try:
                settled = (
                    self._send_batches(self._batches, due, owner, pace, deadline, report)
                    if self._batches is not None
                    else sum(self._send(seen, owner, pace, deadline, report) for seen in due)
                )
            except _Stop:
                return
            # The index is eventually consistent: it can still list launches that were just settled or taken. Had
            # nothing on this page moved, wait a moment before reading it again, rather than spin on the same page.
            if not settled and not self._wait_until(self._clock() + STALE_QUEUE_WAIT_SECONDS, deadline):
                return

    def _send(self, seen: LedgerEntry, owner: str, pace: Pace, deadline: Deadline, report: DrainReport) -> bool:
        """Take one launch from the queue and settle it: reconciled, dispatched, rejected, or parked again. False
        when someone else had taken it (nothing done)."""
        if not self._slot(pace, deadline, LAUNCH_SECONDS):
            return False
        step = deadline.within(LAUNCH_SECONDS)
        lease_until = step.wall_clock_end() + self._config.dispatch.lease_margin_seconds
        due_again_at = lease_until + self._config.dispatch.run_listing_delay_seconds
        try:
            entry = self._ledger.take_from_queue(seen, owner, lease_until, due_again_at=due_again_at)
        except ClaimContended:
            return False  # a redelivered event or another drainer has it (or the index was behind): theirs
        observability.logger.append_keys(instance_id=entry.instance_id, dispatch_id=entry.dispatch_id)
        self._settle(entry, owner, pace, step, report)
        return True

    def _slot(self, pace: Pace, deadline: Deadline, work_seconds: float) -> bool:
        """Wait for the pace, then take one dispatch slot on the shared budget item: False when another drainer took
        it (or a pause began) first; raises :class:`_Stop` when the run has no time left for it."""
        if not self._wait_until(pace.next_slot(), deadline):
            raise _Stop
        now = self._clock()
        granted = self._budget.take_slot(
            now,
            self._config.mutation_interval_seconds,
            draining_until=now + work_seconds + self._config.dispatch.lease_margin_seconds,
            new_hour=pace.opens_an_hour(now),
        )
        pace.follow(granted or self._budget.read())  # not granted: another drainer sent, or a pause began
        return granted is not None

    def _send_batches(  # noqa: PLR0917 (the drain loop's state, passed down)
        self,
        batches: BatchSender,
        due: list[LedgerEntry],
        owner: str,
        pace: Pace,
        deadline: Deadline,
        report: DrainReport,
    ) -> int:
        """Batch mode: finish each earlier batch a due member belongs to, then send the due launches that are in no
        batch as one new batch. Each takes a slot (a batch is one POST). Returns the launches settled."""
        earlier: dict[str, list[LedgerEntry]] = {}
        for seen in due:
            if seen.batch_id:
                earlier.setdefault(seen.batch_id, []).append(seen)
        settled = 0
        for members in earlier.values():
            if self._slot(pace, deadline, BATCH_SECONDS):
                settled += self._batch_step(partial(batches.resume, members, owner), pace, deadline, report)
        fresh = [seen for seen in due if not seen.batch_id]
        if fresh and self._slot(pace, deadline, BATCH_SECONDS):
            settled += self._batch_step(partial(batches.compose, fresh, owner), pace, deadline, report)
        return settled

    def _batch_step(
        self, work: Callable[[Deadline], BatchResult], pace: Pace, deadline: Deadline, report: DrainReport
    ) -> int:
        step = deadline.within(BATCH_SECONDS)
        try:
            result = work(step)
        except RateLimited as error:
            now = self._clock()
            pace.pause(now + error.retry_after, now)
            self._budget.pause(now + error.retry_after, str(error))
            report.counts[metric_names.RATE_LIMIT_WAITS] += 1
            raise _Stop from None
        except RetryLater as error:  # GitHub or the ledger unreachable: the batch waits in the queue, as it stands
            observability.logger.warning("batch step stopped", extra={"error": f"{type(error).__name__}: {error}"})
            report.counts[metric_names.REQUEUED] += 1
            raise _Stop from None
        report.counts.update(result.counts)
        return result.settled

    def _settle(self, entry: LedgerEntry, owner: str, pace: Pace, step: Deadline, report: DrainReport) -> None:
        """A launch this drainer took: reconcile it if an earlier POST is unaccounted for, else send it."""
        if entry.post_unconfirmed:
            try:
                found = self._github.find_run(entry.dispatch_id, entry.first_claimed_at, step)
            except RetryLater as error:
                self._put_back(entry, owner, error, pace, report, post_unconfirmed=True)
                return
            if found is not None:
                self._ledger.record_dispatched(entry, owner, found, reconciled=True)
                report.counts[metric_names.RECONCILED_FOUND] += 1
                return
        inputs = dispatch_inputs(self._config.dispatch, entry)
        try:
            run = self._github.dispatch(self._config.dispatch.ref, inputs, step)
        except DispatchRejected as error:
            self._ledger.record_failed(entry, owner, str(error))
            report.counts[metric_names.DISPATCH_REJECTED] += 1
            observability.logger.error("GitHub rejected a queued dispatch for good", extra={"error": str(error)})
            return
        except OutcomeUnknown as error:
            self._put_back(entry, owner, error, pace, report, post_unconfirmed=True)
            return
        except RetryLater as error:  # a rate limit, no connection, no time: GitHub did not act on this POST
            self._put_back(entry, owner, error, pace, report, post_unconfirmed=entry.post_unconfirmed)
            return
        self._ledger.record_dispatched(entry, owner, run, reconciled=False)
        report.counts[metric_names.DISPATCHED] += 1
        report.counts[metric_names.DRAINED] += 1

    def _put_back(
        self,
        entry: LedgerEntry,
        owner: str,
        error: RetryLater,
        pace: Pace,
        report: DrainReport,
        *,
        post_unconfirmed: bool,
    ) -> None:
        """Back into the queue; a rate limit pauses everyone (and stops this run if the pause outlasts it)."""
        now = self._clock()
        if isinstance(error, RateLimited):
            # It keeps its place in line: the shared pause holds everyone back, this launch no more than the rest.
            until = entry.next_check_at or now
            pace.pause(now + error.retry_after, now)
            self._budget.pause(now + error.retry_after, str(error))
            report.counts[metric_names.RATE_LIMIT_WAITS] += 1
        elif isinstance(error, OutcomeUnknown):
            # Like a retried event: whoever takes it next waits for GitHub to list a run this POST may have made.
            until = now + self._config.dispatch.lease_margin_seconds + self._config.dispatch.run_listing_delay_seconds
            report.counts[metric_names.OUTCOME_UNKNOWN] += 1
        else:
            until = now + UNAVAILABLE_RETRY_SECONDS
        reason = f"{type(error).__name__}: {error}"
        self._ledger.park(entry, owner, reason, not_before=until, post_unconfirmed=post_unconfirmed)
        report.counts[metric_names.REQUEUED] += 1
        observability.logger.warning("queued launch put back", extra={"error": reason, "not_before": until})

    def _wait_until(self, moment: float, deadline: Deadline) -> bool:
        """Sleep until ``moment`` if the run has time for that and one launch after it; False if it has not."""
        wait = max(0.0, moment - self._clock())
        if not deadline.can_wait(wait, reserve=LAUNCH_SECONDS):
            return False
        if wait:
            self._sleep(wait)
        return True

    def _describe_queue(self, report: DrainReport, pace: Pace) -> None:
        """How the queue stands: its length, its oldest launch, and when the last of it would go at this pace."""
        now = self._clock()
        queue = self._ledger.queued(None, QUEUE_REPORT_LIMIT)
        report.waiting = len(queue)
        report.paused_until = pace.paused_until
        if not queue:
            return
        # One dispatch sends one launch, or in batch mode a batch of them: each launch's turn is its dispatch's.
        per_dispatch = self._config.dispatch.batch_max_instances or 1
        dispatches = pace.turns(-(-len(queue) // per_dispatch), now)
        turns = [dispatches[place // per_dispatch] for place in range(len(queue))]
        report.expected_drain_seconds = turns[-1] - now
        launched = [entry.launch_time or entry.first_claimed_at for entry in queue]
        report.oldest_wait_seconds = now - min(launched)
        headroom = [
            launch_time + self._config.hook_global_timeout_seconds - turn
            for entry, launch_time, turn in zip(queue, launched, turns, strict=True)
            if entry.lifecycle_hook_name
        ]
        report.hook_headroom_seconds = min(headroom) if headroom else None


class Pace:
    """When a drainer may send next (after the pause, an interval after the last slot any drainer took), and how
    many slots the current hour has had: the expected turns of the queue count GitHub's hourly limit too."""

    def __init__(self, state: BudgetState, interval: float) -> None:
        self._interval = interval
        self.follow(state)

    def follow(self, state: BudgetState) -> None:
        """The budget item as it now stands."""
        self.paused_until = state.paused_until
        self.draining_until = state.draining_until
        self.last_dispatch_at = state.last_dispatch_at
        self.hour_started = state.hour_started
        self.hour_dispatches = state.hour_dispatches

    def next_slot(self) -> float:
        return max(self.paused_until, self.last_dispatch_at + self._interval)

    def opens_an_hour(self, now: float) -> bool:
        return now >= self.hour_started + HOUR

    def pause(self, until: float, now: float) -> None:
        self.paused_until = max(self.paused_until, until)
        if until - now > MINUTE:  # longer than the minute window: the hour's budget is spent until then
            self.hour_started, self.hour_dispatches = until - HOUR, HOURLY_CONTENT_LIMIT

    def turns(self, count: int, now: float) -> list[float]:
        """When each of ``count`` queued launches would be sent, in order, at this pace and GitHub's hourly limit
        (a fixed hour from its first dispatch: GitHub's window slides, which this only ever overestimates)."""
        moment = max(now, self.next_slot())
        started, used = self.hour_started, self.hour_dispatches
        turns: list[float] = []
        for _ in range(count):
            if moment >= started + HOUR:
                started, used = moment, 0
            if used >= HOURLY_CONTENT_LIMIT:
                moment = started = started + HOUR
                used = 0
            turns.append(moment)
            used += 1
            moment += self._interval
        return turns


class DrainerFunction:
    """Wakes the drainer function (an asynchronous invocation) when a dispatcher parked a launch, at most once per
    container per ``every`` seconds: the drainer's schedule runs it each minute anyway, so a lost wake-up only waits
    for that, and is logged, never raised (the launch is safe in the queue)."""

    def __init__(
        self, client_source: Callable[[], Any], function_name: str, *, every: float = WAKE_INTERVAL_SECONDS
    ) -> None:
        self._client_source = client_source
        self._function_name = function_name
        self._every = every
        self._woken_at = float("-inf")

    def wake(self) -> None:
        now = time.monotonic()
        if now - self._woken_at < self._every:
            return
        self._woken_at = now
        try:
            self._client_source().invoke(
                FunctionName=self._function_name, InvocationType="Event", Payload=json.dumps(WAKE_EVENT).encode()
            )
        except (ClientError, BotoCoreError) as error:
            observability.logger.warning("could not wake the drainer", extra={"error": type(error).__name__})


#: What a dispatcher sends the drainer (the drainer reads the queue, not the event).
WAKE_EVENT: Mapping[str, str] = {"source": "deploy-trigger.dispatcher", "detail-type": "Launch queued"}
