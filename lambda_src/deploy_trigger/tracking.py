"""The tracker's pass: follow every dispatched, unfinished deployment to its end, and close the loop.

Dispatching once is half the job. Each pass (every minute) reads the deployments that are due from the
ledger's tracking index, asks GitHub about their runs in one paginated listing, and for each one:
- run still going: record its status, and heartbeat the lifecycle action so a slow but healthy deploy
  keeps its instance in Pending:Wait, up to ``max_deploy`` seconds;
- run succeeded: CONTINUE the lifecycle action (the instance goes InService);
- run failed or was cancelled, never appeared within ``run_appear_timeout``, or exceeded ``max_deploy``:
  ABANDON it (the group replaces the instance) and alert a human.

Killed mid-pass and run again, it neither completes an action twice nor loses an entry: the intent is
written before the call, the entry leaves the index only after the call, and Auto Scaling answers a second
completion with "no active lifecycle action", which is terminal.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from deploy_trigger import metric_names, observability
from deploy_trigger.alerts import DeploymentAlert
from deploy_trigger.deadline import Deadline
from deploy_trigger.errors import RetryLater
from deploy_trigger.ledger.model import LedgerEntry
from deploy_trigger.lifecycle import LifecycleAnswer, LifecycleResult
from deploy_trigger.runs import JobListing, RunListing, WorkflowRun

#: A pass stops starting checks when less than this is left of its invocation.
PASS_RESERVE_SECONDS = 5.0
#: Runs not in the listing (older than its window) are read one by one, at most this many per pass.
MAX_SINGLE_RUN_READS = 20
#: Batch mode: the most runs whose jobs one pass lists (the rest wait for the next pass, oldest check first).
MAX_JOB_LISTINGS = 20


class LedgerPort(Protocol):
    def due_for_tracking(self, now: float, limit: int) -> list[LedgerEntry]: ...
    def unresolved_outcomes(self, now: float, limit: int = ...) -> list[str]: ...
    def queued(self, now: float | None, limit: int) -> list[LedgerEntry]: ...
    def record_queued_heartbeat(self, entry: LedgerEntry, at: float) -> bool: ...
    def record_run_progress(
        self,
        entry: LedgerEntry,
        run: WorkflowRun | None,
        *,
        next_check_at: float,
        heartbeat_at: float | None = None,
        note: str | None = None,
    ) -> bool: ...
    def record_lifecycle_intent(self, entry: LedgerEntry, result: str) -> bool: ...
    def record_deploy_finished(
        self,
        entry: LedgerEntry,
        *,
        succeeded: bool,
        outcome: str,
        conclusion: str | None,
        lifecycle_result: str | None,
        detail: str,
        head_sha: str | None = ...,
    ) -> bool: ...


class RunsPort(Protocol):
    def list_runs(self, created_since: float, deadline: Deadline, max_pages: int = ...) -> RunListing: ...
    def get_run(self, run_id: int, deadline: Deadline) -> WorkflowRun | None: ...
    def list_jobs(self, run_id: int, deadline: Deadline) -> JobListing: ...


class LifecyclePort(Protocol):
    def complete(
        self, asg_name: str, hook_name: str, instance_id: str, result: LifecycleResult, *, token: str | None = None
    ) -> LifecycleAnswer: ...
    def heartbeat(
        self, asg_name: str, hook_name: str, instance_id: str, *, token: str | None = None
    ) -> LifecycleAnswer: ...
    def instance_state(self, instance_id: str) -> str | None: ...


class AlertsPort(Protocol):
    def publish(self, alert: DeploymentAlert) -> None: ...


class DeployOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NO_RUN = "no run"
    STUCK = "stuck"
    #: The run succeeded, but the lifecycle action had already ended with ABANDON (its hook timed out, or
    #: something else abandoned it): the deployed instance is gone.
    TOO_LATE = "succeeded too late"


_OUTCOME_METRICS = {
    DeployOutcome.SUCCEEDED: metric_names.DEPLOY_SUCCEEDED,
    DeployOutcome.FAILED: metric_names.DEPLOY_FAILED,
    DeployOutcome.NO_RUN: metric_names.DEPLOY_NO_RUN,
    DeployOutcome.STUCK: metric_names.DEPLOY_STUCK,
    DeployOutcome.TOO_LATE: metric_names.DEPLOY_FAILED,
}
#: The intent a deployment without a lifecycle hook records before its outcome is written and alerted.
NO_LIFECYCLE_ACTION = "NONE"
#: Lifecycle states of an instance whose action ended with CONTINUE (it went on into the group) or ABANDON.
_CONTINUED_STATES = ("InService", "Pending:Proceed", "Standby", "Detach")
_ABANDONED_STATES = ("Terminat",)
_LIFECYCLE_METRICS = {
    LifecycleResult.CONTINUE.value: metric_names.LIFECYCLE_CONTINUED,
    LifecycleResult.ABANDON.value: metric_names.LIFECYCLE_ABANDONED,
    "ALREADY_ENDED": metric_names.LIFECYCLE_ALREADY_ENDED,
}


@dataclass(frozen=True)
class TrackerConfig:
    run_appear_timeout: float
    heartbeat_interval: float
    max_deploy: float
    check_interval: float
    max_entries_per_pass: int = 500
    max_run_pages: int = 10
    workers: int = 4


@dataclass
class PassReport:
    """What one pass did; the handler turns it into metrics (threads never touch the metrics object)."""

    due: int = 0
    #: Instances whose dispatch outcome stayed unknown: no retry reconciled them (alarmed).
    unresolved: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, metric: str, value: int = 1) -> None:
        with self._lock:
            self.counts[metric] += value

    def duration(self, seconds: float) -> None:
        with self._lock:
            self.durations.append(seconds)

    def as_dict(self) -> dict[str, object]:
        return {
            "due": self.due,
            "unresolved": self.unresolved,
            **dict(self.counts),
            "durations": [round(d, 1) for d in self.durations],
        }


class Tracker:
    def __init__(
        self,
        ledger: LedgerPort,
        github: RunsPort,
        lifecycle: LifecyclePort,
        alerts: AlertsPort,
        config: TrackerConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._ledger = ledger
        self._github = github
        self._lifecycle = lifecycle
        self._alerts = alerts
        self._config = config
        self._clock = clock

    def run_pass(self, deadline: Deadline) -> PassReport:
        report = PassReport()
        report.unresolved = self._ledger.unresolved_outcomes(self._clock())
        if report.unresolved:
            observability.logger.error(
                "dispatch outcomes still unknown: no retry reconciled them; check each instance's run in GitHub "
                "by its dispatch_id before dispatching by hand",
                extra={"instances": report.unresolved},
            )
        entries = self._ledger.due_for_tracking(self._clock(), self._config.max_entries_per_pass)
        report.due = len(entries)
        if entries:
            self._track(entries, deadline, report)
        self._heartbeat_queue(deadline, report)
        return report

    def _track(self, entries: list[LedgerEntry], deadline: Deadline, report: PassReport) -> None:
        try:
            runs, complete = self._runs_for(entries, deadline)
        except RetryLater as error:
            # Without GitHub's answer nothing can be decided; the entries stay due for the next pass.
            observability.logger.warning("tracker pass skipped: GitHub unavailable", extra={"error": str(error)})
            report.add(metric_names.TRACKER_ERRORS, len(entries))
            return
        if not complete:
            observability.logger.warning(
                "GitHub's run listing was cut short (at most 1,000 results): an entry whose run is not in it is "
                "kept for a later pass, never finished as 'no run'",
                extra={"due": len(entries)},
            )
        jobs = self._jobs_for(entries, runs, deadline, report)
        with ThreadPoolExecutor(max_workers=self._config.workers) as pool:
            for entry in entries:
                run = runs.get(entry.run_dispatch_id)
                if run is not None and entry.batch_id:
                    if run.run_id not in jobs:
                        continue  # its run's jobs could not be read: still due, the next pass tries again
                    run = _instance_view(run, jobs[run.run_id], entry.instance_id)
                pool.submit(self._check_safely, entry, run, deadline, report, listed_all=complete)

    def _jobs_for(
        self, entries: list[LedgerEntry], runs: dict[str, WorkflowRun], deadline: Deadline, report: PassReport
    ) -> dict[int, JobListing]:
        """Batch mode: the jobs of each run a batched entry is in, one listing per run (a run of 256 jobs is three
        pages): each instance's own job decides its outcome, not the run's."""
        wanted = {runs[e.run_dispatch_id].run_id for e in entries if e.batch_id and e.run_dispatch_id in runs}
        listings: dict[int, JobListing] = {}
        for run_id in sorted(wanted)[:MAX_JOB_LISTINGS]:
            try:
                listings[run_id] = self._github.list_jobs(run_id, deadline)
            except RetryLater as error:
                report.add(metric_names.TRACKER_ERRORS)
                observability.logger.warning(
                    "could not list a batch run's jobs", extra={"run_id": run_id, "error": str(error)}
                )
        return listings

    def _heartbeat_queue(self, deadline: Deadline, report: PassReport) -> None:
        """Keep the lifecycle actions of launches waiting for GitHub budget alive, like a running deploy's: the
        drainer may send them hours later, and Auto Scaling ends an action its heartbeat timeout after the last
        heartbeat (at the latest, its global timeout after the launch: the drainer alarms on that)."""
        now = self._clock()
        due = [
            entry
            for entry in self._ledger.queued(None, self._config.max_entries_per_pass)
            if entry.lifecycle_hook_name and now - _last_heartbeat(entry) >= self._config.heartbeat_interval
        ]
        with ThreadPoolExecutor(max_workers=self._config.workers) as pool:
            for entry in due:
                pool.submit(self._heartbeat_queued, entry, deadline, report)

    def _heartbeat_queued(self, entry: LedgerEntry, deadline: Deadline, report: PassReport) -> None:
        if deadline.remaining() < PASS_RESERVE_SECONDS:
            return
        try:
            self._lifecycle.heartbeat(
                entry.asg_name, entry.lifecycle_hook_name or "", entry.instance_id, token=entry.lifecycle_action_token
            )
            report.add(metric_names.HEARTBEATS)
            self._ledger.record_queued_heartbeat(entry, self._clock())
        except RetryLater as error:
            report.add(metric_names.TRACKER_ERRORS)
            observability.logger.warning(
                "could not heartbeat a queued launch; next pass retries",
                extra={"instance_id": entry.instance_id, "error": str(error)},
            )

    def _runs_for(self, entries: list[LedgerEntry], deadline: Deadline) -> tuple[dict[str, WorkflowRun], bool]:
        """Each entry's run by dispatch ID (one listing for all, single reads for the few it misses), and whether
        the listing was complete: a cut-off listing cannot show that a run does not exist."""
        since = min(entry.first_claimed_at for entry in entries)
        listing = self._github.list_runs(since, deadline, self._config.max_run_pages)
        listed = listing.runs
        by_dispatch = {dispatch_id: run for run in listed for dispatch_id in run.dispatch_ids()}
        by_run_id = {run.run_id: run for run in listed}
        for entry in entries:
            if entry.run_dispatch_id not in by_dispatch and entry.run_id in by_run_id:
                # The run-name lost the ID; the run ID did not.
                by_dispatch[entry.run_dispatch_id] = by_run_id[entry.run_id]
        # One read per run, however many of its batch's members are due.
        missing = list(
            dict.fromkeys(
                (e.run_dispatch_id, e.run_id) for e in entries if e.run_dispatch_id not in by_dispatch and e.run_id
            )
        )
        for dispatch_id, run_id in missing[:MAX_SINGLE_RUN_READS]:
            run = self._github.get_run(run_id, deadline)
            if run is not None:
                by_dispatch[dispatch_id] = run
        return by_dispatch, listing.complete

    def _check_safely(
        self, entry: LedgerEntry, run: WorkflowRun | None, deadline: Deadline, report: PassReport, *, listed_all: bool
    ) -> None:
        if deadline.remaining() < PASS_RESERVE_SECONDS:
            return  # still due: the next pass picks it up first
        try:
            self._check(entry, run, report, listed_all=listed_all)
        except RetryLater as error:
            report.add(metric_names.TRACKER_ERRORS)
            observability.logger.warning(
                "could not check a deployment; next pass retries",
                extra={"instance_id": entry.instance_id, "error": str(error)},
            )

    def _check(self, entry: LedgerEntry, run: WorkflowRun | None, report: PassReport, *, listed_all: bool) -> None:
        now = self._clock()
        # From this dispatch, not the first claim: a launch retried or redriven hours later is followed to its
        # real end, not declared stuck (or run-less) on sight.
        age = now - _dispatched_at(entry)
        if run is None:
            if age > self._config.run_appear_timeout and listed_all:
                detail = f"GitHub listed no run for dispatch {entry.run_dispatch_id} within {age:.0f}s"
                self._finish(entry, None, DeployOutcome.NO_RUN, detail, report)
                return
        elif run.finished:
            outcome = DeployOutcome.SUCCEEDED if run.succeeded else DeployOutcome.FAILED
            self._finish(entry, run, outcome, f"run {run.run_id} ended {run.status}/{run.conclusion}", report)
            return
        elif age > self._config.max_deploy:
            detail = f"run {run.run_id} still {run.status} after {age:.0f}s (limit {self._config.max_deploy:.0f}s)"
            self._finish(entry, run, DeployOutcome.STUCK, detail, report)
            return
        # Waiting for the run to appear or to end: keep the lifecycle action alive either way.
        heartbeat_at, note = self._heartbeat_if_due(entry, now, report)
        self._ledger.record_run_progress(
            entry, run, next_check_at=now + self._config.check_interval, heartbeat_at=heartbeat_at, note=note
        )

    def _heartbeat_if_due(self, entry: LedgerEntry, now: float, report: PassReport) -> tuple[float | None, str | None]:
        """Heartbeat the action when an interval has passed since the last one. The hook's heartbeat timeout runs
        from when Auto Scaling started the action (the event's time), not from our claim: a claim that came late
        must not let the action expire before its first heartbeat."""
        last_heartbeat = _last_heartbeat(entry)
        if (
            not entry.lifecycle_hook_name
            or entry.lifecycle_intent is not None
            or now - last_heartbeat < self._config.heartbeat_interval
        ):
            return None, None
        answer = self._lifecycle.heartbeat(
            entry.asg_name, entry.lifecycle_hook_name, entry.instance_id, token=entry.lifecycle_action_token
        )
        report.add(metric_names.HEARTBEATS)
        if answer is LifecycleAnswer.NO_ACTIVE_ACTION:
            return now, "heartbeat: no active lifecycle action (the workflow completed it, or it timed out)"
        return now, None

    def _finish(
        self, entry: LedgerEntry, run: WorkflowRun | None, outcome: DeployOutcome, detail: str, report: PassReport
    ) -> None:
        hook = entry.lifecycle_hook_name
        if entry.lifecycle_intent is None:
            # The fence: this conditional write must win before any Auto Scaling call or alert. It loses when the
            # entry moved on (a newer launch of the instance, another pass finishing it), and then nothing is done.
            intent = _result_for(outcome) if hook else NO_LIFECYCLE_ACTION
            if not self._ledger.record_lifecycle_intent(entry, intent):
                return
        lifecycle_result = self._complete_lifecycle(entry, hook, outcome) if hook else None
        if outcome is DeployOutcome.SUCCEEDED and (lifecycle_result or "").startswith(_ENDED_ABANDON):
            outcome = DeployOutcome.TOO_LATE
            detail += "; but the lifecycle action had already ended with ABANDON: the instance is gone"
        if outcome is not DeployOutcome.SUCCEEDED:
            self._alerts.publish(
                DeploymentAlert(
                    outcome=outcome.value,
                    instance_id=entry.instance_id,
                    asg_name=entry.asg_name,
                    dispatch_id=entry.run_dispatch_id,
                    run_url=(run.html_url if run else None) or entry.run_url,
                    conclusion=run.conclusion if run else None,
                    lifecycle_result=lifecycle_result,
                    detail=detail,
                )
            )
        finished = self._ledger.record_deploy_finished(
            entry,
            succeeded=outcome is DeployOutcome.SUCCEEDED,
            outcome=outcome.value,
            conclusion=run.conclusion if run else None,
            lifecycle_result=lifecycle_result,
            detail=detail,
            head_sha=run.head_sha if run else None,
        )
        if not finished:
            return  # a newer launch of the instance replaced this dispatch meanwhile: nothing to count
        report.add(_OUTCOME_METRICS[outcome])
        if lifecycle_result:
            report.add(_LIFECYCLE_METRICS[lifecycle_result.split()[0]])
            if _ALREADY_ENDED in lifecycle_result:
                report.add(metric_names.LIFECYCLE_ALREADY_ENDED)
        if run and run.updated_at:
            report.duration(run.updated_at - entry.first_claimed_at)
        observability.logger.info(
            f"deployment {outcome.value}",
            extra={"instance_id": entry.instance_id, "dispatch_id": entry.dispatch_id, "lifecycle": lifecycle_result},
        )

    def _complete_lifecycle(self, entry: LedgerEntry, hook: str, outcome: DeployOutcome) -> str:
        """CONTINUE on success, ABANDON otherwise (an intent written by an earlier, interrupted pass wins), by the
        stored token when there is one, so the call can only end the action it belongs to.

        When the action had already ended (the workflow completed it, or its heartbeat timeout applied the hook's
        default result), Auto Scaling is asked what became of the instance, so an abandon still counts as one (the
        crash-loop alarm) and a success whose instance is gone is not taken for a success.
        """
        intended = LifecycleResult(entry.lifecycle_intent or _result_for(outcome))
        answer = self._lifecycle.complete(
            entry.asg_name, hook, entry.instance_id, intended, token=entry.lifecycle_action_token
        )
        if answer is LifecycleAnswer.DONE:
            return intended.value
        if entry.lifecycle_intent is not None:
            # An earlier pass wrote the intent and was cut off after (or during) the call: that call ended it.
            return f"{intended.value} (confirmed: no active action left)"
        state = self._lifecycle.instance_state(entry.instance_id)
        if state is None or state.startswith(_ABANDONED_STATES):
            return f"{_ENDED_ABANDON}: the instance is {state or 'gone'})"
        if state.startswith(_CONTINUED_STATES):
            return f"CONTINUE ({_ALREADY_ENDED}: the instance is {state})"
        return f"{_ALREADY_ENDED} (the instance is {state})"


_ALREADY_ENDED = "ALREADY_ENDED"
#: How a result the tracker did not make, but found, begins: "ABANDON (ALREADY_ENDED: the instance is gone)".
_ENDED_ABANDON = f"ABANDON ({_ALREADY_ENDED}"


def _instance_view(run: WorkflowRun, jobs: JobListing, instance_id: str) -> WorkflowRun:
    """A batch run as one instance sees it: its own job's status and conclusion, so one failed instance is
    abandoned and its siblings go into service. A run that finished with no job for the instance (its matrix never
    ran: a workflow error, more than 256 instances) failed it; while the listing is incomplete nothing is decided."""
    job = jobs.for_instance(instance_id)
    if job is not None:
        return replace(
            run,
            status=job.status,
            conclusion=job.conclusion,
            html_url=job.html_url or run.html_url,
            updated_at=job.completed_at or run.updated_at,
        )
    if run.finished and jobs.complete:
        return replace(run, conclusion=f"no job for {instance_id} ({run.conclusion})")
    return replace(run, status="" if run.finished else run.status, conclusion=None)


def _last_heartbeat(entry: LedgerEntry) -> float:
    """When the action was last known alive: its last heartbeat, else its start (the event's time)."""
    return entry.last_heartbeat_at or entry.launch_time or entry.first_claimed_at


def _dispatched_at(entry: LedgerEntry) -> float:
    """When this entry's dispatch was recorded (items of older versions: its first claim)."""
    return entry.dispatched_at.timestamp() if entry.dispatched_at else entry.first_claimed_at


def _result_for(outcome: DeployOutcome) -> str:
    return (LifecycleResult.CONTINUE if outcome is DeployOutcome.SUCCEEDED else LifecycleResult.ABANDON).value
