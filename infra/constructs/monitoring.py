"""The service's alarms, what each tells the person it pages, and the operator's dashboard.

The custom metrics are the dispatcher's, the drainer's and the tracker's Powertools EMF metrics: namespace and names
come from ``deploy_trigger.metric_names`` (the module the Lambda emits them with), each with the single dimension
``service``. Every alarm treats missing data as not breaching (these metrics exist only when something
happened, and silence is the healthy state), except the two that watch the tracker and the drainer run at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from deploy_trigger import metric_names

#: Alarms on "something happened" look at one-minute periods: the first occurrence pages.
ALARM_PERIOD = Duration.minutes(1)
DASHBOARD_PERIOD = Duration.minutes(5)
#: Three graphs to a dashboard row (CloudWatch's row is 24 units wide).
WIDGET_WIDTH = 8
#: Deployment outcomes are judged per 5 minutes: the tracker decides them once a minute, in batches.
DEPLOY_ALARM_PERIOD = Duration.minutes(5)
#: The window in which abandoned launches count as one crash loop (a sliding window: evaluated every minute).
CRASH_LOOP_WINDOW = Duration.minutes(15)
#: Tracker errors page only when they last this many 5-minute periods: a pass that fails is retried by the
#: next one a minute later, so a blip heals itself and only a persistent failure needs a human.
TRACKER_ERROR_PERIODS = 3
#: The drainer reports the queue at the end of each run, and a run may last its whole 15-minute timeout while the
#: minute's ticks are throttled behind it; the next tick starts the next run a minute later. So a healthy drainer's
#: reports can be this far apart (rounded up), and its alarms look this far back rather than at one minute.
DRAIN_REPORT_GAP_MINUTES = 20
#: The least headroom a waiting hook launch may have at its turn before a human is paged. The drainer's estimate
#: assumes its pace holds; GitHub's hourly budget (about 500 content-creating requests) can pause it for most of an
#: hour more, so less than an hour left is the last moment to act before hooks start to expire.
HOOK_HEADROOM_ALARM_SECONDS = 3600
#: The oldest waiting launch's age (from its launch) that says the queue is not keeping up: its deployment is half
#: an hour late.
OLDEST_WAIT_ALARM_SECONDS = 1800
#: The dashboard's queue graphs show each drain run's report, not a 5-minute blur of them.
BUDGET_DASHBOARD_PERIOD = Duration.minutes(1)


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


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: what it watches, when it fires, and what the person it pages should do.

    The default is "fire on the first occurrence": more than zero in one period, silence being healthy.
    """

    #: The construct ID, and the name the README's "Alarms and what to do" gives it.
    id: str
    metric: cloudwatch.IMetric
    #: The alarm's description: what happened and what to do first.
    runbook: str
    threshold: float = 0
    comparison: cloudwatch.ComparisonOperator = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
    missing_data: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING
    #: Periods in a row that must breach before it fires.
    periods: int = 1
    #: How many of those ``periods`` must breach; None: all of them.
    datapoints: int | None = None


