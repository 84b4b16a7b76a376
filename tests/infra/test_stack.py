"""The stack with only the required context: the values that make dispatches happen once and failures visible."""

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Match

from deploy_trigger import metric_names, stack_outputs
from deploy_trigger.ledger.schema import (
    BUDGET_KEY,
    TABLE_DEFINITION,
    TRACKING_INDEX,
    TRACKING_KEY,
    TRACKING_SORT_KEY,
)
from deploy_trigger.settings import Settings
from tests.infra.synthesis import (
    REQUIRED_CONTEXT,
    SECRET_READ_STATEMENT,
    SERVICE_DIMENSION,
    Synthesized,
    secret_arn,
    synthesize,
)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(REQUIRED_CONTEXT, tmp_path_factory.mktemp("cdk.out"))


def only(resources: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    assert len(resources) == 1, sorted(resources)
    return next(iter(resources.items()))


def logical_id(synthesized: Synthesized, resource_type: str, path_part: str) -> str:
    return synthesized.logical_id(resource_type, path_part)


def function(synthesized: Synthesized) -> dict[str, Any]:
    """The dispatcher's properties (the tracker has its own tests, in test_tracker.py)."""
    return synthesized.properties("AWS::Lambda::Function", "Dispatcher")


def statements(synthesized: Synthesized) -> Iterator[dict[str, Any]]:
    """Every statement of every role (dispatcher and tracker)."""
    for policy in synthesized.resources("AWS::IAM::Policy").values():
        yield from policy["Properties"]["PolicyDocument"]["Statement"]


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


# --- EventBridge rule ---------------------------------------------------------------------------------


def test_rule_matches_lifecycle_actions_from_any_group(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "State": "ENABLED",
            "EventPattern": {"source": ["aws.autoscaling"], "detail-type": ["EC2 Instance-launch Lifecycle Action"]},
        },
    )
    assert "detail" not in synthesized.properties("AWS::Events::Rule", "LaunchEvents")["EventPattern"]


def test_rule_targets_the_dispatcher_with_retries_and_a_dead_letter_queue(synthesized: Synthesized) -> None:
    dispatcher = logical_id(synthesized, "AWS::Lambda::Function", "Dispatcher")
    delivery_queue = logical_id(synthesized, "AWS::SQS::Queue", "DeliveryDeadLetters")

    synthesized.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "Targets": [
                {
                    "Arn": {"Fn::GetAtt": [dispatcher, "Arn"]},
                    "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 21600},
                    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [delivery_queue, "Arn"]}},
                }
            ]
        },
    )


def test_only_this_rule_may_send_to_the_delivery_dead_letter_queue(synthesized: Synthesized) -> None:
    rule = logical_id(synthesized, "AWS::Events::Rule", "LaunchEvents")
    delivery_queue = logical_id(synthesized, "AWS::SQS::Queue", "DeliveryDeadLetters")

    synthesized.template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": delivery_queue}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        {
                            "Action": "sqs:SendMessage",
                            "Effect": "Allow",
                            "Principal": {"Service": "events.amazonaws.com"},
                            "Condition": {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule, "Arn"]}}},
                            "Resource": {"Fn::GetAtt": [delivery_queue, "Arn"]},
                            "Sid": Match.any_value(),
                        }
                    ]
                )
            },
        },
    )


# --- Dispatcher function ------------------------------------------------------------------------------


def test_dispatcher_runtime_and_sizing(synthesized: Synthesized) -> None:
    properties = function(synthesized)

    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["arm64"]
    assert properties["Handler"] == "deploy_trigger.handler.handler"
    assert properties["Timeout"] == 30
    assert properties["MemorySize"] == 256
    assert properties["ReservedConcurrentExecutions"] == 5
    assert properties["TracingConfig"] == {"Mode": "Active"}


def test_dispatcher_logs_to_its_own_log_group_with_explicit_retention(synthesized: Synthesized) -> None:
    log_group = logical_id(synthesized, "AWS::Logs::LogGroup", "Dispatcher")

    synthesized.template.has_resource("AWS::Logs::LogGroup", {"Properties": {"RetentionInDays": 90}})
    assert function(synthesized)["LoggingConfig"] == {"LogGroup": {"Ref": log_group}}


