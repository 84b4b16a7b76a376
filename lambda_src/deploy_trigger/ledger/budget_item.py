"""The shared GitHub budget's item in the ledger table (``schema.BUDGET_KEY``): conditional writes only, so two
containers' pauses, or two drainers' slots, never overwrite each other."""

from __future__ import annotations

from contextlib import suppress
from typing import Any

from deploy_trigger.github_budget import BudgetState
from deploy_trigger.ledger.codec import encode
from deploy_trigger.ledger.dynamodb import ConditionFailed, call
from deploy_trigger.ledger.schema import BUDGET_KEY, PARTITION_KEY, iso_time

_KEY = {PARTITION_KEY: encode(BUDGET_KEY)}
HOUR = 3600.0


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

    def take_slot(
        self, now: float, interval: float, *, draining_until: float, new_hour: bool, idle_only: bool = False
    ) -> BudgetState | None:
        """One dispatch slot for a drainer: granted (the item as it now stands) only if no pause is on and the last
        slot is at least ``interval`` old, else None. ``new_hour``: this slot opens the next hour of the count.
        ``idle_only`` (a dispatcher in batch mode): also only if no one is sending the queue (``draining_until``)."""
        values = {
            ":now": encode(float(now)),
            ":slot_after": encode(float(now - interval)),
            ":draining": encode(float(draining_until)),
            ":one": encode(1),
        }
        condition = (
            "(attribute_not_exists(last_dispatch_at) OR last_dispatch_at <= :slot_after) "
            "AND (attribute_not_exists(paused_until) OR paused_until <= :now)"
        )
        if idle_only:
            condition += " AND (attribute_not_exists(draining_until) OR draining_until <= :now)"
        if new_hour:
            update = (
                "SET last_dispatch_at = :now, draining_until = :draining, hour_started = :now, hour_dispatches = :one"
            )
            condition += " AND (attribute_not_exists(hour_started) OR hour_started <= :hour_ago)"
            values[":hour_ago"] = encode(float(now - HOUR))
        else:
            update = "SET last_dispatch_at = :now, draining_until = :draining ADD hour_dispatches :one"
        try:
            answer = self._update("take-slot", update, condition, values, ReturnValues="ALL_NEW")
        except ConditionFailed:
            return None
        return _state(answer.get("Attributes", {}))

    def end_draining(self, draining_until: float, now: float) -> None:
        """The queue is empty: the drainer that set ``draining_until`` is done, so others may send again at once. Only
        if no slot was taken since (``draining_until`` still the one it set)."""
        with suppress(ConditionFailed):  # someone took a slot since: they are sending
            self._update(
                "end-draining",
                "SET draining_until = :now",
                "draining_until = :set",
                {":now": encode(float(now)), ":set": encode(float(draining_until))},
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
        draining_until=number("draining_until"),
        last_dispatch_at=number("last_dispatch_at"),
        hour_started=number("hour_started"),
        hour_dispatches=int(number("hour_dispatches")),
    )
