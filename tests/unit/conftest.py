"""Fixtures the unit tests share: the clock, the ledger table on moto, and the scripted GitHub."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stand_ins.aws_resources import create_ledger_table
from tests.unit.doubles import TABLE, Clock, ScriptedGitHub


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ledger_table(client, TABLE)
        yield client


@pytest.fixture
def github() -> ScriptedGitHub:
    return ScriptedGitHub()
