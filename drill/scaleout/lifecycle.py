"""Lifecycle mode: after the scale-out, every workflow run ends (most succeed, a seeded share fails) and the real
tracker closes the loop against a simulated Auto Scaling group: CONTINUE lets an instance into service, ABANDON has
it replaced, and every failure alerts a human.

Auto Scaling's lifecycle calls are not in moto, so ``stand_ins.autoscaling_group.AutoScalingStandIn`` keeps the
pending lifecycle actions the way the real service does: one per launch and hook, with its own token, completed
at most once, then "no active lifecycle action" for every later complete or heartbeat. An action whose heartbeat
timeout passes ends with the hook's default result (ABANDON), which is how a tracker that comes too late loses
instances.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from deploy_trigger import observability
from deploy_trigger.alerts import DeploymentAlert
from deploy_trigger.deadline import Deadline
from deploy_trigger.github_auth import SecretCredentials
from deploy_trigger.github_client import GitHubClient
from deploy_trigger.ledger.model import LedgerEntry
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.lifecycle import LifecycleResult
from deploy_trigger.sweep import GRACE_SECONDS, AutoScalingGroups, SweepConfig, Sweeper
from deploy_trigger.tracking import Tracker, TrackerConfig
from deploy_trigger_cli.replay import LocalTarget
from drill.scaleout.config import DrillConfig
from drill.scaleout.faults import FaultKind
from drill.scaleout.plan import LIFECYCLE_HOOK, OTHER_HOOK, DeliveryKind, Plan
from drill.scaleout.stand_ins import FAKE_CREDENTIALS, StandIns
from stand_ins.autoscaling_events import REGION
from stand_ins.github_double import RecordedRequest

#: The detail-type of a launch that waits in Pending:Wait for its lifecycle action to be completed.
LIFECYCLE_DETAIL_TYPE = "EC2 Instance-launch Lifecycle Action"
#: The tracker as production configures it (seconds); check_interval 0 makes every entry due at once.
TRACKER_CONFIG = TrackerConfig(run_appear_timeout=600, heartbeat_interval=300, max_deploy=3600, check_interval=0)
#: At most this many tracker passes; with every run finished, the first settles everything and the second
#: finds nothing due.
MAX_PASSES = 5
#: Each pass runs under a Lambda-like deadline of this many seconds.
PASS_SECONDS = 60.0
SUCCESS, FAILURE = "success", "failure"


@dataclass
class AlertInbox:
    """The tracker's alerts port: what would go to SNS, kept by instance."""

    alerts: list[DeploymentAlert] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def publish(self, alert: DeploymentAlert) -> None:
        with self._lock:
            self.alerts.append(alert)


@dataclass(frozen=True)
class LifecycleObserved:
    """What the lifecycle phase left behind, before it is counted."""

    #: Instances launched through the lifecycle hook, and the others (plain mode).
    hooked: frozenset[str]
    plain: frozenset[str]
    #: Instance -> the conclusion its run(s) ended with.
    conclusions: dict[str, str]
    #: Instance -> its action's endings, in order (the tracker's completions and timeouts).
    fates: dict[str, list[str]]
    #: Instance -> how its warm-pool entry's action ended (the dispatcher continues each, once).
    warm_pool_fates: dict[str, list[str]]
    #: Instances with an action still pending on any hook after the tracker's passes.
    other_hook_pending: list[str]
    #: Instances whose action the tracker completed (answered DONE), with how often.
    completed_by_tracker: dict[str, int]
    timed_out: list[str]
    still_pending: list[str]
    no_active_answers: dict[str, int]
    alerts: dict[str, int]
    passes: list[dict[str, object]]
    github_requests: list[RecordedRequest]
    aws_calls: dict[str, int]
    ledger: dict[str, LedgerEntry]
    seconds: float


def seeded_share(population: Iterable[str], share: float, seed: str) -> set[str]:
    """Exactly ``share`` of ``population`` (rounded), drawn by ``seed``: the same flags pick the same ones."""
    ordered = sorted(set(population))
    rng = random.Random(seed)  # noqa: S311 - a reproducible drill, not a secret
    return set(rng.sample(ordered, round(share * len(ordered))))


def sweep_lost_launches(config: DrillConfig, plan: Plan, local: StandIns) -> list[str]:
    """After the burst: the real sweep finds the instances whose event never came (two sweeps, the grace period
    between them compressed) and hands each to the real handler, as the dispatcher function would get it."""
    clock = _OffsetClock()
    sweeper = Sweeper(
        AutoScalingGroups(lambda: local.autoscaling.stand_in),
        Ledger(local.dynamodb, local.table),
        _LocalDispatcher(LocalTarget(local.container_environment(config), budget_seconds=config.function_timeout)),
        SweepConfig(hook_name=LIFECYCLE_HOOK, group_names=frozenset(), region=REGION),
        clock=clock,
    )
    sweeper.sweep(Deadline(PASS_SECONDS))  # first sightings
    clock.offset = GRACE_SECONDS
    return sweeper.sweep(Deadline(PASS_SECONDS)).sent if plan.lost else []


