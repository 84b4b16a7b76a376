"""The Auto Scaling stand-in answers like Auto Scaling: one action per hook with its own token, warm-pool
actions, completion by token or instance ID, "no active lifecycle action" once ended, over boto3 too."""

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError

from deploy_trigger.lifecycle import LifecycleActions, LifecycleAnswer, LifecycleResult
from stand_ins.autoscaling_group import AutoScalingStandIn
from stand_ins.autoscaling_server import AutoScalingServer

INSTANCE = "i-0123456789abcdef0"


@pytest.fixture
def group() -> AutoScalingStandIn:
    stand_in = AutoScalingStandIn()
    stand_in.add_group("web-asg", "deploy-trigger-launch", "bootstrap-hook")
    return stand_in


@pytest.fixture
def over_http(group: AutoScalingStandIn) -> Iterator[LifecycleActions]:
    with AutoScalingServer(group) as server:
        client = boto3.client("autoscaling", endpoint_url=server.url, region_name="us-east-1")
        yield LifecycleActions(lambda: client)


def test_each_hook_pauses_the_launch_with_its_own_event_and_token(group: AutoScalingStandIn) -> None:
    events = group.launch("web-asg", INSTANCE)

    hooks = [event["detail"]["LifecycleHookName"] for event in events]
    tokens = {event["detail"]["LifecycleActionToken"] for event in events}
    assert hooks == ["deploy-trigger-launch", "bootstrap-hook"]
    assert len(tokens) == 2
    assert group.instance_state(INSTANCE) == "Pending:Wait"


def test_the_instance_goes_into_service_only_when_every_hook_is_completed(group: AutoScalingStandIn) -> None:
    ours, _ = group.launch("web-asg", INSTANCE)

    token = ours["detail"]["LifecycleActionToken"]
    done = group.complete("web-asg", "deploy-trigger-launch", INSTANCE, LifecycleResult.CONTINUE, token=token)
    assert done is LifecycleAnswer.DONE
    assert group.instance_state(INSTANCE) == "Pending:Wait"  # the bootstrap hook still holds it
    group.complete("web-asg", "bootstrap-hook", INSTANCE, LifecycleResult.CONTINUE)
    assert group.instance_state(INSTANCE) == "InService"
    again = group.complete("web-asg", "deploy-trigger-launch", INSTANCE, LifecycleResult.CONTINUE, token=token)
    assert again is LifecycleAnswer.NO_ACTIVE_ACTION


def test_a_token_ends_only_its_own_action_never_a_later_one(group: AutoScalingStandIn) -> None:
    (pool_entry, _) = group.launch("web-asg", INSTANCE, into_warm_pool=True)
    old_token = pool_entry["detail"]["LifecycleActionToken"]
    group.complete("web-asg", "deploy-trigger-launch", INSTANCE, LifecycleResult.CONTINUE, token=old_token)
    group.complete("web-asg", "bootstrap-hook", INSTANCE, LifecycleResult.CONTINUE)
    assert group.instance_state(INSTANCE) == "Warmed:Stopped"
    group.launch("web-asg", INSTANCE)  # out of the pool: new actions, new tokens

    stale = group.complete("web-asg", "deploy-trigger-launch", INSTANCE, LifecycleResult.ABANDON, token=old_token)

    assert stale is LifecycleAnswer.NO_ACTIVE_ACTION
    assert group.instance_state(INSTANCE) == "Pending:Wait"


def test_a_heartbeat_timeout_applies_the_default_result_and_abandon_terminates(group: AutoScalingStandIn) -> None:
    group.launch("web-asg", INSTANCE)

    group.time_out(INSTANCE, "deploy-trigger-launch")

    assert group.instance_state(INSTANCE) is None  # terminated: it left the group
    assert group.fates("deploy-trigger-launch") == {INSTANCE: ["ABANDON"]}


