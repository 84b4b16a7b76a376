"""The drainer: its function, schedule, environment, permissions, alarms, dashboard row and output."""

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_

from deploy_trigger import metric_names
from deploy_trigger.ledger.schema import TRACKING_INDEX
from deploy_trigger.settings import GitHubTarget, Settings
from infra.constructs.drainer import DrainerFunction
from tests.infra.synthesis import (
    CUSTOMIZED_CONTEXT,
    REQUIRED_CONTEXT,
    SECRET_READ_STATEMENT,
    SERVICE_DIMENSION,
    Synthesized,
    synthesize_template,
)


def drainer(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties("AWS::Lambda::Function", "Drainer")


def variables(synthesized: Synthesized, function: str) -> dict[str, Any]:
    found: dict[str, Any] = synthesized.properties("AWS::Lambda::Function", function)["Environment"]["Variables"]
    return found


# --- Function -----------------------------------------------------------------------------------------


def test_drainer_runtime_sizing_and_handler(synthesized: Synthesized) -> None:
    properties = drainer(synthesized)

    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == "deploy_trigger.handler.drainer_handler"
    assert properties["Timeout"] == 900  # sleeps out short pauses and sends a backlog of 500 a second apart
    assert properties["MemorySize"] == 256
    assert properties["ReservedConcurrentExecutions"] == 1  # one run at a time (the budget item's slots keep the pace)
    assert properties["TracingConfig"] == {"Mode": "Active"}


def test_drainer_runs_the_dispatcher_s_asset(synthesized: Synthesized) -> None:
    assert drainer(synthesized)["Code"] == synthesized.properties("AWS::Lambda::Function", "Dispatcher")["Code"]


def test_drainer_logs_to_its_own_log_group_for_a_month(synthesized: Synthesized) -> None:
    assert synthesized.properties("AWS::Logs::LogGroup", "Drainer") == {"RetentionInDays": 30}
    assert drainer(synthesized)["LoggingConfig"] == {"LogGroup": synthesized.ref("AWS::Logs::LogGroup", "Drainer")}


def test_unreserved_concurrency_leaves_the_drainer_unreserved_too(tmp_path_factory: pytest.TempPathFactory) -> None:
    synthesized = synthesize_template(
        {**REQUIRED_CONTEXT, "reservedConcurrency": "unreserved"}, tmp_path_factory.mktemp("cdk.out")
    )

    assert "ReservedConcurrentExecutions" not in drainer(synthesized)


def test_the_drainer_is_there_without_the_tracker(customized: Synthesized) -> None:
    assert drainer(customized)["Handler"] == "deploy_trigger.handler.drainer_handler"
    assert customized.properties("AWS::Events::Rule", "DrainerSchedule")["ScheduleExpression"] == "rate(1 minute)"


def test_settings_that_name_a_drainer_are_refused() -> None:
    # Its own name in its environment would be a circular reference in the template.
    settings = Settings(
        ledger_table_name="ledger",
        github=GitHubTarget(repository="o/r", workflow="deploy.yml", credentials_secret="s"),
        github_ref="main",
        aws_region="eu-west-1",
        drainer_function_name="deploy-trigger-drainer",
    )

    with pytest.raises(ValueError, match="it would wake itself"):
        DrainerFunction(
            cdk.Stack(),
            "Drainer",
            code=lambda_.Code.from_inline("pass"),
            settings=settings,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )


# --- Environment --------------------------------------------------------------------------------------


def test_environment_sets_every_variable_the_settings_read(synthesized: Synthesized) -> None:
    # An opt-in mode's variable is written only when the mode is on, and every mode is off here.
    expected = set(Settings.ENVIRONMENT) - Settings.OPT_IN

    assert set(variables(synthesized, "Drainer")) == {*expected, "POWERTOOLS_LOG_LEVEL"}


@pytest.mark.parametrize("fixture", ["synthesized", "customized"])
def test_environment_is_the_dispatcher_s_without_a_drainer_to_wake(
    request: pytest.FixtureRequest, fixture: str
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    dispatcher = variables(synthesized, "Dispatcher")

    assert dispatcher["DRAINER_FUNCTION_NAME"] == synthesized.ref("AWS::Lambda::Function", "Drainer")
    assert variables(synthesized, "Drainer") == {**dispatcher, "DRAINER_FUNCTION_NAME": ""}


def test_environment_is_the_settings_of_the_defaults(synthesized: Synthesized) -> None:
    environment = {**variables(synthesized, "Drainer"), "LEDGER_TABLE_NAME": "ledger"}  # a token in the template
    settings = Settings(
        ledger_table_name="ledger",
        github=GitHubTarget(
            repository="example-org/example-app", workflow="deploy.yml", credentials_secret="deploy-trigger/github"
        ),
        github_ref="main",
        aws_region="eu-west-1",
        mutation_interval_seconds=1.0,
        hook_global_timeout_seconds=90_000,  # 100 x the hook's 900 s heartbeat timeout
    )

    assert environment == {**settings.to_environment(), "POWERTOOLS_LOG_LEVEL": "INFO"}


def test_environment_is_the_settings_of_the_context(customized: Synthesized) -> None:
    environment = {**variables(customized, "Drainer"), "LEDGER_TABLE_NAME": "ledger"}
    settings = Settings(
        ledger_table_name="ledger",
        github=GitHubTarget(
            repository="example-org/example-app",
            workflow="deploy.yml",
            credentials_secret=str(CUSTOMIZED_CONTEXT["githubCredentialsSecret"]),
            api_url="https://github.example.com/api/v3",
            api_version="2022-11-28",
        ),
        github_ref="release",
        aws_region="eu-west-1",
        allowed_asg_names=frozenset({"web-asg", "worker-asg"}),
        workflow_extra_inputs={"environment": "production", "region_label": "eu"},
        lifecycle_hook_name="platform-deploy",
        mutation_interval_seconds=2.5,
        hook_global_timeout_seconds=1800,  # no tracker: nothing heartbeats a queued launch, one heartbeat timeout
        batch_max_instances=64,
    )

    assert environment == {**settings.to_environment(), "POWERTOOLS_LOG_LEVEL": "INFO"}
    assert Settings.from_env({**environment, "AWS_REGION": "eu-west-1"}) == settings


# --- IAM ----------------------------------------------------------------------------------------------


def test_drainer_role_has_exactly_its_permissions(synthesized: Synthesized) -> None:
    table = synthesized.arn("AWS::DynamoDB::Table", "Ledger")

    assert synthesized.role_statements("Drainer") == [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": synthesized.arn("AWS::Logs::LogGroup", "Drainer"),
        },
        {"Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Effect": "Allow", "Resource": "*"},
        # The queue: the tracking index's WAITING partition, read in order.
        {
            "Action": "dynamodb:Query",
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [table, f"/index/{TRACKING_INDEX}"]]},
        },
        # Taking, parking and settling each launch, and the budget item's lease and pace: conditional updates.
        {"Action": "dynamodb:UpdateItem", "Effect": "Allow", "Resource": table},
        SECRET_READ_STATEMENT,
    ]


