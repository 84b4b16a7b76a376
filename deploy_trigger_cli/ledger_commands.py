"""``status``, ``list`` and ``reset``: the commands that read or (explicitly) reset ledger entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from deploy_trigger.ledger.model import Status
from deploy_trigger_cli import config as sources
from deploy_trigger_cli.aws import AwsClients
from deploy_trigger_cli.config import Config
from deploy_trigger_cli.errors import EXIT_FAILED, EXIT_OK, ConfigError
from deploy_trigger_cli.ledger_view import (
    check_instance_id,
    entry_json,
    fetch,
    queue_wait,
    render_entry,
    render_list,
    scan,
)
from deploy_trigger_cli.output import Output
from deploy_trigger_cli.reset import operator_note, reset_failed
from deploy_trigger_cli.timestamps import parse_since


def run_status(config: Config, aws: AwsClients, out: Output, instance_id: str) -> int:
    instance_id = check_instance_id(instance_id)
    table = config.require(sources.TABLE)
    record = fetch(aws.client("dynamodb"), table, instance_id)
    if record is None:
        message = (
            f"No ledger entry for {instance_id} in table {table}. The dispatcher never claimed this instance: no "
            "launch event reached it (check the rule and the delivery DLQ: `deploy-trigger redrive`), the event "
            "was ignored (group not in ALLOWED_ASG_NAMES, a launch into the warm pool), or the entry expired "
            "(90 days after its last change)."
        )
        out.result({"instance_id": instance_id, "found": False, "message": message}, message)
        return EXIT_FAILED
    now = datetime.now(UTC)
    wait = queue_wait(aws.client("dynamodb"), table, record, now) if record.status is Status.WAITING else None
    fields = entry_json(record) | ({"waiting": wait.as_dict()} if wait else {})
    out.result(fields, render_entry(record, now, wait))
    return EXIT_OK


def run_list(
    config: Config,
    aws: AwsClients,
    out: Output,
    *,
    statuses: Sequence[str],
    asg_name: str | None,
    since: str | None,
    limit: int | None,
) -> int:
    table = config.require(sources.TABLE)
    now = datetime.now(UTC)
    try:
        since_time = parse_since(since, now) if since else None
    except ValueError as error:
        raise ConfigError(str(error)) from None
    wanted = sorted({status.strip().upper() for value in statuses for status in value.split(",") if status.strip()})
    records = scan(aws.client("dynamodb"), table, statuses=wanted, asg_name=asg_name, since=since_time)
    total = len(records)
    if limit is not None:
        records = records[:limit]
    filters = ", ".join(
        part
        for part in (
            f"status {'/'.join(wanted)}" if wanted else "",
            f"group {asg_name}" if asg_name else "",
            f"changed since {since_time.strftime('%Y-%m-%d %H:%M:%SZ')}" if since_time else "",
        )
        if part
    )
    text = render_list(records, now, filters)
    if limit is not None and total > limit:
        text += f" (showing the {limit} most recently changed of {total})"
    out.result(
        {
            "table": table,
            "filters": {
                "status": wanted,
                "asg": asg_name,
                "since": since_time.isoformat() if since_time else None,
            },
            "count": total,
            "entries": [entry_json(record) for record in records],
        },
        text,
    )
    return EXIT_OK


def run_reset(config: Config, aws: AwsClients, out: Output, instance_ids: Sequence[str], note: str | None) -> int:
    ids = [check_instance_id(instance_id) for instance_id in instance_ids]
    table = config.require(sources.TABLE)
    dynamodb = aws.client("dynamodb")
    outcomes = [
        reset_failed(dynamodb, table, instance_id, operator_note("deploy-trigger reset", note)) for instance_id in ids
    ]
    text = "\n".join(f"{outcome.instance_id}: {outcome.detail}" for outcome in outcomes)
    out.result(
        {
            "table": table,
            "results": [
                {"instance_id": o.instance_id, "reset": o.reset, "status": o.status, "detail": o.detail}
                for o in outcomes
            ],
        },
        text,
    )
    return EXIT_OK if all(outcome.reset for outcome in outcomes) else EXIT_FAILED