def test_async_invocations_retry_twice_for_six_hours_then_go_to_the_failure_queue(synthesized: Synthesized) -> None:
    dispatcher = logical_id(synthesized, "AWS::Lambda::Function", "Dispatcher")
    failure_queue = logical_id(synthesized, "AWS::SQS::Queue", "FailureDeadLetters")

    synthesized.template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": dispatcher},
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 21600,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [failure_queue, "Arn"]}}},
        },
    )


def test_environment_sets_every_variable_the_settings_model_reads(synthesized: Synthesized) -> None:
    variables = function(synthesized)["Environment"]["Variables"]
    # An opt-in mode's variable is written only when the mode is on, and every mode is off here.
    expected = set(Settings.ENVIRONMENT) - Settings.OPT_IN

    assert expected <= set(variables), expected - set(variables)
    assert not Settings.OPT_IN & set(variables)
    extra = set(variables) - set(Settings.ENVIRONMENT)
    assert extra == {"POWERTOOLS_LOG_LEVEL"}


def test_environment_values(synthesized: Synthesized) -> None:
    table = logical_id(synthesized, "AWS::DynamoDB::Table", "Ledger")

    assert function(synthesized)["Environment"]["Variables"] == {
        "LEDGER_TABLE_NAME": {"Ref": table},
        "GITHUB_REPOSITORY": "example-org/example-app",
        "GITHUB_WORKFLOW": "deploy.yml",
        "GITHUB_REF": "main",
        "GITHUB_CREDENTIALS_SECRET": "deploy-trigger/github",
        "GITHUB_API_URL": "https://api.github.com",
        "GITHUB_API_VERSION": "2026-03-10",
        "ALLOWED_ASG_NAMES": "",
        "WORKFLOW_EXTRA_INPUTS": "{}",
        "LEASE_MARGIN_SECONDS": "5",
        "LIFECYCLE_HOOK_NAME": "deploy-trigger-launch",
        "RUN_LISTING_DELAY_SECONDS": "10",
        "GITHUB_MUTATION_INTERVAL_SECONDS": "1",
        # The dispatcher wakes the drainer when it parks a launch for GitHub budget.
        "DRAINER_FUNCTION_NAME": {"Ref": logical_id(synthesized, "AWS::Lambda::Function", "Drainer")},
        "HOOK_GLOBAL_TIMEOUT_SECONDS": "90000",  # 100 x the hook's 900 s heartbeat timeout
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_environment_is_accepted_by_the_settings_model(synthesized: Synthesized) -> None:
    variables = dict(function(synthesized)["Environment"]["Variables"])
    # Tokens in the template; names once deployed.
    variables["LEDGER_TABLE_NAME"] = "deploy-trigger-ledger"
    variables["DRAINER_FUNCTION_NAME"] = "deploy-trigger-drainer"

    settings = Settings.from_env({**variables, "AWS_REGION": "eu-west-1"})

    assert settings.github.repository == "example-org/example-app"
    assert settings.allowed_asg_names == frozenset()
    assert settings.lease_margin_seconds == 5.0
    assert settings.drainer_function_name == "deploy-trigger-drainer"


# --- Ledger -------------------------------------------------------------------------------------------


def test_ledger_table_shape(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "KeySchema": [{"AttributeName": "instance_id", "KeyType": "HASH"}],
            "BillingMode": "PAY_PER_REQUEST",
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "SSESpecification": {"SSEEnabled": True},
        },
    )
    _, table = only(synthesized.resources("AWS::DynamoDB::Table"))
    assert "SSEType" not in table["Properties"]["SSESpecification"]  # KMS with the AWS managed key


