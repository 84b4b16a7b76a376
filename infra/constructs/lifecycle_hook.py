"""The launch lifecycle hook, put on the user's own Auto Scaling group (this app's stack has none).

In lifecycle-hook mode each launching instance waits in ``Pending:Wait`` (out of the load balancer)
until the tracker completes its lifecycle action: CONTINUE when the deployment succeeded, ABANDON when it
failed. That needs a launch hook on the group, and it must be in the group's own
``LifecycleHookSpecificationList``: ``AutoScalingGroup.add_lifecycle_hook()`` creates a separate
``AWS::AutoScaling::LifecycleHook`` resource after the group, so the instances the group launches when it
is created skip the hook and go into service undeployed (aws/aws-cdk#16356, #7712).

In your own CDK app, next to the group::

    from aws_cdk import aws_autoscaling as autoscaling
    from infra.constructs.lifecycle_hook import LaunchLifecycleHook

    group = autoscaling.AutoScalingGroup(stack, "Web", vpc=vpc, ...)
    LaunchLifecycleHook.attach(group)  # deploy-trigger-launch, 900 s, ABANDON
    # or, with DeployTrigger in the same app (timeout and default result from its validated config):
    deploy_trigger.add_launch_hook(group)

The hook needs no notification target: Auto Scaling sends every lifecycle action to EventBridge, where
the dispatcher's rule picks it up. Given its own timeout, keep it above the tracker's heartbeat interval
and run-appear timeout plus 120 s (``DeployTriggerConfig`` refuses less). Added to a group that already
exists, the hook applies to the launches after the stack update, not to the instances running already.
"""

from __future__ import annotations

from typing import cast

from aws_cdk import Duration, Token
from aws_cdk import aws_autoscaling as autoscaling

from deploy_trigger.settings import DEFAULT_LIFECYCLE_HOOK_NAME
from infra.config import DEFAULT_HOOK_HEARTBEAT_TIMEOUT_SECONDS, HOOK_HEARTBEAT_TIMEOUT_RANGE

#: The hook's name; the dispatcher passes it to the workflow (input ``lifecycle_hook_name``) and the
#: tracker completes the action by it, so any name works, but one the operator recognises helps.
DEFAULT_HOOK_NAME = DEFAULT_LIFECYCLE_HOOK_NAME
LAUNCH_TRANSITION = "autoscaling:EC2_INSTANCE_LAUNCHING"
DEFAULT_HEARTBEAT_TIMEOUT = Duration.seconds(DEFAULT_HOOK_HEARTBEAT_TIMEOUT_SECONDS)

AnyAutoScalingGroup = autoscaling.AutoScalingGroup | autoscaling.CfnAutoScalingGroup


class LaunchLifecycleHook:
    """Adds deploy-trigger's launch hook to a group's own ``LifecycleHookSpecificationList``.

    Not ``asg.add_lifecycle_hook()``: that creates the hook as a separate resource after the group, so
    the group's first instances launch without it (aws/aws-cdk#16356). A hook in the group's own list
    applies from the first instance. See the module docstring for an example.
    """

    @staticmethod
    def attach(
        group: AnyAutoScalingGroup,
        *,
        name: str = DEFAULT_HOOK_NAME,
        heartbeat_timeout: Duration = DEFAULT_HEARTBEAT_TIMEOUT,
        default_result: autoscaling.DefaultResult = autoscaling.DefaultResult.ABANDON,
    ) -> autoscaling.CfnAutoScalingGroup.LifecycleHookSpecificationProperty:
        """Append the launch hook to the group's hook list (any hooks already there are kept).

        ``group`` is an L2 ``AutoScalingGroup`` (its ``CfnAutoScalingGroup`` is changed through the escape
        hatch) or a ``CfnAutoScalingGroup``. ABANDON by default: an instance whose deployment nobody
        confirmed before the heartbeat timeout is replaced rather than let into service undeployed.
        """
        resource = _cfn_group(group)
        seconds = heartbeat_timeout.to_seconds()
        low, high = HOOK_HEARTBEAT_TIMEOUT_RANGE
        if not low <= seconds <= high:
            raise ValueError(
                f"heartbeat_timeout must be between {low} and {high} seconds (Auto Scaling's limits), got {seconds}"
            )
        existing = resource.lifecycle_hook_specification_list
        if Token.is_unresolved(existing):
            raise ValueError(
                "the group's LifecycleHookSpecificationList is a token; add the deploy-trigger launch hook to it "
                f"where it is built (LifecycleTransition {LAUNCH_TRANSITION}, name {name})"
            )
        hooks = list(cast(list[autoscaling.CfnAutoScalingGroup.LifecycleHookSpecificationProperty], existing or []))
        if any(_hook_name(hook) == name for hook in hooks):
            raise ValueError(f"the group already has a lifecycle hook named {name!r}")
        hook = autoscaling.CfnAutoScalingGroup.LifecycleHookSpecificationProperty(
            lifecycle_hook_name=name,
            lifecycle_transition=LAUNCH_TRANSITION,
            heartbeat_timeout=int(seconds),
            default_result=default_result.value,
        )
        resource.lifecycle_hook_specification_list = [*hooks, hook]
        return hook


def _cfn_group(group: AnyAutoScalingGroup) -> autoscaling.CfnAutoScalingGroup:
    if isinstance(group, autoscaling.CfnAutoScalingGroup):
        return group
    child = group.node.default_child
    if not isinstance(child, autoscaling.CfnAutoScalingGroup):
        raise TypeError(f"expected the group's default child to be a CfnAutoScalingGroup, got {type(child).__name__}")
    return child


def _hook_name(hook: object) -> object:
    # Hooks set earlier come back as LifecycleHookSpecificationProperty objects or as plain dicts.
    if isinstance(hook, dict):
        return hook.get("lifecycleHookName", hook.get("LifecycleHookName"))
    return getattr(hook, "lifecycle_hook_name", None)