def test_over_http_boto3_completes_heartbeats_and_reads_the_state(
    group: AutoScalingStandIn, over_http: LifecycleActions
) -> None:
    ours, _ = group.launch("web-asg", INSTANCE)
    token = ours["detail"]["LifecycleActionToken"]

    assert over_http.heartbeat("web-asg", "deploy-trigger-launch", INSTANCE, token=token) is LifecycleAnswer.DONE
    assert over_http.instance_state(INSTANCE) == "Pending:Wait"
    first = over_http.complete("web-asg", "deploy-trigger-launch", INSTANCE, LifecycleResult.ABANDON, token=token)
    second = over_http.complete("web-asg", "deploy-trigger-launch", INSTANCE, LifecycleResult.ABANDON, token=token)

    assert (first, second) == (LifecycleAnswer.DONE, LifecycleAnswer.NO_ACTIVE_ACTION)
    assert over_http.instance_state(INSTANCE) is None


def test_over_http_an_unknown_action_is_an_error_not_a_silent_success(group: AutoScalingStandIn) -> None:
    with AutoScalingServer(group) as server:
        client = boto3.client("autoscaling", endpoint_url=server.url, region_name="us-east-1")
        with pytest.raises(ClientError, match="InvalidAction"):
            client.set_desired_capacity(AutoScalingGroupName="web-asg", DesiredCapacity=3)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def timed_group(clock: FakeClock, heartbeat_timeout: float = 900.0) -> AutoScalingStandIn:
    stand_in = AutoScalingStandIn(heartbeat_timeout=heartbeat_timeout, clock=clock)
    stand_in.add_group("web-asg", "deploy-trigger-launch")
    return stand_in


def test_with_a_clock_an_action_without_heartbeats_ends_at_its_heartbeat_timeout() -> None:
    clock = FakeClock()
    group = timed_group(clock)
    (event,) = group.launch("web-asg", INSTANCE)
    token = event["detail"]["LifecycleActionToken"]

    clock.now += 899
    assert group.expire_due() == []
    clock.now += 1
    # Checked lazily too: the late completion finds no action, and the instance is gone (ABANDON).
    late = group.complete("web-asg", "deploy-trigger-launch", INSTANCE, LifecycleResult.CONTINUE, token=token)
    assert late is LifecycleAnswer.NO_ACTIVE_ACTION
    assert group.instance_state(INSTANCE) is None
    assert group.timed_out("deploy-trigger-launch") == [INSTANCE]
    assert group.actions[token].timeout == "heartbeat"


def test_heartbeats_keep_an_action_alive_until_its_global_timeout() -> None:
    clock = FakeClock()
    group = timed_group(clock, heartbeat_timeout=60.0)  # global timeout: 100 x 60 s
    (event,) = group.launch("web-asg", INSTANCE)
    token = event["detail"]["LifecycleActionToken"]

    for _ in range(99):
        clock.now += 59.9
        assert group.heartbeat("web-asg", "deploy-trigger-launch", INSTANCE, token=token) is LifecycleAnswer.DONE
    clock.now = 1000.0 + 6000.0
    (ended,) = group.expire_due()
    assert (ended.token, ended.result, ended.timeout) == (token, "ABANDON", "global")
    after = group.heartbeat("web-asg", "deploy-trigger-launch", INSTANCE, token=token)
    assert after is LifecycleAnswer.NO_ACTIVE_ACTION


def test_the_global_timeout_is_at_most_48_hours() -> None:
    clock = FakeClock()
    group = timed_group(clock, heartbeat_timeout=7200.0)  # 100 x 2 h would be 200 h
    (event,) = group.launch("web-asg", INSTANCE)
    token = event["detail"]["LifecycleActionToken"]
    for _ in range(47):
        clock.now += 3600
        group.heartbeat("web-asg", "deploy-trigger-launch", INSTANCE, token=token)
    assert group.pending(INSTANCE)
    clock.now += 3600
    assert [action.timeout for action in group.expire_due()] == ["global"]


def test_without_a_heartbeat_timeout_actions_wait_for_ever() -> None:
    clock = FakeClock()
    group = AutoScalingStandIn(clock=clock)
    group.add_group("web-asg", "deploy-trigger-launch")
    group.launch("web-asg", INSTANCE)
    clock.now += 10**7
    assert group.expire_due() == []
    assert group.instance_state(INSTANCE) == "Pending:Wait"
