"""What a drill run found, as one plain data object: rendered for people by ``render``, dumped as JSON for
scripts. Everything here is counted at the stand-ins or taken from the invocations' own outcomes."""

from __future__ import annotations

import json
import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from deploy_trigger.ledger.model import LedgerEntry, Status
from drill.scaleout.backlog import Sample
from drill.scaleout.config import DrillConfig
from drill.scaleout.drain_report import GitHubDrain, build_drain
from drill.scaleout.drainer import DrainerRun
from drill.scaleout.faults import FaultKind
from drill.scaleout.lambda_async import EndedBy, InvocationRecord
from drill.scaleout.lifecycle import FAILURE, LifecycleObserved
from drill.scaleout.on_failure import DeadLetter
from drill.scaleout.plan import DeliveryKind, Plan, fault_quotas
from drill.scaleout.verdict import Verdict, judge
from stand_ins.github_double import RecordedRequest, WorkflowRun
from stand_ins.github_rate_limits import Refusal


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds: in all, starting the stand-ins and containers, the scale-out itself (first delivery
    to the last invocation, the drainer's included), and gathering the evidence and stopping everything."""

    wall_seconds: float
    setup_seconds: float
    scale_out_seconds: float
    wrap_up_seconds: float


@dataclass(frozen=True)
class Machine:
    """Where the drill ran: its wall times only mean something next to the CPUs and how busy they already were."""

    cpus: int
    load_average_at_start: float | None

    @classmethod
    def now(cls) -> Machine:
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        return cls(cpus=os.cpu_count() or 1, load_average_at_start=round(load, 2) if load is not None else None)


@dataclass(frozen=True)
class Observed:
    """Raw material gathered at the end of a run, before it is counted."""

    records: list[InvocationRecord]
    runs: list[WorkflowRun]
    github_requests: list[RecordedRequest]
    aws_calls: Mapping[str, int]
    dead_letters: list[DeadLetter]
    ledger: Mapping[str, LedgerEntry]
    faults_applied: Mapping[FaultKind, int]
    containers_started: int
    missed_kills: int
    #: Lifecycle mode only: what the tracker's passes left behind.
    lifecycle: LifecycleObserved | None = None
    #: Lifecycle mode only: the instances the sweep handed to the dispatcher (their events never came).
    swept: list[str] = field(default_factory=list)
    #: The drainer's invocations, the ledger's queue sampled during the run, and GitHub's refusals.
    drainer_runs: list[DrainerRun] = field(default_factory=list)
    backlog: list[Sample] = field(default_factory=list)
    refusals: list[Refusal] = field(default_factory=list)
    content_created_at: list[float] = field(default_factory=list)
    #: Epoch seconds the scale-out began at (the first event).
    origin_epoch: float = 0.0
    #: Launches still in the ledger's queue at the end, and whether the drain stopped at its cap.
    still_queued: list[str] = field(default_factory=list)
    drain_capped: bool = False


@dataclass(frozen=True)
class LifecycleSummary:
    """Lifecycle mode: how the tracker closed the loop after the scale-out."""

    #: Launches announced by a lifecycle action (their instances wait in Pending:Wait).
    hooked_launches: int
    #: Actions completed with CONTINUE (instance InService) and ABANDON (instance replaced) by the tracker.
    in_service: int
    replaced: int
    #: Actions that ended by their heartbeat timeout (the default result, ABANDON) before the tracker came.
    timed_out: int
    #: complete calls Auto Scaling answered "no active lifecycle action" (completed elsewhere or already ended).
    already_ended: int
    still_pending: int
    plain_launches: int
    #: Plain-mode launches whose deployment outcome the ledger recorded (SUCCEEDED or DEPLOY_FAILED).
    plain_recorded: int
    runs_succeeded: int
    runs_failed: int
    #: Of the failed runs, those of lifecycle-hook launches: the instances that should be replaced.
    hooked_runs_failed: int
    alerts: int
    ledger_statuses: dict[str, int]
    passes: int
    #: Each pass's own report (due entries and the tracker's metrics).
    pass_reports: list[dict[str, Any]]
    github_calls: dict[str, int]
    aws_calls: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class DrillReport:
    """Counts, not judgements, except ``verdict``; ``exit_code`` is what the command line exits with."""

    settings: dict[str, Any]
    timing: Timing
    machine: Machine
    launches: int
    launches_by_asg: dict[str, int]
    launches_by_event: dict[str, int]
    #: First deliveries by kind (original, duplicate, concurrent, malformed) and in all.
    deliveries: dict[str, int]
    invocations: int
    lambda_retries: int
    cold_starts: int
    containers_started: int
    faults_planned: dict[str, int]
    faults_injected: dict[str, int]
    #: How invocations ended: returned, raised, killed, timed_out, crashed.
    invocations_ended: dict[str, int]
    kills_missed: int
    runs_created: int
    dispatch_posts: int
    #: The handler's answers (dispatched, reconciled, duplicate, ignored) and its errors by type.
    results: dict[str, int]
    errors: dict[str, int]
    duplicates_suppressed: int
    claims_contended: int
    reconciled_runs: int
    dead_letters_by_error: dict[str, int]
    dead_letters: list[dict[str, Any]]
    latency_ms: dict[str, float]
    aws_calls: dict[str, int]
    aws_calls_per_launch: dict[str, float]
    github_calls: dict[str, int]
    github_calls_per_launch: dict[str, float]
    ledger_statuses: dict[str, int]
    verdict: Verdict
    #: Every invocation in the order it ended, for scripts that dig into one instance.
    invocation_log: list[dict[str, Any]]
    lifecycle: LifecycleSummary | None = None
    #: The scale-out against GitHub's limits: drain time and its floor, backlog, refusals, the drainer's runs.
    github_limits: GitHubDrain | None = None

    @property
    def exit_code(self) -> int:
        """0 when the invariant held, 1 when it broke (so scripts and CI can use the drill as a check)."""
        return 0 if self.verdict.ok else 1

    def to_json(self) -> str:
        data = asdict(self)
        data["verdict"]["summary"] = self.verdict.summary
        return json.dumps({**data, "exit_code": self.exit_code}, indent=2)


def build_report(config: DrillConfig, plan: Plan, observed: Observed, timing: Timing, machine: Machine) -> DrillReport:
    records, launches = observed.records, len(plan.launches)
    results = Counter(r.result for r in records if r.result is not None)
    errors = Counter(r.error_type for r in records if r.error_type is not None)
    # Lambda's own calls to the on-failure destination are not the handler's.
    aws_calls = {
        name: count for name, count in sorted(observed.aws_calls.items()) if count > 0 and not name.startswith("sqs:")
    }
    github_calls = Counter(endpoint(request) for request in observed.github_requests)
    by_kind = {kind.value: plan.count(kind) for kind in DeliveryKind} | {"lost": len(plan.lost)}
    verdict = judge(
        plan,
        ((run.inputs.get("instance_id", ""), run.id) for run in observed.runs),
        observed.ledger,
        observed.dead_letters,
        observed.lifecycle,
        swept=observed.swept,
        still_queued=observed.still_queued,
    )
    rejected = sum(1 for launch in plan.launches if launch.fault is FaultKind.REJECTED)
    return DrillReport(
        settings=asdict(config),
        timing=timing,
        machine=machine,
        launches=launches,
        launches_by_asg=dict(sorted(Counter(launch.asg_name for launch in plan.launches).items())),
        launches_by_event=dict(Counter(launch.detail_type for launch in plan.launches).most_common()),
        deliveries={**by_kind, "total": sum(by_kind.values())},
        invocations=len(records),
        lambda_retries=sum(1 for r in records if r.attempt > 1),
        cold_starts=sum(1 for r in records if r.cold),
        containers_started=observed.containers_started,
        faults_planned={kind.value: count for kind, count in fault_quotas(config) if count},
        faults_injected={
            kind.value: observed.faults_applied.get(kind, 0) for kind, count in fault_quotas(config) if count
        },
        invocations_ended=dict(Counter(r.ended_by.value for r in records).most_common()),
        kills_missed=observed.missed_kills,
        runs_created=len(observed.runs),
        dispatch_posts=sum(
            1 for r in observed.github_requests if r.method == "POST" and r.path.endswith("/dispatches")
        ),
        results=dict(results.most_common()),
        errors=dict(errors.most_common()),
        duplicates_suppressed=results["duplicate"],
        claims_contended=errors["ClaimContended"],
        reconciled_runs=results["reconciled"],
        dead_letters_by_error=dict(Counter(letter.error_type for letter in observed.dead_letters).most_common()),
        dead_letters=[_letter(letter) for letter in observed.dead_letters],
        latency_ms=latency([r.seconds for r in records if r.ended_by in (EndedBy.RETURNED, EndedBy.RAISED)]),
        aws_calls=aws_calls,
        aws_calls_per_launch=_per(aws_calls, launches),
        github_calls=dict(sorted(github_calls.items())),
        github_calls_per_launch=_per(github_calls, launches),
        ledger_statuses=dict(Counter(item.status for item in observed.ledger.values()).most_common()),
        verdict=verdict,
        invocation_log=[_invocation(record) for record in records],
        lifecycle=_lifecycle(observed.lifecycle) if observed.lifecycle is not None else None,
        github_limits=build_drain(
            config,
            deployable=launches - rejected,
            runs=observed.runs,
            requests=observed.github_requests,
            refusals=observed.refusals,
            content_created_at=observed.content_created_at,
            samples=observed.backlog,
            drainer_runs=observed.drainer_runs,
            origin_epoch=observed.origin_epoch,
            still_queued=len(observed.still_queued),
            drain_capped=observed.drain_capped,
        ),
    )


def _lifecycle(observed: LifecycleObserved) -> LifecycleSummary:
    results = Counter(result for fates in observed.fates.values() for result in fates)
    finished = (Status.SUCCEEDED, Status.DEPLOY_FAILED)
    failed = sum(1 for conclusion in observed.conclusions.values() if conclusion == FAILURE)
    return LifecycleSummary(
        hooked_launches=len(observed.hooked),
        in_service=results["CONTINUE"],
        replaced=results["ABANDON"] - len(observed.timed_out),
        timed_out=len(observed.timed_out),
        already_ended=sum(observed.no_active_answers.values()),
        still_pending=len(observed.still_pending),
        plain_launches=len(observed.plain),
        plain_recorded=sum(
            1 for i in observed.plain if (item := observed.ledger.get(i)) is not None and item.status in finished
        ),
        runs_succeeded=len(observed.conclusions) - failed,
        runs_failed=failed,
        hooked_runs_failed=sum(1 for i in observed.hooked if observed.conclusions.get(i) == FAILURE),
        alerts=sum(observed.alerts.values()),
        ledger_statuses=dict(Counter(item.status for item in observed.ledger.values()).most_common()),
        passes=len(observed.passes),
        pass_reports=[dict(report) for report in observed.passes],
        github_calls=dict(sorted(Counter(endpoint(request) for request in observed.github_requests).items())),
        aws_calls=observed.aws_calls,
        seconds=round(observed.seconds, 2),
    )


def endpoint(request: RecordedRequest) -> str:
    """``"POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches"``: a request without its IDs."""
    path = re.sub(r"^/repos/[^/]+/[^/]+/", "/repos/{owner}/{repo}/", request.path)
    path = re.sub(r"/workflows/[^/]+/", "/workflows/{workflow}/", path)
    path = re.sub(r"/runs/\d+", "/runs/{run_id}", path)
    return f"{request.method} {path}"


def latency(seconds: Iterable[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    if not ordered:
        return {"count": 0}

    def percentile(share: float) -> float:
        return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)] * 1000, 1)

    return {"count": len(ordered), "p50": percentile(0.5), "p99": percentile(0.99), "max": percentile(1.0)}


def _per(counts: Mapping[str, int], launches: int) -> dict[str, float]:
    return {name: round(count / launches, 3) for name, count in sorted(counts.items())}


def _invocation(record: InvocationRecord) -> dict[str, Any]:
    entry = asdict(record)
    entry["seconds"] = round(record.seconds, 3)
    return entry


def _letter(letter: DeadLetter) -> dict[str, Any]:
    return {
        "error_type": letter.error_type,
        "error_message": letter.error_message,
        "instance_id": letter.instance_id,
        "event_id": letter.event_id,
        "request_id": letter.request_id,
        "attempts": letter.attempts,
    }
