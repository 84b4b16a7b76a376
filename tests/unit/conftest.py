"""Fixtures the unit tests share: the clock, the ledger table on moto (its instances' items and the budget item),
and the scripted GitHub."""

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from deploy_trigger.ledger.budget_item import BudgetItem
from deploy_trigger.ledger.table import Ledger
from stand_ins.aws_resources import create_ledger_table
from tests.unit.doubles import TABLE, ScriptedGitHub, SleepingClock


@pytest.fixture
def clock() -> SleepingClock:
    return SleepingClock()


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ledger_table(client, TABLE)
        yield client


@pytest.fixture
def github() -> ScriptedGitHub:
    return ScriptedGitHub()


@pytest.fixture
def ledger(dynamodb: Any, clock: SleepingClock) -> Ledger:
    return Ledger(dynamodb, TABLE, clock=clock)


@pytest.fixture
def budget(dynamodb: Any) -> BudgetItem:
    return BudgetItem(dynamodb, TABLE)
