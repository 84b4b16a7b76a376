"""The stack with every optional context key set: each one reaches the template."""

import json
from typing import Any

import pytest

from tests.infra.synthesis import CUSTOMIZED_CONTEXT, Synthesized, synthesize

KMS_KEY_ARN = CUSTOMIZED_CONTEXT["githubCredentialsKmsKeyArn"]
SECRET_ARN = CUSTOMIZED_CONTEXT["githubCredentialsSecret"]


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    return synthesize(CUSTOMIZED_CONTEXT, tmp_path_factory.mktemp("cdk.out"), bundle=False, compliance=False)


def function(synthesized: Synthesized) -> dict[str, Any]:
    (resource,) = synthesized.resources("AWS::Lambda::Function").values()
    return resource["Properties"]


def role_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    (policy,) = synthesized.resources("AWS::IAM::Policy").values()
    statements: list[dict[str, Any]] = policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


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
    synthesized = synthesize(
        {**CUSTOMIZED_CONTEXT, "reservedConcurrency": "unreserved"},
        tmp_path_factory.mktemp("cdk.out"),
        bundle=False,
        compliance=False,
    )

    assert "ReservedConcurrentExecutions" not in function(synthesized)
