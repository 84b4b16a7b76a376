"""What the tracker and the drainer share: a service function run once a minute by a schedule, whose runs carry
no event worth keeping, so nothing retries them and nothing keeps a failed one."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from infra.compliance import skip_checkov
from infra.constructs.service_function import ServiceFunction

#: One run a minute: the finest an EventBridge schedule goes.
SCHEDULE = events.Schedule.rate(Duration.minutes(1))
#: No retries anywhere, and the shortest event age Lambda and EventBridge accept: a run that failed, never ran or
#: was throttled behind a running one is simply the next minute's work (what it works on lives in the ledger), while
#: a retried run would come late, beside the next one.
RETRY_ATTEMPTS = 0
MAX_EVENT_AGE = Duration.seconds(60)


class ScheduledFunction(ServiceFunction):
    """A :class:`ServiceFunction` with a one-minute ``Schedule`` rule, no retries, a month of logs (a line a minute
    even when idle; outcomes are kept in the ledger), and the checks that ask for a failure sink answered with
    ``no_sink``: why a failed run needs none."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        description: str,
        schedule_description: str,
        no_sink: str,
        handler: str,
        code: lambda_.Code,
        environment: Mapping[str, str],
        timeout: Duration,
        reserved_concurrency: int | None,
        removal_policy: RemovalPolicy,
        role_description: str,
    ) -> None:
        super().__init__(
            scope,
            construct_id,
            description=description,
            handler=handler,
            code=code,
            environment=environment,
            timeout=timeout,
            reserved_concurrency=reserved_concurrency,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            log_retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=removal_policy,
            role_description=role_description,
        )
        self.schedule = events.Rule(self, "Schedule", description=schedule_description, schedule=SCHEDULE)
        self.schedule.add_target(
            targets.LambdaFunction(self.function, retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
        )
        skip_checkov(self.function, {"CKV_AWS_116": no_sink})
        NagSuppressions.add_resource_suppressions(
            self.function, [NagPackSuppression(id="Serverless-LambdaDLQ", reason=no_sink)]
        )
        NagSuppressions.add_resource_suppressions(
            self.function.node.find_child("EventInvokeConfig"),
            [NagPackSuppression(id="Serverless-LambdaAsyncFailureDestination", reason=no_sink)],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            self.schedule, [NagPackSuppression(id="Serverless-EventBusDLQ", reason=no_sink)]
        )
