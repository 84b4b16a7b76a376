"""``fleet``: which commit each instance of the groups runs, and which instances a deploy left behind.

Auto Scaling says which instances a group has now (``DescribeAutoScalingGroups``); the ledger says what each
one's deployment did (``BatchGetItem``, decoded by the ledger's own codec). Joined, they answer the question a
healthy-looking group can hide: is every instance on the group's newest successfully deployed commit? An
instance on another commit, whose deploy failed, or with no deploy at all is flagged, and any flag makes the
command exit 1, so a script can gate on it.

The group's newest successful deploy is the SUCCEEDED entry, among the group's current instances, that
finished last. "Older" therefore means "not what the group deployed last", which also catches a rollback: an
instance still on the rolled-back commit is flagged. Warm-pool instances are not listed: the dispatcher ignores
their launch into the pool and deploys them when they enter the group.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger.ledger.codec import UnreadableItem, decode_entry
from deploy_trigger.ledger.model import TRACKED, LedgerEntry, Status
from deploy_trigger.ledger.schema import PARTITION_KEY, iso_time
from deploy_trigger_cli import config as sources
from deploy_trigger_cli.aws import AwsClients, failed
from deploy_trigger_cli.config import Config
from deploy_trigger_cli.errors import EXIT_FAILED, EXIT_OK, ConfigError, OperationFailed
from deploy_trigger_cli.ledger_view import table_error
from deploy_trigger_cli.output import Output, table
from deploy_trigger_cli.timestamps import ago

#: BatchGetItem takes at most 100 keys per request.
BATCH_GET_LIMIT = 100
#: Rounds of re-requesting the keys DynamoDB left unprocessed (throttling) before giving up, with backoff.
UNPROCESSED_RETRIES = 6
#: The first backoff, doubled each round: 0.05 s ... 1.6 s, about 3 s in all.
FIRST_BACKOFF_SECONDS = 0.05
SHORT_SHA_LENGTH = 7


class Verdict(StrEnum):
    """Where an instance stands against its group's newest successful deploy."""

    CURRENT = "current"
    OLDER_COMMIT = "older-commit"
    UNKNOWN_COMMIT = "unknown-commit"
    DEPLOYING = "deploying"
    FAILED = "failed"
    NOT_DEPLOYED = "not-deployed"

    @property
    def flagged(self) -> bool:
        """Everything but an instance on the newest commit or one still being deployed needs a look."""
        return self not in (Verdict.CURRENT, Verdict.DEPLOYING)


#: Statuses of a deploy still under way: the dispatcher holds the claim, or the tracker follows the run.
_DEPLOYING = (Status.CLAIMED, *TRACKED)
_FAILED = (Status.FAILED, Status.DEPLOY_FAILED)


@dataclass(frozen=True)
class GroupInstance:
    """One instance as Auto Scaling lists it in its group."""

    instance_id: str
    asg_name: str
    lifecycle_state: str
    health_status: str


@dataclass(frozen=True)
class InstanceReport:
    instance: GroupInstance
    entry: LedgerEntry | None
    verdict: Verdict
    reason: str


@dataclass(frozen=True)
class GroupReport:
    name: str
    #: The group's newest successful deploy (None when no current instance has one with a recorded commit).
    newest: LedgerEntry | None
    instances: tuple[InstanceReport, ...]


def run_fleet(config: Config, aws: AwsClients, out: Output, asg_values: Sequence[str]) -> int:
    names = group_names(config, asg_values)
    table_name = config.require(sources.TABLE)
    members = describe_groups(aws.client("autoscaling"), names)
    entries = read_entries(
        aws.client("dynamodb"), table_name, [instance.instance_id for group in members.values() for instance in group]
    )
    reports = [assess(name, members[name], entries) for name in names]
    now = datetime.now(UTC)
    out.result(fleet_json(table_name, reports), render_fleet(reports, now))
    return EXIT_FAILED if any(row.verdict.flagged for report in reports for row in report.instances) else EXIT_OK


def group_names(config: Config, asg_values: Sequence[str]) -> list[str]:
    """``--asg`` (repeatable or comma-separated), else the dispatcher's ALLOWED_ASG_NAMES; in a stable order."""
    given = [name.strip() for value in asg_values for name in value.split(",") if name.strip()]
    names = given or config.allowed_asg_names()
    if not names:
        raise ConfigError(
            "no Auto Scaling group to look at: pass --asg NAME (repeatable or comma-separated), or configure "
            "the dispatcher's ALLOWED_ASG_NAMES (this shell's, or the deployed function's with --stack NAME)"
        )
    return list(dict.fromkeys(names))


