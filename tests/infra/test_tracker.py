"""The tracker: its function, schedule, permissions, alarms and dashboard row, with defaults and with asgNames."""

from typing import Any

import pytest
from aws_cdk.assertions import Annotations, Match

from deploy_trigger import metric_names
from deploy_trigger.ledger.schema import TRACKING_INDEX
from deploy_trigger.settings import TrackerSettings
from tests.infra.synthesis import (
    REQUIRED_CONTEXT,
    SECRET_READ_STATEMENT,
    SERVICE_DIMENSION,
    TRACKER_CONTEXT,
    Synthesized,
    synthesize,
    synthesize_template,
)


@pytest.fixture(scope="module")
def scoped(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """asgNames set and every tracker key changed."""
    return synthesize_template(TRACKER_CONTEXT, tmp_path_factory.mktemp("cdk.out"))


def tracker(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties("AWS::Lambda::Function", "Tracker")


# --- Function -----------------------------------------------------------------------------------------


def test_tracker_runtime_sizing_and_handler(synthesized: Synthesized) -> None:
    properties = tracker(synthesized)

    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == "deploy_trigger.handler.tracker_handler"
    assert properties["Timeout"] == 60
    assert properties["MemorySize"] == 256
    assert properties["ReservedConcurrentExecutions"] == 1  # passes never overlap
    assert properties["TracingConfig"] == {"Mode": "Active"}


def test_tracker_runs_the_dispatcher_s_asset(synthesized: Synthesized) -> None:
    dispatcher = synthesized.properties("AWS::Lambda::Function", "Dispatcher")

    assert tracker(synthesized)["Code"] == dispatcher["Code"]


def test_tracker_logs_to_its_own_log_group_for_a_month(synthesized: Synthesized) -> None:
    assert synthesized.properties("AWS::Logs::LogGroup", "Tracker") == {"RetentionInDays": 30}
    assert tracker(synthesized)["LoggingConfig"] == {"LogGroup": synthesized.ref("AWS::Logs::LogGroup", "Tracker")}


# --- Environment --------------------------------------------------------------------------------------


def test_environment_sets_every_variable_the_tracker_settings_read(synthesized: Synthesized) -> None:
    variables = tracker(synthesized)["Environment"]["Variables"]

    assert set(TrackerSettings.ENVIRONMENT) <= set(variables), set(TrackerSettings.ENVIRONMENT) - set(variables)
    assert set(variables) - set(TrackerSettings.ENVIRONMENT) == {"POWERTOOLS_LOG_LEVEL"}


def test_environment_values(synthesized: Synthesized) -> None:
    assert tracker(synthesized)["Environment"]["Variables"] == {
        "LEDGER_TABLE_NAME": synthesized.ref("AWS::DynamoDB::Table", "Ledger"),
        "GITHUB_REPOSITORY": "example-org/example-app",
        "GITHUB_WORKFLOW": "deploy.yml",
        "GITHUB_CREDENTIALS_SECRET": "deploy-trigger/github",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_API_VERSION": "2026-03-10",
        "ALERT_TOPIC_ARN": synthesized.ref("AWS::SNS::Topic", "AlarmTopic"),
        "RUN_APPEAR_TIMEOUT_SECONDS": "600",
        "HEARTBEAT_INTERVAL_SECONDS": "300",
        "MAX_DEPLOY_SECONDS": "3600",
        "CHECK_INTERVAL_SECONDS": "60",
        "DISPATCHER_FUNCTION_NAME": synthesized.ref("AWS::Lambda::Function", "Dispatcher"),
        "ALLOWED_ASG_NAMES": "",
        "LIFECYCLE_HOOK_NAME": "deploy-trigger-launch",
        "LAUNCH_DETAIL_TYPE": "EC2 Instance-launch Lifecycle Action",  # the sweep's shape: the mode's events
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_environment_follows_the_context(scoped: Synthesized) -> None:
    variables = tracker(scoped)["Environment"]["Variables"]

    assert variables["RUN_APPEAR_TIMEOUT_SECONDS"] == "900"
    assert variables["HEARTBEAT_INTERVAL_SECONDS"] == "600"
    assert variables["MAX_DEPLOY_SECONDS"] == "7200"
    assert variables["ALLOWED_ASG_NAMES"] == "web-asg,worker-asg"  # the sweep looks at these groups only


@pytest.mark.parametrize("fixture", ["synthesized", "scoped"])
def test_environment_is_accepted_by_the_tracker_settings(request: pytest.FixtureRequest, fixture: str) -> None:
    variables = dict(tracker(request.getfixturevalue(fixture))["Environment"]["Variables"])
    # Tokens in the template; a name and an ARN once deployed.
    variables["LEDGER_TABLE_NAME"] = "deploy-trigger-ledger"
    variables["ALERT_TOPIC_ARN"] = "arn:aws:sns:eu-west-1:111122223333:alarms"
    variables["DISPATCHER_FUNCTION_NAME"] = "deploy-trigger-dispatcher"

    settings = TrackerSettings.from_env({**variables, "AWS_REGION": "eu-west-1"})

    assert settings.check_interval_seconds == 60
    assert settings.alert_topic_arn == "arn:aws:sns:eu-west-1:111122223333:alarms"
    assert settings.dispatcher_function_name == "deploy-trigger-dispatcher"


# --- IAM ----------------------------------------------------------------------------------------------


def _lifecycle_arn(group: str) -> dict[str, Any]:
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":autoscaling:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":autoScalingGroup:*:autoScalingGroupName/{group}",
            ],
        ]
    }