def test_the_synthesized_table_is_the_ledgers_table_definition(synthesized: Synthesized) -> None:
    """The stand-ins and the tests create their tables from the same definition (drill.aws_resources)."""
    _, table = only(synthesized.resources("AWS::DynamoDB::Table"))
    properties = table["Properties"]

    for key in ("KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert properties[key] == TABLE_DEFINITION[key], key
    assert sorted(properties["AttributeDefinitions"], key=str) == sorted(
        TABLE_DEFINITION["AttributeDefinitions"], key=str
    )


def test_ledger_has_the_tracking_index_the_tracker_queries(synthesized: Synthesized) -> None:
    _, table = only(synthesized.resources("AWS::DynamoDB::Table"))

    assert table["Properties"]["GlobalSecondaryIndexes"] == [
        {
            "IndexName": TRACKING_INDEX,
            "KeySchema": [
                {"AttributeName": TRACKING_KEY, "KeyType": "HASH"},
                {"AttributeName": TRACKING_SORT_KEY, "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert sorted(table["Properties"]["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "instance_id", "AttributeType": "S"},
        {"AttributeName": "next_check_at", "AttributeType": "N"},
        {"AttributeName": "tracking", "AttributeType": "S"},
    ]


def test_stateful_resources_are_retained_by_default(synthesized: Synthesized) -> None:
    for resource_type in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::KMS::Key"):
        for resource in synthesized.resources(resource_type).values():
            assert resource["DeletionPolicy"] == "Retain", resource_type
            assert resource["UpdateReplacePolicy"] == "Retain", resource_type


# --- Dead-letter queues -------------------------------------------------------------------------------


def test_dead_letter_queues_are_encrypted_tls_only_and_keep_messages_14_days(synthesized: Synthesized) -> None:
    queues = synthesized.resources("AWS::SQS::Queue")
    assert len(queues) == 2
    for queue_id, queue in queues.items():
        assert queue["Properties"] == {"MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True}
        synthesized.template.has_resource_properties(
            "AWS::SQS::QueuePolicy",
            {
                "Queues": [{"Ref": queue_id}],
                "PolicyDocument": {
                    "Statement": Match.array_with(
                        [
                            {
                                "Action": "sqs:*",
                                "Effect": "Deny",
                                "Principal": {"AWS": "*"},
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                                "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
                            }
                        ]
                    )
                },
            },
        )


# --- IAM ----------------------------------------------------------------------------------------------


def test_dispatcher_role_has_exactly_the_ledger_actions_on_the_table(synthesized: Synthesized) -> None:
    table = logical_id(synthesized, "AWS::DynamoDB::Table", "Ledger")
    dynamodb = [
        s for s in synthesized.role_statements("Dispatcher") if any(a.startswith("dynamodb:") for a in actions_of(s))
    ]

    assert dynamodb == [
        {
            "Action": ["dynamodb:PutItem", "dynamodb:UpdateItem"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [table, "Arn"]},
        },
        {
            # Its one read: the shared GitHub budget item, after a rate limit, and no instance's item.
            "Action": "dynamodb:GetItem",
            "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [BUDGET_KEY]}},
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [table, "Arn"]},
        },
    ]


def test_dispatcher_may_invoke_the_drainer_and_no_other_function(synthesized: Synthesized) -> None:
    drainer = logical_id(synthesized, "AWS::Lambda::Function", "Drainer")
    invokes = [
        s for s in synthesized.role_statements("Dispatcher") if any(a.startswith("lambda:") for a in actions_of(s))
    ]

    assert invokes == [
        # Its wake-up of the drainer: the unqualified function, asynchronously.
        {"Action": "lambda:InvokeFunction", "Effect": "Allow", "Resource": {"Fn::GetAtt": [drainer, "Arn"]}}
    ]


def test_dispatcher_role_has_no_service_beyond_its_own(synthesized: Synthesized) -> None:
    services = {action.split(":")[0] for s in synthesized.role_statements("Dispatcher") for action in actions_of(s)}

    assert services == {"logs", "xray", "dynamodb", "secretsmanager", "autoscaling", "lambda", "sqs"}


def test_dispatcher_may_only_complete_lifecycle_actions_for_warm_pool_entries(synthesized: Synthesized) -> None:
    autoscaling = [
        s for s in synthesized.role_statements("Dispatcher") if any(a.startswith("autoscaling:") for a in actions_of(s))
    ]

    assert [actions_of(statement) for statement in autoscaling] == [["autoscaling:CompleteLifecycleAction"]]
    assert "autoScalingGroupName/*" in json.dumps(autoscaling[0]["Resource"])  # any group: no asgNames configured


@pytest.mark.parametrize("role", ["Dispatcher", "Drainer", "Tracker"])
def test_each_function_may_read_only_the_configured_secret(synthesized: Synthesized, role: str) -> None:
    secrets = [
        s for s in synthesized.role_statements(role) if any(a.startswith("secretsmanager:") for a in actions_of(s))
    ]

    assert secrets == [SECRET_READ_STATEMENT]


def test_kms_only_for_publishing_to_the_alarm_topic_without_a_customer_managed_secret_key(
    synthesized: Synthesized,
) -> None:
    # The tracker publishes alerts to the encrypted topic; nothing decrypts the secret (it has no own key).
    kms = [s for s in statements(synthesized) if any(a.startswith("kms:") for a in actions_of(s))]
    topic_key = logical_id(synthesized, "AWS::KMS::Key", "TopicKey")

    assert kms == [
        {
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Effect": "Allow",
            "Resource": {"Fn::GetAtt": [topic_key, "Arn"]},
        }
    ]
    assert kms[0] in synthesized.role_statements("Tracker")


TRACKER_DESCRIBES = [
    "autoscaling:DescribeAutoScalingInstances",
    "autoscaling:DescribeAutoScalingGroups",
    "autoscaling:DescribeLifecycleHooks",
]


def test_every_role_statement_names_its_actions_and_only_x_ray_and_auto_scaling_reads_have_no_resource(
    synthesized: Synthesized,
) -> None:
    for statement in statements(synthesized):
        assert statement["Effect"] == "Allow"
        # The one wildcard action: CDK's grant to publish to an encrypted topic (GenerateDataKey[WithoutPlaintext]).
        assert all("*" not in action for action in actions_of(statement) if action != "kms:GenerateDataKey*")
        if statement["Resource"] == "*":
            # X-Ray, and the tracker's Auto Scaling reads, none of which supports resource-level permissions.
            assert actions_of(statement) in (["xray:PutTraceSegments", "xray:PutTelemetryRecords"], TRACKER_DESCRIBES)
    assert not synthesized.resources("AWS::IAM::ManagedPolicy")
    roles = synthesized.resources("AWS::IAM::Role")
    assert len(roles) == 3  # dispatcher, drainer and tracker; nothing else in the stack assumes a role
    for role in roles.values():
        assert "ManagedPolicyArns" not in role["Properties"]  # no AWSLambdaBasicExecutionRole


def _all_statements(node: object) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "Effect" in node and "Action" in node:
            yield node
        for value in node.values():
            yield from _all_statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_statements(value)


def test_no_allow_statement_anywhere_has_a_bare_star_action(synthesized: Synthesized) -> None:
    allowed = [s for s in _all_statements(synthesized.template_json["Resources"]) if s["Effect"] == "Allow"]

    assert allowed
    assert all("*" not in actions_of(statement) for statement in allowed)
    # The one service-wide wildcard is the alarm topic key's standard administrator statement for the
    # account root: it delegates the key's administration to IAM in this account; no role gets it.
    service_wildcards = [s for s in allowed if any(a.endswith(":*") for a in actions_of(s))]
    assert [s["Principal"] for s in service_wildcards] == [
        {"AWS": {"Fn::Join": ["", ["arn:", {"Ref": "AWS::Partition"}, ":iam::", {"Ref": "AWS::AccountId"}, ":root"]]}}
    ]


# --- Alarms, topic, dashboard -------------------------------------------------------------------------


def alarm(synthesized: Synthesized, name: str) -> dict[str, Any]:
    return synthesized.resources("AWS::CloudWatch::Alarm")[logical_id(synthesized, "AWS::CloudWatch::Alarm", name)][
        "Properties"
    ]


def topic_ref(synthesized: Synthesized) -> dict[str, str]:
    return {"Ref": logical_id(synthesized, "AWS::SNS::Topic", "AlarmTopic")}


def assert_notifies_topic(synthesized: Synthesized, properties: dict[str, Any]) -> None:
    assert properties["AlarmActions"] == [topic_ref(synthesized)]
    assert properties["OKActions"] == [topic_ref(synthesized)]
    assert properties["TreatMissingData"] == "notBreaching"
    assert properties["ComparisonOperator"] == "GreaterThanThreshold"
    assert properties["Threshold"] == 0


@pytest.mark.parametrize("queue", ["DeliveryDeadLetters", "FailureDeadLetters"])
def test_any_message_in_a_dead_letter_queue_alarms(synthesized: Synthesized, queue: str) -> None:
    properties = alarm(synthesized, f"{queue}NotEmpty")

    assert_notifies_topic(synthesized, properties)
    assert properties["Namespace"] == "AWS/SQS"
    assert properties["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert properties["Statistic"] == "Maximum"
    assert properties["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": [logical_id(synthesized, "AWS::SQS::Queue", queue), "QueueName"]}}
    ]


@pytest.mark.parametrize(("name", "metric"), [("DispatcherErrors", "Errors"), ("DispatcherThrottles", "Throttles")])
def test_dispatcher_errors_and_throttles_alarm(synthesized: Synthesized, name: str, metric: str) -> None:
    properties = alarm(synthesized, name)

    assert_notifies_topic(synthesized, properties)
    assert properties["Namespace"] == "AWS/Lambda"
    assert properties["MetricName"] == metric
    assert properties["Statistic"] == "Sum"
    assert properties["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": logical_id(synthesized, "AWS::Lambda::Function", "Dispatcher")}}
    ]


