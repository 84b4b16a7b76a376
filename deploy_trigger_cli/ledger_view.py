"""The ledger as an operator reads it: one entry in plain words (``status``), or a filtered table (``list``).

Items are read through the ledger's own codec (``deploy_trigger.ledger.codec``), so the CLI sees exactly what
the dispatcher and the tracker see. The lifecycle action token is never shown: it is a capability to complete
the instance's lifecycle action.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger.errors import LedgerUnavailable
from deploy_trigger.events import INSTANCE_ID
from deploy_trigger.ledger.budget_item import BudgetItem
from deploy_trigger.ledger.codec import UnreadableItem, decode_entry
from deploy_trigger.ledger.model import TRACKED, LedgerEntry, Status
from deploy_trigger.ledger.schema import INSTANCE_ITEMS, INSTANCE_ITEMS_VALUES, iso_time
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.settings import Settings
from deploy_trigger_cli.aws import error_code, failed
from deploy_trigger_cli.errors import ConfigError, OperationFailed
from deploy_trigger_cli.output import shorten, table
from deploy_trigger_cli.timestamps import from_epoch, shown

_TABLE_MISSING = "ResourceNotFoundException"


def entry_json(entry: LedgerEntry) -> dict[str, Any]:
    """The entry for ``--json``: every attribute but the lifecycle token, with times in the ledger's format."""
    fields = asdict(entry)
    fields.pop("lifecycle_action_token")
    for name, value in fields.items():
        if isinstance(value, datetime):
            fields[name] = iso_time(value.timestamp())
    for name in ("first_claimed_at", "lease_expires_at", "last_heartbeat_at", "expires_at"):
        if fields[name] is not None:
            fields[name] = iso_time(fields[name])
    fields["history"] = [
        {**event, "at": iso_time(event["at"].timestamp()) if event["at"] else None} for event in fields["history"]
    ]
    return {**fields, "found": True, "meaning": entry.status.meaning}


def check_instance_id(instance_id: str) -> str:
    if not INSTANCE_ID.fullmatch(instance_id):
        raise ConfigError(f"{instance_id!r} is not an EC2 instance ID (like i-0123456789abcdef0)")
    return instance_id


def fetch(dynamodb: Any, table_name: str, instance_id: str) -> LedgerEntry | None:
    try:
        return Ledger(dynamodb, table_name).get(instance_id)
    except LedgerUnavailable as error:
        if error.code == _TABLE_MISSING:
            raise _no_such_table(table_name) from None
        raise OperationFailed(f"reading table {table_name!r} failed: {error}") from None
    except UnreadableItem as error:
        raise OperationFailed(f"the entry in table {table_name!r} is not one this CLI can read: {error}") from None


def scan(
    dynamodb: Any,
    table_name: str,
    *,
    statuses: Sequence[str] = (),
    asg_name: str | None = None,
    since: datetime | None = None,
) -> list[LedgerEntry]:
    """Every entry matching the filters, most recently changed first.

    A Scan with a FilterExpression reads the whole table and only trims what comes back: fine for an operator
    tool over one small item per launch that expires after 90 days, and it needs no index that the dispatcher
    would pay for on every write. Pages are followed to the end (LastEvaluatedKey).
    """
    # The sweep's reference item is no instance's entry (and not one the codec reads): only instances' items.
    clauses: list[str] = [INSTANCE_ITEMS]
    names: dict[str, str] = {}
    values: dict[str, Any] = dict(INSTANCE_ITEMS_VALUES)
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
        values[":since"] = {"S": iso_time(since.timestamp())}
        clauses.append("updated_at >= :since")
    request: dict[str, Any] = {
        "TableName": table_name,
        "FilterExpression": " AND ".join(clauses),
        "ExpressionAttributeValues": values,
    }
    if names:
        request["ExpressionAttributeNames"] = names
    records: list[LedgerEntry] = []
    try:
        for page in dynamodb.get_paginator("scan").paginate(**request):
            records.extend(decode_entry(item) for item in page.get("Items", []))
    except ClientError as error:
        raise table_error(error, table_name) from None
    except BotoCoreError as error:
        raise failed(f"scanning table {table_name!r}", error) from None
    except UnreadableItem as error:
        raise OperationFailed(f"an entry in table {table_name!r} is not one this CLI can read: {error}") from None
    records.sort(key=lambda record: record.updated_at.timestamp() if record.updated_at else 0.0, reverse=True)
    return records


