"""``python -m drill`` (``make demo``): the scale-out drill from the command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from drill.scaleout.chart import chart_html
from drill.scaleout.config import RATE_FLAGS, ConfigError, DrillConfig, FaultRates
from drill.scaleout.containers import ContainerError
from drill.scaleout.faults import LONG_RETRY_AFTER, SHORT_RETRY_AFTER
from drill.scaleout.progress import ProgressPrinter
from drill.scaleout.render import render
from drill.scaleout.run import run_drill

DESCRIPTION = """\
The scale-out drill: proves, on this machine, that deploy-trigger starts exactly one GitHub Actions run per EC2
instance an Auto Scaling group launches, while everything that makes that hard happens at once.

It needs no AWS account and no internet. It starts moto server on loopback (the DynamoDB ledger, the credentials
secret, and an SQS queue as the Lambda on-failure destination) and a GitHub API double, then replays a burst of
launches across several Auto Scaling groups as EventBridge and Lambda deliver them: asynchronously, with
duplicate deliveries (later, and at the same moment), Lambda's retries of failed invocations, and the on-failure
queue once the retries are spent. Each invocation runs the real handler (deploy_trigger.handler.handler) in a
pool of worker processes, each one a warm Lambda container with a Lambda-like deadline; a killed one is replaced
by a cold one. Faults are injected on the way: invocations killed while their POST hangs in GitHub (before and
after GitHub created the run), 5xx and dropped connections after GitHub created the run, answers later than the
client's budget, 429s (the launch is queued; the real drainer sends it), a slow GitHub, malformed events.
GitHub's documented rate limits are enforced, on a compressed GitHub clock (--github-time-scale).

At the end it counts runs per instance in the GitHub double and prints a report: deliveries, dispatches,
duplicates suppressed, reconciled runs, the DLQ by error type, latency, AWS and GitHub calls per launch, and the
verdict. Exit status: 0 when every launch got exactly one run (and malformed events ended in the DLQ, never
dispatched), 1 when the invariant broke (the instances are listed), 2 for invalid settings.

With --lifecycle it then ends every run (a seeded share as failures) and runs the real tracker against a
simulated Auto Scaling group: each lifecycle action must be completed exactly once, CONTINUE for a run that
succeeded and ABANDON for one that failed, the ledger must record each outcome, and each failure must alert."""

EPILOG = """\
time is compressed, the relation kept:
  Lambda retries a failed asynchronous invocation 1 and 2 minutes later. In production the function timeout
  (30 s) plus LEASE_MARGIN_SECONDS (5 s) is shorter than the first retry, so a retry never finds the lease of
  the attempt it retries still live: it takes the claim over and reconciles with GitHub before any new POST.
  The drill runs with LEASE_MARGIN_SECONDS=1 and checks before it starts that every --retry-delays value is
  longer than --function-timeout + 1.

fault rates are shares of launches (exact counts, spread by --seed); each launch meets at most one GitHub fault,
on its first dispatch POST. --reject-rate (default 0) makes GitHub refuse dispatches for good (422): such a
launch has no run by design and counts as handled when the ledger says FAILED and its event is in the DLQ.

how long it takes:
  moto is the bottleneck: it serves one request at a time and spends about 40-50 ms of CPU on each of the
  ledger's conditional writes. With GitHub's limits on, the drainer sends queued launches one at a time, and
  each drained launch costs three such writes. On 2 CPUs 1,000 launches take about 4 minutes; the report
  prints the wall time and the load the machine already had. More --workers do not make it faster, only the
  queue at moto longer.

