"""The shared GitHub budget's item in the ledger table (``schema.BUDGET_KEY``): conditional writes only, so two
containers' pauses and two drainers' leases never overwrite each other."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from deploy_trigger.github_budget import BudgetState
from deploy_trigger.ledger.codec import encode
from deploy_trigger.ledger.dynamodb import ConditionFailed, call
from deploy_trigger.ledger.schema import BUDGET_KEY, PARTITION_KEY, iso_time

_KEY = {PARTITION_KEY: encode(BUDGET_KEY)}


class BudgetItem:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def read(self) -> BudgetState:
        answer = call("read-budget", self._client.get_item, TableName=self._table, Key=_KEY, ConsistentRead=True)
        return _state(answer.get("Item", {}))

    def pause(self, until: float, reason: str) -> None:
        """No dispatch before ``until``; a later pause already there stays (only ever extended)."""
        with suppress(ConditionFailed):  # someone was told to wait longer: that pause stands
            self._update(
                "pause-budget",
                "SET paused_until = :until, pause_reason = :reason, paused_until_time = :at",
                "attribute_not_exists(paused_until) OR paused_until < :until",
                {":until": encode(float(until)), ":reason": encode(reason[:300]), ":at": encode(iso_time(until))},
            )

    def acquire_drain(self, owner: str, lease_until: float, now: float) -> BudgetState | None:
        """Hold the queue until ``lease_until``, unless another drainer's lease is live (then None)."""
        try:
            answer = self._update(
                "acquire-drain",
                "SET drain_owner = :owner, drain_lease_until = :until",
                "attribute_not_exists(drain_lease_until) OR drain_lease_until <= :now",
                {":owner": encode(owner), ":until": encode(float(lease_until)), ":now": encode(float(now))},
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed:
            return None
        return _state(answer.get("Attributes", {}))

    def release_drain(self, owner: str, last_dispatch_at: float, hour_started: float, hour_dispatches: int) -> None:
        """Give the queue up (only this drainer's own lease), leaving the time of its last dispatch for the pace. A
        drainer that overran its lease while another took the queue has nothing of its own to release."""
        with suppress(ConditionFailed):
            self._update(
                "release-drain",
                "SET drain_lease_until = :zero, last_dispatch_at = :last, hour_started = :hour, "
                "hour_dispatches = :dispatches",
                "drain_owner = :owner",
                {
                    ":zero": encode(0),
                    ":last": encode(float(last_dispatch_at)),
                    ":hour": encode(float(hour_started)),
                    ":dispatches": encode(int(hour_dispatches)),
                    ":owner": encode(owner),
                },
            )

    def _update(self, doing: str, update: str, condition: str, values: dict[str, Any], **extra: Any) -> Any:
        """One conditional update of the budget item (raises :class:`ConditionFailed` when ``condition`` fails)."""
        return call(
            doing,
            self._client.update_item,
            TableName=self._table,
            Key=_KEY,
            UpdateExpression=update,
            ConditionExpression=condition,
            ExpressionAttributeValues=values,
            **extra,
        )


def _state(item: dict[str, Any]) -> BudgetState:
    def number(name: str) -> float:
        return float(item[name]["N"]) if name in item else 0.0

    return BudgetState(
        paused_until=number("paused_until"),
        pause_reason=item.get("pause_reason", {}).get("S", ""),
        drain_owner=item.get("drain_owner", {}).get("S"),
        drain_lease_until=number("drain_lease_until"),
        last_dispatch_at=number("last_dispatch_at"),
        hour_started=number("hour_started"),
        hour_dispatches=int(number("hour_dispatches")),
    )
