"""The drainer Lambda: sends the queue of launches that waited for GitHub budget, one at a time, at GitHub's pace.

A launch GitHub had no budget for is parked in the ledger (status WAITING, the tracking index's WAITING partition)
by the dispatcher, which then wakes the drainer; a schedule runs it every minute as well. Each run takes the queue's
lease on the shared budget item, sends what is due a ``GITHUB_MUTATION_INTERVAL_SECONDS`` apart (sleeping out a short
pause GitHub asked for), and reports how the queue stands (``deploy_trigger.drain``).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from deploy_trigger.settings import Settings
from infra.compliance import skip_checkov
from infra.constructs.service_function import ServiceFunction

HANDLER = "deploy_trigger.handler.drainer_handler"

#: A run a minute: the finest an EventBridge schedule goes. It sends what a lost wake-up left, and picks up a queue
#: whose pause outlasted the previous run.
SCHEDULE = events.Schedule.rate(Duration.minutes(1))
#: Lambda's maximum: a run sleeps out short pauses and paces dispatches a second apart, so a backlog of 500 (what a
#: 1,000-launch scale-out can leave) takes over 8 minutes of one run. A run ends early by itself when nothing is
#: due, or when the pause GitHub asked for outlasts what is left of it.
TIMEOUT = Duration.seconds(900)
#: No retries anywhere, and the shortest event age Lambda and EventBridge accept: a wake-up or a tick carries
#: nothing (the backlog lives in the ledger), so one that failed, or was throttled behind a running drainer, is
#: replaced by the next minute's.
RETRY_ATTEMPTS = 0
MAX_EVENT_AGE = Duration.seconds(60)
#: One drainer at a time, so that invocations queued behind a long run expire instead of starting beside it. The
#: real guard is the drain lease on the budget item, which a second run finds held and leaves at once: it also
#: holds for an account that cannot reserve concurrency, where this reservation is left out.
RESERVED_CONCURRENCY = 1


class DrainerFunction(ServiceFunction):
    """The drainer's function, log group, role, schedule and asynchronous-invocation settings.

    Its environment is ``settings.to_environment()``: the dispatcher's settings (the same ledger, workflow, ref,
    extra inputs, lease margin and listing delay, the pace and the hooks' global timeout), with no drainer to wake.
    It runs ``code``, the dispatcher's bundled asset. Grants made here: its own log group only. The ledger and the
    credentials secret are granted by their own constructs (``LedgerTable.grant_drainer_access``,
    ``GitHubCredentials.grant_read``); it makes no Auto Scaling call and invokes no function.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        settings: Settings,
        reserved_concurrency: int | None = RESERVED_CONCURRENCY,
        removal_policy: RemovalPolicy,
    ) -> None:
        if settings.drainer_function_name:
            raise ValueError("the drainer's settings name no drainer to wake: it would wake itself")
        super().__init__(
            scope,
            construct_id,
            description="deploy-trigger: sends the launches that waited for GitHub budget, at GitHub's pace",
            handler=HANDLER,
            code=code,
            environment=settings.to_environment(),
            timeout=TIMEOUT,
            reserved_concurrency=reserved_concurrency,
            retry_attempts=RETRY_ATTEMPTS,
            max_event_age=MAX_EVENT_AGE,
            # A line a minute even when idle; each launch's story is kept in the ledger, so a month is enough.
            log_retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=removal_policy,
            role_description="deploy-trigger drainer: tracking index, ledger updates, credentials secret, own logs",
        )
        self.schedule = events.Rule(
            self,
            "Schedule",
            description="deploy-trigger: one drain run a minute over the launches waiting for GitHub budget",
            schedule=SCHEDULE,
        )
        self.schedule.add_target(
            targets.LambdaFunction(self.function, retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
        )
        self._suppress()

    def _suppress(self) -> None:
        no_sink = (
            "A drain run carries no event worth keeping: the queue of waiting launches lives in the ledger's tracking "
            "index until a run sends each one, so a failed, throttled or missed run is simply the next minute's work."
        )
        skip_checkov(self.function, {"CKV_AWS_116": no_sink})
        NagSuppressions.add_resource_suppressions(
            self.function,
            [NagPackSuppression(id="Serverless-LambdaDLQ", reason=no_sink)],
        )
        NagSuppressions.add_resource_suppressions(
            self.function.node.find_child("EventInvokeConfig"),
            [NagPackSuppression(id="Serverless-LambdaAsyncFailureDestination", reason=no_sink)],
            apply_to_children=True,
        )
        NagSuppressions.add_resource_suppressions(
            self.schedule, [NagPackSuppression(id="Serverless-EventBusDLQ", reason=no_sink)]
        )