def describe_groups(autoscaling: Any, names: Sequence[str]) -> dict[str, list[GroupInstance]]:
    """Each named group's instances; a name Auto Scaling does not know is a configuration error."""
    members: dict[str, list[GroupInstance]] = {}
    try:
        for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate(
            AutoScalingGroupNames=list(names)
        ):
            for group in page.get("AutoScalingGroups", []):
                name = str(group["AutoScalingGroupName"])
                members[name] = [
                    GroupInstance(
                        instance_id=str(instance["InstanceId"]),
                        asg_name=name,
                        lifecycle_state=str(instance.get("LifecycleState", "?")),
                        health_status=str(instance.get("HealthStatus", "?")),
                    )
                    for instance in group.get("Instances", [])
                ]
    except (ClientError, BotoCoreError) as error:
        raise failed("describing the Auto Scaling groups", error) from None
    missing = [name for name in names if name not in members]
    if missing:
        raise ConfigError(
            f"no Auto Scaling group {', '.join(map(repr, missing))} in this account and region "
            "(check --asg, ALLOWED_ASG_NAMES and --region)"
        )
    return members


def read_entries(
    dynamodb: Any,
    table_name: str,
    instance_ids: Iterable[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, LedgerEntry]:
    """The ledger entries of these instances, by instance ID (an instance without one is absent).

    BatchGetItem in chunks of 100 keys; the keys DynamoDB leaves unprocessed (throttling, or the 16 MB
    response limit) are asked for again with exponential backoff, as the API asks callers to do.
    """
    wanted = list(dict.fromkeys(instance_ids))
    entries: dict[str, LedgerEntry] = {}
    for start in range(0, len(wanted), BATCH_GET_LIMIT):
        keys: list[dict[str, Any]] = [
            {PARTITION_KEY: {"S": instance_id}} for instance_id in wanted[start : start + BATCH_GET_LIMIT]
        ]
        for retry in range(UNPROCESSED_RETRIES + 1):
            if retry:
                sleep(FIRST_BACKOFF_SECONDS * 2 ** (retry - 1))
            items, keys = _batch_get(dynamodb, table_name, keys)
            for item in items:
                entry = _decode(item, table_name)
                entries[entry.instance_id] = entry
            if not keys:
                break
        else:
            raise OperationFailed(
                f"reading table {table_name!r} failed: DynamoDB left {len(keys)} keys unprocessed after "
                f"{UNPROCESSED_RETRIES} retries (throttled); try again in a minute"
            )
    return entries


def _batch_get(
    dynamodb: Any, table_name: str, keys: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """One BatchGetItem: the items it returned, and the keys it left for another request."""
    try:
        # Consistent: an operator checking right after a deploy ended wants the tracker's last write.
        answer = dynamodb.batch_get_item(RequestItems={table_name: {"Keys": keys, "ConsistentRead": True}})
    except ClientError as error:
        raise table_error(error, table_name) from None
    except BotoCoreError as error:
        raise failed(f"reading table {table_name!r}", error) from None
    items = list(answer.get("Responses", {}).get(table_name, []))
    unprocessed = list(answer.get("UnprocessedKeys", {}).get(table_name, {}).get("Keys", []))
    return items, unprocessed


def _decode(item: Mapping[str, Any], table_name: str) -> LedgerEntry:
    try:
        return decode_entry(item)
    except UnreadableItem as error:
        raise OperationFailed(f"an entry in table {table_name!r} is not one this CLI can read: {error}") from None


def assess(name: str, instances: Sequence[GroupInstance], entries: Mapping[str, LedgerEntry]) -> GroupReport:
    """Each instance of one group against the group's newest successful deploy; flagged instances first."""
    newest = newest_successful_deploy(entries[i.instance_id] for i in instances if i.instance_id in entries)
    rows = [_verdict(instance, entries.get(instance.instance_id), newest) for instance in instances]
    rows.sort(key=lambda row: (not row.verdict.flagged, row.instance.instance_id))
    return GroupReport(name, newest, tuple(rows))


def newest_successful_deploy(entries: Iterable[LedgerEntry]) -> LedgerEntry | None:
    """The SUCCEEDED entry with a recorded commit that finished last (ties broken by instance ID, so that the
    answer never depends on the order DynamoDB returned the items)."""
    succeeded = [entry for entry in entries if entry.status is Status.SUCCEEDED and entry.head_sha]
    if not succeeded:
        return None
    return max(
        succeeded, key=lambda entry: (entry.finished_at.timestamp() if entry.finished_at else 0.0, entry.instance_id)
    )


def _verdict(instance: GroupInstance, entry: LedgerEntry | None, newest: LedgerEntry | None) -> InstanceReport:
    if entry is None or entry.status is not Status.SUCCEEDED:
        verdict, reason = _without_success(instance.instance_id, entry)
    elif not entry.head_sha or newest is None or not newest.head_sha:
        verdict, reason = Verdict.UNKNOWN_COMMIT, "succeeded, but the ledger has no commit for its run"
    elif entry.head_sha != newest.head_sha:
        verdict = Verdict.OLDER_COMMIT
        reason = (
            f"runs {short_sha(entry.head_sha)}; the group's newest successful deploy is {short_sha(newest.head_sha)}"
        )
    else:
        verdict, reason = Verdict.CURRENT, "on the group's newest successful deploy"
    return InstanceReport(instance, entry, verdict, reason)


def _without_success(instance_id: str, entry: LedgerEntry | None) -> tuple[Verdict, str]:
    """An instance whose latest launch has no successful deploy: under way, failed, reset, or never seen."""
    if entry is None:
        return Verdict.NOT_DEPLOYED, (
            "no ledger entry: no launch event reached the dispatcher, it ignored the event, or the entry expired"
        )
    if entry.status in _DEPLOYING:
        return Verdict.DEPLOYING, f"{entry.status.lower()}: the deploy is under way"
    if entry.status in _FAILED:
        return Verdict.FAILED, f"{entry.status}: `deploy-trigger status {instance_id}` says why"
    return Verdict.NOT_DEPLOYED, "reset after a rejected dispatch; replay it: `deploy-trigger redrive`"


def short_sha(sha: str | None) -> str:
    return sha[:SHORT_SHA_LENGTH] if sha else "-"


def outcome(entry: LedgerEntry | None) -> str:
    """The tracker's outcome, with the run's conclusion when it says more (``failed (cancelled)``)."""
    if entry is None or not (entry.deploy_outcome or entry.conclusion):
        return "-"
    if entry.deploy_outcome and entry.conclusion and entry.conclusion != "success":
        return f"{entry.deploy_outcome} ({entry.conclusion})"
    return entry.deploy_outcome or str(entry.conclusion)


def fleet_json(table_name: str, reports: Sequence[GroupReport]) -> dict[str, Any]:
    rows = [row for report in reports for row in report.instances]
    return {
        "table": table_name,
        "flagged": [row.instance.instance_id for row in rows if row.verdict.flagged],
        "counts": {verdict.value: sum(row.verdict is verdict for row in rows) for verdict in Verdict},
        "groups": [
            {
                "name": report.name,
                "newest_deploy": _newest_json(report.newest),
                "instances": [_instance_json(row) for row in report.instances],
            }
            for report in reports
        ],
    }


def _newest_json(entry: LedgerEntry | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "head_sha": entry.head_sha,
        "instance_id": entry.instance_id,
        "run_id": entry.run_id,
        "run_url": entry.run_url,
        "finished_at": _time(entry.finished_at),
    }


def _instance_json(row: InstanceReport) -> dict[str, Any]:
    entry = row.entry
    return {
        "instance_id": row.instance.instance_id,
        "lifecycle_state": row.instance.lifecycle_state,
        "health_status": row.instance.health_status,
        "ledger_status": entry.status.value if entry else None,
        "head_sha": entry.head_sha if entry else None,
        "conclusion": entry.conclusion if entry else None,
        "deploy_outcome": entry.deploy_outcome if entry else None,
        "run_id": entry.run_id if entry else None,
        "run_url": entry.run_url if entry else None,
        "finished_at": _time(entry.finished_at) if entry else None,
        "verdict": row.verdict.value,
        "flagged": row.verdict.flagged,
        "reason": row.reason,
    }


def _time(moment: datetime | None) -> str | None:
    return iso_time(moment.timestamp()) if moment else None


def render_fleet(reports: Sequence[GroupReport], now: datetime) -> str:
    """Per group: its newest successful deploy, then one line per instance; then the totals."""
    sections = []
    for report in reports:
        heading = f"{report.name}: "
        if report.newest is not None:
            finished = ago(report.newest.finished_at, now) or "at an unrecorded time"
            heading += (
                f"newest successful deploy {short_sha(report.newest.head_sha)} "
                f"(on {report.newest.instance_id}, finished {finished})"
            )
        else:
            heading += "no successful deploy with a recorded commit"
        if not report.instances:
            sections.append(f"{heading}\n  (no instances)")
            continue
        rows = [
            [
                row.instance.instance_id,
                row.instance.lifecycle_state,
                row.entry.status.value if row.entry else "-",
                short_sha(row.entry.head_sha if row.entry else None),
                outcome(row.entry),
                f"{'!' if row.verdict.flagged else ' '} {row.verdict}: {row.reason}",
            ]
            for row in report.instances
        ]
        headers = ["INSTANCE", "STATE", "LEDGER", "COMMIT", "OUTCOME", "  VERDICT"]
        sections.append(f"{heading}\n{table(headers, rows)}")
    rows_all = [row for report in reports for row in report.instances]
    flagged = sum(row.verdict.flagged for row in rows_all)
    counts = ", ".join(
        f"{count} {verdict}" for verdict in Verdict if (count := sum(row.verdict is verdict for row in rows_all))
    )
    groups = f"{len(reports)} group{'s' if len(reports) != 1 else ''}"
    summary = f"{len(rows_all)} instance{'s' if len(rows_all) != 1 else ''} in {groups}"
    summary += f": {counts}" if counts else ""
    summary += f". {flagged} flagged." if flagged else ". Nothing flagged."
    return "\n\n".join([*sections, summary])
