"""Event classification: real shapes dispatch, other events are ignored, malformed launches are rejected."""

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deploy_trigger.errors import MalformedEvent
from deploy_trigger.events import Ignored, InstanceLaunch, parse_event
from stand_ins.autoscaling_events import launch_successful, lifecycle_action

EVENTS = Path(__file__).parent.parent / "events"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


def test_lifecycle_action_with_origin_destination_and_milliseconds() -> None:
    launch = parse_event(load("lifecycle_action.json"))

    assert launch == InstanceLaunch(
        instance_id="i-0a1b2c3d4e5f67890",
        asg_name="web-asg",
        launch_key="87654321-4321-4321-4321-210987654321",
        event_id="6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        detail_type="EC2 Instance-launch Lifecycle Action",
        region="eu-west-1",
        lifecycle_hook_name="deploy-trigger-launch",
        lifecycle_action_token="87654321-4321-4321-4321-210987654321",
        notification_metadata='{"release": "blue"}',
        time=datetime(2026, 11, 23, 3, 14, 7, 123000, tzinfo=UTC).timestamp(),
    )


def test_older_lifecycle_action_without_origin_and_with_object_metadata() -> None:
    launch = parse_event(load("lifecycle_action_legacy.json"))

    assert isinstance(launch, InstanceLaunch)
    assert launch.instance_id == "i-1234567890abcdef0"
    assert launch.launch_key == "11111111-2222-3333-4444-555555555555"
    assert json.loads(launch.notification_metadata or "") == {"release": "blue", "owner": "platform"}


def test_launch_successful_is_keyed_on_its_activity() -> None:
    launch = parse_event(load("launch_successful.json"))

    assert isinstance(launch, InstanceLaunch)
    assert (launch.instance_id, launch.asg_name) == ("i-b188560f", "api-asg")
    assert launch.launch_key == "9cabb81f-42de-417d-8aa7-ce16bf026590"
    assert launch.lifecycle_hook_name is None


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (load("terminate_lifecycle_action.json"), "not an instance launch"),
        ({**load("launch_successful.json"), "detail-type": "EC2 Instance Terminate Successful"}, "not an instance"),
        ({**load("lifecycle_action.json"), "source": "aws.ec2"}, "is not aws.autoscaling"),
        (launch_successful("i-0123456789abcdef0", destination="WarmPool"), "warm pool"),
    ],
)
def test_events_that_are_not_launches_to_deploy_are_ignored(event: dict[str, Any], reason: str) -> None:
    result = parse_event(event)

    assert isinstance(result, Ignored)
    assert reason in result.reason


def test_asg_outside_the_allow_list_is_ignored_and_inside_is_dispatched() -> None:
    event = lifecycle_action("i-0123456789abcdef0", "batch-asg")

    assert isinstance(parse_event(event, frozenset({"web-asg"})), Ignored)
    assert isinstance(parse_event(event, frozenset({"web-asg", "batch-asg"})), InstanceLaunch)
    assert isinstance(parse_event(event, frozenset()), InstanceLaunch)


def _without(event: dict[str, Any], key: str) -> dict[str, Any]:
    broken = copy.deepcopy(event)
    del broken["detail"][key]
    return broken


