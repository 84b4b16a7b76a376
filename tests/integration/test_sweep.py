"""Lost launch events: the sweep finds the waiting instance, the real dispatcher handler deploys it once, and the
tracker completes its lifecycle action by instance ID; whatever order the sweeps and a late real event come in.

Ledger on moto server, runs from the GitHub double, Auto Scaling from its stand-in (read by the sweep's own
adapter, as the boto3 client). The dispatcher function's asynchronous invocation is the real handler, run in
this process with the event as Lambda would hand it over (JSON in, JSON out)."""

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from deploy_trigger import runtime
from deploy_trigger.deadline import Deadline
from deploy_trigger.github_auth import SecretCredentials
from deploy_trigger.github_client import GitHubClient
from deploy_trigger.handler import tracker_handler
from deploy_trigger.ledger.model import Status
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.sweep import (
    GRACE_SECONDS,
    RESEND_AFTER_SECONDS,
    AutoScalingGroups,
    SweepConfig,
    Sweeper,
    swept_event,
)
from deploy_trigger.tracking import Tracker, TrackerConfig
from deploy_trigger_cli.local_lambda import LocalLambdaContext
from stand_ins.autoscaling_group import AutoScalingStandIn
from stand_ins.github_double import GitHubDouble
from stand_ins.github_model import WorkflowRun
from stand_ins.invoke import Invocation, invoke
from tests.integration.conftest import Stack
from tests.integration.emf import metrics
from tests.integration.waiting import Clock

HOOK = "deploy-trigger-launch"


class DispatcherFunction:
    """The dispatcher function as the sweep reaches it: each delivery is one invocation of the real handler."""

    def __init__(self) -> None:
        self.invocations: list[Invocation] = []

    def deliver(self, event: Mapping[str, Any]) -> None:
        self.invocations.append(invoke(json.loads(json.dumps(event))))

    def results(self) -> list[object]:
        return [(i.result or {}).get("result", i.error) for i in self.invocations]


class Harness:
    def __init__(self, stack: Stack, github: GitHubDouble) -> None:
        self.stack, self.github = stack, github
        self.clock = Clock()
        self.autoscaling = AutoScalingStandIn()
        self.autoscaling.add_group("web-asg", HOOK)
        self.dispatcher = DispatcherFunction()
        self.ledger = Ledger(stack.dynamodb, stack.table, clock=self.clock)
        config = SweepConfig(hook_name=HOOK, group_names=frozenset({"web-asg"}), region="us-east-1")
        groups = AutoScalingGroups(lambda: self.autoscaling)
        self.sweeper = Sweeper(groups, self.ledger, self.dispatcher, config, clock=self.clock)
        client = GitHubClient(api_url=github.url, repository=github.repository, workflow=github.workflow,
                              api_version="2026-03-10", credentials=SecretCredentials(stack.secret))  # fmt: skip
        tracker_config = TrackerConfig(
            run_appear_timeout=600, heartbeat_interval=300, max_deploy=3600, check_interval=0
        )
        self.tracker = Tracker(self.ledger, client, self.autoscaling, _NoAlerts(), tracker_config, clock=self.clock)

    def sweep(self, after: float = 0.0) -> dict[str, object]:
        self.clock.offset += after
        return self.sweeper.sweep(Deadline(50)).as_dict()

    def lost_launch(self, instance: str) -> dict[str, Any]:
        """The instance launches and waits on our hook; its event is returned, never delivered (lost, or late)."""
        (event,) = self.autoscaling.launch("web-asg", instance)
        return event

    def runs(self, instance: str) -> list[WorkflowRun]:
        """The runs GitHub made for the instance: counted at GitHub, not taken from the handler's word."""
        return [run for run in self.github.runs if run.inputs["instance_id"] == instance]


class _NoAlerts:
    def publish(self, alert: object) -> None:
        raise AssertionError(f"no deployment here fails: {alert}")


@pytest.fixture
def harness(stack: Stack, github: GitHubDouble) -> Harness:
    return Harness(stack, github)


