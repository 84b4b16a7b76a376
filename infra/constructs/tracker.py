"""The tracker Lambda: once a minute, follows every dispatched deployment to its end and closes the loop.

Each pass reads the due entries from the ledger's tracking index, asks GitHub about their runs,
heartbeats the lifecycle action of a run still going, and completes it when the run ends (CONTINUE on
success, ABANDON on failure, no run or a stuck run, with an alert to the alarm topic).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import cast

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.constructs.dispatcher import Dispatcher
from infra.constructs.function_identity import own_logs_and_role

HANDLER = "deploy_trigger.handler.tracker_handler"

#: One pass a minute: the finest an EventBridge schedule goes, and the cadence the tracker's own
#: CHECK_INTERVAL_SECONDS assumes (an entry checked now is due again at the next pass).
SCHEDULE = events.Schedule.rate(Duration.minutes(1))
CHECK_INTERVAL_SECONDS = 60
#: A pass stops starting checks 5 s before its deadline (tracking.PASS_RESERVE_SECONDS), so a full minute
#: leaves it 55 s of work and ends it before the next pass is due.
TIMEOUT = Duration.seconds(60)
#: No retries anywhere, and the shortest event age Lambda and EventBridge accept: a pass that failed or
#: never ran is simply the next minute's work (every due entry stays in the index until it is done), while
#: a retried pass would run late, beside the next one.
RETRY_ATTEMPTS = 0
MAX_EVENT_AGE = Duration.seconds(60)
#: Passes never overlap: two passes would read the same due entries and both alert, count and call GitHub
#: for them (a second completion is harmless, a second page is not). A pass that runs long makes the next
#: invocation throttle, and the throttled event expires within MAX_EVENT_AGE: it is skipped, not queued.
RESERVED_CONCURRENCY = 1

#: The only Auto Scaling calls the tracker makes, by instance ID (lifecycle.LifecycleActions).
LIFECYCLE_ACTIONS = ("autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat")


_LIFECYCLE_SCOPED = (
    "An Auto Scaling group's ARN holds a UUID assigned when the group is created, unknown here; the wildcard "
    "stands for that UUID only, and the group name that follows it pins each of the configured asgNames."
)
_LIFECYCLE_ANY_GROUP = (
    "No asgNames configured: the dispatcher deploys launches of any group in this account and region, so the "
    "tracker must complete and heartbeat their lifecycle actions in any of them. Only those two actions are "
    "granted; set asgNames to scope them to named groups."
)


class Tracker(Construct):
    """The function, its log group, its role, its schedule and its asynchronous-invocation settings.

    Same runtime, architecture and bundled asset (``code``) as the dispatcher. Grants made here: its own
    log group, publishing to the alert topic, and, when ``completes_lifecycle_actions`` (lifecycle-hook
    mode), the two lifecycle actions on the configured groups (``asg_names``; any group of this account and
    region when empty). In launch-successful mode no launch has a hook, so the tracker never calls Auto
    Scaling and gets no Auto Scaling permission at all. The ledger and the credentials
    secret are granted by their own constructs (``Ledger.grant_tracker_access``,
    ``GitHubCredentials.grant_read``).
    """

    #: Sized like the dispatcher: the same imports, plus a few threads checking entries in parallel.
    MEMORY_MB = 256

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        environment: Mapping[str, str],
        alert_topic: sns.ITopic,
        asg_names: Sequence[str],
        completes_lifecycle_actions: bool,
        reserved_concurrency: int | None = RESERVED_CONCURRENCY,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.timeout = TIMEOUT
        self.log_group, self.role = own_logs_and_role(
            self,
            # A line a minute even when idle; each deployment's outcome is kept in the ledger and alerted on,
            # so a month of pass logs is enough to investigate.
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=removal_policy,
            role_description="deploy-trigger tracker: tracking index, ledger updates, credentials secret, "
            "lifecycle actions, alert topic, own logs",
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="deploy-trigger: follows dispatched deployments and completes their lifecycle actions",
            runtime=Dispatcher.RUNTIME,
            architecture=Dispatcher.ARCHITECTURE,
            handler=HANDLER,
            code=code,
            timeout=TIMEOUT,
            memory_size=self.MEMORY_MB,
            reserved_concurrent_executions=reserved_concurrency,
            role=self.role,
            log_group=self.log_group,
            environment=dict(environment),
            tracing=lambda_.Tracing.ACTIVE,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="deploy-trigger: one tracking pass a minute",
            schedule=SCHEDULE,
        )
        self.schedule.add_target(
            targets.LambdaFunction(self.function, retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
        )
        alert_topic.grant_publish(self.role)
        self.lifecycle_resources = lifecycle_resources(Stack.of(self), asg_names) if completes_lifecycle_actions else []
        if self.lifecycle_resources:
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(LIFECYCLE_ACTIONS), resources=self.lifecycle_resources)
            )
        self._suppress(asg_names)

    def _suppress(self, asg_names: Sequence[str]) -> None:
        # cfn-lint W3005, as for the dispatcher: CDK's explicit DependsOn on the role duplicates the GetAtt.
        function_resource = cast(lambda_.CfnFunction, self.function.node.default_child)
        function_resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        no_sink = (
            "A tracking pass carries no event worth keeping: every unfinished deployment stays in the ledger's "
            "tracking index until a pass completes it, so a failed or missed pass is simply the next minute's work."
        )
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                NagPackSuppression(id="Serverless-LambdaDLQ", reason=no_sink),
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason="Pinned to Python 3.13 like the dispatcher, whose bundled asset (wheels built for exactly "
                    "this version) it shares. Moving on is a deliberate change of Dispatcher.RUNTIME.",
                ),
                NagPackSuppression(
                    id="Serverless-LambdaLatestVersion",
                    reason="Pinned to Python 3.13 with the dispatcher's bundled wheels; see AwsSolutions-L1.",
                ),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.function.node.find_child("EventInvokeConfig"),
            [NagPackSuppression(id="Serverless-LambdaAsyncFailureDestination", reason=no_sink)],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            self.schedule, [NagPackSuppression(id="Serverless-EventBusDLQ", reason=no_sink)]
        )
        stack = Stack.of(self)
        wildcard_reasons = [
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level "
                "permissions; every other statement of this role names its resource or its group names.",
                applies_to=["Resource::*"],
            ),
            NagPackSuppression(
                id="AwsSolutions-IAM5",
                reason="Topic.grant_publish grants kms:GenerateDataKey* (GenerateDataKey and its "
                "WithoutPlaintext variant) on the alarm topic's own key only: SNS needs a data key to encrypt "
                "each alert published to the encrypted topic.",
                applies_to=["Action::kms:GenerateDataKey*"],
            ),
        ]
        if self.lifecycle_resources:
            wildcard_reasons.append(
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=_LIFECYCLE_SCOPED if asg_names else _LIFECYCLE_ANY_GROUP,
                    applies_to=[_nag_form(stack, arn) for arn in self.lifecycle_resources],
                )
            )
        NagSuppressions.add_resource_suppressions(self.role, wildcard_reasons, apply_to_children=True)


def lifecycle_resources(stack: Stack, asg_names: Sequence[str]) -> list[str]:
    """The groups whose lifecycle actions the tracker may complete: the named ones, or all of them."""
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


def tracker_environment(
    *,
    ledger_table_name: str,
    github_repository: str,
    github_workflow: str,
    github_credentials_secret: str,
    github_api_url: str,
    github_api_version: str,
    alert_topic_arn: str,
    run_appear_timeout_seconds: int,
    heartbeat_interval_seconds: int,
    max_deploy_seconds: int,
) -> dict[str, str]:
    """Every variable ``deploy_trigger.settings.TrackerSettings`` reads, and the log level.

    tests/infra checks the synthesized keys against ``TrackerSettings.ENVIRONMENT``, as for the dispatcher.
    """
    return {
        "LEDGER_TABLE_NAME": ledger_table_name,
        "GITHUB_REPOSITORY": github_repository,
        "GITHUB_WORKFLOW": github_workflow,
        "GITHUB_CREDENTIALS_SECRET": github_credentials_secret,
        "GITHUB_API_URL": github_api_url,
        "GITHUB_API_VERSION": github_api_version,
        "ALERT_TOPIC_ARN": alert_topic_arn,
        "RUN_APPEAR_TIMEOUT_SECONDS": str(run_appear_timeout_seconds),
        "HEARTBEAT_INTERVAL_SECONDS": str(heartbeat_interval_seconds),
        "MAX_DEPLOY_SECONDS": str(max_deploy_seconds),
        "CHECK_INTERVAL_SECONDS": str(CHECK_INTERVAL_SECONDS),
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
