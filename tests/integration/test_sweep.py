"""Lost launch events: the sweep finds the waiting instance, the real dispatcher handler deploys it once, and the
tracker completes its lifecycle action by instance ID; whatever order the sweeps and a late real event come in.

Ledger on moto server, runs from the GitHub double, Auto Scaling from its stand-in (read by the sweep's own
adapter, as the boto3 client). The dispatcher function's asynchronous invocation is the real handler, run in
this process with the event as Lambda would hand it over (JSON in, JSON out). In launch-successful mode the groups
and their instances are moto's own (Auto Scaling and EC2 with each instance's LaunchTime)."""

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import boto3
import pytest

from deploy_trigger import runtime
from deploy_trigger.deadline import Deadline
from deploy_trigger.handler import tracker_handler
from deploy_trigger.ledger.model import Status
from deploy_trigger.ledger.schema import SWEEP_SINCE_KEY
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.sweep import (
    GRACE_SECONDS,
    RESEND_AFTER_SECONDS,
    AutoScalingGroups,
    LaunchSuccessfulMode,
    LaunchTimes,
    SweepConfig,
    Sweeper,
    swept_event,
    swept_launch_successful_event,
)
from deploy_trigger.tracking import Tracker
from deploy_trigger_cli.local_lambda import LocalLambdaContext
from stand_ins.autoscaling_events import at as events_at
from stand_ins.autoscaling_events import launch_successful
from stand_ins.autoscaling_group import AutoScalingStandIn
from stand_ins.github_double import GitHubDouble
from stand_ins.github_model import WorkflowRun
from stand_ins.invoke import Invocation, invoke
from tests.integration.conftest import TRACKER_CONFIG, Stack, github_client
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
        client = github_client(stack, github)
        self.tracker = Tracker(self.ledger, client, self.autoscaling, _NoAlerts(), TRACKER_CONFIG, clock=self.clock)

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


# --- Launch-successful mode: moto's Auto Scaling groups and EC2 instances ------------------------------------------

#: Short, so the test waits seconds for an instance launched after the reference: moto launches at the real time.
SHORT_GRACE = 1.0


class InServiceHarness:
    """A group on moto server (its instances are real moto EC2 instances, launched in service, with their
    ``LaunchTime``), swept in launch-successful mode through the real adapters and the real ledger."""

    def __init__(self, stack: Stack, github: GitHubDouble) -> None:
        self.stack, self.github = stack, github
        self.clock = Clock()
        self.autoscaling = boto3.client("autoscaling", endpoint_url=stack.endpoint)
        self.ec2 = boto3.client("ec2", endpoint_url=stack.endpoint)
        self.group = f"app-asg-{uuid.uuid4().hex[:8]}"
        vpc = self.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = self.ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24", AvailabilityZone="us-east-1a")
        template = f"{self.group}-template"
        self.ec2.create_launch_template(
            LaunchTemplateName=template, LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"}
        )
        self.autoscaling.create_auto_scaling_group(
            AutoScalingGroupName=self.group,
            LaunchTemplate={"LaunchTemplateName": template},
            MinSize=0,
            MaxSize=4,
            DesiredCapacity=0,
            VPCZoneIdentifier=subnet["Subnet"]["SubnetId"],
        )
        self.dispatcher = DispatcherFunction()
        self.ledger = Ledger(stack.dynamodb, stack.table, clock=self.clock)
        groups = AutoScalingGroups(lambda: self.autoscaling)
        mode = LaunchSuccessfulMode(groups, self.ledger, LaunchTimes(lambda: self.ec2))
        config = SweepConfig(
            hook_name=HOOK, group_names=frozenset({self.group}), region="us-east-1", grace_seconds=SHORT_GRACE
        )
        self.sweeper = Sweeper(groups, self.ledger, self.dispatcher, config, launch_successful=mode, clock=self.clock)

    def sweep(self, after: float = 0.0) -> dict[str, object]:
        self.clock.offset += after
        return self.sweeper.sweep(Deadline(50)).as_dict()

    def scale_to(self, capacity: int) -> list[str]:
        """The group launches up to ``capacity``; returns the instances new to it. Their events are lost."""
        before = set(self.instances())
        self.autoscaling.set_desired_capacity(AutoScalingGroupName=self.group, DesiredCapacity=capacity)
        return sorted(set(self.instances()) - before)

    def instances(self) -> list[str]:
        (group,) = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[self.group])[
            "AutoScalingGroups"
        ]
        return [instance["InstanceId"] for instance in group["Instances"] if instance["LifecycleState"] == "InService"]

    def launch_time(self, instance: str) -> float:
        (reservation,) = self.ec2.describe_instances(InstanceIds=[instance])["Reservations"]
        return float(reservation["Instances"][0]["LaunchTime"].timestamp())

    def runs(self, instance: str) -> list[WorkflowRun]:
        return [run for run in self.github.runs if run.inputs["instance_id"] == instance]