@dataclass(frozen=True)
class QueueWait:
    """Where a launch waiting for GitHub budget stands, and about how long until the drainer sends it."""

    position: int
    queue_length: int
    paused_until: datetime | None
    minutes: int

    def as_dict(self) -> dict[str, Any]:
        paused = iso_time(self.paused_until.timestamp()) if self.paused_until else None
        return {"position": self.position, "queue_length": self.queue_length, "paused_until": paused,
                "about_minutes": self.minutes}  # fmt: skip

    def describe(self, now: datetime) -> str:
        text = f"waiting for GitHub budget, about {self.minutes} minutes (place {self.position} of {self.queue_length}"
        if self.paused_until and self.paused_until > now:
            text += f"; GitHub paused dispatches until {self.paused_until.strftime('%H:%M:%SZ')}"
        return text + ")"


def queue_wait(dynamodb: Any, table_name: str, record: LedgerEntry, now: datetime) -> QueueWait | None:
    """The launch's place in the queue and the wait at the default pace (one dispatch a second, GitHub's ask),
    after the pause GitHub last asked for; None if it has left the queue meanwhile."""
    try:
        queue = Ledger(dynamodb, table_name).queued(None, 5000)
        budget = BudgetItem(dynamodb, table_name).read()
    except LedgerUnavailable as error:
        raise OperationFailed(f"reading the queue in table {table_name!r} failed: {error}") from None
    places = [entry.instance_id for entry in queue]
    if record.instance_id not in places:
        return None
    position = places.index(record.instance_id) + 1
    pause = max(0.0, budget.paused_until - now.timestamp())
    seconds = pause + position * Settings.mutation_interval_seconds
    return QueueWait(position, len(places), from_epoch(budget.paused_until or None), max(1, math.ceil(seconds / 60)))


def _title_carries(record: LedgerEntry) -> str:
    return (
        "its own: sent in a batch, whose ID the run's title carries"
        if record.batch_id
        else "the workflow run's title carries it"
    )


