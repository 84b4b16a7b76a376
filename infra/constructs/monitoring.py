"""Alarms that page a human, the topic they page through, and the operator's dashboard.

The custom metrics are the dispatcher's and the tracker's Powertools EMF metrics: namespace and names come from
``deploy_trigger.metric_names`` (the module the Lambda emits them with), each with the single dimension
``service``. Every alarm treats missing data as not breaching (these metrics exist only when something
happened, and silence is the healthy state), except the one that watches the tracker run at all.
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
DASHBOARD_PERIOD = Duration.minutes(5)
#: Deployment outcomes are judged per 5 minutes: the tracker decides them once a minute, in batches.
DEPLOY_ALARM_PERIOD = Duration.minutes(5)
#: The window in which abandoned launches count as one crash loop (a sliding window: evaluated every minute).
CRASH_LOOP_WINDOW = Duration.minutes(15)
#: Tracker errors page only when they last this many 5-minute periods: a pass that fails is retried by the
#: next one a minute later, so a blip heals itself and only a persistent failure needs a human.
TRACKER_ERROR_PERIODS = 3


def custom_metric(
    name: str, *, period: Duration = ALARM_PERIOD, label: str | None = None, statistic: str = cloudwatch.Stats.SUM
) -> cloudwatch.Metric:
    """An EMF metric of the Lambda, summed unless told: the dimension set is exactly the one it emits."""
    return cloudwatch.Metric(
        namespace=metric_names.NAMESPACE,
        metric_name=name,
        dimensions_map={"service": metric_names.SERVICE},
        statistic=statistic,
        period=period,
        label=label or name,
    )


class Monitoring(Construct):
    """An encrypted SNS topic (optionally mailed to ``alarm_email``), the service's alarms, and a dashboard.

    Every alarm notifies the topic when it fires and when it recovers. The tracker's alarms and widgets
    are added by :meth:`watch_tracker` once the tracker exists (it needs the topic first).
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

    def watch_tracker(self, tracker: lambda_.IFunction, *, crash_loop_abandon_threshold: int) -> None:
        """The tracker's alarms (to the topic) and its row of the dashboard, with its own alarm widget."""
        tracker_alarms = [
            self.notify_on(
                _any_occurrence(
                    self,
                    "DeploymentsFailed",
                    _failed_deployments(),
                    "A deployment failed, never started (GitHub listed no run) or got stuck past maxDeploySeconds. "
                    "The tracker published one alert per deployment to this topic with the instance, the group and "
                    "the run's URL: open the run and fix the cause. In lifecycle-hook mode the instance was "
                    "abandoned and its replacement deploys again; in launch-successful mode it is in service "
                    "without the deployment: redeploy it or terminate it.",
                )
            ),
            self.notify_on(
                # The tracker counts, every pass, the dispatches whose outcome is still unknown 15 minutes after
                # the attempt (deploy_trigger.ledger.UNRESOLVED_AFTER_SECONDS): Lambda's retries, 1 and 3 minutes
                # later, reconcile them long before that, so any such dispatch is one nothing will settle.
                custom_metric(
                    metric_names.UNRESOLVED_OUTCOMES,
                    period=DEPLOY_ALARM_PERIOD,
                    statistic=cloudwatch.Stats.MAXIMUM,
                    label="unresolved outcome-unknown dispatches",
                ).create_alarm(
                    self,
                    "OutcomeUnknownUnresolved",
                    alarm_description="A dispatch whose outcome was unknown (5xx, timeout, dropped connection) was "
                    "not reconciled by Lambda's retries within 15 minutes. The tracker's log lists the instances: "
                    "look up each one's run in GitHub (its run name carries the dispatch_id) and its ledger item "
                    "(deploy-trigger status) before dispatching anything by hand.",
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    threshold=0,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            ),
            self.notify_on(
                custom_metric(
                    metric_names.LIFECYCLE_ABANDONED, period=CRASH_LOOP_WINDOW, label="abandoned launches"
                ).create_alarm(
                    self,
                    "CrashLoop",
                    alarm_description=f"{crash_loop_abandon_threshold} or more instances abandoned within 15 "
                    "minutes: the group is replacing instances whose deployment keeps failing (a broken build or "
                    "workflow), and will keep doing so. Stop the loop first: suspend the group's Launch process "
                    "or set its desired capacity, or revert the release; then read the failed runs' alerts.",
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    threshold=crash_loop_abandon_threshold,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            ),
            self.notify_on(
                _tracker_errors(tracker).create_alarm(
                    self,
                    "TrackerErrors",
                    alarm_description="The tracker has failed (crashed, timed out, or could not check entries "
                    "because GitHub, DynamoDB or Auto Scaling failed) for 15 minutes in a row. Deployments are "
                    "not being followed: hooks may time out to their default result. Read the tracker's logs.",
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                    threshold=0,
                    evaluation_periods=TRACKER_ERROR_PERIODS,
                    datapoints_to_alarm=TRACKER_ERROR_PERIODS,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            ),
            self.notify_on(
                tracker.metric_invocations(period=DEPLOY_ALARM_PERIOD, statistic=cloudwatch.Stats.SUM).create_alarm(
                    self,
                    "TrackerNotRunning",
                    alarm_description="The tracker has not run for 5 minutes although its schedule fires every "
                    "minute: the schedule rule is disabled or deleted, or the function cannot be invoked. Nothing "
                    "completes lifecycle actions meanwhile. Check the rule and the function's throttles.",
                    comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                    threshold=1,
                    evaluation_periods=1,
                    # No data here means no invocation at all: the very thing to page on.
                    treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
                )
            ),
        ]

        def count(name: str, label: str) -> cloudwatch.Metric:
            return custom_metric(name, period=DASHBOARD_PERIOD, label=label)

        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Deploy outcomes",
                left=[
                    count(metric_names.DEPLOY_SUCCEEDED, "succeeded"),
                    count(metric_names.DEPLOY_FAILED, "failed"),
                    count(metric_names.DEPLOY_NO_RUN, "no run"),
                    count(metric_names.DEPLOY_STUCK, "stuck"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Lifecycle results",
                left=[
                    count(metric_names.LIFECYCLE_CONTINUED, "continued"),
                    count(metric_names.LIFECYCLE_ABANDONED, "abandoned"),
                    count(metric_names.LIFECYCLE_ALREADY_ENDED, "already ended"),
                    count(metric_names.HEARTBEATS, "heartbeats"),
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Deploy duration (s)",
                left=[
                    custom_metric(metric_names.DEPLOY_DURATION, period=DASHBOARD_PERIOD, statistic=stat, label=stat)
                    for stat in (cloudwatch.Stats.p(50), cloudwatch.Stats.p(99))
                ],
                width=8,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Tracker backlog (entries due per pass)",
                left=[
                    custom_metric(
                        metric_names.TRACKER_BACKLOG,
                        period=DASHBOARD_PERIOD,
                        statistic=cloudwatch.Stats.MAXIMUM,
                        label="due, worst pass",
                    )
                ],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Tracker invocations",
                left=[
                    tracker.metric_invocations(period=DASHBOARD_PERIOD, statistic=cloudwatch.Stats.SUM),
                    tracker.metric_errors(period=DASHBOARD_PERIOD, statistic=cloudwatch.Stats.SUM),
                    count(metric_names.TRACKER_ERRORS, "entries not checked"),
                ],
                width=8,
            ),
            cloudwatch.AlarmStatusWidget(title="Tracker alarms", alarms=tracker_alarms, width=8),
        )

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


def _failed_deployments() -> cloudwatch.MathExpression:
    """Deployments that ended badly in a 5-minute period: failed, never started, or stuck."""
    return cloudwatch.MathExpression(
        expression="FILL(failed, 0) + FILL(noRun, 0) + FILL(stuck, 0)",
        using_metrics={
            "failed": custom_metric(metric_names.DEPLOY_FAILED, period=DEPLOY_ALARM_PERIOD),
            "noRun": custom_metric(metric_names.DEPLOY_NO_RUN, period=DEPLOY_ALARM_PERIOD),
            "stuck": custom_metric(metric_names.DEPLOY_STUCK, period=DEPLOY_ALARM_PERIOD),
        },
        label="failed deployments",
        period=DEPLOY_ALARM_PERIOD,
    )


def _tracker_errors(tracker: lambda_.IFunction) -> cloudwatch.MathExpression:
    """Failed tracker invocations plus entries a pass could not check, per 5 minutes."""
    return cloudwatch.MathExpression(
        expression="FILL(invocationErrors, 0) + FILL(checkErrors, 0)",
        using_metrics={
            "invocationErrors": tracker.metric_errors(period=DEPLOY_ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
            "checkErrors": custom_metric(metric_names.TRACKER_ERRORS, period=DEPLOY_ALARM_PERIOD),
        },
        label="tracker errors",
        period=DEPLOY_ALARM_PERIOD,
    )
