"""moto server's timings: how long each operation held its one lock, and how long requests waited for it."""

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from stand_ins.aws_resources import create_ledger_table
from stand_ins.moto_server import SerializedMotoServer


@pytest.fixture(scope="module")
def moto() -> Iterator[SerializedMotoServer]:
    with SerializedMotoServer() as server:
        yield server


def _dynamodb(moto: SerializedMotoServer) -> Any:
    return boto3.client(
        "dynamodb", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )


def test_each_operation_s_time_inside_the_lock_is_kept_and_reset_with_the_counts(moto: SerializedMotoServer) -> None:
    dynamodb, table = _dynamodb(moto), f"timings-{uuid.uuid4().hex[:8]}"
    create_ledger_table(dynamodb, table)
    moto.reset_calls()

    for _ in range(3):
        dynamodb.put_item(TableName=table, Item={"instance_id": {"S": uuid.uuid4().hex}})

    assert set(moto.held_seconds) == {"dynamodb:PutItem"}
    assert 0 < moto.held_seconds["dynamodb:PutItem"] < 5
    moto.reset_calls()
    assert moto.held_seconds == {}
    assert moto.waited_seconds == 0


def test_requests_that_arrive_together_wait_for_each_other(moto: SerializedMotoServer) -> None:
    dynamodb, table = _dynamodb(moto), f"timings-{uuid.uuid4().hex[:8]}"
    create_ledger_table(dynamodb, table)
    moto.reset_calls()
    start = threading.Barrier(8)

    def put() -> None:
        start.wait()
        for _ in range(5):
            dynamodb.put_item(TableName=table, Item={"instance_id": {"S": uuid.uuid4().hex}})

    racers = [threading.Thread(target=put) for _ in range(8)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()

    assert moto.calls["dynamodb:PutItem"] == 40
    assert moto.waited_seconds > 0