def expected_statements(synthesized: Synthesized, lifecycle_resources: object) -> list[dict[str, Any]]:
    return [
        {
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Effect": "Allow",
            "Resource": synthesized.arn("AWS::Logs::LogGroup", "Tracker"),
        },
        {"Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "Effect": "Allow", "Resource": "*"},
        {"Action": "sns:Publish", "Effect": "Allow", "Resource": synthesized.ref("AWS::SNS::Topic", "AlarmTopic")},
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Effect": "Allow",
            "Resource": synthesized.arn("AWS::KMS::Key", "TopicKey"),
        },
        {
            "Action": ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"],
            "Effect": "Allow",
            "Resource": lifecycle_resources,
        },
        {
            # None of the three supports resource-level permissions.
            "Action": [
                "autoscaling:DescribeAutoScalingInstances",
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeLifecycleHooks",
            ],
            "Effect": "Allow",
            "Resource": "*",
        },
        *sweep_and_ledger_statements(synthesized),
    ]


def sweep_and_ledger_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    """The statements every mode's tracker ends with: the sweep's way to the dispatcher, the ledger, the secret."""
    table = synthesized.arn("AWS::DynamoDB::Table", "Ledger")
    return [
        {
            # The sweep's one way to the dispatcher: the unqualified function, asynchronously.
            "Action": "lambda:InvokeFunction",
            "Effect": "Allow",
            "Resource": synthesized.arn("AWS::Lambda::Function", "Dispatcher"),
        },
        {
            "Action": "dynamodb:Query",
            "Effect": "Allow",
            "Resource": {"Fn::Join": ["", [table, f"/index/{TRACKING_INDEX}"]]},
        },
        # BatchGetItem: which instances the ledger knows. UpdateItem also records the sweep's reference item.
        {"Action": ["dynamodb:UpdateItem", "dynamodb:BatchGetItem"], "Effect": "Allow", "Resource": table},
        SECRET_READ_STATEMENT,
    ]


def test_tracker_role_has_exactly_its_permissions_on_any_group_without_asg_names(synthesized: Synthesized) -> None:
    assert synthesized.role_statements("Tracker") == expected_statements(synthesized, _lifecycle_arn("*"))


