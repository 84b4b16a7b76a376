"""The tracker Lambda: once a minute, follows every dispatched deployment to its end and closes the loop.

Each pass reads the due entries from the ledger's tracking index, asks GitHub about their runs,
heartbeats the lifecycle action of a run still going, and completes it when the run ends (CONTINUE on
success, ABANDON on failure, no run or a stuck run, with an alert to the alarm topic). Each pass then
sweeps for launches whose event never came and hands them to the dispatcher (``deploy_trigger.sweep``), in either mode.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from deploy_trigger.settings import TrackerSettings
from infra.constructs.lifecycle_access import grant_lifecycle_actions
from infra.constructs.scheduled_function import ScheduledFunction

HANDLER = "deploy_trigger.handler.tracker_handler"

#: A pass stops starting checks 5 s before its deadline (tracking.PASS_RESERVE_SECONDS), so a full minute
#: leaves it 55 s of work and ends it before the next pass is due.
TIMEOUT = Duration.seconds(60)
#: Passes never overlap: two passes would read the same due entries and both alert, count and call GitHub
#: for them (a second completion is harmless, a second page is not). A pass that runs long makes the next
#: invocation throttle, and the throttled event expires within its event age (one minute): skipped, not queued.
RESERVED_CONCURRENCY = 1

#: The Auto Scaling calls the tracker makes on lifecycle actions (lifecycle.LifecycleActions), scoped to the groups.
LIFECYCLE_ACTIONS = ("autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat")
#: What became of an instance whose action had already ended; this call has no resource-level permissions.
INSTANCE_READS = ("autoscaling:DescribeAutoScalingInstances",)
#: The sweep's reads (``deploy_trigger.sweep``): the groups' waiting instances, and whether a group has our hook.
#: Neither supports resource-level permissions.
SWEEP_READS = ("autoscaling:DescribeAutoScalingGroups", "autoscaling:DescribeLifecycleHooks")
#: The launch-successful sweep's reads: the groups' in-service instances, and when each launched. Neither supports
#: resource-level permissions.
LAUNCH_SWEEP_READS = ("autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances")
#: The sweep hands a lost launch to the dispatcher as EventBridge does: an asynchronous invocation.
SWEEP_INVOKE = ("lambda:InvokeFunction",)


class TrackerFunction(ScheduledFunction):
    """The tracker's function, log group, role, schedule and asynchronous-invocation settings.

    Its environment is ``settings.to_environment()``, and it runs the dispatcher's bundled asset (``code``).
    Grants made here: its own log group, publishing to the alert topic, and, when
    ``completes_lifecycle_actions`` (lifecycle-hook mode), the two lifecycle actions on the configured groups
    (``asg_names``; any group of this account and region when empty). In launch-successful mode no launch
    has a hook, so the tracker completes nothing. With ``sweep_dispatcher``, the sweep's reads (``SWEEP_READS`` in
    lifecycle-hook mode, ``LAUNCH_SWEEP_READS`` in launch-successful mode) and the asynchronous invocation of that
    function. The
    ledger and the credentials secret are granted by their own constructs (``LedgerTable.grant_tracker_access``,
    ``GitHubCredentials.grant_read``).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        settings: TrackerSettings,
        alert_topic: sns.ITopic,
        asg_names: Sequence[str],
        completes_lifecycle_actions: bool,
        sweep_dispatcher: lambda_.IFunction | None = None,
        reserved_concurrency: int | None = RESERVED_CONCURRENCY,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="deploy-trigger: follows dispatched deployments and completes their lifecycle actions",
            # The cadence the tracker's default ``TrackerSettings.check_interval_seconds`` assumes (an entry checked
            # now is due again at the next pass).
            schedule_description="deploy-trigger: one tracking pass a minute",
            no_sink="A tracking pass carries no event worth keeping: every unfinished deployment stays in the "
            "ledger's tracking index until a pass completes it, so a failed or missed pass is simply the next "
            "minute's work.",
            handler=HANDLER,
            code=code,
            environment=settings.to_environment(),
            timeout=TIMEOUT,
            reserved_concurrency=reserved_concurrency,
            removal_policy=removal_policy,
            role_description="deploy-trigger tracker: tracking index, ledger updates, credentials secret, "
            "lifecycle actions, alert topic, own logs",
        )
        alert_topic.grant_publish(self.role)
        self.lifecycle_resources = (
            grant_lifecycle_actions(self.role, LIFECYCLE_ACTIONS, asg_names, who="tracker")
            if completes_lifecycle_actions
            else []
        )
        self.sweeps = sweep_dispatcher is not None
        self.completes_lifecycle_actions = completes_lifecycle_actions
        if completes_lifecycle_actions or self.sweeps:
            reads: tuple[str, ...] = INSTANCE_READS if completes_lifecycle_actions else ()
            if self.sweeps:
                reads += SWEEP_READS if completes_lifecycle_actions else LAUNCH_SWEEP_READS
            self.role.add_to_principal_policy(iam.PolicyStatement(actions=list(reads), resources=["*"]))
        if sweep_dispatcher is not None:
            # The unqualified ARN only: the sweep invokes $LATEST by name, like the launch rule does.
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(SWEEP_INVOKE), resources=[sweep_dispatcher.function_arn])
            )
        self._suppress()

    def _suppress(self) -> None:
        wildcard_reasons = [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="Topic.grant_publish grants kms:GenerateDataKey* (GenerateDataKey and its "
                "WithoutPlaintext variant) on the alarm topic's own key only: SNS needs a data key to encrypt "
                "each alert published to the encrypted topic.",
                applies_to=["Action::kms:GenerateDataKey*"],
            ),
        ]
        reason = ""
        if self.completes_lifecycle_actions:
            reason = (
                "DescribeAutoScalingInstances supports no resource-level permissions; it only reads an instance's "
                "lifecycle state, to tell how an action the tracker did not complete ended."
            )
            if self.sweeps:
                reason += (
                    " DescribeAutoScalingGroups and DescribeLifecycleHooks support none either; the sweep only "
                    "reads which instances wait in Pending:Wait and whether their group has the launch hook, to "
                    "find launches whose event never came."
                )
        elif self.sweeps:
            reason = (
                "DescribeAutoScalingGroups and ec2:DescribeInstances support no resource-level permissions; the "
                "sweep only reads which instances of the groups are in service and when each launched, to find "
                "launches whose event never came (and never those from before deploy-trigger)."
            )
        if reason:
            wildcard_reasons.append(
                NagPackSuppression(id="AwsSolutions-IAM5", reason=reason, applies_to=["Resource::*"])
            )
        NagSuppressions.add_resource_suppressions(self.role, wildcard_reasons, apply_to_children=True)
