"""The sweep's decisions against the Auto Scaling stand-in (as the boto3 client its adapter reads), the swept event as
the dispatcher parses it, the swept launch's ledger rules on moto, and the adapters' errors (botocore's Stubber); in
lifecycle-hook mode and in launch-successful mode."""

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from deploy_trigger import metric_names
from deploy_trigger.deadline import Deadline
from deploy_trigger.dispatch import DispatchConfig, Dispatcher, Outcome
from deploy_trigger.errors import DispatcherUnreachable, LedgerUnavailable, LifecycleUnavailable, MalformedEvent
from deploy_trigger.events import INSTANCE_ID, Ignored, InstanceLaunch, parse_event
from deploy_trigger.github_budget import BudgetGate
from deploy_trigger.ledger.budget_item import BudgetItem
from deploy_trigger.ledger.codec import encode_item
from deploy_trigger.ledger.model import LedgerEntry, Status
from deploy_trigger.ledger.schema import INSTANCE_ITEMS, INSTANCE_ITEMS_VALUES, SWEEP_SINCE_KEY
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.sweep import (
    GRACE_SECONDS,
    MAX_LAUNCH_AGE_SECONDS,
    RESEND_AFTER_SECONDS,
    AutoScalingGroups,
    DispatcherFunction,
    LaunchSuccessfulMode,
    LaunchTimes,
    SweepConfig,
    Sweeper,
    swept_event,
    swept_launch_successful_event,
)
from stand_ins.autoscaling_events import at as events_at
from stand_ins.autoscaling_events import instance_id, launch_successful, lifecycle_action
from stand_ins.autoscaling_group import AutoScalingStandIn
from tests.unit.doubles import TABLE, Clock, ScriptedGitHub

HOOK = "deploy-trigger-launch"


class KnownInstances:
    """The ledger as the sweep asks it: which of these instances has an item."""

    def __init__(self) -> None:
        self.entries: dict[str, LedgerEntry] = {}
        self.asked: list[list[str]] = []

    def add(self, instance: str) -> None:
        self.entries[instance] = LedgerEntry(instance, Status.DISPATCHED, "token", "d-1")

    def known(self, instance_ids: Sequence[str]) -> Mapping[str, LedgerEntry]:
        self.asked.append(list(instance_ids))
        return {i: self.entries[i] for i in instance_ids if i in self.entries}


class Dispatcher_:
    def __init__(self) -> None:
        self.events: list[Mapping[str, Any]] = []

    def deliver(self, event: Mapping[str, Any]) -> None:
        self.events.append(event)

    def instances(self) -> list[str]:
        return [event["detail"]["EC2InstanceId"] for event in self.events]


class Harness:
    def __init__(self, group_names: frozenset[str] = frozenset()) -> None:
        self.clock = Clock()
        self.autoscaling = AutoScalingStandIn()
        self.autoscaling.add_group("web-asg", HOOK)
        self.ledger = KnownInstances()
        self.dispatcher = Dispatcher_()
        config = SweepConfig(hook_name=HOOK, group_names=group_names, region="eu-west-1")
        groups = AutoScalingGroups(lambda: self.autoscaling)
        self.sweeper = Sweeper(groups, self.ledger, self.dispatcher, config, clock=self.clock)

    def sweep(self, after: float = 0.0) -> dict[str, object]:
        self.clock.advance(after)
        return self.sweeper.sweep(Deadline(50, monotonic=self.clock, wall_clock=self.clock)).as_dict()


@pytest.fixture
def harness() -> Harness:
    return Harness()


# --- When an instance is swept --------------------------------------------------------------------------------


def test_an_unseen_waiting_instance_is_sent_once_its_grace_period_has_passed(harness: Harness) -> None:
    instance = instance_id(1)
    harness.autoscaling.launch("web-asg", instance)  # its event is lost: nothing reaches the ledger

    first = harness.sweep()
    inside = harness.sweep(after=GRACE_SECONDS - 1)
    due = harness.sweep(after=1)

    assert (first["unseen"], first["in_grace"], first["sent"]) == (1, 1, [])
    assert inside["sent"] == []
    assert due["sent"] == [instance]
    assert harness.dispatcher.instances() == [instance]