def test_tracker_role_has_exactly_its_permissions_on_the_named_groups(scoped: Synthesized) -> None:
    assert scoped.role_statements("Tracker") == expected_statements(
        scoped, [_lifecycle_arn("web-asg"), _lifecycle_arn("worker-asg")]
    )


def test_tracker_role_has_no_managed_policy(synthesized: Synthesized) -> None:
    role = synthesized.properties("AWS::IAM::Role", "Tracker")

    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}}
    ]


@pytest.mark.parametrize(
    ("fixture", "resources"),
    [
        ("synthesized", ["autoScalingGroupName/*"]),
        ("scoped", ["autoScalingGroupName/web-asg", "autoScalingGroupName/worker-asg"]),
    ],
)
def test_the_lifecycle_wildcards_are_suppressed_by_name_with_their_own_reason(
    request: pytest.FixtureRequest, fixture: str, resources: list[str]
) -> None:
    synthesized: Synthesized = request.getfixturevalue(fixture)
    role_id = synthesized.logical_id("AWS::IAM::Role", "Tracker")
    rules = synthesized.resources("AWS::IAM::Role")[role_id]["Metadata"]["cdk_nag"]["rules_to_suppress"]
    prefix = "Resource::arn:<AWS::Partition>:autoscaling:<AWS::Region>:<AWS::AccountId>:autoScalingGroup:*:"

    lifecycle = [rule for rule in rules if any("autoscaling" in entry for entry in rule["applies_to"])]

    assert [rule["applies_to"] for rule in lifecycle] == [[prefix + resource for resource in resources]]
    assert lifecycle[0]["id"] == "AwsSolutions-IAM5"
    assert "asgNames" in lifecycle[0]["reason"]


def test_the_describe_wildcard_is_suppressed_with_the_reason_of_each_call(synthesized: Synthesized) -> None:
    role_id = synthesized.logical_id("AWS::IAM::Role", "Tracker")
    rules = synthesized.resources("AWS::IAM::Role")[role_id]["Metadata"]["cdk_nag"]["rules_to_suppress"]

    (describe,) = [rule for rule in rules if "autoscaling" in rule["reason"] or "Describe" in rule["reason"]]

    assert describe["applies_to"] == ["Resource::*"]

    for call in ("DescribeAutoScalingInstances", "DescribeAutoScalingGroups", "DescribeLifecycleHooks"):
        assert call in describe["reason"]


# --- Alarms -------------------------------------------------------------------------------------------


def alarm(synthesized: Synthesized, name: str) -> dict[str, Any]:
    properties = synthesized.properties("AWS::CloudWatch::Alarm", f"Monitoring{name}")
    topic = synthesized.ref("AWS::SNS::Topic", "AlarmTopic")
    assert properties["AlarmActions"] == [topic]
    assert properties["OKActions"] == [topic]
    return properties


def fires_when(properties: dict[str, Any]) -> tuple[object, ...]:
    """An alarm's trigger: (comparison, threshold, evaluation periods, what missing data counts as)."""
    return tuple(
        properties[key] for key in ("ComparisonOperator", "Threshold", "EvaluationPeriods", "TreatMissingData")
    )


def custom(name: str, period: int) -> dict[str, Any]:
    return {
        "Metric": {"Namespace": metric_names.NAMESPACE, "MetricName": name, "Dimensions": SERVICE_DIMENSION},
        "Period": period,
        "Stat": "Sum",
    }


def test_failed_deployments_alarm_on_the_first_one_in_5_minutes(synthesized: Synthesized) -> None:
    properties = alarm(synthesized, "DeploymentsFailed")
    queries = {query["Id"]: query for query in properties["Metrics"]}

    assert fires_when(properties) == ("GreaterThanThreshold", 0, 1, "notBreaching")
    assert [q["Expression"] for q in properties["Metrics"] if q["ReturnData"]] == [
        "FILL(failed, 0) + FILL(noRun, 0) + FILL(stuck, 0)"
    ]
    assert queries["failed"]["MetricStat"] == custom(metric_names.DEPLOY_FAILED, 300)
    assert queries["noRun"]["MetricStat"] == custom(metric_names.DEPLOY_NO_RUN, 300)
    assert queries["stuck"]["MetricStat"] == custom(metric_names.DEPLOY_STUCK, 300)


