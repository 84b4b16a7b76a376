"""Resetting a FAILED ledger entry: the one explicit act that lets a rejected launch be dispatched again.

GitHub rejected the dispatch for good (a 4xx: an undeclared input, a missing ref, a token without permission),
so the dispatcher sends nothing more for that launch. Once the cause is fixed, an operator resets the entry
(``deploy_trigger.ledger.table.Ledger.reset_failed``: a conditional write from FAILED to RESET, noted in the history),
and the next delivery of the launch event, usually a ``redrive`` of the on-failure queue, dispatches once.
Nothing else in the CLI resets an entry; ``redrive --reset-failed`` calls this same function.
"""

from __future__ import annotations

import getpass
import socket
from dataclasses import dataclass
from typing import Any

from deploy_trigger.errors import LedgerUnavailable
from deploy_trigger.ledger.table import Ledger
from deploy_trigger_cli.errors import OperationFailed
from deploy_trigger_cli.ledger_view import fetch


@dataclass(frozen=True)
class ResetOutcome:
    instance_id: str
    reset: bool
    #: The entry's status after the attempt (None: no entry).
    status: str | None
    detail: str


def operator_note(how: str, note: str | None) -> str:
    """What the history records about the reset: who, from where, how, and the operator's own words."""
    try:
        who = f"{getpass.getuser()}@{socket.gethostname()}"
    except (OSError, KeyError):
        who = "an operator"
    return f"reset by {who} via {how}" + (f": {note}" if note else "")


def reset_failed(dynamodb: Any, table_name: str, instance_id: str, note: str) -> ResetOutcome:
    try:
        done = Ledger(dynamodb, table_name).reset_failed(instance_id, note)
    except LedgerUnavailable as error:
        raise OperationFailed(f"resetting {instance_id} in table {table_name!r} failed: {error}") from None
    if done:
        return ResetOutcome(
            instance_id,
            True,
            "RESET",
            "reset: the next event for this instance dispatches once (`deploy-trigger redrive --yes` replays it)",
        )
    record = fetch(dynamodb, table_name, instance_id)
    if record is None:
        return ResetOutcome(instance_id, False, None, "no ledger entry for this instance: nothing to reset")
    return ResetOutcome(
        instance_id, False, record.status, f"status is {record.status}, not FAILED: nothing to reset (unchanged)"
    )