def test_drainer_role_has_no_auto_scaling_nor_lambda_call_in_any_mode(customized: Synthesized) -> None:
    actions = [
        action
        for statement in customized.role_statements("Drainer")
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    ]

    assert {action.split(":")[0] for action in actions} == {"logs", "xray", "dynamodb", "secretsmanager", "kms"}
    assert "kms:Decrypt" in actions  # the secret's own key, given in this context


# --- Alarms -------------------------------------------------------------------------------------------


def alarm(synthesized: Synthesized, name: str) -> dict[str, Any]:
    properties = synthesized.properties("AWS::CloudWatch::Alarm", f"Monitoring{name}")
    topic = synthesized.ref("AWS::SNS::Topic", "AlarmTopic")
    assert properties["AlarmActions"] == [topic]
    assert properties["OKActions"] == [topic]
    return properties


def fires_when(properties: dict[str, Any]) -> tuple[object, ...]:
    """(comparison, threshold, evaluation periods, datapoints that must breach, what missing data counts as)."""
    return tuple(
        properties.get(key)
        for key in ("ComparisonOperator", "Threshold", "EvaluationPeriods", "DatapointsToAlarm", "TreatMissingData")
    )


def custom(name: str, statistic: str) -> dict[str, Any]:
    return {
        "Metric": {"Namespace": metric_names.NAMESPACE, "MetricName": name, "Dimensions": SERVICE_DIMENSION},
        "Period": 60,
        "Stat": statistic,
    }


def test_a_backlog_that_would_outlive_a_hook_alarms_an_hour_ahead(synthesized: Synthesized) -> None:
    properties = alarm(synthesized, "BacklogWillOutliveHooks")

    # Any report in the last 20 minutes (a run's reports can be that far apart); none at all is healthy.
    assert fires_when(properties) == ("LessThanThreshold", 3600, 20, 1, "notBreaching")
    (query,) = properties["Metrics"]
    assert query["MetricStat"] == custom(metric_names.HOOK_HEADROOM_SECONDS, "Minimum")


