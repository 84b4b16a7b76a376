"""A small builder for one conditional UpdateItem: what to set and remove, what to append to the history,
and the :class:`Condition` it depends on.

Placeholders are named after the attribute they set (``:run_id``) and only those used are sent, because
DynamoDB rejects an ExpressionAttributeValues entry that no expression names.
"""

from __future__ import annotations

from typing import Any

from deploy_trigger.ledger.codec import encode, history_event
from deploy_trigger.ledger.model import Condition
from deploy_trigger.ledger.schema import PARTITION_KEY, iso_time

#: Attribute names that are DynamoDB reserved words, referred to as ``#name``.
_RESERVED = frozenset({"status", "region"})


class Update:
    def __init__(self, instance_id: str, now: float) -> None:
        self._key = {PARTITION_KEY: {"S": instance_id}}
        self._now = now
        self._set: list[str] = []
        self._remove: list[str] = []
        self._values: dict[str, Any] = {}
        self._condition: str | None = None
        self.set(updated_at=iso_time(now))  # every write says when

    def set(self, **attributes: object) -> Update:
        """``SET name = :name`` for each attribute; a None value is skipped (nothing to say)."""
        for name, value in attributes.items():
            if value is not None:
                self._set.append(f"{_path(name)} = {self._bind(f':{name}', value)}")
        return self

    def increment(self, name: str, by: int = 1) -> Update:
        self._set.append(f"{_path(name)} = {_path(name)} + {self._bind(f':{name}_increment', by)}")
        return self

    def remove(self, *names: str) -> Update:
        for path in map(_path, names):
            if path not in self._remove:  # DynamoDB refuses a path named twice in one expression
                self._remove.append(path)
        return self

    def history(self, event: str, detail: str) -> Update:
        """Append one event to the item's ``history`` list (created with the first event)."""
        empty, entry = self._bind(":no_history", []), self._bind(":history", [history_event(self._now, event, detail)])
        self._set.append(f"history = list_append(if_not_exists(history, {empty}), {entry})")
        return self

    def when(self, condition: Condition, **values: object) -> Update:
        """Only if ``condition`` holds; ``values`` binds its placeholders that are not constants (``held_by=...``)."""
        for name, value in {**condition.values, **{f":{key}": bound for key, bound in values.items()}}.items():
            self._bind(name, value)
        self._condition = condition.expression
        return self

    def arguments(self, table_name: str) -> dict[str, Any]:
        """The keyword arguments of ``update_item``."""
        expression = "SET " + ", ".join(self._set)
        if self._remove:
            expression += " REMOVE " + ", ".join(self._remove)
        arguments: dict[str, Any] = {
            "TableName": table_name,
            "Key": self._key,
            "UpdateExpression": expression,
            "ExpressionAttributeValues": self._values,
        }
        expressions = expression
        if self._condition is not None:
            arguments["ConditionExpression"] = self._condition
            expressions += " " + self._condition
        names = {f"#{name}": name for name in _RESERVED if f"#{name}" in expressions}
        if names:
            arguments["ExpressionAttributeNames"] = names
        return arguments

    def _bind(self, placeholder: str, value: object) -> str:
        encoded = encode(value)
        if self._values.get(placeholder, encoded) != encoded:
            raise ValueError(f"{placeholder} is bound to two values in one update")
        self._values[placeholder] = encoded
        return placeholder


def _path(name: str) -> str:
    return f"#{name}" if name in _RESERVED else name