def dispatcher_alarms(dispatcher: lambda_.IFunction, dead_letter_queues: Mapping[str, sqs.IQueue]) -> list[AlarmSpec]:
    """The dead-letter queues' and the dispatcher's alarms; each queue's is ``<name>NotEmpty``."""
    queue_alarms = [
        AlarmSpec(
            f"{name}NotEmpty",
            queue.metric_approximate_number_of_messages_visible(
                period=ALARM_PERIOD, statistic=cloudwatch.Stats.MAXIMUM
            ),
            f"A message is waiting in the {name} dead-letter queue: an instance launch "
            "may have no deployment. Read the message (event and error), fix the cause, then redrive "
            "or deploy the instance by hand and delete the message.",
        )
        for name, queue in dead_letter_queues.items()
    ]
    return [
        *queue_alarms,
        AlarmSpec(
            "DispatcherErrors",
            dispatcher.metric_errors(period=ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
            "The dispatcher failed or timed out. Lambda retries the event twice; if every "
            "attempt fails it lands in the failure queue. Read the dispatcher's logs for the instance ID.",
        ),
        AlarmSpec(
            "DispatcherThrottles",
            dispatcher.metric_throttles(period=ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
            "Launches arrived faster than the dispatcher's reserved concurrency. Lambda "
            "keeps retrying throttled events for up to 6 hours; deployments are late, not lost.",
        ),
        AlarmSpec(
            "DispatchRejected",
            custom_metric(metric_names.DISPATCH_REJECTED),
            "GitHub refused a workflow_dispatch for good (4xx other than a rate limit): "
            "wrong workflow, ref, inputs or token permissions. The ledger marks the instance FAILED; fix "
            "the cause, then dispatch that instance again explicitly. Counted by the dispatcher (its event also "
            "goes to the failure queue) and by the drainer (a queued launch has no event: only the ledger has it).",
        ),
    ]


def budget_alarms(drainer: lambda_.IFunction) -> list[AlarmSpec]:
    """The alarms on the queue of launches waiting for GitHub budget, and on the drainer that sends it."""
    window = DRAIN_REPORT_GAP_MINUTES
    return [
        AlarmSpec(
            "BacklogWillOutliveHooks",
            custom_metric(
                metric_names.HOOK_HEADROOM_SECONDS,
                statistic=cloudwatch.Stats.MINIMUM,
                label="least headroom of a waiting hook launch (s)",
            ),
            f"At the drainer's current pace, a launch waiting for GitHub budget would reach its turn less than "
            f"{HOOK_HEADROOM_ALARM_SECONDS // 60} minutes before its lifecycle hook's global timeout (100 x the "
            "heartbeat timeout, at most 48 h, whatever the heartbeats): Auto Scaling would apply the hook's default "
            "result to it undeployed (ABANDON: replaced, and the replacement joins the back of the queue; CONTINUE: "
            "in service without its deployment). The estimate assumes no further pause from GitHub. Raise the GitHub "
            "App's rate limit with GitHub, turn on batch dispatch when it exists, slow the scale-out, or accept the "
            "wait.",
            threshold=HOOK_HEADROOM_ALARM_SECONDS,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            # One report in the window: a long drain run's silence does not clear it, an empty queue for the
            # whole window does.
            periods=window,
            datapoints=1,
        ),
        AlarmSpec(
            "BacklogGrowing",
            # Not a growth rate of LaunchesWaiting: the drainer reports only at the end of each run, up to 15 minutes
            # apart, so there is no per-minute series to difference, and a one-off burst that takes hours to send
            # never grows for long. The oldest launch's wait says directly that the queue is not keeping up.
            custom_metric(
                metric_names.OLDEST_WAITING_SECONDS,
                statistic=cloudwatch.Stats.MAXIMUM,
                label="oldest waiting launch (s since its launch)",
            ),
            f"A launch has waited more than {OLDEST_WAIT_ALARM_SECONDS // 60} minutes for GitHub budget: launches "
            "arrive faster than GitHub lets the drainer send them, or GitHub paused dispatching for long. Its "
            "deployment is that late, and every launch behind it more so. The queue is safe in the ledger, and the "
            "tracker (when on) heartbeats the waiting instances' lifecycle actions. Raise the GitHub App's rate "
            "limit with GitHub, turn on batch dispatch when it exists, or accept the wait; watch "
            "BacklogWillOutliveHooks.",
            threshold=OLDEST_WAIT_ALARM_SECONDS,
            periods=window,
            datapoints=1,
        ),
        AlarmSpec(
            "DrainerErrors",
            drainer.metric_errors(period=DEPLOY_ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
            "The drainer has failed (crashed or timed out) for 15 minutes in a row: nothing sends the launches "
            "waiting for GitHub budget. Each failed run is replaced by the next minute's, so only a lasting failure "
            "pages. Read the drainer's logs: DynamoDB, the credentials secret, or GitHub.",
            periods=TRACKER_ERROR_PERIODS,
        ),
        AlarmSpec(
            "DrainerNotRunning",
            drainer.metric_invocations(period=DEPLOY_ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
            f"The drainer has not started for {window} minutes although its schedule fires every minute (a run "
            "lasts at most 15 minutes): the schedule rule is disabled or deleted, or the function cannot be invoked. "
            "Launches that wait for GitHub budget are not being sent. Check the rule and the function.",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            # No data here means no invocation at all: the very thing to page on.
            missing_data=cloudwatch.TreatMissingData.BREACHING,
            periods=window // int(DEPLOY_ALARM_PERIOD.to_minutes()),
        ),
    ]


def tracker_alarms(tracker: lambda_.IFunction, *, crash_loop_abandon_threshold: int) -> list[AlarmSpec]:
    """The alarms on deployment outcomes and on the tracker itself."""
    return [
        AlarmSpec(
            "DeploymentsFailed",
            _failed_deployments(),
            "A deployment failed, never started (GitHub listed no run) or got stuck past maxDeploySeconds. "
            "The tracker published one alert per deployment to this topic with the instance, the group and "
            "the run's URL: open the run and fix the cause. In lifecycle-hook mode the instance was "
            "abandoned and its replacement deploys again; in launch-successful mode it is in service "
            "without the deployment: redeploy it or terminate it.",
        ),
        AlarmSpec(
            "OutcomeUnknownUnresolved",
            # The tracker counts, every pass, the dispatches whose outcome is still unknown 15 minutes after
            # the attempt (deploy_trigger.ledger.UNRESOLVED_AFTER_SECONDS): Lambda's retries, 1 and 3 minutes
            # later, reconcile them long before that, so any such dispatch is one nothing will settle.
            custom_metric(
                metric_names.UNRESOLVED_OUTCOMES,
                period=DEPLOY_ALARM_PERIOD,
                statistic=cloudwatch.Stats.MAXIMUM,
                label="unresolved outcome-unknown dispatches",
            ),
            "A dispatch whose outcome was unknown (5xx, timeout, dropped connection) was "
            "not reconciled by Lambda's retries within 15 minutes. The tracker's log lists the instances: "
            "look up each one's run in GitHub (its run name carries the dispatch_id) and its ledger item "
            "(deploy-trigger status) before dispatching anything by hand.",
        ),
        AlarmSpec(
            "CrashLoop",
            custom_metric(metric_names.LIFECYCLE_ABANDONED, period=CRASH_LOOP_WINDOW, label="abandoned launches"),
            f"{crash_loop_abandon_threshold} or more instances abandoned within 15 "
            "minutes: the group is replacing instances whose deployment keeps failing (a broken build or "
            "workflow), and will keep doing so. Stop the loop first: suspend the group's Launch process "
            "or set its desired capacity, or revert the release; then read the failed runs' alerts.",
            threshold=crash_loop_abandon_threshold,
            comparison=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        ),
        AlarmSpec(
            "TrackerErrors",
            _tracker_errors(tracker),
            "The tracker has failed (crashed, timed out, or could not check entries "
            "because GitHub, DynamoDB or Auto Scaling failed) for 15 minutes in a row. Deployments are "
            "not being followed: hooks may time out to their default result. Read the tracker's logs.",
            periods=TRACKER_ERROR_PERIODS,
        ),
        AlarmSpec(
            "TrackerNotRunning",
            tracker.metric_invocations(period=DEPLOY_ALARM_PERIOD, statistic=cloudwatch.Stats.SUM),
            "The tracker has not run for 5 minutes although its schedule fires every "
            "minute: the schedule rule is disabled or deleted, or the function cannot be invoked. Nothing "
            "completes lifecycle actions meanwhile. Check the rule and the function's throttles.",
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            # No data here means no invocation at all: the very thing to page on.
            missing_data=cloudwatch.TreatMissingData.BREACHING,
        ),
    ]


class Monitoring(Construct):
    """The service's alarms, each notifying ``topic`` when it fires and when it recovers, and a dashboard.

    Built once the functions exist (``tracker`` is None when the tracker is off): every alarm of the three
    lists above is created here and appears in one of the dashboard's alarm widgets.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        topic: sns.ITopic,
        dispatcher: lambda_.IFunction,
        dispatcher_timeout: Duration,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        drainer: lambda_.IFunction,
        tracker: lambda_.IFunction | None,
        crash_loop_abandon_threshold: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.topic = topic
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        dispatcher_row = self._alarms(dispatcher_alarms(dispatcher, dead_letter_queues))
        budget_row = self._alarms(budget_alarms(drainer))
        tracker_row = (
            self._alarms(tracker_alarms(tracker, crash_loop_abandon_threshold=crash_loop_abandon_threshold))
            if tracker is not None
            else []
        )
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(1))
        self._dispatcher_widgets(dispatcher, dispatcher_timeout, dead_letter_queues, dispatcher_row)
        self._budget_widgets(drainer, budget_row)
        if tracker is not None:
            self._tracker_widgets(tracker, tracker_row)

    def _alarms(self, specs: Sequence[AlarmSpec]) -> list[cloudwatch.Alarm]:
        alarms = [self._alarm(spec) for spec in specs]
        self.alarms.update((alarm.node.id, alarm) for alarm in alarms)
        return alarms

    def _alarm(self, spec: AlarmSpec) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            spec.id,
            metric=spec.metric,
            alarm_description=spec.runbook,
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            evaluation_periods=spec.periods,
            # M out of N, by default with M = N: every period breaching (CloudWatch's default when left out).
            datapoints_to_alarm=spec.datapoints or (spec.periods if spec.periods > 1 else None),
            treat_missing_data=spec.missing_data,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        alarm.add_ok_action(cloudwatch_actions.SnsAction(self.topic))
        return alarm

    def _dispatcher_widgets(
        self,
        dispatcher: lambda_.IFunction,
        timeout: Duration,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        alarms: Sequence[cloudwatch.IAlarm],
    ) -> None:
        self.dashboard.add_widgets(
            _counts(
                "Dispatches",
                {
                    metric_names.DISPATCHED: "dispatched",
                    metric_names.RECONCILED_FOUND: "found by reconciling",
                    # Launches whose event never came: a few are Auto Scaling's best effort, many a broken rule.
                    metric_names.LAUNCHES_FOUND_BY_SWEEP: "found by the sweep",
                },
            ),
            _counts(
                "Duplicates suppressed",
                {
                    metric_names.DUPLICATE_SUPPRESSED: "duplicate event",
                    metric_names.CLAIM_CONTENDED: "claim held elsewhere",
                    metric_names.STALE_EVENT_IGNORED: "late event of an earlier launch",
                    metric_names.WARM_POOL_CONTINUED: "warm-pool entry continued",
                },
            ),
            _counts(
                "Failures",
                {
                    metric_names.DISPATCH_REJECTED: "rejected by GitHub",
                    metric_names.OUTCOME_UNKNOWN: "outcome unknown",
                    metric_names.EVENT_REJECTED: "events rejected",
                    metric_names.RATE_LIMITED: "rate limited",
                },
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Dead-letter queue depth",
                [
                    queue.metric_approximate_number_of_messages_visible(
                        period=DASHBOARD_PERIOD, statistic=cloudwatch.Stats.MAXIMUM, label=name
                    )
                    for name, queue in dead_letter_queues.items()
                ],
            ),
            _graph(
                "Dispatcher duration (ms)",
                _percentiles(dispatcher.metric_duration),
                # p99 near the timeout means the timeout needs headroom.
                left_annotations=[cloudwatch.HorizontalAnnotation(value=timeout.to_milliseconds(), label="timeout")],
            ),
            _graph(
                "Dispatcher invocations",
                _sums(dispatcher.metric_invocations, dispatcher.metric_errors, dispatcher.metric_throttles),
            ),
        )
        self.dashboard.add_widgets(cloudwatch.AlarmStatusWidget(title="Alarms", alarms=list(alarms), width=24))

    def _budget_widgets(self, drainer: lambda_.IFunction, alarms: Sequence[cloudwatch.IAlarm]) -> None:
        """The GitHub budget: the queue of launches waiting for it, how long they wait, and GitHub's refusals."""
        self.dashboard.add_widgets(
            _graph(
                "GitHub budget: launch queue",
                [
                    _budget_metric(metric_names.LAUNCHES_WAITING, "waiting", cloudwatch.Stats.MAXIMUM),
                    _budget_metric(metric_names.QUEUED_FOR_BUDGET, "queued by the dispatcher"),
                    _budget_metric(metric_names.DRAINED, "sent by the drainer"),
                ],
            ),
            _graph(
                "GitHub budget: wait (s)",
                [
                    _budget_metric(metric_names.OLDEST_WAITING_SECONDS, "oldest wait", cloudwatch.Stats.MAXIMUM),
                    _budget_metric(metric_names.EXPECTED_DRAIN_SECONDS, "expected drain", cloudwatch.Stats.MAXIMUM),
                ],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=OLDEST_WAIT_ALARM_SECONDS, label="BacklogGrowing")
                ],
            ),
            _graph(
                "GitHub budget: hook headroom (s)",
                [_budget_metric(metric_names.HOOK_HEADROOM_SECONDS, "least headroom", cloudwatch.Stats.MINIMUM)],
                left_annotations=[
                    cloudwatch.HorizontalAnnotation(value=HOOK_HEADROOM_ALARM_SECONDS, label="BacklogWillOutliveHooks")
                ],
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "GitHub budget: refusals",
                [
                    _budget_metric(metric_names.RATE_LIMITED, "rate limited"),
                    _budget_metric(metric_names.RATE_LIMIT_WAITS, "drainer paused everyone"),
                    _budget_metric(metric_names.REQUEUED, "put back in the queue"),
                ],
            ),
            _graph(
                "Drainer invocations",
                # Throttles are expected while a long run holds the single slot: the minute's tick expires.
                _sums(drainer.metric_invocations, drainer.metric_errors, drainer.metric_throttles),
            ),
            cloudwatch.AlarmStatusWidget(title="GitHub budget alarms", alarms=list(alarms), width=WIDGET_WIDTH),
        )

    def _tracker_widgets(self, tracker: lambda_.IFunction, alarms: Sequence[cloudwatch.IAlarm]) -> None:
        self.dashboard.add_widgets(
            _counts(
                "Deploy outcomes",
                {
                    metric_names.DEPLOY_SUCCEEDED: "succeeded",
                    metric_names.DEPLOY_FAILED: "failed",
                    metric_names.DEPLOY_NO_RUN: "no run",
                    metric_names.DEPLOY_STUCK: "stuck",
                },
            ),
            _counts(
                "Lifecycle results",
                {
                    metric_names.LIFECYCLE_CONTINUED: "continued",
                    metric_names.LIFECYCLE_ABANDONED: "abandoned",
                    metric_names.LIFECYCLE_ALREADY_ENDED: "already ended",
                    metric_names.HEARTBEATS: "heartbeats",
                },
            ),
            _graph(
                "Deploy duration (s)",
                _percentiles(partial(custom_metric, metric_names.DEPLOY_DURATION)),
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Tracker backlog (entries due per pass)",
                [_dashboard_metric(metric_names.TRACKER_BACKLOG, "due, worst pass", cloudwatch.Stats.MAXIMUM)],
            ),
            _graph(
                "Tracker invocations",
                [
                    *_sums(tracker.metric_invocations, tracker.metric_errors),
                    _dashboard_metric(metric_names.TRACKER_ERRORS, "entries not checked"),
                ],
            ),
            cloudwatch.AlarmStatusWidget(title="Tracker alarms", alarms=list(alarms), width=WIDGET_WIDTH),
        )


def _graph(title: str, left: Sequence[cloudwatch.IMetric], **options: Any) -> cloudwatch.GraphWidget:
    """One of the dashboard's graphs: a third of a row."""
    return cloudwatch.GraphWidget(title=title, left=list(left), width=WIDGET_WIDTH, **options)


def _dashboard_metric(name: str, label: str, statistic: str = cloudwatch.Stats.SUM) -> cloudwatch.Metric:
    """A custom metric per dashboard period, summed unless told."""
    return custom_metric(name, period=DASHBOARD_PERIOD, label=label, statistic=statistic)


def _budget_metric(name: str, label: str, statistic: str = cloudwatch.Stats.SUM) -> cloudwatch.Metric:
    """A drainer or budget metric per minute (``BUDGET_DASHBOARD_PERIOD``), summed unless told."""
    return custom_metric(name, period=BUDGET_DASHBOARD_PERIOD, label=label, statistic=statistic)


def _counts(title: str, labels: Mapping[str, str]) -> cloudwatch.GraphWidget:
    """A graph of custom metrics (name: label), each summed per dashboard period."""
    return _graph(title, [_dashboard_metric(name, label) for name, label in labels.items()])


def _percentiles(metric: Callable[..., cloudwatch.Metric]) -> list[cloudwatch.Metric]:
    """The median and p99 of a metric per dashboard period, each labelled by its statistic."""
    return [
        metric(period=DASHBOARD_PERIOD, statistic=stat, label=stat)
        for stat in (cloudwatch.Stats.p(50), cloudwatch.Stats.p(99))
    ]


def _sums(*metrics: Callable[..., cloudwatch.Metric]) -> list[cloudwatch.Metric]:
    """A function's metrics (``function.metric_errors`` ...), each summed per dashboard period."""
    return [metric(period=DASHBOARD_PERIOD, statistic=cloudwatch.Stats.SUM) for metric in metrics]


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
