"""The command line: subcommands, their flags, and help with examples (``deploy-trigger CMD --help``)."""

from __future__ import annotations

import argparse
import os

from deploy_trigger_cli import config as sources
from deploy_trigger_cli.config import DLQ_URLS_ENV, STACK_ENV, Setting

DESCRIPTION = """\
Operate deploy-trigger: one GitHub Actions workflow_dispatch per EC2 instance an Auto Scaling group launches.

Configuration: each setting comes from its flag, else from the stack's outputs (--stack NAME or
DEPLOY_TRIGGER_STACK), else from the environment variable the dispatcher Lambda reads (LEDGER_TABLE_NAME,
GITHUB_REPOSITORY, ...). AWS credentials and region come from boto3's standard chain (AWS_PROFILE, AWS_REGION,
...); AWS_ENDPOINT_URL and GITHUB_API_URL point it at local stand-ins.

Exit codes: 0 ok, 1 a check or operation failed, 2 usage or configuration error."""

MAIN_EPILOG = """\
examples:
  deploy-trigger doctor --stack DeployTrigger
  deploy-trigger status i-0123456789abcdef0 --stack DeployTrigger
  deploy-trigger list --status FAILED --since 2h --stack DeployTrigger
  deploy-trigger fleet --asg web-asg --stack DeployTrigger   # which commit each instance runs
  deploy-trigger redrive --stack DeployTrigger               # dry run: what would be replayed
  deploy-trigger redrive --stack DeployTrigger --yes         # replay, delete what succeeded
"""

STATUS_EPILOG = """\
examples:
  deploy-trigger status i-0123456789abcdef0 --stack DeployTrigger
  deploy-trigger status i-0123456789abcdef0 --table deploy-trigger-ledger --json

exit code 1 when the instance has no ledger entry."""

LIST_EPILOG = """\
--since filters on the entry's last change (updated_at). The table is scanned (read whole, filtered on
the way back): fine for an operator, not for a script run every minute.

examples:
  deploy-trigger list --stack DeployTrigger
  deploy-trigger list --status FAILED --status CLAIMED --since 2h
  deploy-trigger list --asg web-asg --since 2026-11-23T00:00:00Z --json"""

FLEET_EPILOG = """\
Lists each instance of the groups (Auto Scaling's view: lifecycle state such as InService or Pending:Wait)
with its ledger entry: status, the commit its run deployed, and the outcome. Flags (!) every instance that
is not on its group's newest successful deploy (the SUCCEEDED entry that finished last): an older commit,
a failed deploy (FAILED, DEPLOY_FAILED), no ledger entry, a reset one, or no recorded commit. An instance
whose deploy is under way (CLAIMED, DISPATCHED, RUNNING) is shown as deploying, not flagged. Groups: every
--asg, else the dispatcher's ALLOWED_ASG_NAMES (with --stack, the deployed function's).

exit code 0 when nothing is flagged, 1 when an instance is (a gate for scripts), 2 on a configuration error.

examples:
  deploy-trigger fleet --asg web-asg --stack DeployTrigger
  deploy-trigger fleet --asg web-asg,api-asg --table deploy-trigger-ledger --json
  deploy-trigger fleet --stack DeployTrigger && ./next-step.sh   # only when nothing is flagged"""

DOCTOR_EPILOG = """\
checks, in order: secret, api-version, token, repository, permissions, workflow, workflow-inputs, run-name,
matrix (batch mode only), ref, table, ttl, rule. One line each: ✓ passed, ✗ failed, ! could not be verified,
- skipped (an earlier check failed).
Exit code 0 only when no check failed. Never prints a token: only its kind and scopes.

examples:
  deploy-trigger doctor --stack DeployTrigger
  deploy-trigger doctor --rule-name deploy-trigger-launch --function-name deploy-trigger-dispatcher
  GITHUB_REF=release deploy-trigger doctor --json"""

REDRIVE_EPILOG = f"""\
Reads the dead-letter queues: the rule's delivery DLQ (body = the event) and the function's on-failure
queue (body = a record with the event and the error). Dry run by default; --yes replays each message and
deletes it only after its replay succeeded (lambda: Lambda accepted the async invoke; local: the handler
returned). Failed replays stay in the queue, with the reason shown. Safe to run twice: the ledger keeps one
run per instance. Queues: --dlq-url (repeatable), else the stack's DeliveryDlqUrl and FailureDlqUrl, else
{DLQ_URLS_ENV} (comma-separated).

--target lambda (default) invokes the deployed function; --target local runs the dispatcher's handler in
this process with this configuration (the default when AWS_ENDPOINT_URL points at a local stand-in).

A FAILED entry is never reset implicitly: after fixing the cause, add --reset-failed (or run
`deploy-trigger reset INSTANCE_ID` first).

examples:
  deploy-trigger redrive --stack DeployTrigger
  deploy-trigger redrive --stack DeployTrigger --yes
  deploy-trigger redrive --stack DeployTrigger --reset-failed --yes
  deploy-trigger redrive --dlq-url https://sqs.eu-west-1.amazonaws.com/123456789012/dlq --target local --yes"""

