"""Each state rule's Python predicate and its DynamoDB condition agree, for every status: the predicate is
what the code decides with, the condition is what makes the write atomic, and DynamoDB (moto) evaluates it."""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import product
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from deploy_trigger.ledger import model
from deploy_trigger.ledger.codec import decode_entry, encode_item
from deploy_trigger.ledger.model import Condition, LedgerEntry, Status
from deploy_trigger.ledger.update import Update
from stand_ins.aws_resources import create_ledger_table
from tests.unit.doubles import TABLE

INSTANCE = "i-0123456789abcdef0"
#: The stored item every case starts from (only its status varies).
STORED = {
    "launch_key": "key-1",
    "launch_time": 1_799_999_000.0,
    "dispatch_id": "d-1",
    "lease_owner": "owner-1",
    "lease_expires_at": 1_800_000_100.5,
    "attempts": 2,
}
#: Launch times of an arriving event: before, at and after the stored launch's.
TIMES = (1_799_998_000.0, 1_799_999_000.0, 1_800_000_000.0)


@dataclass(frozen=True)
class Rule:
    name: str
    decides: Callable[[LedgerEntry], bool]
    condition: Condition
    values: dict[str, object]


def _seen(**changes: object) -> LedgerEntry:
    fields = {"status": Status.CLAIMED, **STORED, **changes}
    return LedgerEntry(instance_id=INSTANCE, **fields)  # type: ignore[arg-type]


def _rules(
    predicate: Callable[..., bool], condition: Condition, fields: tuple[str, ...], cases: Iterable[tuple[Any, ...]]
) -> list[Rule]:
    """One rule a case: ``predicate(entry, *case)`` against ``condition`` with the case's values as ``fields``."""
    return [
        Rule(
            f"{predicate.__name__}({', '.join(f'{v:.0f}' if isinstance(v, float) else v for v in case)})",
            lambda e, c=case: predicate(e, *c),
            condition,
            dict(zip(fields, case, strict=True)),
        )
        for case in cases
    ]


KEYS = ("key-1", "key-2")
RULES = [
    *_rules(model.may_claim_again, model.MAY_CLAIM_AGAIN, ("launch_key", "launch_time"), product(KEYS, TIMES)),
    *_rules(model.is_newer_launch, model.IS_NEWER_LAUNCH, ("launch_key", "launch_time"), product(KEYS, TIMES)),
    *_rules(model.is_warm_pool_entry, model.IS_WARM_POOL_ENTRY, ("warm_launch_key",), product(KEYS)),
    *_rules(
        model.is_held,
        model.IS_HELD,
        ("held_by", "held_dispatch_id"),
        [("owner-1", "d-1"), ("owner-2", "d-1"), ("owner-1", "d-2")],
    ),
    *(
        Rule(
            f"may_take_over({label})",
            lambda e, s=seen: model.may_take_over(e, s),
            model.MAY_TAKE_OVER,
            {"seen_launch_key": seen.launch_key, "seen_owner": seen.lease_owner, "seen_lease": seen.lease_expires_at},
        )
        for label, seen in (
            ("as read", _seen()),
            ("lease renewed", _seen(lease_expires_at=1_800_000_200.0)),
            ("another owner", _seen(lease_owner="owner-2")),
            ("another launch", _seen(launch_key="key-2")),
        )
    ),
    *_rules(model.is_tracked, model.IS_TRACKED, ("tracked_dispatch_id",), product(("d-1", "d-2"))),
    *(
        Rule(
            f"may_take_from_queue({label})",
            lambda e, s=seen: model.may_take_from_queue(e, s),
            model.MAY_TAKE_FROM_QUEUE,
            {"seen_dispatch_id": seen.dispatch_id, "seen_attempts": seen.attempts},
        )
        for label, seen in (
            ("as read", _seen(status=Status.WAITING)),
            ("taken and parked again", _seen(status=Status.WAITING, attempts=3)),
            ("another dispatch", _seen(status=Status.WAITING, dispatch_id="d-2")),
        )
    ),
    *_rules(model.is_queued, model.IS_QUEUED, ("queued_dispatch_id",), product(("d-1", "d-2"))),
    *(
        Rule(
            f"may_join_batch({label})",
            lambda e, s=seen: model.may_join_batch(e, s),
            condition,
            values,
        )
        for label, seen, condition, values in (
            (
                "parked, as read",
                _seen(status=Status.WAITING),
                model.MAY_JOIN_BATCH,
                {"seen_dispatch_id": "d-1", "seen_attempts": 2},
            ),
            (
                "parked, taken since",
                _seen(status=Status.WAITING, attempts=3),
                model.MAY_JOIN_BATCH,
                {"seen_dispatch_id": "d-1", "seen_attempts": 3},
            ),
            (
                "a drainer's claim, as read",
                _seen(),
                model.MAY_JOIN_BATCH_AFTER_DRAINER,
                {"seen_launch_key": "key-1", "seen_owner": "owner-1", "seen_lease": 1_800_000_100.5},
            ),
            (
                "a drainer's claim, renewed",
                _seen(lease_expires_at=1_800_000_200.0),
                model.MAY_JOIN_BATCH_AFTER_DRAINER,
                {"seen_launch_key": "key-1", "seen_owner": "owner-1", "seen_lease": 1_800_000_200.0},
            ),
        )
    ),
    *_rules(model.is_in_batch, model.IS_IN_BATCH, ("batch_id",), product(("b-1", "b-2"))),
    *_rules(model.may_sweep_claim_again, model.MAY_SWEEP_CLAIM_AGAIN, ("launch_key",), product(KEYS)),
    Rule("may_reset", model.may_reset, model.MAY_RESET, {}),
]


