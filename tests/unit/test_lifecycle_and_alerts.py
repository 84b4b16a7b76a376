"""The Auto Scaling and SNS adapters, against botocore's Stubber (moto implements neither
CompleteLifecycleAction nor RecordLifecycleActionHeartbeat)."""

import json
from unittest.mock import Mock

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from deploy_trigger.alerts import Alerts, DeploymentAlert
from deploy_trigger.errors import LifecycleUnavailable
from deploy_trigger.lifecycle import LifecycleActions, LifecycleAnswer, LifecycleResult

EXPECTED = {"AutoScalingGroupName": "web-asg", "LifecycleHookName": "deploy", "InstanceId": "i-0123456789abcdef0"}


@pytest.fixture
def autoscaling() -> boto3.client:
    return boto3.client("autoscaling", region_name="us-east-1")


@pytest.mark.parametrize("result", list(LifecycleResult))
def test_complete_sends_the_result_by_instance_id(autoscaling: boto3.client, result: LifecycleResult) -> None:
    with Stubber(autoscaling) as stub:
        stub.add_response("complete_lifecycle_action", {}, {**EXPECTED, "LifecycleActionResult": result.value})

        answer = LifecycleActions(lambda: autoscaling).complete("web-asg", "deploy", "i-0123456789abcdef0", result)

        stub.assert_no_pending_responses()
    assert answer is LifecycleAnswer.DONE


def test_no_active_lifecycle_action_is_a_terminal_answer_not_an_error(autoscaling: boto3.client) -> None:
    with Stubber(autoscaling) as stub:
        stub.add_client_error(
            "complete_lifecycle_action",
            service_error_code="ValidationError",
            service_message="No active Lifecycle Action found with instance ID i-0123456789abcdef0",
            http_status_code=400,
        )
        stub.add_client_error(
            "record_lifecycle_action_heartbeat",
            service_error_code="ValidationError",
            service_message="No active Lifecycle Action found with instance ID i-0123456789abcdef0",
            http_status_code=400,
        )
        actions = LifecycleActions(lambda: autoscaling)

        completed = actions.complete("web-asg", "deploy", "i-0123456789abcdef0", LifecycleResult.CONTINUE)
        heartbeat = actions.heartbeat("web-asg", "deploy", "i-0123456789abcdef0")

    assert completed is heartbeat is LifecycleAnswer.NO_ACTIVE_ACTION


@pytest.mark.parametrize(
    ("code", "message"),
    [("Throttling", "Rate exceeded"), ("ValidationError", "Group web-asg not found"), ("AccessDenied", "nope")],
)
def test_other_errors_are_retried_by_the_next_pass(autoscaling: boto3.client, code: str, message: str) -> None:
    with Stubber(autoscaling) as stub:
        stub.add_client_error("record_lifecycle_action_heartbeat", service_error_code=code, service_message=message)

        with pytest.raises(LifecycleUnavailable, match=code):
            LifecycleActions(lambda: autoscaling).heartbeat("web-asg", "deploy", "i-0123456789abcdef0")


def test_alert_reaches_the_topic_with_instance_group_run_and_conclusion() -> None:
    alert = DeploymentAlert(
        outcome="failed",
        instance_id="i-0123456789abcdef0",
        asg_name="web-asg",
        dispatch_id="d" * 32,
        run_url="https://github.com/acme/app/actions/runs/1",
        conclusion="failure",
        lifecycle_result="ABANDON",
        detail="run 1 ended completed/failure",
    )
    with mock_aws():
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        topic = sns.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)

        Alerts(sns, topic).publish(alert)

        (delivered,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    envelope = json.loads(delivered["Body"])
    assert envelope["Subject"] == "deploy-trigger: deploy failed on i-0123456789abcdef0 (web-asg)"
    body = json.loads(envelope["Message"])
    assert body["run_url"] == "https://github.com/acme/app/actions/runs/1"
    assert (body["conclusion"], body["lifecycle_result"]) == ("failure", "ABANDON")


def test_without_a_topic_the_alert_is_only_logged() -> None:
    sns = Mock()

    Alerts(sns, "").publish(DeploymentAlert("stuck", "i-0123456789abcdef0", "web-asg", "d" * 32, None, None, None, "x"))

    sns.publish.assert_not_called()