def test_a_dispatch_rejected_by_github_alarms(synthesized: Synthesized) -> None:
    properties = alarm(synthesized, "DispatchRejected")

    assert_notifies_topic(synthesized, properties)
    assert properties["EvaluationPeriods"] == 1
    assert properties["Metrics"] == [
        {
            "Id": "m1",
            "Label": metric_names.DISPATCH_REJECTED,
            "MetricStat": {
                "Metric": {
                    "Namespace": metric_names.NAMESPACE,
                    "MetricName": metric_names.DISPATCH_REJECTED,
                    "Dimensions": SERVICE_DIMENSION,
                },
                "Period": 60,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
    ]


def test_an_outcome_unknown_that_nothing_reconciled_alarms(synthesized: Synthesized) -> None:
    properties = alarm(synthesized, "OutcomeUnknownUnresolved")

    assert_notifies_topic(synthesized, properties)
    (query,) = properties["Metrics"]
    assert query["MetricStat"] == {
        "Metric": {
            "Namespace": metric_names.NAMESPACE,
            "MetricName": metric_names.UNRESOLVED_OUTCOMES,
            "Dimensions": SERVICE_DIMENSION,
        },
        "Period": 300,
        "Stat": "Maximum",  # a gauge: the tracker reports the current count every pass
    }
    assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanThreshold", 0)
    assert properties["TreatMissingData"] == "notBreaching"


def test_every_alarm_is_built_from_the_monitoring_specs(synthesized: Synthesized) -> None:
    alarm_ids = list(synthesized.stack.service.monitoring.alarms)

    assert len(alarm_ids) == len(synthesized.resources("AWS::CloudWatch::Alarm")) == 14
    for alarm_id in alarm_ids:
        logical_id(synthesized, "AWS::CloudWatch::Alarm", f"Monitoring{alarm_id}")  # exactly one each


def test_every_alarm_is_on_an_alarm_widget_of_the_dashboard(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.resources("AWS::CloudWatch::Dashboard").values()
    parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"][1]
    referenced = {part["Fn::GetAtt"][0] for part in parts if isinstance(part, dict) and "Fn::GetAtt" in part}

    assert set(synthesized.resources("AWS::CloudWatch::Alarm")) <= referenced


def test_the_readme_says_what_to_do_for_every_alarm(synthesized: Synthesized) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    start = readme.index("### Alarms and what to do")
    section = readme[start : readme.index("\n## ", start)]

    unnamed = [name for name in synthesized.stack.service.monitoring.alarms if not re.search(rf"\b{name}\b", section)]
    assert unnamed == []


def test_alarm_topic_is_encrypted_tls_only_and_has_no_subscription(synthesized: Synthesized) -> None:
    key = logical_id(synthesized, "AWS::KMS::Key", "TopicKey")

    synthesized.template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]}})
    synthesized.template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})
    synthesized.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )
    assert not synthesized.resources("AWS::SNS::Subscription")


