"""Entry point of the ``deploy-trigger`` console script: parse, resolve the configuration, run one command.

Expected failures end as one line naming what to fix and an exit code (0 ok, 1 failed, 2 usage/config);
only a bug in the CLI itself shows a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from deploy_trigger.stack_outputs import DISPATCHER_FUNCTION_NAME
from deploy_trigger_cli import config as sources
from deploy_trigger_cli.aws import AwsClients
from deploy_trigger_cli.config import Config
from deploy_trigger_cli.doctor import run_doctor
from deploy_trigger_cli.errors import EXIT_USAGE, CliError
from deploy_trigger_cli.fleet import run_fleet
from deploy_trigger_cli.ledger_commands import run_list, run_reset, run_status
from deploy_trigger_cli.output import Output
from deploy_trigger_cli.parser import build_parser
from deploy_trigger_cli.redrive import RedriveOptions, run_redrive
from deploy_trigger_cli.stack_outputs import StackOutputs, read_function_environment, read_stack_outputs


def main(argv: Sequence[str] | None = None, *, aws_clients: Mapping[str, Any] | None = None) -> int:
    """Run the CLI; returns the exit code. ``aws_clients`` replaces boto3 clients by service name (tests)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) and usage errors (2): argparse has already printed them
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    out = Output(json_mode=args.json)
    try:
        aws = AwsClients(args.region, overrides=aws_clients)
        config = _config(args, aws)
        return _run(args, config, aws, out)
    except CliError as error:
        out.error(str(error), error.exit_code)
        return error.exit_code
    except KeyboardInterrupt:
        out.error("interrupted", 130)
        return 130


def _config(args: argparse.Namespace, aws: AwsClients) -> Config:
    stack: StackOutputs | None = None
    function_environment = None
    if args.stack:
        stack = read_stack_outputs(aws.client("cloudformation"), args.stack)
        function_name = stack.get(DISPATCHER_FUNCTION_NAME)
        if function_name:

            def function_environment() -> dict[str, str]:
                return read_function_environment(aws.client("lambda"), function_name)

    flags = {
        setting: getattr(args, setting.flag.lstrip("-").replace("-", "_"), None) for setting in sources.ALL_SETTINGS
    }
    return Config(
        flags=flags,
        dlq_urls=getattr(args, "dlq_url", []),
        stack=stack,
        region=aws.region,
        function_environment=function_environment,
    )


def _run(args: argparse.Namespace, config: Config, aws: AwsClients, out: Output) -> int:
    match args.command:
        case "status":
            return run_status(config, aws, out, args.instance_id)
        case "list":
            return run_list(
                config, aws, out, statuses=args.status, asg_name=args.asg, since=args.since, limit=args.limit
            )
        case "fleet":
            return run_fleet(config, aws, out, args.asg)
        case "doctor":
            return run_doctor(config, aws, out)
        case "redrive":
            options = RedriveOptions(
                apply=args.yes,
                target=args.target,
                reset_failed=args.reset_failed,
                max_messages=args.max,
                verbose=args.verbose,
            )
            return run_redrive(config, aws, out, options)
        case "reset":
            return run_reset(config, aws, out, args.instance_ids, args.note)
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse only accepts the commands above


if __name__ == "__main__":
    sys.exit(main())