@pytest.fixture(scope="module")
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ledger_table(client, TABLE)
        yield client


#: Each case is stored in no batch, and in batch ``b-1``.
BATCHES = (None, "b-1")


def _store(dynamodb: Any, status: Status, batch_id: str | None = None) -> LedgerEntry:
    batch = {"batch_id": batch_id, "batch_position": 0} if batch_id else {}
    item = encode_item({"instance_id": INSTANCE, "status": status.value, **STORED, **batch})
    dynamodb.put_item(TableName=TABLE, Item=item)
    return decode_entry(item)


def _condition_holds(dynamodb: Any, condition: Condition, values: dict[str, object]) -> bool:
    update = Update(INSTANCE, 1_800_000_000.0).when(condition, **values)
    try:
        dynamodb.update_item(**update.arguments(TABLE))
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
    return True


@pytest.mark.parametrize("batch_id", BATCHES)
@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("rule", RULES, ids=lambda rule: rule.name)
def test_predicate_and_condition_agree(dynamodb: Any, rule: Rule, status: Status, batch_id: str | None) -> None:
    entry = _store(dynamodb, status, batch_id)

    assert rule.decides(entry) == _condition_holds(dynamodb, rule.condition, rule.values)


def test_every_rule_both_passes_and_fails(dynamodb: Any) -> None:
    """Otherwise the agreement above could hold for a rule that is always true (or always false)."""
    verdicts: dict[str, set[bool]] = {}
    for status, batch_id in product(Status, BATCHES):
        entry = _store(dynamodb, status, batch_id)
        for rule in RULES:
            verdicts.setdefault(rule.name.split("(")[0], set()).add(rule.decides(entry))

    assert verdicts == {key: {True, False} for key in verdicts}


def test_the_tracked_condition_is_generated_from_the_tracked_statuses() -> None:
    expression = model.IS_TRACKED.expression
    assert "#status IN (" in expression
    assert set(model.IS_TRACKED.values.values()) >= {status.value for status in model.TRACKED}


def test_a_new_instance_is_claimable_only_while_no_item_exists(dynamodb: Any) -> None:
    dynamodb.delete_item(TableName=TABLE, Key={"instance_id": {"S": INSTANCE}})
    item = encode_item({"instance_id": INSTANCE, "status": "CLAIMED", **STORED})
    dynamodb.put_item(TableName=TABLE, Item=item, ConditionExpression=model.IS_NEW.expression)  # no item: holds

    with pytest.raises(ClientError, match="ConditionalCheckFailed"):
        dynamodb.put_item(TableName=TABLE, Item=item, ConditionExpression=model.IS_NEW.expression)


def test_every_status_has_an_operator_meaning() -> None:
    assert all(status.meaning for status in Status)