def test_a_launch_waiting_half_an_hour_alarms(synthesized: Synthesized) -> None:
    properties = alarm(synthesized, "BacklogGrowing")

    assert fires_when(properties) == ("GreaterThanThreshold", 1800, 20, 1, "notBreaching")
    (query,) = properties["Metrics"]
    assert query["MetricStat"] == custom(metric_names.OLDEST_WAITING_SECONDS, "Maximum")


def test_drainer_errors_alarm_after_three_failing_periods_of_5_minutes(synthesized: Synthesized) -> None:
    properties = alarm(synthesized, "DrainerErrors")

    assert fires_when(properties) == ("GreaterThanThreshold", 0, 3, 3, "notBreaching")
    assert (properties["Namespace"], properties["MetricName"], properties["Statistic"], properties["Period"]) == (
        "AWS/Lambda",
        "Errors",
        "Sum",
        300,
    )
    assert properties["Dimensions"] == [
        {"Name": "FunctionName", "Value": synthesized.ref("AWS::Lambda::Function", "Drainer")}
    ]


def test_a_drainer_that_stopped_running_alarms_after_20_minutes(synthesized: Synthesized) -> None:
    properties = alarm(synthesized, "DrainerNotRunning")

    # Longer than one run (15 minutes, the minute's ticks throttled behind it) and the tick after it.
    assert fires_when(properties) == ("LessThanThreshold", 1, 4, 4, "breaching")
    assert (properties["Namespace"], properties["MetricName"], properties["Statistic"], properties["Period"]) == (
        "AWS/Lambda",
        "Invocations",
        "Sum",
        300,
    )
    assert properties["Dimensions"] == [
        {"Name": "FunctionName", "Value": synthesized.ref("AWS::Lambda::Function", "Drainer")}
    ]


def test_the_drainer_s_alarms_stay_without_the_tracker(customized: Synthesized) -> None:
    for name in ("BacklogWillOutliveHooks", "BacklogGrowing", "DrainerErrors", "DrainerNotRunning", "DispatchRejected"):
        alarm(customized, name)


# --- Dashboard and output -----------------------------------------------------------------------------


def test_dashboard_has_a_github_budget_row(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.resources("AWS::CloudWatch::Dashboard").values()
    body = "".join(part for part in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1] if isinstance(part, str))

    for title in (
        "GitHub budget: launch queue",
        "GitHub budget: wait (s)",
        "GitHub budget: hook headroom (s)",
        "GitHub budget: refusals",
        "Drainer invocations",
        "GitHub budget alarms",
    ):
        assert f'"title":"{title}"' in body
    for name, options in [
        (metric_names.LAUNCHES_WAITING, '"label":"waiting","period":60,"stat":"Maximum"'),
        (metric_names.QUEUED_FOR_BUDGET, '"label":"queued by the dispatcher","period":60,"stat":"Sum"'),
        (metric_names.DRAINED, '"label":"sent by the drainer","period":60,"stat":"Sum"'),
        (metric_names.OLDEST_WAITING_SECONDS, '"label":"oldest wait","period":60,"stat":"Maximum"'),
        (metric_names.EXPECTED_DRAIN_SECONDS, '"label":"expected drain","period":60,"stat":"Maximum"'),
        (metric_names.HOOK_HEADROOM_SECONDS, '"label":"least headroom","period":60,"stat":"Minimum"'),
        (metric_names.RATE_LIMITED, '"label":"rate limited","period":60,"stat":"Sum"'),
        (metric_names.RATE_LIMIT_WAITS, '"label":"drainer paused everyone","period":60,"stat":"Sum"'),
        (metric_names.REQUEUED, '"label":"put back in the queue","period":60,"stat":"Sum"'),
    ]:
        assert f'"{metric_names.NAMESPACE}","{name}","service","{metric_names.SERVICE}",{{{options}}}' in body, name
    assert '{"value":3600,"label":"BacklogWillOutliveHooks","yAxis":"left"}' in body
    assert '{"value":1800,"label":"BacklogGrowing","yAxis":"left"}' in body


def test_drainer_function_name_is_an_output(synthesized: Synthesized) -> None:
    assert synthesized.template_json["Outputs"]["DrainerFunctionName"] == {
        "Value": synthesized.ref("AWS::Lambda::Function", "Drainer")
    }