def test_the_sent_event_is_our_hooks_launch_action_found_by_the_sweep_at_the_sweeps_time(harness: Harness) -> None:
    instance = instance_id(2)
    harness.autoscaling.launch("web-asg", instance)
    harness.sweep()
    harness.sweep(after=GRACE_SECONDS)

    (event,) = harness.dispatcher.events
    launch = parse_event(json.loads(json.dumps(event)), frozenset({"web-asg"}), HOOK)  # as the dispatcher gets it

    assert isinstance(launch, InstanceLaunch)
    assert launch.found_by_sweep
    assert (launch.instance_id, launch.asg_name, launch.lifecycle_hook_name) == (instance, "web-asg", HOOK)
    assert launch.lifecycle_action_token is None  # completed by instance ID
    assert launch.launch_key == f"sweep:{instance}"
    assert launch.time == int(harness.clock.now)
    assert launch.region == "eu-west-1"
    assert launch.event_id.startswith("sweep-")
    assert not launch.into_warm_pool


def test_a_launch_sent_is_sent_again_only_after_the_resend_interval_if_the_ledger_still_has_not_seen_it(
    harness: Harness,
) -> None:
    instance = instance_id(3)
    harness.autoscaling.launch("web-asg", instance)
    harness.sweep()
    harness.sweep(after=GRACE_SECONDS)

    harness.sweep(after=60)
    assert harness.dispatcher.instances() == [instance]  # its invocation may just be queued
    harness.sweep(after=RESEND_AFTER_SECONDS - 60)

    assert harness.dispatcher.instances() == [instance, instance]
    (key,) = {parse_event(event).launch_key for event in harness.dispatcher.events}  # type: ignore[union-attr]
    assert key == f"sweep:{instance}"  # the same launch: the second is a duplicate at the dispatcher


def test_an_instance_the_ledger_knows_is_left_alone(harness: Harness) -> None:
    instance = instance_id(4)
    harness.autoscaling.launch("web-asg", instance)
    harness.ledger.add(instance)

    report = harness.sweep()
    harness.sweep(after=GRACE_SECONDS * 10)

    assert (report["waiting"], report["unseen"]) == (1, 0)
    assert harness.dispatcher.events == []


def test_the_grace_period_counts_only_while_the_instance_stays_unseen(harness: Harness) -> None:
    instance = instance_id(5)
    harness.autoscaling.launch("web-asg", instance)
    harness.sweep()
    harness.ledger.add(instance)
    harness.sweep(after=60)  # its event arrived: forgotten
    del harness.ledger.entries[instance]

    again = harness.sweep(after=GRACE_SECONDS)

    assert again["in_grace"] == 1  # a first sighting again, not the old one
    assert harness.dispatcher.events == []


@pytest.mark.parametrize("into_warm_pool", [False, True])
def test_only_instances_in_pending_wait_in_the_group_are_swept(harness: Harness, into_warm_pool: bool) -> None:
    in_service, pooled = instance_id(6), instance_id(7)
    harness.autoscaling.add_group("web-asg")  # no hook: the instance goes straight into service
    harness.autoscaling.launch("web-asg", in_service)
    harness.autoscaling.add_group("web-asg", HOOK)
    harness.autoscaling.launch("web-asg", pooled, into_warm_pool=True)  # Warmed:Pending:Wait, not in Instances

    harness.sweep()
    report = harness.sweep(after=GRACE_SECONDS)

    assert report["waiting"] == 0
    assert harness.dispatcher.events == []


def test_a_terminated_instance_is_no_longer_waiting(harness: Harness) -> None:
    instance = instance_id(8)
    harness.autoscaling.launch("web-asg", instance)
    harness.sweep()
    harness.autoscaling.time_out(instance)  # default result ABANDON: terminated

    report = harness.sweep(after=GRACE_SECONDS)

    assert report["waiting"] == 0
    assert harness.dispatcher.events == []


# --- Which groups -----------------------------------------------------------------------------------------------


def test_the_allow_list_limits_the_groups_looked_at() -> None:
    harness = Harness(group_names=frozenset({"web-asg"}))
    harness.autoscaling.add_group("other-asg", HOOK)
    harness.autoscaling.launch("web-asg", instance_id(10))
    harness.autoscaling.launch("other-asg", instance_id(11))

    harness.sweep()
    harness.sweep(after=GRACE_SECONDS)

    assert harness.dispatcher.instances() == [instance_id(10)]


def test_without_an_allow_list_every_group_is_read_page_by_page_and_only_those_with_our_hook_are_swept(
    harness: Harness,
) -> None:
    for number in range(120):  # three pages of 50
        harness.autoscaling.add_group(f"asg-{number:03}", HOOK)
    harness.autoscaling.add_group("zz-other-hook", "bootstrap")
    harness.autoscaling.add_group("zz-last", HOOK)
    harness.autoscaling.launch("zz-other-hook", instance_id(20))  # waits on a hook that is not ours
    harness.autoscaling.launch("zz-last", instance_id(21))  # on the last page

    harness.sweep()
    harness.sweep(after=GRACE_SECONDS)

    assert harness.dispatcher.instances() == [instance_id(21)]
    assert harness.autoscaling.describe_calls["describe_auto_scaling_groups"] == 2 * 3
    # Asked only for the groups with an instance due, once each.
    assert harness.autoscaling.describe_calls["describe_lifecycle_hooks"] == 2


