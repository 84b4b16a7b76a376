"""One deployment of deploy-trigger on the stand-ins, shared by the integration and the CLI tests: moto server
(one per session) and, per test, a fresh ledger table, credentials secret, dead-letter queues and EventBridge
rule, the environment the dispatcher function (and so the CLI) reads, and the GitHub double.

The root conftest registers this module as a pytest plugin, so every test folder gets the same fixtures.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from deploy_trigger import runtime
from deploy_trigger.ledger.codec import decode_entry
from deploy_trigger.ledger.model import LedgerEntry, Status
from deploy_trigger.settings import DEFAULT_LIFECYCLE_HOOK_NAME
from stand_ins.autoscaling_group import AutoScalingStandIn
from stand_ins.autoscaling_server import ENDPOINT_VARIABLE, AutoScalingServer
from stand_ins.aws_resources import create_ledger_table, create_token_secret
from stand_ins.deployment import ACCOUNT, REPOSITORY, TOKEN, WORKFLOW, function_environment
from stand_ins.github_double import GitHubDouble
from stand_ins.invoke import Invocation, invoke
from stand_ins.moto_server import SerializedMotoServer

#: Short, so that tests of an expired lease wait one second, not five.
LEASE_MARGIN_SECONDS = 1


@pytest.fixture(scope="session")
def moto_server() -> Iterator[SerializedMotoServer]:
    with SerializedMotoServer() as server:
        yield server


class Deployment:
    """deploy-trigger's AWS resources on moto, and the environment the Lambda (and so the CLI) reads."""

    def __init__(self, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.endpoint = endpoint
        self.table = f"ledger-{suffix}"
        self.secret = f"deploy-trigger/github-{suffix}"
        self.rule = f"deploy-trigger-launch-{suffix}"
        self.function = f"deploy-trigger-dispatcher-{suffix}"
        self.function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{self.function}"
        self.dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
        self.secretsmanager = boto3.client("secretsmanager", endpoint_url=endpoint)
        self.sqs = boto3.client("sqs", endpoint_url=endpoint)
        self.events = boto3.client("events", endpoint_url=endpoint)
        self.cloudformation = boto3.client("cloudformation", endpoint_url=endpoint)
        self._monkeypatch = monkeypatch
        create_ledger_table(self.dynamodb, self.table)
        create_token_secret(self.secretsmanager, self.secret, TOKEN)
        self.delivery_dlq = self.sqs.create_queue(QueueName=f"delivery-dlq-{suffix}")["QueueUrl"]
        self.failure_dlq = self.sqs.create_queue(QueueName=f"failure-dlq-{suffix}")["QueueUrl"]
        self.events.put_rule(
            Name=self.rule,
            EventPattern=json.dumps(
                {"source": ["aws.autoscaling"], "detail-type": ["EC2 Instance-launch Lifecycle Action"]}
            ),
        )
        self.events.put_targets(
            Rule=self.rule,
            Targets=[
                {
                    "Id": "dispatcher",
                    "Arn": self.function_arn,
                    "DeadLetterConfig": {"Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:delivery-dlq-{suffix}"},
                }
            ],
        )
        self.configure(
            **function_environment(
                aws_endpoint_url=endpoint,
                table=self.table,
                secret=self.secret,
                lease_margin_seconds=LEASE_MARGIN_SECONDS,
            ),
            DEPLOY_TRIGGER_RULE_NAME=self.rule,
            DEPLOY_TRIGGER_FUNCTION_NAME=self.function,
            DEPLOY_TRIGGER_DLQ_URLS=f"{self.delivery_dlq},{self.failure_dlq}",
        )
        for name in ("DEPLOY_TRIGGER_STACK", "WORKFLOW_EXTRA_INPUTS", "ALLOWED_ASG_NAMES"):
            monkeypatch.delenv(name, raising=False)

    def configure(self, **variables: str) -> None:
        for name, value in variables.items():
            self._monkeypatch.setenv(name, value)
        runtime.reset()

    def deploy_function(self, environment: dict[str, str]) -> None:
        """The dispatcher function itself, on moto: the CLI reads its deployed environment with --stack."""
        iam = boto3.client("iam", endpoint_url=self.endpoint)
        role = iam.create_role(RoleName=f"{self.function}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("deploy_trigger/handler.py", "def handler(event, context): ...\n")
        boto3.client("lambda", endpoint_url=self.endpoint).create_function(
            FunctionName=self.function,
            Runtime="python3.13",
            Role=role,
            Handler="deploy_trigger.handler.handler",
            Code={"ZipFile": package.getvalue()},
            Environment={"Variables": environment},
        )

    def unset(self, *names: str) -> None:
        for name in names:
            self._monkeypatch.delenv(name, raising=False)
        runtime.reset()

    def use_github(self, github: GitHubDouble) -> None:
        self.configure(GITHUB_API_URL=github.url)

    def handle(self, event: dict[str, Any]) -> Invocation:
        """Run the real handler once, as Lambda would (to put an entry into the ledger)."""
        return invoke(event)

    def raw_item(self, instance_id: str) -> dict[str, Any]:
        """The item as DynamoDB holds it (what an operator's ``aws dynamodb get-item`` shows); {} if none."""
        key = {"instance_id": {"S": instance_id}}
        answer = self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return answer.get("Item", {})  # type: ignore[no-any-return]

    def item(self, instance_id: str) -> LedgerEntry:
        """The instance's ledger entry, read through the ledger's own codec."""
        raw = self.raw_item(instance_id)
        assert raw, f"no ledger item for {instance_id}"
        return decode_entry(raw)

    def status(self, instance_id: str) -> Status | None:
        raw = self.raw_item(instance_id)
        return decode_entry(raw).status if raw else None

    def send(self, queue_url: str, body: object, attributes: dict[str, str] | None = None) -> None:
        message_attributes = {
            name: {"DataType": "String", "StringValue": value} for name, value in (attributes or {}).items()
        }
        self.sqs.send_message(
            QueueUrl=queue_url,
            MessageBody=body if isinstance(body, str) else json.dumps(body),
            MessageAttributes=message_attributes,
        )

    def queued(self, queue_url: str) -> int:
        """Messages in the queue, visible or not."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def visible(self, queue_url: str) -> int:
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    def create_stack(self, name: str, outputs: dict[str, str]) -> None:
        """A CloudFormation stack whose outputs are the given values (one harmless resource, as CFN needs one)."""
        template = {
            "Resources": {"Placeholder": {"Type": "AWS::SQS::Queue"}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        self.cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))


@pytest.fixture
def deployment(moto_server: SerializedMotoServer, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    return Deployment(moto_server.url, monkeypatch)


@pytest.fixture
def github(deployment: Deployment) -> Iterator[GitHubDouble]:
    """The GitHub double, with the deployment's function pointed at it."""
    with GitHubDouble(repository=REPOSITORY, workflow=WORKFLOW, tokens={TOKEN}) as double:
        deployment.use_github(double)
        yield double


@pytest.fixture
def autoscaling(deployment: Deployment) -> Iterator[AutoScalingStandIn]:
    """The Auto Scaling stand-in (group ``web-asg`` with our hook) behind its endpoint, which the deployment's
    function reaches through AWS_ENDPOINT_URL_AUTO_SCALING, as the Lambda reaches Auto Scaling."""
    group = AutoScalingStandIn()
    group.add_group("web-asg", DEFAULT_LIFECYCLE_HOOK_NAME)
    with AutoScalingServer(group) as server:
        deployment.configure(**{ENDPOINT_VARIABLE: server.url})
        yield group


@pytest.fixture
def instance_ids() -> Callable[[], str]:
    """Fresh instance IDs, unique across the session."""
    return lambda: f"i-{uuid.uuid4().hex[:17]}"
