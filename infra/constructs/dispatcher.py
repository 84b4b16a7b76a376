"""The dispatcher Lambda: turns one launch event into exactly one workflow_dispatch."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from deploy_trigger.settings import Settings
from infra.compliance import skip_checkov
from infra.constructs.service_function import ServiceFunction

HANDLER = "deploy_trigger.handler.handler"

#: Lambda's own retries of a failed or timed-out invocation (the maximum), 1 and then 2 minutes apart.
#: The ledger makes a retry safe: it reconciles with GitHub before it dispatches again.
ASYNC_RETRY_ATTEMPTS = 2
#: The longest Lambda keeps an event (the maximum), which also covers 6 hours of throttling.
MAX_EVENT_AGE = Duration.hours(6)
#: A dispatcher that parked a launch wakes the drainer as the schedule does: an asynchronous invocation.
DRAINER_INVOKE = ("lambda:InvokeFunction",)


class DispatcherFunction(ServiceFunction):
    """The dispatcher's function, log group, role and asynchronous-invocation settings.

    Its environment is ``settings.to_environment()``, and it runs ``code`` (the bundled asset every function of the
    service shares). Grants are explicit and minimal: the ledger actions (``LedgerTable.grant_dispatcher_access``),
    reading the one credentials secret (``GitHubCredentials.grant_read``), sending to the on-failure queue, writing
    its own log group, and, with ``drainer``, the asynchronous invocation of that function only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        settings: Settings,
        timeout: Duration,
        reserved_concurrency: int | None,
        failure_queue: sqs.IQueue,
        removal_policy: RemovalPolicy,
        drainer: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="deploy-trigger: one GitHub Actions workflow_dispatch per launched EC2 instance",
            handler=HANDLER,
            code=code,
            environment=settings.to_environment(),
            # Generous on purpose: billing is per use, so the ceiling costs nothing, and the code bounds each
            # call by the time it has left.
            timeout=timeout,
            # Caps parallel dispatches: GitHub allows about 80 content-creating requests a minute and 500 an
            # hour. Throttled events are not lost: Lambda keeps retrying them for up to MAX_EVENT_AGE.
            reserved_concurrency=reserved_concurrency,
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            # Records the event together with the error (unlike a function DLQ, which keeps the event only).
            on_failure=destinations.SqsDestination(failure_queue),
            # Long enough to investigate a launch from last quarter; the ledger keeps the outcome anyway.
            log_retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=removal_policy,
            role_description="deploy-trigger dispatcher: ledger, credentials secret, on-failure queue, "
            "waking the drainer, own logs",
        )
        if drainer is not None:
            # The unqualified ARN only: the dispatcher wakes $LATEST by name, like the drainer's schedule does.
            self.role.add_to_principal_policy(
                iam.PolicyStatement(actions=list(DRAINER_INVOKE), resources=[drainer.function_arn])
            )
        skip_checkov(
            self.function,
            {
                "CKV_AWS_116": "Failed events go to the on-failure destination (an SQS queue, with an alarm), which "
                "checkov does not look at: it accepts only the older function DLQ, which keeps the event but not "
                "the error, and the destination keeps both."
            },
        )
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                NagPackSuppression(
                    id="Serverless-LambdaDLQ",
                    reason="Failed asynchronous invocations go to the on-failure destination (an SQS queue), "
                    "which records the error with the event; a function DLQ would keep the event only.",
                ),
            ],
        )
