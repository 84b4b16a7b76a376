"""The dispatcher Lambda: turns one launch event into exactly one workflow_dispatch."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from deploy_trigger.settings import Settings
from infra.compliance import skip_checkov
from infra.constructs.bundling import DEFAULT_CACHE_ROOT, LAMBDA_SOURCE, dispatcher_code
from infra.constructs.service_function import ServiceFunction

HANDLER = "deploy_trigger.handler.handler"

#: Lambda's own retries of a failed or timed-out invocation (the maximum), 1 and then 2 minutes apart.
#: The ledger makes a retry safe: it reconciles with GitHub before it dispatches again.
ASYNC_RETRY_ATTEMPTS = 2
#: The longest Lambda keeps an event (the maximum), which also covers 6 hours of throttling.
MAX_EVENT_AGE = Duration.hours(6)


class DispatcherFunction(ServiceFunction):
    """The dispatcher's function, log group, role and asynchronous-invocation settings.

    Its environment is ``settings.to_environment()``. Grants are explicit and minimal: the two ledger
    actions (``LedgerTable.grant_dispatcher_access``), reading the one credentials secret
    (``GitHubCredentials.grant_read``), sending to the on-failure queue, and writing its own log group.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        timeout: Duration,
        reserved_concurrency: int | None,
        failure_queue: sqs.IQueue,
        removal_policy: RemovalPolicy,
        source_dir: Path = LAMBDA_SOURCE,
        bundle_cache: Path = DEFAULT_CACHE_ROOT,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description="deploy-trigger: one GitHub Actions workflow_dispatch per launched EC2 instance",
            handler=HANDLER,
            # The bundled asset, shared with the tracker (``code``): one asset built and uploaded once for both
            # functions (an AssetCode binds its asset once, to the first function's scope, and reuses it after).
            code=dispatcher_code(
                runtime=ServiceFunction.RUNTIME,
                architecture=ServiceFunction.ARCHITECTURE,
                source_dir=source_dir,
                cache_root=bundle_cache,
            ),
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
            role_description="deploy-trigger dispatcher: ledger, credentials secret, on-failure queue, own logs",
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