def test_a_quiet_pass_costs_one_auto_scaling_call_and_no_ledger_read(harness: Harness) -> None:
    report = harness.sweep()

    assert report["waiting"] == 0
    assert harness.autoscaling.describe_calls == {"describe_auto_scaling_groups": 1}
    assert harness.ledger.asked == []


def test_the_ledger_is_asked_about_every_waiting_instance_at_once(harness: Harness) -> None:
    instances = [instance_id(30 + n) for n in range(3)]
    for instance in instances:
        harness.autoscaling.launch("web-asg", instance)

    harness.sweep()

    assert harness.ledger.asked == [instances]


# --- Failures and time --------------------------------------------------------------------------------------------


class Failing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def waiting_instances(self, group_names: frozenset[str]) -> list[Any]:
        raise self.error

    def has_launch_hook(self, asg_name: str, hook_name: str) -> bool:
        raise self.error

    def known(self, instance_ids: Sequence[str]) -> Mapping[str, LedgerEntry]:
        raise self.error


@pytest.mark.parametrize(
    "error", [LifecycleUnavailable("describe failed"), LedgerUnavailable("batch-get failed")], ids=type
)
def test_a_failed_read_counts_as_a_tracker_error_and_sends_nothing(harness: Harness, error: Exception) -> None:
    harness.autoscaling.launch("web-asg", instance_id(40))
    failing = Failing(error)
    config = SweepConfig(hook_name=HOOK, group_names=frozenset(), region="eu-west-1", grace_seconds=0)
    groups = failing if isinstance(error, LifecycleUnavailable) else AutoScalingGroups(lambda: harness.autoscaling)
    ledger = failing if isinstance(error, LedgerUnavailable) else harness.ledger
    sweeper = Sweeper(groups, ledger, harness.dispatcher, config, clock=harness.clock)

    report = sweeper.sweep(Deadline(50))

    assert report.counts == {metric_names.TRACKER_ERRORS: 1}
    assert harness.dispatcher.events == []


def test_too_little_time_after_the_tracking_pass_skips_the_sweep(harness: Harness) -> None:
    harness.autoscaling.launch("web-asg", instance_id(41))

    report = harness.sweeper.sweep(Deadline(5))

    assert report.skipped
    assert harness.autoscaling.describe_calls == {}


# --- The swept event at the dispatcher -------------------------------------------------------------------------------


def _swept(**changes: Any) -> dict[str, Any]:
    event = swept_event(instance_id(50), "web-asg", HOOK, "eu-west-1", 1_800_000_000.0)
    event["detail"].update(changes.pop("detail", {}))
    event.update(changes)
    return event


@pytest.mark.parametrize(
    "event",
    [
        _swept(detail={"LifecycleActionToken": "a-token"}),
        _swept(detail={"LifecycleHookName": ""}),
        _swept(**{"deploy-trigger": {"foundBySweep": "yes"}}),
        _swept(**{"deploy-trigger": "found"}),
    ],
    ids=["with a token", "without a hook", "marker not a boolean", "marker not an object"],
)
def test_a_swept_event_that_is_not_what_the_sweep_sends_is_malformed(event: dict[str, Any]) -> None:
    with pytest.raises(MalformedEvent):
        parse_event(event, frozenset(), HOOK)


def test_a_real_event_without_a_token_is_still_malformed() -> None:
    event = _swept(**{"deploy-trigger": {"foundBySweep": False}})

    with pytest.raises(MalformedEvent, match="LifecycleActionToken"):
        parse_event(event, frozenset(), HOOK)


@pytest.mark.parametrize(
    ("allowed", "hook"), [(frozenset({"other-asg"}), HOOK), (frozenset(), "platform-deploy")], ids=["group", "hook"]
)
def test_a_swept_event_is_ignored_like_any_other_outside_the_allow_list_or_of_another_hook(
    allowed: frozenset[str], hook: str
) -> None:
    assert isinstance(parse_event(_swept(), allowed, hook), Ignored)


# --- The swept launch's claim: one dispatch whichever event comes first ---------------------------------------------


@pytest.fixture
def dispatcher(ledger: Ledger, github: ScriptedGitHub, clock: Clock, dynamodb: Any) -> Dispatcher:
    config = DispatchConfig(ref="main", aws_region="us-east-1", extra_inputs={}, lease_margin_seconds=5)
    budget = BudgetGate(BudgetItem(dynamodb, TABLE), clock=clock)
    return Dispatcher(ledger, github, config, lifecycle=AutoScalingStandIn(), budget=budget, clock=clock)


