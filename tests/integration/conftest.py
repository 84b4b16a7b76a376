"""The real handler against moto server (a real HTTP AWS endpoint on loopback) and the GitHub double."""

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from stand_ins.aws_resources import create_ledger_table, create_token_secret
from stand_ins.fake_credentials import made_up_token
from stand_ins.github_double import GitHubDouble
from stand_ins.moto_server import SerializedMotoServer

TOKEN = made_up_token()  # a made-up PAT
REPOSITORY = "acme/app"
WORKFLOW = "deploy.yml"


@pytest.fixture(scope="session")
def moto_server() -> Iterator[SerializedMotoServer]:
    with SerializedMotoServer() as server:
        yield server


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with GitHubDouble(repository=REPOSITORY, workflow=WORKFLOW, tokens={TOKEN}) as double:
        yield double


class Stack:
    """One deployment of deploy-trigger on the stand-ins: its table, secret and environment."""

    def __init__(self, endpoint: str, monkeypatch: pytest.MonkeyPatch) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.table = f"ledger-{suffix}"
        self.secret = f"deploy-trigger/github-{suffix}"
        self.dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)
        self.secretsmanager = boto3.client("secretsmanager", endpoint_url=endpoint)
        self._monkeypatch = monkeypatch
        create_ledger_table(self.dynamodb, self.table)

    def configure(self, **variables: str) -> None:
        for name, value in variables.items():
            self._monkeypatch.setenv(name, value)
        from deploy_trigger import runtime

        runtime.reset()

    def item(self, instance_id: str) -> dict[str, Any]:
        key = {"instance_id": {"S": instance_id}}
        answer = self.dynamodb.get_item(TableName=self.table, Key=key, ConsistentRead=True)
        return answer.get("Item", {})  # type: ignore[no-any-return]

    def status(self, instance_id: str) -> str | None:
        return self.item(instance_id).get("status", {}).get("S")


@pytest.fixture
def stack(moto_server: SerializedMotoServer, github: GitHubDouble, monkeypatch: pytest.MonkeyPatch) -> Stack:
    deployed = Stack(moto_server.url, monkeypatch)
    create_token_secret(deployed.secretsmanager, deployed.secret, TOKEN)
    deployed.configure(
        AWS_ENDPOINT_URL=moto_server.url,
        LEDGER_TABLE_NAME=deployed.table,
        GITHUB_REPOSITORY=REPOSITORY,
        GITHUB_WORKFLOW=WORKFLOW,
        GITHUB_REF="main",
        GITHUB_CREDENTIALS_SECRET=deployed.secret,
        GITHUB_API_URL=github.url,
        LEASE_MARGIN_SECONDS="1",
    )
    return deployed


@pytest.fixture
def instance_ids() -> Callable[[], str]:
    """Fresh instance IDs, unique across the session."""
    return lambda: f"i-{uuid.uuid4().hex[:17]}"