def test_cloudwatch_may_publish_to_the_encrypted_topic(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::KMS::Key",
        {
            "KeyPolicy": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                            }
                        )
                    ]
                )
            }
        },
    )
    synthesized.template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": "sns:Publish",
                            }
                        )
                    ]
                )
            }
        },
    )


def test_dashboard_marks_the_timeout_on_the_duration_graph(synthesized: Synthesized) -> None:
    _, dashboard = only(synthesized.resources("AWS::CloudWatch::Dashboard"))
    body = "".join(part for part in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1] if isinstance(part, str))

    assert '"annotations":{"horizontal":[{"value":30000,"label":"timeout","yAxis":"left"}]}' in body
    for title in ("Dispatches", "Duplicates suppressed", "Failures", "Dead-letter queue depth"):
        assert f'"title":"{title}"' in body
    assert '"stat":"p50"' in body
    assert '"stat":"p99"' in body
    for name in (
        metric_names.DISPATCHED,
        metric_names.DUPLICATE_SUPPRESSED,
        metric_names.DISPATCH_REJECTED,
        metric_names.OUTCOME_UNKNOWN,
        metric_names.EVENT_REJECTED,
    ):
        assert f'"{metric_names.NAMESPACE}","{name}","service","{metric_names.SERVICE}"' in body
    sweep = f'"{metric_names.NAMESPACE}","{metric_names.LAUNCHES_FOUND_BY_SWEEP}","service","{metric_names.SERVICE}"'
    assert f'{sweep},{{"label":"found by the sweep"' in body