def _with(event: dict[str, Any], key: str, value: object) -> dict[str, Any]:
    broken = copy.deepcopy(event)
    broken["detail"][key] = value
    return broken


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ({k: v for k, v in load("lifecycle_action.json").items() if k != "detail"}, "no detail"),
        ({**load("lifecycle_action.json"), "detail": {}}, "no detail"),
        ({**load("lifecycle_action.json"), "detail": "i-0123456789abcdef0"}, "no detail"),
        (_with(load("lifecycle_action.json"), "EC2InstanceId", "i-XYZ"), "does not match"),
        (_with(load("lifecycle_action.json"), "EC2InstanceId", "i-0123; rm -rf /"), "does not match"),
        (_with(load("lifecycle_action.json"), "EC2InstanceId", 1234), "must be a string"),
        (_with(load("lifecycle_action.json"), "EC2InstanceId", "i-0123456789abcdef0\n"), "does not match"),
        (_with(load("lifecycle_action.json"), "EC2InstanceId", " i-0123456789abcdef0"), "does not match"),
        (_with(load("lifecycle_action.json"), "EC2InstanceId", "i-0123456789ABCDEF0"), "does not match"),
        (_without(load("lifecycle_action.json"), "EC2InstanceId"), "does not match"),
        (_without(load("lifecycle_action.json"), "AutoScalingGroupName"), "AutoScalingGroupName"),
        (_with(load("launch_successful.json"), "AutoScalingGroupName", "  "), "AutoScalingGroupName"),
        (_without(load("lifecycle_action.json"), "LifecycleActionToken"), "LifecycleActionToken"),
        (_with(load("lifecycle_action.json"), "AutoScalingGroupName", "a" * 5000), "characters long"),
        (["not", "an", "object"], "JSON object"),
        (None, "JSON object"),
    ],
)
def test_malformed_launches_are_rejected_with_a_clear_error(event: object, message: str) -> None:
    with pytest.raises(MalformedEvent, match=message):
        parse_event(event)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=20), children, max_size=4),
    max_leaves=20,
)
detail_keys = st.sampled_from(
    ["EC2InstanceId", "AutoScalingGroupName", "LifecycleActionToken", "LifecycleHookName", "ActivityId",
     "Destination", "LifecycleTransition", "NotificationMetadata"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(
    base=st.sampled_from(["lifecycle_action.json", "launch_successful.json", "lifecycle_action_legacy.json"]),
    mutations=st.dictionaries(detail_keys, json_values, max_size=4),
)
def test_hostile_details_either_parse_to_a_valid_launch_or_fail_cleanly(
    base: str, mutations: dict[str, object]
) -> None:
    event = load(base)
    event["detail"].update(mutations)
    try:
        result = parse_event(event)
    except MalformedEvent:
        return
    if isinstance(result, InstanceLaunch):
        assert result.instance_id.startswith("i-")
        assert result.asg_name
        assert result.launch_key


@settings(max_examples=300, deadline=None)
@given(event=json_values)
def test_arbitrary_json_never_crashes_the_parser(event: object) -> None:
    try:
        result = parse_event(event)
    except MalformedEvent:
        return
    assert isinstance(result, Ignored)


def test_a_lifecycle_action_of_another_hook_on_the_group_is_not_ours() -> None:
    bootstrap = lifecycle_action("i-0123456789abcdef0", hook_name="bootstrap-hook")

    ignored = parse_event(bootstrap, lifecycle_hook_name="deploy-trigger-launch")
    ours = parse_event(lifecycle_action("i-0123456789abcdef0"), lifecycle_hook_name="deploy-trigger-launch")

    assert isinstance(ignored, Ignored)
    assert "bootstrap-hook" in ignored.reason
    assert isinstance(ours, InstanceLaunch)


def test_a_launch_into_the_warm_pool_is_a_launch_to_continue_not_to_deploy() -> None:
    pooled = parse_event(load("lifecycle_action_warm_pool.json"))

    assert isinstance(pooled, InstanceLaunch)
    assert pooled.into_warm_pool
    assert pooled.lifecycle_action_token == "99999999-8888-7777-6666-555555555555"


def test_the_event_time_is_the_launch_time_and_a_launch_without_one_is_refused() -> None:
    event = lifecycle_action("i-0123456789abcdef0", time="2026-11-23T03:14:07.500Z")

    parsed = parse_event(event)

    assert isinstance(parsed, InstanceLaunch)
    assert parsed.time == datetime(2026, 11, 23, 3, 14, 7, 500000, tzinfo=UTC).timestamp()
    for bad in (None, "yesterday", "2026-11-23T03:14:07"):
        with pytest.raises(MalformedEvent, match="time"):
            parse_event({**event, "time": bad})
