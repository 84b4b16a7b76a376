"""Alarms that page a human, the topic they page through, and the operator's dashboard.

The custom metrics are the dispatcher's Powertools EMF metrics: namespace and names come from
``deploy_trigger.metric_names`` (the module the Lambda emits them with), each with the single dimension
``service``. Every alarm treats missing data as not breaching: these metrics exist only when something
happened, and silence is the healthy state.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from deploy_trigger import metric_names

#: Alarms on "something happened" look at one-minute periods: the first occurrence pages.
ALARM_PERIOD = Duration.minutes(1)
#: An OutcomeUnknown gets this long to be reconciled before it counts as unresolved (see _unresolved_outcomes).
RECONCILE_GRACE = Duration.minutes(15)
DASHBOARD_PERIOD = Duration.minutes(5)


def custom_metric(name: str, *, period: Duration = ALARM_PERIOD, label: str | None = None) -> cloudwatch.Metric:
    """A dispatcher EMF metric, summed: the dimension set is exactly the one the Lambda emits."""
    return cloudwatch.Metric(
        namespace=metric_names.NAMESPACE,
        metric_name=name,
        dimensions_map={"service": metric_names.SERVICE},
        statistic=cloudwatch.Stats.SUM,
        period=period,
        label=label or name,
    )


class Monitoring(Construct):
    """An encrypted SNS topic (optionally mailed to ``alarm_email``), the service's alarms, and a dashboard.

    Every alarm notifies the topic when it fires and when it recovers. Later constructs (the tracker)
    add their own alarms through :meth:`notify_on` and widgets through ``dashboard.add_widgets``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dispatcher: lambda_.IFunction,
        dispatcher_timeout: Duration,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        alarm_email: str | None,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = self._alarm_topic(alarm_email, removal_policy)
        self.alarms: dict[str, cloudwatch.Alarm] = {}

        for name, queue in dead_letter_queues.items():
            self.notify_on(
                _any_occurrence(
                    self,
                    f"{name}NotEmpty",
                    queue.metric_approximate_number_of_messages_visible(
                        period=ALARM_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
                    ),
                    f"A message is waiting in the {name} dead-letter queue: an instance launch "
                    "may have no deployment. Read the message (event and error), fix the cause, then redrive "
                    "or deploy the instance by hand and delete the message.",
                )
            )
        self.notify_on(
            _any_occurrence(
                self,
                "DispatcherErrors",
                dispatcher.metric_errors(period=ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
                "The dispatcher failed or timed out. Lambda retries the event twice; if every "
                "attempt fails it lands in the failure queue. Read the dispatcher's logs for the instance ID.",
            )
        )
        self.notify_on(
            _any_occurrence(
                self,
                "DispatcherThrottles",
                dispatcher.metric_throttles(period=ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
                "Launches arrived faster than the dispatcher's reserved concurrency. Lambda "
                "keeps retrying throttled events for up to 6 hours; deployments are late, not lost.",
            )
        )
        self.notify_on(
            _any_occurrence(
                self,
                "DispatchRejected",
                custom_metric(metric_names.DISPATCH_REJECTED),
                "GitHub refused a workflow_dispatch for good (4xx other than a rate limit): "
                "wrong workflow, ref, inputs or token permissions. The ledger marks the instance FAILED; fix "
                "the cause, then dispatch that instance again explicitly.",
            )
        )
        self.notify_on(
            _unresolved_outcomes().create_alarm(
                self,
                "OutcomeUnknownUnresolved",
                alarm_description="A dispatch whose outcome was unknown (5xx, timeout, dropped connection) was "
                "not reconciled within 15 minutes by Lambda's retries. Look up the instance's run in GitHub "
                "(the run name carries its dispatch_id) and the ledger item before dispatching again.",
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                threshold=0,
                # Two buckets: the expression is defined on the newer one only (it reads the older one).
                evaluation_periods=2,
                datapoints_to_alarm=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        self.dashboard = self._dashboard(dispatcher, dispatcher_timeout, dead_letter_queues)

    def notify_on(self, alarm: cloudwatch.Alarm) -> cloudwatch.Alarm:
        """Send the alarm's ALARM and OK transitions to the topic.

        Alarms passed in during construction also appear in the dashboard's alarm widget; one added later
        needs its own widget (``dashboard.add_widgets``).
        """
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        alarm.add_ok_action(cloudwatch_actions.SnsAction(self.topic))
        self.alarms[alarm.node.id] = alarm
        return alarm

    def _alarm_topic(self, alarm_email: str | None, removal_policy: RemovalPolicy) -> sns.Topic:
        # A customer-managed key, because CloudWatch cannot publish to a topic encrypted with the AWS
        # managed aws/sns key (its key policy cannot grant cloudwatch.amazonaws.com).
        key = kms.Key(
            self,
            "TopicKey",
            description="deploy-trigger: encrypts the alarm topic",
            enable_key_rotation=True,
            removal_policy=removal_policy,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToTheEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
            )
        )
        topic = sns.Topic(self, "AlarmTopic", display_name="deploy-trigger alarms", master_key=key, enforce_ssl=True)
        # The topic policy that enforce_ssl creates replaces SNS's default one, which is what let CloudWatch
        # publish; so allow it explicitly, for this account's alarms only.
        stack = Stack.of(self)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsOfThisAccountPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
        if alarm_email is not None:
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
            NagSuppressions.add_resource_suppressions(
                topic,
                [
                    NagPackSuppression(
                        id="Serverless-SNSRedrivePolicy",
                        reason="The email subscription only notifies a human; an undeliverable email has no "
                        "consumer to redrive to, and the alarm's state stays visible in CloudWatch.",
                    )
                ],
                apply_to_children=True,
            )
        return topic

    def _dashboard(
        self, dispatcher: lambda_.IFunction, timeout: Duration, dead_letter_queues: Mapping[str, sqs.IQueue]
    ) -> cloudwatch.Dashboard:
        def count(name: str, label: str) -> cloudwatch.Metric:
            return custom_metric(name, period=DASHBOARD_PERIOD, label=label)

        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Dispatches",
                left=[
                    count(metric_names.DISPATCHED, "dispatched"),
                    count(metric_names.RECONCILED_FOUND, "found by reconciling"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Duplicates suppressed",
                left=[
                    count(metric_names.DUPLICATE_SUPPRESSED, "duplicate event"),
                    count(metric_names.CLAIM_CONTENDED, "claim held elsewhere"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Failures",
                left=[
                    count(metric_names.DISPATCH_REJECTED, "rejected by GitHub"),
                    count(metric_names.OUTCOME_UNKNOWN, "outcome unknown"),
                    count(metric_names.EVENT_REJECTED, "events rejected"),
                    count(metric_names.RATE_LIMITED, "rate limited"),
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Dead-letter queue depth",
                left=[
                    queue.metric_approximate_number_of_messages_visible(
                        period=DASHBOARD_PERIOD, statistic=cloudwatch.Stats.MAXIMUM, label=name
                    )
                    for name, queue in dead_letter_queues.items()
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Dispatcher duration (ms)",
                left=[
                    dispatcher.metric_duration(period=DASHBOARD_PERIOD, statistic=stat, label=stat)
                    for stat in (cloudwatch.Stats.p(50), cloudwatch.Stats.p(99))
                ],
                # The line the founding incident crossed: p99 near it means the timeout needs headroom.
                left_annotations=[cloudwatch.HorizontalAnnotation(value=timeout.to_milliseconds(), label="timeout")],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Dispatcher invocations",
                left=[
                    dispatcher.metric_invocations(period=DASHBOARD_PERIOD, statistic=cloudwatch.Stats.SUM),
                    dispatcher.metric_errors(period=DASHBOARD_PERIOD, statistic=cloudwatch.Stats.SUM),
                    dispatcher.metric_throttles(period=DASHBOARD_PERIOD, statistic=cloudwatch.Stats.SUM),
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(self.alarms.values()), width=24),
        )
        return dashboard


def _any_occurrence(
    scope: Construct, construct_id: str, metric: cloudwatch.IMetric, description: str
) -> cloudwatch.Alarm:
    """An alarm that fires on the first occurrence: more than zero in one period."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        metric=metric,
        alarm_description=description,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        threshold=0,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def _unresolved_outcomes() -> cloudwatch.MathExpression:
    """OutcomeUnknown minus the reconciles that followed it, counted only once they had time to happen.

    An OutcomeUnknown invocation fails, and one of Lambda's retries (about 1 and 3 minutes later) takes
    the claim over and emits ReconciledFound or ReconciledNotFound. A plain sum over the last 15 minutes
    would breach in the minutes between the two on every such event, because an alarm's window always
    ends now. So the expression reads two 15-minute buckets: the OutcomeUnknowns of the older bucket
    minus the reconciles of both. ``x - DIFF(x)`` is x's value in the previous bucket (metric math has
    no time shift). Each unknown thus gets at least 15 minutes, and the alarm fires 15-30 minutes after
    an unknown that nothing reconciled. A reconcile without a prior OutcomeUnknown (the earlier attempt
    was killed before it could emit one) only lowers the value: never a false alarm.
    """
    unknown = cloudwatch.MathExpression(
        expression="FILL(unknownRaw, 0)",
        using_metrics={"unknownRaw": custom_metric(metric_names.OUTCOME_UNKNOWN, period=RECONCILE_GRACE)},
        period=RECONCILE_GRACE,
    )
    reconciled = cloudwatch.MathExpression(
        expression="FILL(found, 0) + FILL(notFound, 0)",
        using_metrics={
            "found": custom_metric(metric_names.RECONCILED_FOUND, period=RECONCILE_GRACE),
            "notFound": custom_metric(metric_names.RECONCILED_NOT_FOUND, period=RECONCILE_GRACE),
        },
        period=RECONCILE_GRACE,
    )
    return cloudwatch.MathExpression(
        expression="(unknown - DIFF(unknown)) - (reconciled - DIFF(reconciled)) - reconciled",
        using_metrics={"unknown": unknown, "reconciled": reconciled},
        label="unresolved outcome-unknown dispatches",
        period=RECONCILE_GRACE,
    )