# --- Outputs ------------------------------------------------------------------------------------------


def test_outputs_have_exactly_the_keys_the_operator_cli_and_an_operator_read(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]

    # The CLI's keys are spelled out in tests/cli/test_cli_basics.py.
    assert set(outputs) == {
        *stack_outputs.CLI_KEYS,
        "AlarmTopicArn",
        "DashboardName",
        "TrackerFunctionName",
        "DrainerFunctionName",
    }


def test_output_values(synthesized: Synthesized) -> None:
    outputs = {key: value["Value"] for key, value in synthesized.template_json["Outputs"].items()}

    def ref(resource_type: str, path_part: str) -> dict[str, str]:
        return {"Ref": logical_id(synthesized, resource_type, path_part)}

    assert outputs == {
        "LedgerTableName": ref("AWS::DynamoDB::Table", "Ledger"),
        "DispatcherFunctionName": ref("AWS::Lambda::Function", "Dispatcher"),
        "DeliveryDlqUrl": ref("AWS::SQS::Queue", "DeliveryDeadLetters"),  # a queue's Ref is its URL
        "FailureDlqUrl": ref("AWS::SQS::Queue", "FailureDeadLetters"),
        "EventRuleName": ref("AWS::Events::Rule", "LaunchEvents"),
        # The secret's partial ARN (a name given): what the dispatcher is granted, minus the suffix wildcard.
        "CredentialsSecretArn": secret_arn("deploy-trigger/github"),
        "GithubRepository": "example-org/example-app",
        "GithubWorkflow": "deploy.yml",
        "GithubRef": "main",
        "AlarmTopicArn": ref("AWS::SNS::Topic", "AlarmTopic"),
        "DashboardName": ref("AWS::CloudWatch::Dashboard", "Dashboard"),
        "TrackerFunctionName": ref("AWS::Lambda::Function", "Tracker"),
        "DrainerFunctionName": ref("AWS::Lambda::Function", "Drainer"),
    }