examples:
  make demo
  make demo ARGS="--launches 500"
  python -m drill --launches 1000   # past GitHub's hourly limit: the drain against its floor
  python -m drill --launches 40 --kill-rate 0.2 --function-timeout 6 --retry-delays 8,16 --json /tmp/drill.json
  python -m drill --no-run-name   # the workflow's run-name loses the dispatch ID: the verdict must break
  python -m drill --lifecycle     # then the tracker lets each instance into service or has it replaced
  python -m drill --lifecycle --lifecycle-expire-rate 0.1   # actions time out before the tracker: must break"""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    rates = FaultRates()
    parser = argparse.ArgumentParser(
        prog="python -m drill",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    size = parser.add_argument_group("size")
    _setting(size, "--launches", int, "N", "instances launched (default %(default)s)")
    _setting(size, "--asgs", int, "N", "Auto Scaling groups (default %(default)s)")
    _setting(size, "--seed", int, "N", "seed for events and faults (default %(default)s)")
    _setting(
        size,
        "--launch-successful-share",
        float,
        "SHARE",
        "share of launches announced by 'EC2 Instance Launch Successful' instead of a lifecycle action "
        "(default %(default)s)",
    )

    timing = parser.add_argument_group("duration")
    _setting(
        timing,
        "--workers",
        int,
        "N",
        "worker processes, one warm Lambda container each: the function's concurrency (default %(default)s)",
    )
    _setting(
        timing,
        "--function-timeout",
        float,
        "SECONDS",
        "the function timeout invocations run under; the handler bounds its calls by it, and an invocation "
        "still running at the timeout is killed (default %(default)s; production 30)",
    )
    _setting(
        timing,
        "--retry-delays",
        _delays,
        "S[,S]",
        "Lambda's retry delays after a failed invocation, at most two, each longer than --function-timeout "
        f"+ 1 (default {','.join(f'{d:g}' for d in DrillConfig().retry_delays)}; production 60,120)",
    )
    _setting(
        timing, "--burst-seconds", float, "SECONDS", "the launches' events arrive over this long (default %(default)s)"
    )

    faults = parser.add_argument_group("faults (shares of launches)")
    helps = {
        "duplicate": "launches whose event is delivered twice",
        "concurrent_share": "share of those duplicates delivered at the same moment as the original",
        "kill": "invocations killed while their POST hangs in GitHub, half before and half after GitHub created "
        "the run",
        "error_after_accept": "GitHub creates the run, then answers 5xx",
        "drop_after_accept": "GitHub creates the run, then drops the connection",
        "client_timeout": "GitHub answers after the client's budget (it creates the run after the client gave up)",
        "rate_limited": f"an injected 429 with retry-after: half {SHORT_RETRY_AFTER}, half {LONG_RETRY_AFTER} GitHub "
        "seconds; the launch is queued and the drainer sends it after the pause",
        "slow": "GitHub answers slowly, within the client's budget",
        "malformed": "extra events without a valid EC2InstanceId: they must end in the DLQ, never dispatched",
        "rejected": "GitHub rejects the dispatch for good (422)",
    }
    for name, flag in RATE_FLAGS.items():
        faults.add_argument(
            flag,
            dest=name,
            type=float,
            default=getattr(rates, name),
            metavar="SHARE",
            help=f"{helps[name]} (default {getattr(rates, name):.3g})",
        )
    faults.add_argument(
        "--no-run-name",
        action="store_true",
        help="serve a workflow whose run-name lacks the dispatch ID, so reconciliation cannot find runs: proves "
        "the verdict can fail (expect duplicate runs and exit status 1)",
    )

    github = parser.add_argument_group("GitHub's rate limits")
    github.add_argument(
        "--no-github-limits",
        action="store_true",
        help="the GitHub double limits nothing (by default it enforces github.com's limits: 5,000 requests an hour, "
        "80 content-creating requests a minute and 500 an hour, 100 at once)",
    )
    _setting(
        github,
        "--github-time-scale",
        float,
        "S",
        "GitHub seconds per wall second: the limits' windows, the drainer's second between dispatches and the "
        "hooks' timeouts run S times faster (default %(default)s: GitHub's hour in 90 s)",
    )
    _setting(
        github,
        "--drainer-budget",
        float,
        "SECONDS",
        "each drainer invocation's timeout; a run sleeps out a pause that fits (default %(default)s; production 900)",
    )

    lifecycle = parser.add_argument_group("lifecycle mode")
    lifecycle.add_argument(
        "--lifecycle",
        action="store_true",
        help="after the scale-out, end every run and let the tracker complete each launch's lifecycle action "
        "against a simulated Auto Scaling group: CONTINUE when the run succeeded, ABANDON when it failed",
    )
    lifecycle_shares = {
        "--deploy-failure-rate": "share of launches whose workflow run concludes 'failure'",
        "--lifecycle-expire-rate": "share of lifecycle actions whose heartbeat timeout passes before the tracker "
        "comes (the group abandons them itself): proves the lifecycle verdict can fail",
        "--warm-pool-share": "share of hook launches that first entered the warm pool; each entry must be "
        "continued once and its late duplicate ignored",
        "--lost-event-share": "share of hook launches whose event never arrives; the tracker's sweep must find "
        "each one",
    }
    for flag, share in lifecycle_shares.items():
        _setting(lifecycle, flag, float, "SHARE", f"with --lifecycle: {share} (default %(default)s)")

    output = parser.add_argument_group("output")
    output.add_argument(
        "--json",
        type=Path,
        default=Path("drill-report.json"),
        metavar="PATH",
        help="where to write the report as JSON, and beside it the chart as HTML (the same name ending .html; "
        "default %(default)s and drill-report.html in the current directory; '-' for neither)",
    )
    output.add_argument(
        "--handler-logs",
        metavar="PATH",
        help="append the handler's JSON logs to this file (default: discarded)",
    )
    output.add_argument("--quiet", action="store_true", help="no progress while it runs")
    return parser.parse_args(argv)


def config_from(args: argparse.Namespace) -> DrillConfig:
    rates = FaultRates(**{name: getattr(args, name) for name in RATE_FLAGS})
    defaults = DrillConfig()
    return DrillConfig(
        launches=args.launches,
        asgs=args.asgs,
        seed=args.seed,
        workers=args.workers,
        function_timeout=args.function_timeout,
        retry_delays=args.retry_delays,
        burst_seconds=args.burst_seconds,
        launch_successful_share=args.launch_successful_share,
        faults=rates,
        run_name=None if args.no_run_name else defaults.run_name,
        handler_logs=args.handler_logs,
        lifecycle=args.lifecycle,
        deploy_failure_rate=args.deploy_failure_rate,
        lifecycle_expire_rate=args.lifecycle_expire_rate,
        warm_pool_share=args.warm_pool_share,
        lost_event_share=args.lost_event_share,
        github_limits=not args.no_github_limits,
        github_time_scale=args.github_time_scale,
        drainer_budget=args.drainer_budget,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    config = config_from(args)
    try:
        config.validate()
    except ConfigError as error:
        print(f"python -m drill: error: {error}", file=sys.stderr)
        return 2
    printer = None if args.quiet else ProgressPrinter(sys.stderr, interactive=sys.stderr.isatty())
    if printer is not None:
        printer.note(f"starting moto server, the GitHub double and {config.workers} Lambda containers...")
    try:
        report = run_drill(config, printer)
    except ContainerError as error:
        print(f"python -m drill: {error}", file=sys.stderr)
        return 2
    finally:
        if printer is not None:
            printer.close()
    print(render(report))
    if str(args.json) != "-":
        args.json.write_text(report.to_json() + "\n", encoding="utf-8")
        chart = args.json.with_suffix(".html")
        if chart == args.json:  # a report named .html keeps its name; the chart gets one more suffix
            chart = args.json.with_name(args.json.name + ".html")
        chart.write_text(chart_html(report), encoding="utf-8")
        print(f"\nJSON report: {args.json}\nchart: {chart}")
    return report.exit_code


def _setting(
    group: argparse._ArgumentGroup, flag: str, parse: Callable[[str], object], metavar: str, help: str
) -> None:
    """A flag for the DrillConfig field of the same name (``--burst-seconds``: ``burst_seconds``), its default
    the field's."""
    default = getattr(DrillConfig(), flag.removeprefix("--").replace("-", "_"))
    group.add_argument(flag, type=parse, default=default, metavar=metavar, help=help)


def _delays(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds separated by commas, e.g. 8,16; got {text!r}") from None
