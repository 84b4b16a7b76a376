"""The ledger as an operator reads it: one entry in plain words (``status``), or a filtered table (``list``).

Reads the item's attributes directly rather than through ``deploy_trigger.ledger.LedgerEntry``, which carries only
what the dispatch algorithm needs; an operator also wants the group, the timestamps and the ``history`` list.
The lifecycle action token is never shown: it is a capability to complete the instance's lifecycle action.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger.ledger import PARTITION_KEY, Status
from deploy_trigger_cli.aws import error_code, failed
from deploy_trigger_cli.errors import ConfigError
from deploy_trigger_cli.output import shorten, table
from deploy_trigger_cli.timestamps import from_epoch, ledger_time, parse_ledger_time, shown

INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")

#: What each status means, and who moves it on (architecture.md); the tracker's statuses are included so a
#: newer ledger still reads well.
MEANINGS: Mapping[str, str] = {
    Status.CLAIMED: "An invocation holds the claim and may be calling GitHub; if its lease has expired, the next "
    "retry of the event takes over (and first looks for a run the earlier attempt may have started).",
    Status.DISPATCHED: "GitHub accepted the dispatch: the deployment workflow was started.",
    Status.FAILED: "GitHub rejected the dispatch for good; nothing more is sent for this launch until an operator "
    "fixes the cause and resets the entry.",
    Status.RESET: "An operator reset a rejected dispatch; the next event for this instance dispatches anew.",
    Status.RUNNING: "The workflow run is in progress.",
    Status.SUCCEEDED: "The workflow run succeeded (and the instance's lifecycle action was continued).",
    Status.DEPLOY_FAILED: "The run failed, never appeared or got stuck; the instance was abandoned and an alert sent.",
}


@dataclass(frozen=True)
class HistoryEvent:
    at: str
    event: str
    detail: str


@dataclass(frozen=True)
class LedgerRecord:
    instance_id: str
    status: str
    asg_name: str | None = None
    detail_type: str | None = None
    lifecycle_hook_name: str | None = None
    event_id: str | None = None
    launch_key: str | None = None
    dispatch_id: str | None = None
    attempts: int = 0
    created_at: str | None = None
    first_claimed_at: str | None = None
    dispatched_at: str | None = None
    updated_at: str | None = None
    run_id: int | None = None
    run_url: str | None = None
    last_error: str | None = None
    failure_reason: str | None = None
    lease_owner: str | None = None
    lease_expires_at: str | None = None
    post_unconfirmed: bool = False
    expires_at: str | None = None
    history: tuple[HistoryEvent, ...] = field(default_factory=tuple)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> LedgerRecord:
        def text(key: str) -> str | None:
            value = item.get(key, {}).get("S")
            return str(value) if value is not None else None

        def number(key: str) -> float | None:
            value = item.get(key, {}).get("N")
            return float(value) if value is not None else None

        def epoch_text(key: str) -> str | None:
            moment = from_epoch(number(key))
            return ledger_time(moment) if moment else None

        run_id = number("run_id")
        history = tuple(
            HistoryEvent(
                at=str(entry.get("M", {}).get("at", {}).get("S", "")),
                event=str(entry.get("M", {}).get("event", {}).get("S", "")),
                detail=str(entry.get("M", {}).get("detail", {}).get("S", "")),
            )
            for entry in item.get("history", {}).get("L", [])
        )
        return cls(
            instance_id=text(PARTITION_KEY) or "",
            status=text("status") or "",
            asg_name=text("asg_name"),
            detail_type=text("detail_type"),
            lifecycle_hook_name=text("lifecycle_hook_name"),
            event_id=text("event_id"),
            launch_key=text("launch_key"),
            dispatch_id=text("dispatch_id"),
            attempts=int(number("attempts") or 0),
            created_at=text("created_at"),
            first_claimed_at=epoch_text("first_claimed_at"),
            dispatched_at=text("dispatched_at"),
            updated_at=text("updated_at"),
            run_id=int(run_id) if run_id is not None else None,
            run_url=text("run_url"),
            last_error=text("last_error"),
            failure_reason=text("failure_reason"),
            lease_owner=text("lease_owner"),
            lease_expires_at=epoch_text("lease_expires_at"),
            post_unconfirmed=bool(item.get("post_unconfirmed", {}).get("BOOL", False)),
            expires_at=epoch_text("expires_at"),
            history=history,
        )

    @property
    def meaning(self) -> str:
        return MEANINGS.get(self.status, f"Status {self.status!r} is not one this CLI knows.")

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "found": True, "meaning": self.meaning}


def check_instance_id(instance_id: str) -> str:
    if not INSTANCE_ID.match(instance_id):
        raise ConfigError(f"{instance_id!r} is not an EC2 instance ID (like i-0123456789abcdef0)")
    return instance_id


def fetch(dynamodb: Any, table_name: str, instance_id: str) -> LedgerRecord | None:
    try:
        answer = dynamodb.get_item(TableName=table_name, Key={PARTITION_KEY: {"S": instance_id}}, ConsistentRead=True)
    except ClientError as error:
        raise _table_error(error, table_name) from None
    except BotoCoreError as error:
        raise failed(f"reading table {table_name!r}", error) from None
    item = answer.get("Item")
    return LedgerRecord.from_item(item) if item else None


def scan(
    dynamodb: Any,
    table_name: str,
    *,
    statuses: Sequence[str] = (),
    asg_name: str | None = None,
    since: datetime | None = None,
) -> list[LedgerRecord]:
    """Every entry matching the filters, most recently changed first.

    A Scan with a FilterExpression reads the whole table and only trims what comes back: fine for an operator
    tool over one small item per launch that expires after 90 days, and it needs no index that the dispatcher
    would pay for on every write. Pages are followed to the end (LastEvaluatedKey).
    """
    clauses: list[str] = []
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    if statuses:
        names["#status"] = "status"
        placeholders = []
        for index, status in enumerate(statuses):
            values[f":status{index}"] = {"S": status}
            placeholders.append(f":status{index}")
        clauses.append(f"#status IN ({', '.join(placeholders)})")
    if asg_name:
        values[":asg"] = {"S": asg_name}
        clauses.append("asg_name = :asg")
    if since is not None:
        # ISO 8601 UTC strings of one format sort like the instants they name.
        values[":since"] = {"S": ledger_time(since)}
        clauses.append("updated_at >= :since")
    request: dict[str, Any] = {"TableName": table_name}
    if clauses:
        request["FilterExpression"] = " AND ".join(clauses)
        request["ExpressionAttributeValues"] = values
    if names:
        request["ExpressionAttributeNames"] = names
    records: list[LedgerRecord] = []
    try:
        for page in dynamodb.get_paginator("scan").paginate(**request):
            records.extend(LedgerRecord.from_item(item) for item in page.get("Items", []))
    except ClientError as error:
        raise _table_error(error, table_name) from None
    except BotoCoreError as error:
        raise failed(f"scanning table {table_name!r}", error) from None
    records.sort(key=lambda record: record.updated_at or "", reverse=True)
    return records


def render_entry(record: LedgerRecord, now: datetime) -> str:
    """One entry in plain words, then its history as a timeline, then what to do next if anything."""
    launch = record.detail_type or "launch"
    if record.lifecycle_hook_name:
        launch += f" (hook {record.lifecycle_hook_name})"
    if record.event_id:
        launch += f", event {record.event_id}"
    run = "-"
    if record.run_id is not None or record.run_url:
        run = " ".join(part for part in (str(record.run_id or ""), record.run_url or "") if part)
    elif record.status == Status.DISPATCHED:
        run = "GitHub did not return the run (older API); find it by the dispatch ID in the run titles"
    rows = [
        ("Auto Scaling group", record.asg_name or "-"),
        ("Launch", launch),
        ("Dispatch ID", f"{record.dispatch_id or '-'} (the workflow run's title carries it)"),
        ("First claimed", shown(parse_ledger_time(record.first_claimed_at), now)),
        ("Dispatched", shown(parse_ledger_time(record.dispatched_at), now)),
        ("Run", run),
        ("Attempts", str(record.attempts)),
        ("Last error", record.last_error or "-"),
    ]
    if record.status == Status.CLAIMED:
        rows.append(("Lease", _lease(record, now)))
    rows += [
        ("Updated", shown(parse_ledger_time(record.updated_at), now)),
        ("Expires (TTL)", shown(parse_ledger_time(record.expires_at), now)),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{record.instance_id}  {record.status}", f"  {record.meaning}", ""]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    lines += ["", "History"]
    if record.history:
        event_width = max(len(event.event) for event in record.history)
        for event in record.history:
            at = parse_ledger_time(event.at)
            stamp = at.strftime("%Y-%m-%d %H:%M:%SZ") if at else event.at
            lines.append(f"  {stamp}  {event.event.ljust(event_width)}  {event.detail}")
    else:
        lines.append("  (no history recorded)")
    advice = next_step(record, now)
    if advice:
        lines += ["", f"Next: {advice}"]
    return "\n".join(lines)


def next_step(record: LedgerRecord, now: datetime) -> str | None:
    if record.status == Status.FAILED:
        return (
            "fix the cause in the last error (workflow inputs, ref, token permissions: `deploy-trigger doctor`), "
            f"then `deploy-trigger reset {record.instance_id}` and `deploy-trigger redrive --yes` to replay the "
            "launch event from the on-failure queue (or both at once: `deploy-trigger redrive --reset-failed --yes`)."
        )
    if record.status == Status.RESET:
        return "replay the launch event: `deploy-trigger redrive --yes` (it dispatches once)."
    lease_end = parse_ledger_time(record.lease_expires_at)
    if record.status == Status.CLAIMED and lease_end is not None and lease_end < now:
        return (
            "the claim's lease has expired: Lambda's retry takes it over within minutes. If its retries are spent, "
            "the event is in the on-failure queue: `deploy-trigger redrive` shows it."
        )
    return None


def render_list(records: Sequence[LedgerRecord], now: datetime, filters: str) -> str:
    if not records:
        return f"No ledger entries{' match: ' + filters if filters else ''}."
    rows = [
        [
            record.instance_id,
            record.status,
            record.asg_name or "-",
            str(record.attempts),
            shown(parse_ledger_time(record.updated_at), now),
            str(record.run_id) if record.run_id is not None else "-",
            shorten(record.last_error, 60) or "-",
        ]
        for record in records
    ]
    headers = ["INSTANCE", "STATUS", "ASG", "ATTEMPTS", "UPDATED", "RUN", "LAST ERROR"]
    summary = f"{len(records)} entr{'y' if len(records) == 1 else 'ies'}{f' ({filters})' if filters else ''}"
    return f"{table(headers, rows)}\n\n{summary}"


def _lease(record: LedgerRecord, now: datetime) -> str:
    lease_end = parse_ledger_time(record.lease_expires_at)
    if lease_end is None:
        return "none"
    state = "held" if lease_end > now else "expired"
    unconfirmed = (
        "; a POST may have reached GitHub unconfirmed, so whoever takes over lists runs before sending"
        if record.post_unconfirmed
        else ""
    )
    return f"{state} (by invocation {record.lease_owner or '?'}), until {shown(lease_end, now)}{unconfirmed}"


def _table_error(error: ClientError, table_name: str) -> Exception:
    if error_code(error) == "ResourceNotFoundException":
        return ConfigError(
            f"table {table_name!r} does not exist in this account and region: check --table / LEDGER_TABLE_NAME "
            "and --region (`deploy-trigger doctor` checks the whole configuration)"
        )
    return failed(f"reading table {table_name!r}", error)