@pytest.fixture
def in_service(stack: Stack, github: GitHubDouble) -> InServiceHarness:
    return InServiceHarness(stack, github)


def test_a_launch_successful_launch_whose_event_never_came_is_found_and_dispatched_once_and_never_one_from_before(
    in_service: InServiceHarness,
) -> None:
    (running,) = in_service.scale_to(1)  # in service before deploy-trigger's first sweep

    first = in_service.sweep()  # records the reference
    reference = in_service.stack.raw_item(SWEEP_SINCE_KEY)
    # moto launches at the real time, to the second: wait until a launch comes after the reference's margin.
    time.sleep(SHORT_GRACE + 1.1)
    (lost,) = in_service.scale_to(2)
    in_service.sweep()
    found = in_service.sweep(after=SHORT_GRACE)

    assert first["sent"] == []
    assert float(reference["sweep_since"]["N"]) >= in_service.launch_time(running)
    assert found["sent"] == [lost]
    assert in_service.dispatcher.results() == ["dispatched"]
    assert len(in_service.runs(lost)) == 1  # counted at GitHub
    item = in_service.stack.item(lost)
    assert item.status is Status.DISPATCHED
    assert (item.launch_key, item.detail_type) == (f"sweep:{lost}", "EC2 Instance Launch Successful")
    assert "found by the sweep: in service" in item.history[0].detail

    # The instance from before is never deployed, however many sweeps come.
    for _ in range(3):
        in_service.sweep(after=RESEND_AFTER_SECONDS)
    assert in_service.runs(running) == []
    assert in_service.stack.status(running) is None
    assert in_service.dispatcher.results() == ["dispatched"]


def test_the_real_launch_successful_event_arriving_after_the_sweep_is_stale_and_a_second_send_a_duplicate(
    in_service: InServiceHarness,
) -> None:
    in_service.sweep()
    time.sleep(SHORT_GRACE + 1.1)
    (instance,) = in_service.scale_to(1)
    in_service.sweep()
    in_service.sweep(after=SHORT_GRACE)
    resent = swept_launch_successful_event(instance, in_service.group, "us-east-1", in_service.clock() + 600)

    late = invoke(launch_successful(instance, in_service.group, time=events_at(in_service.launch_time(instance))))
    in_service.dispatcher.deliver(resent)

    assert late.result is not None
    assert late.result["result"] == "stale"
    assert in_service.dispatcher.results() == ["dispatched", "duplicate"]
    assert len(in_service.runs(instance)) == 1
    assert in_service.stack.item(instance).launch_key == f"sweep:{instance}"


def test_the_runtime_sweeps_in_launch_successful_mode_and_records_its_reference_on_its_first_sweep(
    stack: Stack, in_service: InServiceHarness
) -> None:
    stack.configure(
        DISPATCHER_FUNCTION_NAME=stack.function,
        ALLOWED_ASG_NAMES=in_service.group,
        LAUNCH_DETAIL_TYPE="EC2 Instance Launch Successful",
    )
    sweeper = runtime.sweeper()
    assert sweeper is not None

    report = sweeper.sweep(Deadline(50)).as_dict()

    assert (report["in_service"], report["sent"]) == (0, [])
    assert "sweep_since" in stack.raw_item(SWEEP_SINCE_KEY)  # through the function's own clients, on moto
