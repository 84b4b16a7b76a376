"""The launch hook in a group's own LifecycleHookSpecificationList, as a user's app composes it."""

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_autoscaling as autoscaling
from aws_cdk import aws_ec2 as ec2
from aws_cdk.assertions import Template

from infra.config import ConfigurationError, DeployTriggerConfig
from infra.constructs.lifecycle_hook import LaunchLifecycleHook
from infra.deploy_trigger import DeployTrigger
from tests.infra.synthesis import REQUIRED_CONTEXT

#: An explicit account and region, AZs and AMI: nothing here looks anything up.
ENV = cdk.Environment(account="111122223333", region="us-east-1")
IMAGE = ec2.MachineImage.generic_linux({"us-east-1": "ami-0123456789abcdef0"})

LAUNCH_HOOK = {
    "LifecycleHookName": "deploy-trigger-launch",
    "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
    "HeartbeatTimeout": 900,
    "DefaultResult": "ABANDON",
}


def user_stack(*, bundle: bool = False) -> cdk.Stack:
    context: dict[str, Any] = {"@aws-cdk/aws-autoscaling:generateLaunchTemplateInsteadOfLaunchConfig": True}
    if not bundle:
        context["aws:cdk:bundling-stacks"] = []
    return cdk.Stack(cdk.App(context=context), "UserApp", env=ENV)


def group(stack: cdk.Stack, construct_id: str = "Web", **kwargs: Any) -> autoscaling.AutoScalingGroup:
    vpc = stack.node.try_find_child("Vpc") or ec2.Vpc(
        stack, "Vpc", availability_zones=["us-east-1a"], nat_gateways=0, restrict_default_security_group=False
    )
    assert isinstance(vpc, ec2.Vpc)
    return autoscaling.AutoScalingGroup(
        stack,
        construct_id,
        vpc=vpc,
        vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
        instance_type=ec2.InstanceType("t4g.micro"),
        machine_image=IMAGE,
        **kwargs,
    )


def hooks_of(template: Template) -> list[dict[str, Any]]:
    (resource,) = template.find_resources("AWS::AutoScaling::AutoScalingGroup").values()
    hooks: list[dict[str, Any]] = resource["Properties"]["LifecycleHookSpecificationList"]
    return hooks


def test_attach_puts_the_hook_in_the_group_s_own_list_and_creates_no_separate_hook() -> None:
    stack = user_stack()
    web = group(stack)

    LaunchLifecycleHook.attach(web)

    template = Template.from_stack(stack)
    assert hooks_of(template) == [LAUNCH_HOOK]
    assert template.find_resources("AWS::AutoScaling::LifecycleHook") == {}
    assert "NotificationTargetARN" not in hooks_of(template)[0]  # EventBridge gets lifecycle events without one


def test_attach_takes_name_timeout_and_default_result() -> None:
    stack = user_stack()
    web = group(stack)

    LaunchLifecycleHook.attach(
        web,
        name="deploy",
        heartbeat_timeout=cdk.Duration.minutes(30),
        default_result=autoscaling.DefaultResult.CONTINUE,
    )

    assert hooks_of(Template.from_stack(stack)) == [
        {
            "LifecycleHookName": "deploy",
            "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
            "HeartbeatTimeout": 1800,
            "DefaultResult": "CONTINUE",
        }
    ]


def test_attach_appends_to_hooks_already_in_the_list() -> None:
    stack = user_stack()
    web = group(stack)
    drain = {
        "LifecycleHookName": "drain",
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_TERMINATING",
        "HeartbeatTimeout": 300,
        "DefaultResult": "CONTINUE",
    }
    resource = web.node.default_child
    assert isinstance(resource, autoscaling.CfnAutoScalingGroup)
    resource.lifecycle_hook_specification_list = [
        autoscaling.CfnAutoScalingGroup.LifecycleHookSpecificationProperty(
            lifecycle_hook_name="drain",
            lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
            heartbeat_timeout=300,
            default_result="CONTINUE",
        )
    ]

    LaunchLifecycleHook.attach(web)

    assert hooks_of(Template.from_stack(stack)) == [drain, LAUNCH_HOOK]


def test_attach_accepts_a_cfn_auto_scaling_group() -> None:
    stack = user_stack()
    resource = autoscaling.CfnAutoScalingGroup(
        stack, "Group", max_size="2", min_size="1", availability_zones=["us-east-1a"], launch_configuration_name="lc"
    )

    LaunchLifecycleHook.attach(resource)

    assert hooks_of(Template.from_stack(stack)) == [LAUNCH_HOOK]


def test_attach_refuses_a_second_hook_of_the_same_name() -> None:
    stack = user_stack()
    web = group(stack)
    LaunchLifecycleHook.attach(web)

    with pytest.raises(ValueError, match="already has a lifecycle hook named 'deploy-trigger-launch'"):
        LaunchLifecycleHook.attach(web)


@pytest.mark.parametrize("seconds", [29, 7201])
def test_attach_refuses_a_timeout_auto_scaling_refuses(seconds: int) -> None:
    stack = user_stack()

    with pytest.raises(ValueError, match=f"between 30 and 7200 seconds .*got {seconds}"):
        LaunchLifecycleHook.attach(group(stack), heartbeat_timeout=cdk.Duration.seconds(seconds))


# --- Through DeployTrigger, with its configuration ----------------------------------------------------


def service(stack: cdk.Stack, **context: object) -> DeployTrigger:
    config = DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, **context})
    return DeployTrigger(stack, "DeployTrigger", config=config)


def test_add_launch_hook_uses_the_configured_timeout_and_default_result() -> None:
    stack = user_stack()
    deploy_trigger = service(stack, lifecycleHookHeartbeatTimeoutSeconds=1800, lifecycleHookDefaultResult="CONTINUE")

    deploy_trigger.add_launch_hook(group(stack))

    template = Template.from_stack(stack)
    assert hooks_of(template) == [{**LAUNCH_HOOK, "HeartbeatTimeout": 1800, "DefaultResult": "CONTINUE"}]
    assert template.find_resources("AWS::AutoScaling::LifecycleHook") == {}


def test_add_launch_hook_defaults_to_abandon_after_900_seconds() -> None:
    stack = user_stack()

    service(stack).add_launch_hook(group(stack))

    assert hooks_of(Template.from_stack(stack)) == [LAUNCH_HOOK]


def test_add_launch_hook_accepts_a_group_named_in_asg_names() -> None:
    stack = user_stack()

    service(stack, asgNames=["web-asg"]).add_launch_hook(group(stack, auto_scaling_group_name="web-asg"))

    assert hooks_of(Template.from_stack(stack)) == [LAUNCH_HOOK]


@pytest.mark.parametrize("name", [None, "other-asg"])
def test_add_launch_hook_refuses_a_group_the_dispatcher_would_ignore(name: str | None) -> None:
    stack = user_stack()
    deploy_trigger = service(stack, asgNames=["web-asg"])
    web = group(stack, auto_scaling_group_name=name) if name else group(stack)

    with pytest.raises(ConfigurationError, match=r"is not in asgNames \(web-asg\): the dispatcher would ignore"):
        deploy_trigger.add_launch_hook(web)


def test_add_launch_hook_refuses_launch_successful_mode() -> None:
    stack = user_stack()
    deploy_trigger = service(stack, mode="launch-successful")

    with pytest.raises(ConfigurationError, match="add_launch_hook needs mode 'lifecycle-hook'"):
        deploy_trigger.add_launch_hook(group(stack))