@pytest.mark.parametrize(("fixture", "threshold"), [("synthesized", 3), ("scoped", 5)])
def test_a_crash_looping_group_alarms_on_abandoned_launches_within_15_minutes(
    request: pytest.FixtureRequest, fixture: str, threshold: int
) -> None:
    properties = alarm(request.getfixturevalue(fixture), "CrashLoop")

    assert fires_when(properties) == ("GreaterThanOrEqualToThreshold", threshold, 1, "notBreaching")
    (query,) = properties["Metrics"]
    assert query["MetricStat"] == custom(metric_names.LIFECYCLE_ABANDONED, 900)
    assert "EvaluationWindow" not in properties  # the default sliding window: any 15 minutes, not clock-aligned


def test_tracker_errors_alarm_after_three_failing_periods_of_5_minutes(synthesized: Synthesized) -> None:
    properties = alarm(synthesized, "TrackerErrors")
    queries = {query["Id"]: query for query in properties["Metrics"]}

    assert fires_when(properties) == ("GreaterThanThreshold", 0, 3, "notBreaching")
    assert properties["DatapointsToAlarm"] == 3
    assert [q["Expression"] for q in properties["Metrics"] if q["ReturnData"]] == [
        "FILL(invocationErrors, 0) + FILL(checkErrors, 0)"
    ]
    assert queries["invocationErrors"]["MetricStat"] == {
        "Metric": {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": [{"Name": "FunctionName", "Value": synthesized.ref("AWS::Lambda::Function", "Tracker")}],
        },
        "Period": 300,
        "Stat": "Sum",
    }
    assert queries["checkErrors"]["MetricStat"] == custom(metric_names.TRACKER_ERRORS, 300)


def test_a_tracker_that_stopped_running_alarms_and_no_data_counts_as_stopped(synthesized: Synthesized) -> None:
    properties = alarm(synthesized, "TrackerNotRunning")

    assert properties["Namespace"] == "AWS/Lambda"
    assert properties["MetricName"] == "Invocations"
    assert properties["Dimensions"] == [
        {"Name": "FunctionName", "Value": synthesized.ref("AWS::Lambda::Function", "Tracker")}
    ]
    assert properties["Statistic"] == "Sum"
    assert properties["Period"] == 300
    assert fires_when(properties) == ("LessThanThreshold", 1, 1, "breaching")


# --- Dashboard and outputs ----------------------------------------------------------------------------


def dashboard_body(synthesized: Synthesized) -> str:
    (dashboard,) = synthesized.resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    return "".join(part for part in parts if isinstance(part, str))


def test_dashboard_shows_outcomes_lifecycle_results_duration_and_backlog(synthesized: Synthesized) -> None:
    body = dashboard_body(synthesized)

    for title in (
        "Deploy outcomes",
        "Lifecycle results",
        "Deploy duration (s)",
        "Tracker backlog (entries due per pass)",
        "Tracker alarms",
    ):
        assert f'"title":"{title}"' in body
    for name, label in [
        (metric_names.DEPLOY_SUCCEEDED, "succeeded"),
        (metric_names.DEPLOY_FAILED, "failed"),
        (metric_names.DEPLOY_NO_RUN, "no run"),
        (metric_names.DEPLOY_STUCK, "stuck"),
        (metric_names.LIFECYCLE_CONTINUED, "continued"),
        (metric_names.LIFECYCLE_ABANDONED, "abandoned"),
        (metric_names.LIFECYCLE_ALREADY_ENDED, "already ended"),
    ]:
        assert f'"{metric_names.NAMESPACE}","{name}","service","{metric_names.SERVICE}",{{"label":"{label}"' in body
    duration = f'"{metric_names.NAMESPACE}","{metric_names.DEPLOY_DURATION}","service","{metric_names.SERVICE}"'
    assert f'{duration},{{"label":"p50","stat":"p50"}}' in body
    assert f'{duration},{{"label":"p99","stat":"p99"}}' in body
    backlog = f'"{metric_names.NAMESPACE}","{metric_names.TRACKER_BACKLOG}","service","{metric_names.SERVICE}"'
    assert f'{backlog},{{"label":"due, worst pass","stat":"Maximum"}}' in body