def render_entry(record: LedgerEntry, now: datetime, wait: QueueWait | None = None) -> str:
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
        ("Dispatch ID", f"{record.dispatch_id or '-'} ({_title_carries(record)})"),
        ("First claimed", shown(from_epoch(record.first_claimed_at or None), now)),
        ("Dispatched", shown(record.dispatched_at, now)),
        ("Run", run),
        ("Deployed commit", _commit(record)),
        ("Conclusion", _conclusion(record)),
        ("Attempts", str(record.attempts)),
        ("Last error", record.last_error or "-"),
    ]
    if record.batch_id:
        place = f", place {record.batch_position}" if record.batch_position is not None else ""
        rows.insert(
            3,
            ("Batch", f"{record.batch_id}{place}: its run's title carries it; this instance's job is named by its ID"),
        )
    if record.status == Status.CLAIMED:
        rows.append(("Lease", _lease(record, now)))
    if wait is not None:
        rows.append(("Waiting", wait.describe(now)))
    rows += [
        ("Updated", shown(record.updated_at, now)),
        ("Expires (TTL)", shown(from_epoch(record.expires_at), now)),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{record.instance_id}  {record.status}", f"  {record.status.meaning}", ""]
    lines += [f"  {label.ljust(width)}  {value}" for label, value in rows]
    lines += ["", "History"]
    if record.history:
        event_width = max(len(event.event) for event in record.history)
        for event in record.history:
            stamp = event.at.strftime("%Y-%m-%d %H:%M:%SZ") if event.at else "-"
            lines.append(f"  {stamp}  {event.event.ljust(event_width)}  {event.detail}")
    else:
        lines.append("  (no history recorded)")
    advice = next_step(record, now)
    if advice:
        lines += ["", f"Next: {advice}"]
    return "\n".join(lines)


def next_step(record: LedgerEntry, now: datetime) -> str | None:
    if record.status == Status.FAILED:
        return (
            "fix the cause in the last error (workflow inputs, ref, token permissions: `deploy-trigger doctor`), "
            f"then `deploy-trigger reset {record.instance_id}` and `deploy-trigger redrive --yes` to replay the "
            "launch event from the on-failure queue (or both at once: `deploy-trigger redrive --reset-failed --yes`)."
        )
    if record.status == Status.RESET:
        return "replay the launch event: `deploy-trigger redrive --yes` (it dispatches once)."
    lease_end = from_epoch(record.lease_expires_at)
    if record.status == Status.CLAIMED and lease_end is not None and lease_end < now:
        return (
            "the claim's lease has expired: Lambda's retry takes it over within minutes. If its retries are spent, "
            "the event is in the on-failure queue: `deploy-trigger redrive` shows it."
        )
    return None


def render_list(records: Sequence[LedgerEntry], now: datetime, filters: str) -> str:
    if not records:
        return f"No ledger entries{' match: ' + filters if filters else ''}."
    rows = [
        [
            record.instance_id,
            record.status,
            record.asg_name or "-",
            str(record.attempts),
            shown(record.updated_at, now),
            str(record.run_id) if record.run_id is not None else "-",
            shorten(record.last_error, 60) or "-",
        ]
        for record in records
    ]
    headers = ["INSTANCE", "STATUS", "ASG", "ATTEMPTS", "UPDATED", "RUN", "LAST ERROR"]
    summary = f"{len(records)} entr{'y' if len(records) == 1 else 'ies'}{f' ({filters})' if filters else ''}"
    return f"{table(headers, rows)}\n\n{summary}"


def _commit(record: LedgerEntry) -> str:
    """The short SHA, as git shows it (``--json`` has the full one); the tracker records it when the run ends."""
    if record.head_sha:
        return record.head_sha[:7]
    return "- (recorded when the run ends)" if record.status in TRACKED else "-"


def _conclusion(record: LedgerEntry) -> str:
    """GitHub's conclusion of the run, and the tracker's outcome when it says more (no run, stuck)."""
    if record.conclusion and record.deploy_outcome:
        return f"{record.conclusion} (deploy {record.deploy_outcome})"
    if record.conclusion or record.deploy_outcome:
        return record.conclusion or f"deploy {record.deploy_outcome}"
    return "- (the run has not ended)" if record.status in TRACKED else "-"


def _lease(record: LedgerEntry, now: datetime) -> str:
    lease_end = from_epoch(record.lease_expires_at)
    if lease_end is None:
        return "none"
    state = "held" if lease_end > now else "expired"
    unconfirmed = (
        "; a POST may have reached GitHub unconfirmed, so whoever takes over lists runs before sending"
        if record.post_unconfirmed
        else ""
    )
    return f"{state} (by invocation {record.lease_owner or '?'}), until {shown(lease_end, now)}{unconfirmed}"


def table_error(error: ClientError, table_name: str) -> Exception:
    """The CLI error for a failed read of the ledger: a missing table is configuration, the rest an operation."""
    if error_code(error) == _TABLE_MISSING:
        return _no_such_table(table_name)
    return failed(f"reading table {table_name!r}", error)


def _no_such_table(table_name: str) -> ConfigError:
    return ConfigError(
        f"table {table_name!r} does not exist in this account and region: check --table / LEDGER_TABLE_NAME "
        "and --region (`deploy-trigger doctor` checks the whole configuration)"
    )
