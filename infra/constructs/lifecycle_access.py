"""Who may complete lifecycle actions, and on which groups: the tracker (every deploy's end) and the dispatcher
(a warm-pool entry, continued at once). Scoped to the configured groups, or any group when none is named."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from cdk_nag import NagPackSuppression, NagSuppressions

_LIFECYCLE_SCOPED = (
    "An Auto Scaling group's ARN holds a UUID assigned when the group is created, unknown here; the wildcard "
    "stands for that UUID only, and the group name that follows it pins each of the configured asgNames."
)
_LIFECYCLE_ANY_GROUP = (
    "No asgNames configured: the dispatcher deploys launches of any group in this account and region, so the "
    "{who} must complete their lifecycle actions in any of them. Only lifecycle-action calls are granted; set "
    "asgNames to scope them to named groups."
)


def grant_lifecycle_actions(
    role: iam.IRole, actions: Sequence[str], asg_names: Sequence[str], *, who: str
) -> list[str]:
    """Allow ``actions`` on the lifecycle actions of the named groups (or any group); returns the resources."""
    stack = Stack.of(role)
    resources = lifecycle_resources(stack, asg_names)
    role.add_to_principal_policy(iam.PolicyStatement(actions=list(actions), resources=resources))
    NagSuppressions.add_resource_suppressions(
        role,
        [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason=_LIFECYCLE_SCOPED if asg_names else _LIFECYCLE_ANY_GROUP.format(who=who),
                applies_to=[_nag_form(stack, arn) for arn in resources],
            )
        ],
        apply_to_children=True,
    )
    return resources


def lifecycle_resources(stack: Stack, asg_names: Sequence[str]) -> list[str]:
    """The named groups, or all of them."""
    # The group's UUID sits between "autoScalingGroup:" and the name; it is unknown until the group exists.
    group = "autoScalingGroup:*:autoScalingGroupName/"
    prefix = f"arn:{stack.partition}:autoscaling:{stack.region}:{stack.account}:{group}"
    return [prefix + name for name in asg_names] if asg_names else [prefix + "*"]


def _nag_form(stack: Stack, arn: str) -> str:
    """How cdk-nag spells a resource in ``applies_to``: pseudo parameters as ``<AWS::Partition>``."""
    spelled = (
        arn.replace(stack.partition, "<AWS::Partition>")
        .replace(stack.region, "<AWS::Region>")
        .replace(stack.account, "<AWS::AccountId>")
    )
    return f"Resource::{spelled}"