RESET_EPILOG = """\
Moves a FAILED entry (GitHub rejected the dispatch for good) to RESET, recorded in its history, so the next
event for the instance dispatches once. Only FAILED entries change; any other is left as it is (exit 1).
Fix the cause first (`deploy-trigger doctor`), then replay the event: `deploy-trigger redrive --yes`.

examples:
  deploy-trigger reset i-0123456789abcdef0 --stack DeployTrigger --note "workflow input fixed in #123"
  deploy-trigger reset i-0123456789abcdef0 i-0fedcba9876543210 --table deploy-trigger-ledger"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deploy-trigger",
        description=DESCRIPTION,
        epilog=MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    status = _command(commands, "status", "show one instance's ledger entry in plain words", STATUS_EPILOG)
    status.add_argument("instance_id", metavar="INSTANCE_ID", help="the EC2 instance ID, e.g. i-0123456789abcdef0")
    _settings(status, sources.TABLE)

    listing = _command(commands, "list", "list ledger entries, filtered", LIST_EPILOG)
    _repeatable(
        listing,
        "--status",
        "STATUS",
        "only entries in this status (CLAIMED, DISPATCHED, FAILED, RESET...); repeatable or comma-separated",
    )
    listing.add_argument("--asg", metavar="NAME", help="only entries of this Auto Scaling group")
    listing.add_argument("--since", metavar="WHEN", help='only entries changed since: "30m", "2h", "7d", or ISO 8601')
    listing.add_argument("--limit", type=_positive, metavar="N", help="show at most N entries (newest first)")
    _settings(listing, sources.TABLE)

    fleet = _command(commands, "fleet", "show which commit each instance of the groups runs", FLEET_EPILOG)
    _repeatable(
        fleet,
        "--asg",
        "NAME",
        "an Auto Scaling group; repeatable or comma-separated (default: the dispatcher's ALLOWED_ASG_NAMES)",
    )
    _settings(fleet, sources.TABLE)

    doctor = _command(commands, "doctor", "check the configuration end to end, in plain words", DOCTOR_EPILOG)
    _settings(doctor, *sources.ALL_SETTINGS)

    redrive = _command(commands, "redrive", "replay dead-letter messages through the dispatcher", REDRIVE_EPILOG)
    _repeatable(redrive, "--dlq-url", "URL", "a dead-letter queue URL (repeatable)")
    redrive.add_argument(
        "--target",
        choices=("lambda", "local"),
        default="local" if os.environ.get("AWS_ENDPOINT_URL") else "lambda",
        help="replay by invoking the deployed function (lambda) or the handler in this process (local)",
    )
    redrive.add_argument(
        "--yes", action="store_true", help="replay and delete; without it, only show what would happen"
    )
    redrive.add_argument(
        "--reset-failed",
        action="store_true",
        help="reset FAILED ledger entries of the replayed launches first (only after fixing the cause)",
    )
    redrive.add_argument(
        "--max", type=_positive, default=100, metavar="N", help="at most N messages per queue in one run (100)"
    )
    redrive.add_argument("--verbose", "-v", action="store_true", help="show the handler's logs (local target)")
    # The function for the lambda target; the table to read (and reset) entries; the rest for the local target.
    _settings(redrive, sources.FUNCTION_NAME, *sources.LAMBDA_SETTINGS)

    reset = _command(commands, "reset", "reset FAILED ledger entries, after the cause was fixed", RESET_EPILOG)
    reset.add_argument("instance_ids", nargs="+", metavar="INSTANCE_ID", help="the EC2 instance ID(s)")
    reset.add_argument("--note", metavar="TEXT", help="why, for the entry's history (who and where are added)")
    _settings(reset, sources.TABLE)
    return parser


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], name: str, summary: str, epilog: str
) -> argparse.ArgumentParser:
    command = commands.add_parser(
        name,
        help=summary,
        description=summary[0].upper() + summary[1:] + ".",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("--json", action="store_true", help="print the result as one JSON document")
    command.add_argument("--region", metavar="REGION", help="AWS region (default: boto3's, e.g. AWS_REGION)")
    command.add_argument(
        "--stack",
        metavar="NAME",
        default=os.environ.get(STACK_ENV) or None,
        help=f"read settings from this CloudFormation stack's outputs (env: {STACK_ENV})",
    )
    return command


def _repeatable(command: argparse.ArgumentParser, flag: str, metavar: str, help: str) -> None:
    """A flag that may be given again and again: its values in a list, empty when it is not given."""
    command.add_argument(flag, action="append", default=[], metavar=metavar, help=help)


def _settings(command: argparse.ArgumentParser, *settings: Setting) -> None:
    for setting in settings:
        command.add_argument(
            setting.flag,
            dest=setting.flag.lstrip("-").replace("-", "_"),
            metavar=setting.metavar,
            help=f"the {setting.describes} (env: {setting.env}; stack output: {setting.output})",
        )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value
