"""The dispatcher Lambda: turns one launch event into exactly one workflow_dispatch."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import cast

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.constructs.bundling import DEFAULT_CACHE_ROOT, LAMBDA_SOURCE, dispatcher_code

HANDLER = "deploy_trigger.handler.handler"

#: Lambda's own retries of a failed or timed-out invocation (the maximum), 1 and then 2 minutes apart.
#: The ledger makes a retry safe: it reconciles with GitHub before it dispatches again.
ASYNC_RETRY_ATTEMPTS = 2
#: The longest Lambda keeps an event (the maximum), which also covers 6 hours of throttling.
MAX_EVENT_AGE = Duration.hours(6)
#: Each holder of a ledger claim must finish this many seconds before its lease ends (Settings model).
LEASE_MARGIN_SECONDS = 5


class Dispatcher(Construct):
    """The function, its log group, its role and its asynchronous-invocation settings.

    Grants are explicit and minimal: the two ledger actions (``Ledger.grant_dispatcher_access``), reading
    the one credentials secret (``GitHubCredentials.grant_read``), sending to the on-failure queue, and
    writing its own log group.
    """

    #: Python 3.13 on Graviton: the version the bundler installs wheels for (pip's --python-version).
    RUNTIME = lambda_.Runtime.PYTHON_3_13
    ARCHITECTURE = lambda_.Architecture.ARM_64
    #: Sized for CPU, not memory: the handler's peak RSS is well under 100 MB (about 60 MB with every
    #: dependency and its boto3 clients loaded; the cold-start measurements live in bench/). Lambda allots
    #: CPU in proportion to memory, so the headroom buys a faster cold start (imports, TLS to GitHub).
    MEMORY_MB = 256

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        environment: Mapping[str, str],
        timeout: Duration,
        reserved_concurrency: int | None,
        failure_queue: sqs.IQueue,
        removal_policy: RemovalPolicy,
        source_dir: Path = LAMBDA_SOURCE,
        bundle_cache: Path = DEFAULT_CACHE_ROOT,
    ) -> None:
        super().__init__(scope, construct_id)
        self.timeout = timeout
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # Long enough to investigate a launch from last quarter; the ledger keeps the outcome anyway.
            retention=logs.RetentionDays.THREE_MONTHS,
            removal_policy=removal_policy,
        )
        # An explicit role instead of the default one: the default attaches AWSLambdaBasicExecutionRole,
        # which may write to every log group in the account.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="deploy-trigger dispatcher: ledger, credentials secret, on-failure queue, own logs",
        )
        self.log_group.grant_write(self.role)
        #: The bundled asset, shared with the tracker: one asset built and uploaded once for both functions
        #: (an AssetCode binds its asset once, to the first function's scope, and reuses it after).
        self.code = dispatcher_code(
            runtime=self.RUNTIME, architecture=self.ARCHITECTURE, source_dir=source_dir, cache_root=bundle_cache
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description="deploy-trigger: one GitHub Actions workflow_dispatch per launched EC2 instance",
            runtime=self.RUNTIME,
            architecture=self.ARCHITECTURE,
            handler=HANDLER,
            code=self.code,
            # Generous on purpose: a timeout is what once killed a dispatcher after GitHub had acted. Billing
            # is per use, so the ceiling costs nothing; the code bounds each call by the time it has left.
            timeout=timeout,
            memory_size=self.MEMORY_MB,
            # Caps parallel dispatches: GitHub allows about 80 content-creating requests a minute and 500 an
            # hour. Throttled events are not lost: Lambda keeps retrying them for up to MAX_EVENT_AGE.
            reserved_concurrent_executions=reserved_concurrency,
            role=self.role,
            log_group=self.log_group,
            environment=dict(environment),
            # Traces show cold-start and invocation time per launch: the worst case is the one to watch.
            tracing=lambda_.Tracing.ACTIVE,
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            # Records the event together with the error (unlike a function DLQ, which keeps the event only).
            on_failure=destinations.SqsDestination(failure_queue),
        )
        # cfn-lint W3005: CDK makes the function depend on its role explicitly although Role is already a
        # GetAtt reference. The duplicate is harmless and generated by CDK, not by this code.
        function_resource = cast(lambda_.CfnFunction, self.function.node.default_child)
        function_resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ["W3005"]}})
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                NagPackSuppression(
                    id="Serverless-LambdaDLQ",
                    reason="Failed asynchronous invocations go to the on-failure destination (an SQS queue), "
                    "which records the error with the event; a function DLQ would keep the event only.",
                ),
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason="Pinned to Python 3.13: the bundler installs the dependencies' wheels for exactly this "
                    "version, and the code is tested on it. Moving on is a deliberate change of Dispatcher.RUNTIME.",
                ),
                NagPackSuppression(
                    id="Serverless-LambdaLatestVersion",
                    reason="Pinned to Python 3.13 with the bundled wheels; see AwsSolutions-L1.",
                ),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            self.role,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason="X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level "
                    "permissions; every other statement of this role names its resource.",
                    applies_to=["Resource::*"],
                ),
            ],
            apply_to_children=True,
        )


def dispatcher_environment(
    *,
    ledger_table_name: str,
    github_repository: str,
    github_workflow: str,
    github_ref: str,
    github_credentials_secret: str,
    github_api_url: str,
    github_api_version: str,
    allowed_asg_names: Sequence[str],
    workflow_extra_inputs: Mapping[str, str],
) -> dict[str, str]:
    """The function's environment: every variable ``deploy_trigger.settings.Settings`` reads, and the log level.

    tests/infra checks the synthesized keys against ``Settings.ENVIRONMENT``, so a setting added to the
    code without a value here fails the build instead of the first launch.
    """
    return {
        "LEDGER_TABLE_NAME": ledger_table_name,
        "GITHUB_REPOSITORY": github_repository,
        "GITHUB_WORKFLOW": github_workflow,
        "GITHUB_REF": github_ref,
        "GITHUB_CREDENTIALS_SECRET": github_credentials_secret,
        "GITHUB_API_URL": github_api_url,
        "GITHUB_API_VERSION": github_api_version,
        "ALLOWED_ASG_NAMES": ",".join(allowed_asg_names),
        # Compact and key-sorted, so the same inputs always give the same template.
        "WORKFLOW_EXTRA_INPUTS": json.dumps(dict(workflow_extra_inputs), sort_keys=True, separators=(",", ":")),
        "LEASE_MARGIN_SECONDS": str(LEASE_MARGIN_SECONDS),
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
