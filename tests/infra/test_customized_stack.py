"""The stack with every optional context key set: each one reaches the template."""

import json
from typing import Any

import pytest

from deploy_trigger.ledger.schema import TRACKING_INDEX
from tests.infra.synthesis import CUSTOMIZED_CONTEXT, Synthesized, synthesize_template

KMS_KEY_ARN = CUSTOMIZED_CONTEXT["githubCredentialsKmsKeyArn"]
SECRET_ARN = CUSTOMIZED_CONTEXT["githubCredentialsSecret"]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize_template(CUSTOMIZED_CONTEXT, tmp_path_factory.mktemp("cdk.out"))


def function(synthesized: Synthesized) -> dict[str, Any]:
    return synthesized.properties("AWS::Lambda::Function", "Dispatcher")


def role_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    return synthesized.role_statements("Dispatcher")


def test_launch_successful_mode_filtered_on_the_configured_groups(synthesized: Synthesized) -> None:
    synthesized.template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "EventPattern": {
                "source": ["aws.autoscaling"],
                "detail-type": ["EC2 Instance Launch Successful"],
                "detail": {"AutoScalingGroupName": ["web-asg", "worker-asg"]},
            }
        },
    )


def test_timeout_and_reserved_concurrency_follow_the_context(synthesized: Synthesized) -> None:
    properties = function(synthesized)

    assert properties["Timeout"] == 45
    assert properties["ReservedConcurrentExecutions"] == 3


def test_environment_carries_the_configured_values(synthesized: Synthesized) -> None:
    variables = function(synthesized)["Environment"]["Variables"]

    assert variables["GITHUB_REF"] == "release"
    assert variables["GITHUB_CREDENTIALS_SECRET"] == SECRET_ARN
    assert variables["GITHUB_API_URL"] == "https://github.example.com/api/v3"
    assert variables["GITHUB_API_VERSION"] == "2022-11-28"
    assert variables["ALLOWED_ASG_NAMES"] == "web-asg,worker-asg"
    assert json.loads(variables["WORKFLOW_EXTRA_INPUTS"]) == {"environment": "production", "region_label": "eu"}


def test_a_partial_secret_arn_is_granted_with_the_suffix_wildcard(synthesized: Synthesized) -> None:
    secrets = [s for s in role_statements(synthesized) if s["Action"] == "secretsmanager:GetSecretValue"]

    assert secrets == [
        {"Action": "secretsmanager:GetSecretValue", "Effect": "Allow", "Resource": f"{SECRET_ARN}-??????"}
    ]


def test_kms_decrypt_only_on_the_given_key_and_only_through_secrets_manager(synthesized: Synthesized) -> None:
    kms = [s for s in role_statements(synthesized) if str(s["Action"]).startswith("kms:")]

    assert kms == [
        {
            "Action": "kms:Decrypt",
            "Effect": "Allow",
            "Resource": KMS_KEY_ARN,
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": {"Fn::Join": ["", ["secretsmanager.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
                }
            },
        }
    ]


def test_alarm_email_is_subscribed_to_the_topic(synthesized: Synthesized) -> None:
    (topic_id,) = synthesized.resources("AWS::SNS::Topic")

    synthesized.template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "oncall@example.com", "TopicArn": {"Ref": topic_id}},
    )


def test_removal_policy_destroy_deletes_the_stateful_resources(synthesized: Synthesized) -> None:
    for resource_type in ("AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::Logs::LogGroup", "AWS::KMS::Key"):
        resources = synthesized.resources(resource_type)
        assert resources, resource_type
        for resource in resources.values():
            assert resource["DeletionPolicy"] == "Delete", resource_type


def test_dashboard_annotation_follows_the_configured_timeout(synthesized: Synthesized) -> None:
    (dashboard,) = synthesized.resources("AWS::CloudWatch::Dashboard").values()
    body = "".join(part for part in dashboard["Properties"]["DashboardBody"]["Fn::Join"][1] if isinstance(part, str))

    assert '{"value":45000,"label":"timeout","yAxis":"left"}' in body


def test_unreserved_concurrency_omits_the_reservation(tmp_path_factory: pytest.TempPathFactory) -> None:
    synthesized = synthesize_template(
        {**CUSTOMIZED_CONTEXT, "reservedConcurrency": "unreserved"}, tmp_path_factory.mktemp("cdk.out")
    )

    assert "ReservedConcurrentExecutions" not in function(synthesized)


def test_tracker_disabled_leaves_nothing_of_it(synthesized: Synthesized) -> None:
    functions = synthesized.resources("AWS::Lambda::Function")
    rules = synthesized.resources("AWS::Events::Rule")
    alarms = synthesized.resources("AWS::CloudWatch::Alarm")

    assert [key for key in functions if "Tracker" in key] == []
    assert [key for key in rules if "Tracker" in key] == []
    # Besides the launch events rule, the drainer's schedule only: the queue is sent with or without the tracker.
    assert sorted(key for key in rules if "LaunchEvents" not in key) == [
        synthesized.logical_id("AWS::Events::Rule", "DrainerSchedule")
    ]
    assert [key for key in synthesized.resources("AWS::IAM::Role") if "Tracker" in key] == []
    for name in ("DeploymentsFailed", "CrashLoop", "TrackerErrors", "TrackerNotRunning"):
        assert not [key for key in alarms if name in key], name
    assert "TrackerFunctionName" not in synthesized.template_json["Outputs"]
    assert not [s for s in role_statements(synthesized) if str(s["Action"]).startswith("sns:")]


def test_tracking_index_stays_when_the_tracker_is_off(synthesized: Synthesized) -> None:
    # The dispatcher writes the index's attributes either way; turning the tracker on needs no index build.
    (table,) = synthesized.resources("AWS::DynamoDB::Table").values()

    assert [index["IndexName"] for index in table["Properties"]["GlobalSecondaryIndexes"]] == [TRACKING_INDEX]


def test_outputs_carry_the_configured_github_values_and_the_secret_arn(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]

    assert outputs["GithubRepository"] == {"Value": "example-org/example-app"}
    assert outputs["GithubWorkflow"] == {"Value": "deploy.yml"}
    assert outputs["GithubRef"] == {"Value": "release"}
    assert outputs["CredentialsSecretArn"] == {"Value": SECRET_ARN}  # the partial ARN, as configured