@dataclass
class _OffsetClock:
    offset: float = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class _LocalDispatcher:
    """The sweep's dispatcher port: the real handler in this process, with the function's environment."""

    target: LocalTarget

    def deliver(self, event: Mapping[str, Any]) -> None:
        with self.target:
            self.target.replay(event)


def run_lifecycle_phase(config: DrillConfig, plan: Plan, local: StandIns) -> LifecycleObserved:
    """Finish every run, then let the tracker close the loop; call after every delivery has settled."""
    started = time.monotonic()
    hooked = frozenset(launch.instance_id for launch in plan.launches if launch.detail_type == LIFECYCLE_DETAIL_TYPE)
    autoscaling = local.autoscaling.stand_in
    for delivery in plan.deliveries:  # the other tool completes its own hook's actions
        if delivery.kind is DeliveryKind.OTHER_HOOK:
            detail = delivery.event["detail"]
            autoscaling.complete(
                detail["AutoScalingGroupName"], OTHER_HOOK, detail["EC2InstanceId"], LifecycleResult.CONTINUE,
                token=detail["LifecycleActionToken"],
            )  # fmt: skip

    runs = local.github.runs
    with_runs = {run.inputs.get("instance_id", "") for run in runs}
    failing = seeded_share(with_runs, config.deploy_failure_rate, f"{config.seed}/deploy-failures")
    conclusions: dict[str, str] = {}
    for run in runs:
        instance = run.inputs.get("instance_id", "")
        conclusions[instance] = FAILURE if instance in failing else SUCCESS
        local.github.set_run_status(run.id, status="completed", conclusion=conclusions[instance])
    # A tracker that comes later than the hook's heartbeat timeout (the check that can fail).
    rejected = {launch.instance_id for launch in plan.launches if launch.fault is FaultKind.REJECTED}
    for instance in seeded_share(hooked - rejected, config.lifecycle_expire_rate, f"{config.seed}/expired"):
        autoscaling.time_out(instance, LIFECYCLE_HOOK)

    inbox = AlertInbox()
    tracker = Tracker(
        Ledger(local.dynamodb, local.table),
        GitHubClient(
            api_url=local.github.url,
            repository=local.github.repository,
            workflow=local.github.workflow,
            api_version="2026-03-10",
            credentials=SecretCredentials(local.secret, _secret_reader(local.moto.url)),
        ),
        autoscaling,
        inbox,
        TRACKER_CONFIG,
    )
    requests_before, calls_before = len(local.github.requests), local.moto.calls
    passes: list[dict[str, object]] = []
    level = observability.logger.log_level
    observability.logger.setLevel("WARNING")  # a line per finished deployment would bury the drill's output
    try:
        for _ in range(MAX_PASSES):
            report = tracker.run_pass(Deadline(PASS_SECONDS))
            passes.append(report.as_dict())
            if report.due == 0:
                break
    finally:
        observability.logger.setLevel(level)
    calls = local.moto.calls
    calls.subtract(calls_before)
    warm_pool = {d.instance_id or "" for d in plan.deliveries if d.kind is DeliveryKind.WARM_POOL_ENTRY}
    pooled = autoscaling.fates(LIFECYCLE_HOOK, into_warm_pool=True)
    completed = autoscaling.completed(LIFECYCLE_HOOK, into_warm_pool=False)
    return LifecycleObserved(
        hooked=hooked,
        plain=frozenset(launch.instance_id for launch in plan.launches) - hooked,
        conclusions=conclusions,
        fates=autoscaling.fates(LIFECYCLE_HOOK, into_warm_pool=False),
        warm_pool_fates={instance: pooled.get(instance, []) for instance in warm_pool},
        other_hook_pending=sorted(i for i in autoscaling.pending_instances() if autoscaling.pending(i)),
        completed_by_tracker=dict(completed),
        timed_out=autoscaling.timed_out(LIFECYCLE_HOOK),
        still_pending=autoscaling.pending_instances(),
        no_active_answers=dict(autoscaling.no_active_answers),
        alerts=dict(Counter(alert.instance_id for alert in inbox.alerts)),
        passes=passes,
        github_requests=local.github.requests[requests_before:],
        aws_calls={name: count for name, count in sorted(calls.items()) if count > 0},
        ledger=local.ledger(),
        seconds=time.monotonic() - started,
    )


def _secret_reader(endpoint: str) -> Callable[[str, int], str]:
    """Read the credentials secret from moto directly: the drill's own process has no Lambda environment."""
    client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name=REGION, **FAKE_CREDENTIALS)

    def read(name: str, max_age: int) -> str:
        return str(client.get_secret_value(SecretId=name)["SecretString"])

    return read
