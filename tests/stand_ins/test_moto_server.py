"""The serialized moto server gives DynamoDB's atomic conditional writes, counts calls, and resets cleanly."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.dynamodb.models.table import Table

from stand_ins.moto_server import SerializedMotoServer

RACERS = 20


@pytest.fixture(scope="module")
def server() -> Iterator[SerializedMotoServer]:
    with SerializedMotoServer() as running:
        yield running


@pytest.fixture
def moto(server: SerializedMotoServer) -> SerializedMotoServer:
    """The shared server with no state and no counted calls left by an earlier test."""
    server.reset()
    server.reset_calls()
    return server


def client(server: SerializedMotoServer, service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(max_pool_connections=RACERS, retries={"mode": "standard", "max_attempts": 1}),
    )


def create_table(dynamodb: Any, name: str = "ledger") -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def test_racing_conditional_puts_have_exactly_one_winner(
    moto: SerializedMotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Unserialized moto loses this race only now and then (its read-check-write window is short), so widen the
    # window between reading the current item and writing the new one. Without the server's lock, several
    # racers then pass the condition in the first round or two; with it, exactly one wins every round.
    read_item = Table.get_item

    def slow_get_item(self: Table, *args: Any, **kwargs: Any) -> Any:
        item = read_item(self, *args, **kwargs)
        time.sleep(0.005)
        return item

    monkeypatch.setattr(Table, "get_item", slow_get_item)
    dynamodb = client(moto, "dynamodb")
    create_table(dynamodb)

    for round_number in range(3):
        start = threading.Barrier(RACERS)

        def claim(racer: int, key: str = f"instance-{round_number}", start: threading.Barrier = start) -> bool:
            start.wait()
            try:
                dynamodb.put_item(
                    TableName="ledger",
                    Item={"pk": {"S": key}, "owner": {"N": str(racer)}},
                    ConditionExpression="attribute_not_exists(pk)",
                )
            except dynamodb.exceptions.ConditionalCheckFailedException:
                return False
            return True

        with ThreadPoolExecutor(max_workers=RACERS) as pool:
            winners = [racer for racer, won in zip(range(RACERS), pool.map(claim, range(RACERS)), strict=True) if won]

        assert len(winners) == 1, f"round {round_number}: {len(winners)} conditional puts succeeded"
        stored = dynamodb.get_item(TableName="ledger", Key={"pk": {"S": f"instance-{round_number}"}})["Item"]
        assert stored["owner"]["N"] == str(winners[0])

    assert moto.calls["dynamodb:PutItem"] == 3 * RACERS


def test_calls_are_counted_per_service_and_operation(moto: SerializedMotoServer) -> None:
    dynamodb = client(moto, "dynamodb")
    create_table(dynamodb)
    for n in range(3):
        dynamodb.put_item(TableName="ledger", Item={"pk": {"S": f"k{n}"}})
    dynamodb.update_item(
        TableName="ledger",
        Key={"pk": {"S": "k0"}},
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":s": {"S": "DISPATCHED"}},
    )
    secrets = client(moto, "secretsmanager")
    secrets.create_secret(Name="github", SecretString="{}")
    assert secrets.get_secret_value(SecretId="github")["SecretString"] == "{}"
    # A query-protocol service: the operation comes from the form body, which must still reach moto intact.
    autoscaling = client(moto, "autoscaling")
    assert autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["web"])["AutoScalingGroups"] == []

    assert moto.calls == {
        "dynamodb:CreateTable": 1,
        "dynamodb:PutItem": 3,
        "dynamodb:UpdateItem": 1,
        "secretsmanager:CreateSecret": 1,
        "secretsmanager:GetSecretValue": 1,
        "autoscaling:DescribeAutoScalingGroups": 1,
    }
    moto.reset_calls()
    assert moto.calls == {}


def test_reset_wipes_all_state(moto: SerializedMotoServer) -> None:
    dynamodb = client(moto, "dynamodb")
    create_table(dynamodb)
    assert dynamodb.list_tables()["TableNames"] == ["ledger"]

    moto.reset()

    assert dynamodb.list_tables()["TableNames"] == []
    create_table(dynamodb)


def test_requests_are_not_logged(moto: SerializedMotoServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="werkzeug")

    client(moto, "dynamodb").list_tables()

    assert [record for record in caplog.records if record.name == "werkzeug"] == []
