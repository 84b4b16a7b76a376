"""``redrive``: replays dead-letter messages through the dispatcher, deleting each only once its replay succeeded.

A dry run by default: it lists every message with its error and what the ledger says a replay would do, and
changes nothing (messages are released as they were found). ``--yes`` replays. Running it twice is safe: the
ledger still guarantees one run per instance, so a replayed event that was already dispatched is a duplicate
and sends nothing, and a message whose replay failed stays in its queue with the reason shown.

A FAILED entry (GitHub rejected the dispatch for good) stays failed, and its replay fails again without calling
GitHub, unless ``--reset-failed`` is given: an explicit act, for after the cause was fixed.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger.errors import MalformedEvent
from deploy_trigger.events import Ignored, parse_event
from deploy_trigger.ledger.model import LedgerEntry, Status, is_settled
from deploy_trigger.settings import Settings
from deploy_trigger_cli import config as sources
from deploy_trigger_cli.aws import AwsClients, aws_error
from deploy_trigger_cli.config import Config
from deploy_trigger_cli.dead_letters import DeadLetter, QueueReader
from deploy_trigger_cli.errors import EXIT_FAILED, EXIT_OK, CliError, ConfigError
from deploy_trigger_cli.ledger_view import fetch
from deploy_trigger_cli.output import Output
from deploy_trigger_cli.replay import LambdaTarget, LocalTarget, ReplayTarget
from deploy_trigger_cli.reset import operator_note, reset_failed

REPLAY = "replay"
RESET_AND_REPLAY = "reset, then replay"
LEAVE = "leave"


@dataclass(frozen=True)
class RedriveOptions:
    apply: bool
    target: str
    reset_failed: bool
    max_messages: int
    budget_seconds: float = 30.0
    verbose: bool = False


@dataclass
class Item:
    letter: DeadLetter
    action: str
    #: What the ledger says, and so what a replay will do.
    expectation: str
    ledger: LedgerEntry | None = None
    outcome: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            **self.letter.as_json(),
            "ledger_status": self.ledger.status if self.ledger else None,
            "action": self.action,
            "expectation": self.expectation,
            "outcome": self.outcome,
            "detail": self.detail,
        }


@dataclass
class Report:
    dry_run: bool
    target: str
    queues: list[dict[str, Any]] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return sum(1 for item in self.items if item.outcome == outcome)


def run_redrive(config: Config, aws: AwsClients, out: Output, options: RedriveOptions) -> int:
    queues = config.dead_letter_queues()
    table = config.require(sources.TABLE) if options.reset_failed else config.value(sources.TABLE)
    target = _target(config, aws, options)
    reader = QueueReader(aws.client("sqs"))
    report = Report(dry_run=not options.apply, target=target.description)
    received: list[DeadLetter] = []
    deleted: set[str] = set()
    try:
        for queue in queues:
            letters, more = reader.receive(queue, options.max_messages)
            received += letters
            report.queues.append({"label": queue.label, "url": queue.url, "received": len(letters), "more": more})
        dynamodb = aws.client("dynamodb") if table else None
        scope = _dispatcher_scope(config)
        report.items = [_assess(letter, dynamodb, table, scope, options.reset_failed) for letter in received]
        if options.apply:
            deleted = _replay_all(report.items, target, reader, dynamodb, table)
        else:
            for item in report.items:
                item.outcome = f"would {item.action}"
    finally:
        _release(reader, [letter for letter in received if letter.receipt_handle not in deleted], out)
    out.result(_as_json(report), _render(report))
    if report.dry_run:
        return EXIT_OK
    return EXIT_OK if all(item.outcome == "replayed" for item in report.items) else EXIT_FAILED


def _target(config: Config, aws: AwsClients, options: RedriveOptions) -> ReplayTarget:
    if options.target == "lambda":
        return LambdaTarget(aws.client("lambda"), config.require(sources.FUNCTION_NAME))
    config.settings()  # the handler needs the full configuration: say what is missing before touching a queue
    return LocalTarget(config.lambda_environment(), budget_seconds=options.budget_seconds, show_logs=options.verbose)


def _dispatcher_scope(config: Config) -> tuple[frozenset[str], str]:
    """ALLOWED_ASG_NAMES and LIFECYCLE_HOOK_NAME as the dispatcher reads them, to predict which events it ignores."""
    try:
        settings = config.settings()
    except ConfigError:
        # The lambda target needs no full local configuration.
        return frozenset(), Settings.lifecycle_hook_name
    return settings.allowed_asg_names, settings.lifecycle_hook_name


def _replay_all(
    items: list[Item], target: ReplayTarget, reader: QueueReader, dynamodb: Any, table: str | None
) -> set[str]:
    """Replay every item; the receipt handles of the messages deleted."""
    deleted: set[str] = set()
    with ExitStack() as stack:
        if isinstance(target, LocalTarget):
            stack.enter_context(target)
        for item in items:
            if _execute(item, target, reader, dynamodb, table):
                deleted.add(item.letter.receipt_handle)
    return deleted


def _release(reader: QueueReader, letters: list[DeadLetter], out: Output) -> None:
    """Every message not deleted becomes visible again now: for the next run, and for the alarm."""
    for letter in letters:
        try:
            reader.release(letter)
        except (ClientError, BotoCoreError) as error:
            out.note(
                f"could not release message {letter.message_id} ({aws_error(error)}); it reappears when its "
                "visibility timeout ends"
            )


def _assess(
    letter: DeadLetter, dynamodb: Any, table: str | None, scope: tuple[frozenset[str], str], reset: bool
) -> Item:
    """What replaying this message will do, from the event and the ledger (read, never written, here)."""
    if letter.event is None:
        return Item(letter, LEAVE, f"cannot be replayed ({letter.error}); inspect it in the SQS console")
    try:
        launch = parse_event(letter.event, *scope)
    except MalformedEvent as error:
        return Item(letter, LEAVE, f"the dispatcher rejects this event as malformed ({error}); a replay cannot help")
    if isinstance(launch, Ignored):
        return Item(letter, REPLAY, f"the dispatcher ignores this event ({launch.reason}); replaying only clears it")
    if dynamodb is None or table is None:
        return Item(letter, REPLAY, "ledger not read (no table configured): the ledger decides during the replay")
    record = fetch(dynamodb, table, launch.instance_id)
    if record is None:
        return Item(letter, REPLAY, "no ledger entry: the replay dispatches once")
    action, expectation = _expectation(record, launch.launch_key, reset)
    return Item(letter, action, expectation, record)


def _expectation(record: LedgerEntry, launch_key: str, reset: bool) -> tuple[str, str]:
    if record.launch_key != launch_key:
        return REPLAY, f"ledger {record.status} for an earlier launch: the replay dispatches this one"
    reason = f" ({record.last_error})" if record.last_error else ""
    if record.status == Status.FAILED:
        if reset:
            return RESET_AND_REPLAY, f"ledger FAILED{reason}: reset (--reset-failed), then the replay dispatches once"
        return REPLAY, (
            f"ledger FAILED{reason}: the replay fails again without calling GitHub; fix the cause, then add "
            "--reset-failed"
        )
    if is_settled(record):
        run = f"run {record.run_id}" if record.run_id is not None else "run ID unknown"
        return REPLAY, f"ledger {record.status} ({run}): a duplicate, nothing is sent"
    if record.status == Status.CLAIMED:
        return REPLAY, (
            "ledger CLAIMED: the replay takes over an expired claim (looking for an earlier run first) or fails "
            "while the claim is live"
        )
    return REPLAY, f"ledger {record.status}: the replay dispatches once"


def _execute(item: Item, target: ReplayTarget, reader: QueueReader, dynamodb: Any, table: str | None) -> bool:
    """Replay one message; True when it was deleted."""
    if item.action == LEAVE:
        item.outcome, item.detail = "left", "not replayed; the message stays"
        return False
    event = item.letter.event
    assert event is not None  # noqa: S101  (LEAVE covers messages without an event)
    if item.action == RESET_AND_REPLAY and table is not None and item.letter.instance_id:
        try:
            reset_failed(
                dynamodb, table, item.letter.instance_id, operator_note("deploy-trigger redrive --reset-failed", None)
            )
        except CliError as error:
            item.outcome, item.detail = "failed", f"the reset failed ({error}); not replayed, the message stays"
            return False
    result = target.replay(event)
    if not result.ok:
        item.outcome, item.detail = "failed", f"{result.detail}; the message stays in its queue"
        return False
    try:
        reader.delete(item.letter)
    except (ClientError, BotoCoreError) as error:
        item.outcome = "replayed, not deleted"
        item.detail = f"{result.detail}; deleting the message failed ({aws_error(error)}), so it stays (replaying it "
        "again is safe)"
        return False
    item.outcome, item.detail = "replayed", f"{result.detail}; message deleted"
    return True


def _as_json(report: Report) -> dict[str, Any]:
    return {
        "dry_run": report.dry_run,
        "target": report.target,
        "queues": report.queues,
        "messages": [item.as_json() for item in report.items],
        "replayed": report.count("replayed"),
        "remaining": len(report.items) - report.count("replayed"),
    }


def _render(report: Report) -> str:
    per_queue = ", ".join(
        f"{queue['label']}: {queue['received']}{'+' if queue['more'] else ''}" for queue in report.queues
    )
    mode = "Dry run: nothing replayed, reset or deleted." if report.dry_run else f"Replaying through {report.target}."
    lines = [f"Dead letters: {len(report.items)} message(s) ({per_queue}). {mode}"]
    for item in report.items:
        letter, event = item.letter, item.letter.event or {}
        lines += [
            "",
            f"{letter.queue.label}  {letter.message_id}  {letter.instance_id or '?'}  "
            f"{event.get('detail-type', letter.shape)}  {letter.detail.get('AutoScalingGroupName', '')}".rstrip(),
            f"  message:  {letter.shape}, sent {letter.sent_at or '?'}, received {letter.receive_count or '?'} time(s)",
            f"  error:    {letter.error or '-'}",
            f"  expected: {item.expectation}",
            f"  -> {item.outcome}" + (f": {item.detail}" if item.detail else ""),
        ]
    lines.append("")
    if not report.items:
        lines.append("Nothing to replay: the queues are empty.")
    elif report.dry_run:
        replayable = sum(1 for item in report.items if item.action != LEAVE)
        lines.append(
            f"Run again with --yes to replay {replayable} message(s) through {report.target}; each is deleted only "
            "once its replay succeeded."
        )
    else:
        replayed = report.count("replayed")
        staying = len(report.items) - replayed
        lines.append(
            f"Replayed and deleted {replayed} of {len(report.items)}."
            + (f" {staying} stay{'s' if staying == 1 else ''} in the queue (reasons above)." if staying else "")
        )
    if any(queue["more"] for queue in report.queues):
        lines.append("More messages remain than --max allows: run again for the rest.")
    return "\n".join(lines)