def test_tracker_function_name_is_an_output(synthesized: Synthesized) -> None:
    assert synthesized.template_json["Outputs"]["TrackerFunctionName"] == {
        "Value": synthesized.ref("AWS::Lambda::Function", "Tracker")
    }


def test_unreserved_concurrency_leaves_the_tracker_unreserved_too(tmp_path_factory: pytest.TempPathFactory) -> None:
    # An account that cannot reserve concurrency for the dispatcher cannot reserve the tracker's slot either.
    synthesized = synthesize_template(
        {**REQUIRED_CONTEXT, "reservedConcurrency": "unreserved"}, tmp_path_factory.mktemp("cdk.out")
    )

    assert "ReservedConcurrentExecutions" not in tracker(synthesized)


@pytest.fixture(scope="module")
def launch_successful(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(
        {**REQUIRED_CONTEXT, "mode": "launch-successful"}, tmp_path_factory.mktemp("cdk.out"), bundle=False
    )


def test_launch_successful_mode_tracks_alerts_and_sweeps_but_completes_no_lifecycle_action(
    launch_successful: Synthesized,
) -> None:
    # No launch has a hook in this mode: the tracker records outcomes and alerts, and sweeps for lost launches in
    # service (their groups, when each launched, the ledger, the dispatcher). No lifecycle call, no hook read.
    synthesized = launch_successful

    assert synthesized.role_statements("Tracker") == [
        *expected_statements(synthesized, None)[:4],
        {
            # Neither supports resource-level permissions.
            "Action": ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"],
            "Effect": "Allow",
            "Resource": "*",
        },
        *sweep_and_ledger_statements(synthesized),
    ]
    variables = tracker(synthesized)["Environment"]["Variables"]
    assert variables["DISPATCHER_FUNCTION_NAME"] == synthesized.ref("AWS::Lambda::Function", "Dispatcher")
    assert variables["LAUNCH_DETAIL_TYPE"] == "EC2 Instance Launch Successful"
    assert synthesized.properties("AWS::Events::Rule", "TrackerSchedule")["ScheduleExpression"] == "rate(1 minute)"


def test_launch_successful_mode_suppresses_only_the_sweeps_wildcard_with_its_reason(
    launch_successful: Synthesized,
) -> None:
    synthesized = launch_successful
    role_id = synthesized.logical_id("AWS::IAM::Role", "Tracker")
    rules = synthesized.resources("AWS::IAM::Role")[role_id]["Metadata"]["cdk_nag"]["rules_to_suppress"]

    assert not [r for r in rules if "autoscaling" in str(r["applies_to"])]  # no lifecycle action, no group ARN
    (describe,) = [rule for rule in rules if "Describe" in rule["reason"]]
    assert describe["applies_to"] == ["Resource::*"]
    assert describe["id"] == "AwsSolutions-IAM5"
    for call in ("DescribeAutoScalingGroups", "ec2:DescribeInstances"):
        assert call in describe["reason"]
    assert "DescribeLifecycleHooks" not in describe["reason"]
    annotations = Annotations.from_stack(synthesized.stack)  # cdk-nag passes with exactly these suppressions
    assert annotations.find_error("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.any_value()) == []