def test_a_launch_whose_event_never_came_is_found_dispatched_once_and_let_into_service(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    harness.lost_launch(instance)

    harness.sweep()
    swept = harness.sweep(after=GRACE_SECONDS)

    assert swept["sent"] == [instance]
    assert harness.dispatcher.results() == ["dispatched"]
    (run,) = harness.runs(instance)
    assert run.inputs["lifecycle_hook_name"] == HOOK
    item = harness.stack.item(instance)
    assert item.status is Status.DISPATCHED
    assert (item.launch_key, item.lifecycle_hook_name, item.lifecycle_action_token) == (f"sweep:{instance}", HOOK, None)
    assert "found by the sweep" in item.history[0].detail

    # The tracker follows it like any launch, and completes the action by instance ID (no token is known).
    harness.github.set_run_status(run.id, status="completed", conclusion="success")
    harness.tracker.run_pass(Deadline(50))

    assert harness.autoscaling.completions == [(instance, HOOK, "CONTINUE")]
    assert harness.stack.item(instance).status is Status.SUCCEEDED


def test_a_second_sweep_does_not_dispatch_again(harness: Harness, instance_ids: Callable[[], str]) -> None:
    instance = instance_ids()
    harness.lost_launch(instance)
    harness.sweep()
    harness.sweep(after=GRACE_SECONDS)

    again = harness.sweep(after=RESEND_AFTER_SECONDS)

    assert (again["unseen"], again["sent"]) == (0, [])  # the ledger has it now
    assert len(harness.runs(instance)) == 1


def test_a_second_send_of_the_same_swept_launch_is_a_duplicate(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    # Two sends of one waiting instance: a resend, or a sweep that lost its memory (a cold start), while the first
    # send's invocation was still queued; each carries its own event ID and time.
    instance = instance_ids()
    harness.lost_launch(instance)

    for offset in (GRACE_SECONDS, GRACE_SECONDS + RESEND_AFTER_SECONDS):
        harness.dispatcher.deliver(swept_event(instance, "web-asg", HOOK, "us-east-1", harness.clock() + offset))

    assert harness.dispatcher.results() == ["dispatched", "duplicate"]
    assert len(harness.runs(instance)) == 1


def test_an_instance_the_ledger_knows_is_left_alone(harness: Harness, instance_ids: Callable[[], str]) -> None:
    instance = instance_ids()
    event = harness.lost_launch(instance)
    assert invoke(event).result is not None  # its event came after all: dispatched the usual way

    harness.sweep()
    report = harness.sweep(after=GRACE_SECONDS)

    assert (report["waiting"], report["unseen"], report["sent"]) == (1, 0, [])
    assert harness.dispatcher.invocations == []
    assert len(harness.runs(instance)) == 1


def test_an_instance_inside_the_grace_period_is_left_alone(harness: Harness, instance_ids: Callable[[], str]) -> None:
    instance = instance_ids()
    harness.lost_launch(instance)

    first = harness.sweep()
    later = harness.sweep(after=GRACE_SECONDS - 30)

    assert (first["in_grace"], later["in_grace"]) == (1, 1)
    assert harness.dispatcher.invocations == []
    assert harness.stack.status(instance) is None
    assert harness.runs(instance) == []


def test_a_real_event_arriving_after_the_sweep_dispatched_is_a_stale_duplicate(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    late_event = harness.lost_launch(instance)  # delayed, not lost
    harness.sweep()
    harness.sweep(after=GRACE_SECONDS)

    late = invoke(late_event)

    assert late.result is not None
    assert late.result["result"] == "stale"
    assert len(harness.runs(instance)) == 1
    assert harness.stack.item(instance).launch_key == f"sweep:{instance}"


def test_the_tracker_handler_sweeps_after_its_pass_and_the_dispatcher_counts_the_launch_found(
    harness: Harness,
    instance_ids: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    instance = instance_ids()
    harness.lost_launch(instance)
    monkeypatch.setattr(runtime, "tracker", lambda: harness.tracker)
    monkeypatch.setattr(runtime, "sweeper", lambda: harness.sweeper)
    tracker_handler({"source": "aws.events"}, LocalLambdaContext(budget_seconds=60))
    harness.clock.offset += GRACE_SECONDS

    result = tracker_handler({"source": "aws.events"}, LocalLambdaContext(budget_seconds=60))

    emitted = metrics(capsys.readouterr().out)
    assert result["sweep"]["sent"] == [instance]  # type: ignore[index]
    assert emitted["LaunchesFoundBySweep"] == 1
    assert emitted["Dispatched"] == 1


def test_the_sweep_is_built_only_when_a_dispatcher_function_is_configured(stack: Stack) -> None:
    assert runtime.sweeper() is None

    stack.configure(DISPATCHER_FUNCTION_NAME="deploy-trigger-dispatcher", ALLOWED_ASG_NAMES="web-asg")

    assert isinstance(runtime.sweeper(), Sweeper)