INSTANCE = instance_id(60)
#: The real event's time: Auto Scaling started the action before any sweep could see the instance waiting.
ACTION_STARTED = 1_799_999_700.0


def swept_launch(clock: Clock) -> InstanceLaunch:
    launch = parse_event(swept_event(INSTANCE, "web-asg", HOOK, "us-east-1", clock.now), frozenset(), HOOK)
    assert isinstance(launch, InstanceLaunch)
    return launch


def real_launch() -> InstanceLaunch:
    event = lifecycle_action(INSTANCE, "web-asg", token="token-1", time=events_at(ACTION_STARTED))
    launch = parse_event(event, frozenset(), HOOK)
    assert isinstance(launch, InstanceLaunch)
    return launch


def deadline(clock: Clock) -> Deadline:
    return Deadline(30, monotonic=clock, wall_clock=clock)


def test_a_swept_launch_dispatches_once_and_is_recorded_as_found_by_the_sweep(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    result = dispatcher.handle(swept_launch(clock), deadline(clock))

    entry = ledger.get(INSTANCE)
    assert entry is not None
    assert result.outcome is Outcome.DISPATCHED
    assert [inputs["lifecycle_hook_name"] for inputs in github.dispatched] == [HOOK]
    assert (entry.lifecycle_hook_name, entry.lifecycle_action_token) == (HOOK, None)  # tracked, completed by ID
    assert entry.launch_time == clock.now
    claimed = entry.history[0]
    assert claimed.event == "claimed"
    assert "found by the sweep" in claimed.detail


def test_a_second_sweep_of_the_same_launch_is_a_duplicate(
    dispatcher: Dispatcher, github: ScriptedGitHub, clock: Clock
) -> None:
    dispatcher.handle(swept_launch(clock), deadline(clock))
    clock.advance(RESEND_AFTER_SECONDS)

    again = dispatcher.handle(swept_launch(clock), deadline(clock))

    assert again.outcome is Outcome.DUPLICATE
    assert len(github.dispatched) == 1


def test_the_real_event_arriving_after_the_sweep_dispatched_is_stale(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    dispatcher.handle(swept_launch(clock), deadline(clock))
    clock.advance(30)

    late = dispatcher.handle(real_launch(), deadline(clock))

    entry = ledger.get(INSTANCE)
    assert entry is not None
    assert late.outcome is Outcome.STALE
    assert len(github.dispatched) == 1
    assert entry.launch_key == f"sweep:{INSTANCE}"


@pytest.mark.parametrize("first_attempt", ["dispatched", "claim expired", "rejected then reset"])
def test_a_swept_launch_never_replaces_what_a_real_event_claimed_after_the_sweep_looked(
    dispatcher: Dispatcher,
    ledger: Ledger,
    dynamodb: Any,
    github: ScriptedGitHub,
    clock: Clock,
    first_attempt: str,
) -> None:
    # The sweep read the ledger, found nothing, and sent; the real event was claimed before the swept one came.
    if first_attempt == "dispatched":
        dispatcher.handle(real_launch(), deadline(clock))
    else:
        # Its invocation died holding the claim (maybe after its POST): only its own retry may take it over.
        ledger.claim(real_launch(), "d-real", "dead-invocation", lease_until=clock.now + 1)
        if first_attempt == "rejected then reset":
            held = ledger.get(INSTANCE)
            assert held is not None
            ledger.record_failed(held, "dead-invocation", "HTTP 422")
            ledger.reset_failed(INSTANCE, "fixed")
    clock.advance(60)

    swept = dispatcher.handle(swept_launch(clock), deadline(clock))

    entry = ledger.get(INSTANCE)
    assert entry is not None
    assert swept.outcome is Outcome.STALE
    assert entry.launch_key == "token-1"
    assert len(github.dispatched) == (1 if first_attempt == "dispatched" else 0)


def test_a_swept_launch_an_operator_reset_is_dispatched_again(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    from deploy_trigger.errors import DispatchRejected

    github.answers.append(DispatchRejected(422, "Unexpected inputs provided"))
    with pytest.raises(DispatchRejected):
        dispatcher.handle(swept_launch(clock), deadline(clock))
    assert ledger.reset_failed(INSTANCE, "fixed the workflow")
    clock.advance(RESEND_AFTER_SECONDS)

    result = dispatcher.handle(swept_launch(clock), deadline(clock))

    assert result.outcome is Outcome.DISPATCHED
    assert len(github.dispatched) == 2


# --- Ledger.known -------------------------------------------------------------------------------------------------


def test_known_reads_in_chunks_of_100_and_returns_only_the_instances_with_an_item(dynamodb: Any) -> None:
    instances = [instance_id(1000 + n) for n in range(250)]
    stored = instances[::2]
    for instance in stored:
        item = {"instance_id": instance, "status": "SUCCEEDED", "launch_key": "k", "dispatch_id": "d", "history": []}
        dynamodb.put_item(TableName=TABLE, Item=encode_item(item))
    calls: list[int] = []
    dynamodb.meta.events.register(
        "provide-client-params.dynamodb.BatchGetItem",
        lambda params, **_: calls.append(len(params["RequestItems"][TABLE]["Keys"])),
    )

    known = Ledger(dynamodb, TABLE).known(instances)

    assert sorted(known) == sorted(stored)
    assert {entry.status for entry in known.values()} == {Status.SUCCEEDED}
    assert calls == [100, 100, 50]


def _batch_answer(unprocessed: list[str]) -> dict[str, Any]:
    answer: dict[str, Any] = {"Responses": {TABLE: []}}
    if unprocessed:
        answer["UnprocessedKeys"] = {TABLE: {"Keys": [{"instance_id": {"S": i}} for i in unprocessed]}}
    return answer


@pytest.mark.parametrize(("rounds_unprocessed", "answers"), [(2, True), (3, False)])
def test_known_asks_again_for_unprocessed_keys_and_never_takes_them_for_unseen(
    rounds_unprocessed: int, answers: bool
) -> None:
    client = boto3.client("dynamodb", region_name="us-east-1")
    instance = instance_id(2000)
    with Stubber(client) as stubber:
        for _ in range(rounds_unprocessed):
            stubber.add_response("batch_get_item", _batch_answer([instance]))
        if answers:
            stubber.add_response("batch_get_item", _batch_answer([]))
        ledger = Ledger(client, TABLE)
        if answers:
            assert ledger.known([instance]) == {}
        else:
            with pytest.raises(LedgerUnavailable, match="unprocessed"):
                ledger.known([instance])
        stubber.assert_no_pending_responses()


# --- The adapters ---------------------------------------------------------------------------------------------------


def test_the_dispatcher_function_is_invoked_asynchronously_with_the_event() -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    event = _swept()
    with Stubber(client) as stubber:
        stubber.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": "dispatcher", "InvocationType": "Event", "Payload": json.dumps(event).encode()},
        )
        DispatcherFunction(lambda: client, "dispatcher").deliver(event)
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize("answer", ["error", "not queued"])
def test_a_dispatcher_that_cannot_be_invoked_is_unreachable(answer: str) -> None:
    client = boto3.client("lambda", region_name="us-east-1")
    with Stubber(client) as stubber:
        if answer == "error":
            stubber.add_client_error("invoke", service_error_code="TooManyRequestsException", http_status_code=429)
        else:
            stubber.add_response("invoke", {"StatusCode": 200})
        with pytest.raises(DispatcherUnreachable):
            DispatcherFunction(lambda: client, "dispatcher").deliver(_swept())


@pytest.mark.parametrize("operation", ["describe_auto_scaling_groups", "describe_lifecycle_hooks"])
def test_a_refused_auto_scaling_read_is_lifecycle_unavailable(operation: str) -> None:
    client = boto3.client("autoscaling", region_name="us-east-1")
    groups = AutoScalingGroups(lambda: client)
    with Stubber(client) as stubber:
        stubber.add_client_error(operation, service_error_code="AccessDenied", http_status_code=403)
        read = (
            (lambda: groups.waiting_instances(frozenset({"web-asg"})))
            if operation == "describe_auto_scaling_groups"
            else (lambda: groups.has_launch_hook("web-asg", HOOK))
        )
        with pytest.raises(LifecycleUnavailable, match="AccessDenied"):
            read()


def test_the_groups_are_asked_for_by_name_50_at_a_time() -> None:
    client = boto3.client("autoscaling", region_name="us-east-1")
    names = [f"asg-{n:03}" for n in range(60)]
    with Stubber(client) as stubber:
        for batch in (names[:50], names[50:]):
            stubber.add_response(
                "describe_auto_scaling_groups", {"AutoScalingGroups": []}, {"AutoScalingGroupNames": batch}
            )
        assert AutoScalingGroups(lambda: client).waiting_instances(frozenset(names)) == []
        stubber.assert_no_pending_responses()


# --- Launch-successful mode: in-service instances launched since the sweep's reference ------------------------------


class SinceMarker:
    """The ledger's reference as the sweep asks it: the first writer's time, kept."""

    def __init__(self) -> None:
        self.recorded: float | None = None
        self.asked = 0

    def sweep_since(self, now: float) -> float:
        self.asked += 1
        if self.recorded is None:
            self.recorded = now
        return self.recorded


class EC2LaunchTimes:
    """EC2 as the sweep asks it: when each instance it lists launched."""

    def __init__(self) -> None:
        self.times: dict[str, float] = {}
        self.asked: list[list[str]] = []

    def launched_at(self, instance_ids: Sequence[str]) -> Mapping[str, float]:
        self.asked.append(list(instance_ids))
        return {i: self.times[i] for i in instance_ids if i in self.times}


class InServiceHarness(Harness):
    """A group without hooks (its launches go straight into service), swept in launch-successful mode."""

    def __init__(self) -> None:
        super().__init__()
        self.autoscaling.add_group("app-asg")  # no hook: launch-successful mode
        self.since = SinceMarker()
        self.ec2 = EC2LaunchTimes()
        config = SweepConfig(hook_name=HOOK, group_names=frozenset({"app-asg"}), region="eu-west-1")
        groups = AutoScalingGroups(lambda: self.autoscaling)
        mode = LaunchSuccessfulMode(groups, self.since, self.ec2)
        self.sweeper = Sweeper(groups, self.ledger, self.dispatcher, config, launch_successful=mode, clock=self.clock)

    def launch(self, instance: str, seconds_ago: float = 0.0) -> None:
        """The instance goes into service; its launch-successful event is lost."""
        self.autoscaling.launch("app-asg", instance)
        self.ec2.times[instance] = self.clock.now - seconds_ago


@pytest.fixture
def in_service() -> InServiceHarness:
    started = InServiceHarness()
    started.sweep()  # the first sweep records the reference
    started.clock.advance(GRACE_SECONDS + 60)
    return started


def test_the_first_sweep_records_the_reference_once_even_with_nothing_in_service() -> None:
    harness = InServiceHarness()

    harness.sweep()
    harness.sweep(after=60)

    assert harness.since.recorded == harness.clock.now - 60
    assert harness.since.asked == 1  # read once per container: it never changes
    assert harness.ec2.asked == []


def test_an_unseen_in_service_instance_launched_since_the_reference_is_sent_once(
    in_service: InServiceHarness,
) -> None:
    instance = instance_id(70)
    in_service.launch(instance)

    first = in_service.sweep()
    due = in_service.sweep(after=GRACE_SECONDS)
    later = in_service.sweep(after=60)

    assert (first["in_service"], first["unseen"], first["in_grace"], first["sent"]) == (1, 1, 1, [])
    assert due["sent"] == [instance]
    assert later["sent"] == []  # sent again only after the resend interval
    assert in_service.dispatcher.instances() == [instance]


def test_the_sent_event_is_a_launch_successful_found_by_the_sweep_at_the_sweeps_time(
    in_service: InServiceHarness,
) -> None:
    instance = instance_id(71)
    in_service.launch(instance)
    in_service.sweep()
    in_service.sweep(after=GRACE_SECONDS)

    (event,) = in_service.dispatcher.events
    launch = parse_event(json.loads(json.dumps(event)), frozenset({"app-asg"}), HOOK)

    assert isinstance(launch, InstanceLaunch)
    assert launch.detail_type == "EC2 Instance Launch Successful"
    assert launch.found_by_sweep
    assert launch.launch_key == f"sweep:{instance}"
    assert (launch.instance_id, launch.asg_name, launch.region) == (instance, "app-asg", "eu-west-1")
    assert (launch.lifecycle_hook_name, launch.lifecycle_action_token) == (None, None)
    assert launch.time == int(in_service.clock.now)
    assert not launch.into_warm_pool


def test_an_instance_launched_before_the_reference_is_never_sent_and_ec2_is_asked_about_it_once() -> None:
    harness = InServiceHarness()
    running = instance_id(72)
    harness.launch(running, seconds_ago=3600)  # in service before deploy-trigger was deployed

    harness.sweep()
    reports = [harness.sweep(after=GRACE_SECONDS) for _ in range(3)]
    harness.sweep(after=RESEND_AFTER_SECONDS * 10)

    assert harness.dispatcher.events == []
    assert reports[0]["launched_before"] == 1
    assert reports[1]["in_service"] == 0  # judged for good: neither the ledger nor EC2 is asked again
    assert harness.ec2.asked == [[running]]


@pytest.mark.parametrize("after_reference", [0.0, GRACE_SECONDS], ids=["at the reference", "inside its margin"])
def test_an_instance_launched_within_the_grace_period_after_the_reference_is_left_to_its_event(
    after_reference: float,
) -> None:
    harness = InServiceHarness()
    harness.sweep()  # the reference
    instance = instance_id(73)
    harness.clock.advance(after_reference)
    harness.launch(instance)

    harness.sweep()
    report = harness.sweep(after=GRACE_SECONDS)

    assert (report["launched_before"], report["sent"]) == (1, [])


def test_an_instance_launched_longer_ago_than_the_maximum_age_is_never_sent(in_service: InServiceHarness) -> None:
    # An instance running for months whose ledger item expired (90 days) must never look like a lost launch.
    in_service.clock.advance(MAX_LAUNCH_AGE_SECONDS * 2)
    instance = instance_id(74)
    in_service.launch(instance, seconds_ago=MAX_LAUNCH_AGE_SECONDS + 1)

    in_service.sweep()
    report = in_service.sweep(after=GRACE_SECONDS)

    assert (report["launched_before"], report["sent"]) == (1, [])


def test_an_in_service_instance_the_ledger_knows_is_left_alone(in_service: InServiceHarness) -> None:
    instance = instance_id(75)
    in_service.launch(instance)
    in_service.ledger.add(instance)

    in_service.sweep()
    report = in_service.sweep(after=GRACE_SECONDS * 10)

    assert (report["in_service"], report["unseen"], report["sent"]) == (1, 0, [])
    assert in_service.ec2.asked == []


def test_an_instance_ec2_does_not_list_yet_is_asked_about_again_next_pass(in_service: InServiceHarness) -> None:
    instance = instance_id(76)
    in_service.launch(instance)
    del in_service.ec2.times[instance]
    in_service.sweep()

    missing = in_service.sweep(after=GRACE_SECONDS)
    in_service.ec2.times[instance] = in_service.clock.now - GRACE_SECONDS
    listed = in_service.sweep(after=60)

    assert (missing["launched_before"], missing["sent"]) == (0, [])
    assert listed["sent"] == [instance]


def test_instances_waiting_on_a_hook_are_not_swept_in_launch_successful_mode(in_service: InServiceHarness) -> None:
    in_service.autoscaling.add_group("app-asg", HOOK)
    instance = instance_id(77)
    in_service.launch(instance)  # waits in Pending:Wait: not in service yet

    in_service.sweep()
    report = in_service.sweep(after=GRACE_SECONDS)

    assert (report["in_service"], report["sent"]) == (0, [])


def _swept_in_service(**detail: Any) -> dict[str, Any]:
    event = swept_launch_successful_event(INSTANCE, "app-asg", "us-east-1", 1_800_000_000.0)
    event["detail"].update(detail)
    return event


def test_a_swept_launch_successful_event_with_an_activity_is_malformed() -> None:
    with pytest.raises(MalformedEvent, match="ActivityId"):
        parse_event(_swept_in_service(ActivityId="a-real-activity"))


def test_a_real_launch_successful_event_keeps_its_activity_key() -> None:
    event = _swept_in_service(ActivityId="activity-1")
    del event["deploy-trigger"]

    launch = parse_event(event)

    assert isinstance(launch, InstanceLaunch)
    assert (launch.launch_key, launch.found_by_sweep) == ("activity-1", False)


def swept_in_service_launch(clock: Clock) -> InstanceLaunch:
    launch = parse_event(swept_launch_successful_event(INSTANCE, "app-asg", "us-east-1", clock.now))
    assert isinstance(launch, InstanceLaunch)
    return launch


def test_a_swept_launch_successful_dispatches_once_and_a_second_sweep_is_a_duplicate(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    first = dispatcher.handle(swept_in_service_launch(clock), deadline(clock))
    clock.advance(RESEND_AFTER_SECONDS)
    again = dispatcher.handle(swept_in_service_launch(clock), deadline(clock))

    entry = ledger.get(INSTANCE)
    assert entry is not None
    assert (first.outcome, again.outcome) == (Outcome.DISPATCHED, Outcome.DUPLICATE)
    assert len(github.dispatched) == 1
    assert github.dispatched[0]["lifecycle_hook_name"] == ""  # nothing waits: no action to complete
    assert entry.launch_key == f"sweep:{INSTANCE}"
    assert "found by the sweep: in service" in entry.history[0].detail


def test_the_real_launch_successful_event_arriving_after_the_sweep_dispatched_is_stale(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    dispatcher.handle(swept_in_service_launch(clock), deadline(clock))
    clock.advance(30)
    event = launch_successful(INSTANCE, "app-asg", activity_id="activity-1", time=events_at(ACTION_STARTED))
    real = parse_event(event)
    assert isinstance(real, InstanceLaunch)

    late = dispatcher.handle(real, deadline(clock))

    entry = ledger.get(INSTANCE)
    assert entry is not None
    assert late.outcome is Outcome.STALE
    assert len(github.dispatched) == 1
    assert entry.launch_key == f"sweep:{INSTANCE}"


def test_a_swept_launch_successful_never_replaces_what_its_real_event_claimed(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    real = parse_event(launch_successful(INSTANCE, "app-asg", activity_id="activity-1", time=events_at(ACTION_STARTED)))
    assert isinstance(real, InstanceLaunch)
    dispatcher.handle(real, deadline(clock))
    clock.advance(60)

    swept = dispatcher.handle(swept_in_service_launch(clock), deadline(clock))

    assert swept.outcome is Outcome.STALE
    assert len(github.dispatched) == 1


# --- The reference in the ledger, and EC2's launch times --------------------------------------------------------------


def test_the_reference_is_the_first_writers_and_never_moves(dynamodb: Any) -> None:
    ledger = Ledger(dynamodb, TABLE)

    first = ledger.sweep_since(1_800_000_000.0)
    later = ledger.sweep_since(1_800_000_600.0)

    assert (first, later) == (1_800_000_000.0, 1_800_000_000.0)
    (item,) = dynamodb.scan(TableName=TABLE)["Items"]
    assert item["instance_id"] == {"S": SWEEP_SINCE_KEY}
    assert "expires_at" not in item  # never expires
    assert "tracking" not in item  # never tracked
    assert not INSTANCE_ID.fullmatch(SWEEP_SINCE_KEY)


def test_a_scan_kept_to_instance_items_never_returns_the_reference(dynamodb: Any) -> None:
    ledger = Ledger(dynamodb, TABLE)
    ledger.sweep_since(1_800_000_000.0)
    item = {"instance_id": INSTANCE, "status": "SUCCEEDED", "launch_key": "k", "dispatch_id": "d", "history": []}
    dynamodb.put_item(TableName=TABLE, Item=encode_item(item))

    items = dynamodb.scan(
        TableName=TABLE, FilterExpression=INSTANCE_ITEMS, ExpressionAttributeValues=dict(INSTANCE_ITEMS_VALUES)
    )["Items"]

    assert [i["instance_id"]["S"] for i in items] == [INSTANCE]


def _described(instance: str, launch_time: datetime, primary_attached: datetime | None) -> dict[str, Any]:
    interfaces = [{"Attachment": {"DeviceIndex": 1, "AttachTime": datetime(2020, 1, 1, tzinfo=UTC)}}]
    if primary_attached is not None:
        interfaces.append({"Attachment": {"DeviceIndex": 0, "AttachTime": primary_attached}})
    return {"InstanceId": instance, "LaunchTime": launch_time, "NetworkInterfaces": interfaces}


def test_launch_times_are_the_earlier_of_launch_time_and_the_primary_interfaces_attach_time_100_at_a_time() -> None:
    client = boto3.client("ec2", region_name="us-east-1")
    instances = [instance_id(3000 + n) for n in range(150)]
    first_launch = datetime(2026, 11, 1, tzinfo=UTC)
    restarted = datetime(2026, 11, 20, tzinfo=UTC)  # LaunchTime moves to the last start
    with Stubber(client) as stubber:
        stubber.add_response(
            "describe_instances",
            {"Reservations": [{"Instances": [_described(instances[0], restarted, first_launch)]}], "NextToken": "p2"},
            {"Filters": [{"Name": "instance-id", "Values": instances[:100]}]},
        )
        stubber.add_response(
            "describe_instances",
            {"Reservations": [{"Instances": [_described(instances[1], restarted, None)]}]},
            {"Filters": [{"Name": "instance-id", "Values": instances[:100]}], "NextToken": "p2"},
        )
        stubber.add_response(
            "describe_instances",
            {"Reservations": []},
            {"Filters": [{"Name": "instance-id", "Values": instances[100:]}]},
        )

        launched = LaunchTimes(lambda: client).launched_at(instances)

        stubber.assert_no_pending_responses()
    assert launched == {instances[0]: first_launch.timestamp(), instances[1]: restarted.timestamp()}


def test_a_refused_describe_instances_is_a_sweep_failure() -> None:
    client = boto3.client("ec2", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("describe_instances", service_error_code="UnauthorizedOperation", http_status_code=403)
        with pytest.raises(LifecycleUnavailable, match="UnauthorizedOperation"):
            LaunchTimes(lambda: client).launched_at([instance_id(80)])
