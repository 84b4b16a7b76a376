"""A burst's tail: hundreds of launches with duplicate deliveries, spread over several containers (one process
each, as Lambda runs one invocation per container at a time), for the dispatcher and for the minimal baseline Lambda
of bench/cold_path.py, in one run on moto server and the GitHub double (loopback, no network).

Each container is initialised the way Lambda does it (the handler module imported, with what it builds at import),
then takes the burst's next event whenever it is free. Every invocation is timed inside its container, from the
handler's call to its answer, with what it spent building AWS clients and waiting on AWS calls and on GitHub. A
duplicate is the same event delivered again, some right behind the first (so two containers race for the claim), some
later. moto server runs in this process, the GitHub double in another.

Prints p50, p99 and max for both, their ratios, and what the slowest 1% of each were doing: a container's first
call (its first use of each call, and the dispatcher's secret read), the claim's contention (a duplicate that met
a live claim), or waiting on the stand-ins (most of the time spent in AWS or GitHub calls).

Targets: the dispatcher's p99 <= 3x the baseline's p99, and its p50 <= 1.3x the baseline's p50, in the same run.

    .venv/bin/python -m bench.burst_tail [--launches 200] [--containers 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from bench.stand_in_setup import TOKEN, container_environment

KINDS = ("dispatcher", "baseline")
P99_TARGET, P50_TARGET = 3.0, 1.3
#: The dispatcher's reserved concurrency in the stack (README, "What gets deployed"): at most this many containers.
DEFAULT_CONTAINERS = 5
#: Share of launches delivered twice (EventBridge's delivery is at least once; the drill uses 30% too).
DUPLICATE_SHARE = 0.3
#: A duplicate lands this many events behind its first delivery at most: near ones race for the claim.
DUPLICATE_DISTANCE = 12


@dataclass(frozen=True)
class Invocation:
    kind: str
    container: int
    first_call: bool
    outcome: str
    seconds: float
    clients: float
    aws: float
    github: float


class _Timings:
    """The container's view of its calls: wraps botocore's and requests' entry points once, in each container."""

    def __init__(self) -> None:
        self.clients = self.aws = self.github = 0.0

    def install(self) -> None:
        import botocore.endpoint
        import botocore.session
        import requests

        botocore.session.Session.create_client = self._timed("clients", botocore.session.Session.create_client)
        botocore.endpoint.Endpoint.make_request = self._timed("aws", botocore.endpoint.Endpoint.make_request)
        requests.Session.send = self._timed("github", requests.Session.send)

    def reset(self) -> None:
        self.clients = self.aws = self.github = 0.0

    def _timed(self, bucket: str, function: Any) -> Any:
        timings = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return function(*args, **kwargs)
            finally:
                setattr(timings, bucket, getattr(timings, bucket) + time.monotonic() - started)

        return timed


class _Context:
    """What Lambda passes the handler: names and a clock counting down from the function's timeout (30 s)."""

    function_name = "deploy-trigger-dispatcher"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:deploy-trigger-dispatcher"
    memory_limit_in_mb = 256
    log_group_name = "/aws/lambda/deploy-trigger-dispatcher"
    log_stream_name = "bench"

    def __init__(self) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._ends = time.monotonic() + 30

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends - time.monotonic()) * 1000))


class _Baseline:
    """The minimal Lambda of bench/cold_path.py: its Secrets Manager client built in the init (at module level, as
    the Lambda guide's best practices advise), and each invocation reads the token and POSTs the dispatch once."""

    def __init__(self) -> None:
        import boto3
        import requests

        self._secrets = boto3.client("secretsmanager")
        self._session = requests.Session()

    def __call__(self, event: dict[str, Any], _context: _Context) -> dict[str, Any]:
        token = self._secrets.get_secret_value(SecretId=os.environ["GITHUB_CREDENTIALS_SECRET"])["SecretString"]
        detail = event["detail"]
        url = (
            f"{os.environ['GITHUB_API_URL']}/repos/{os.environ['GITHUB_REPOSITORY']}/actions/workflows/"
            f"{os.environ['GITHUB_WORKFLOW']}/dispatches"
        )
        inputs = {
            "instance_id": detail["EC2InstanceId"],
            "dispatch_id": event["id"].replace("-", ""),
            "asg_name": detail["AutoScalingGroupName"],
            "lifecycle_hook_name": detail["LifecycleHookName"],
            "aws_region": event["region"],
        }
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2026-03-10",
            "User-Agent": "baseline",
        }
        response = self._session.post(url, json={"ref": "main", "inputs": inputs}, headers=headers, timeout=10)
        return {"result": "dispatched" if response.status_code in (200, 204) else f"HTTP {response.status_code}"}


def container(kind: str, index: int, *, environment: dict[str, str], jobs: Any, results: Any, ready: Any) -> None:
    """One container: initialise like Lambda (import the handler module), then invoke it for each event taken."""
    os.environ.clear()
    os.environ.update(environment)
    # A spawned process starts with its parent's sys.path, not PYTHONPATH: the package measured comes first.
    sys.path.insert(0, environment["PYTHONPATH"].split(os.pathsep)[0])
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # the dispatcher's JSON logs and EMF metrics: written, as on Lambda, not read
    timings = _Timings()
    timings.install()
    handler: Any
    if kind == "dispatcher":
        from deploy_trigger.handler import handler
    else:
        handler = _Baseline()
    ready.put(index)
    first = True
    while (event := jobs.get()) is not None:
        timings.reset()
        started = time.monotonic()
        try:
            outcome = str(handler(event, _Context()).get("result"))
        except Exception as error:  # the invocation failed: Lambda would retry it
            outcome = type(error).__name__
        seconds = time.monotonic() - started
        results.put(
            Invocation(kind, index, first, outcome, seconds, timings.clients, timings.aws, timings.github).__dict__
        )
        first = False


def burst(launches: int, seed: int) -> list[dict[str, Any]]:
    """Launch events in arrival order, each of a share delivered again a few events later."""
    from stand_ins.autoscaling_events import instance_id, lifecycle_action

    base = random.Random(seed).randrange(1 << 40)  # noqa: S311 - not cryptography
    events: list[dict[str, Any]] = [lifecycle_action(instance_id(base + number)) for number in range(launches)]
    chooser = random.Random(seed)  # noqa: S311
    for original in chooser.sample(events, int(launches * DUPLICATE_SHARE)):
        position = events.index(original) + chooser.randint(1, DUPLICATE_DISTANCE)
        events.insert(min(position, len(events)), json.loads(json.dumps(original)))
    return events


def run_round(
    kind: str, events: list[dict[str, Any]], containers: int, environment: dict[str, str]
) -> tuple[list[Invocation], float]:
    """The burst through fresh containers; every invocation, and the seconds from the first event to the last answer."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    jobs, results, ready = context.Queue(), context.Queue(), context.Queue()
    processes = [
        context.Process(
            target=container,
            args=(kind, index),
            kwargs={"environment": environment, "jobs": jobs, "results": results, "ready": ready},
            daemon=True,
        )
        for index in range(containers)
    ]
    for process in processes:
        process.start()
    for _ in processes:
        ready.get(timeout=120)
    started = time.monotonic()
    for event in events:
        jobs.put(event)
    for _ in processes:
        jobs.put(None)
    invocations = [Invocation(**results.get(timeout=120)) for _ in events]
    wall = time.monotonic() - started
    for process in processes:
        process.join(timeout=30)
    return invocations, wall


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(len(ordered) * share) - 1)]


def cause(invocation: Invocation, contended: set[str]) -> str:
    """What a slow invocation was doing, the first that applies."""
    if invocation.first_call:
        return "first call of its container"
    if invocation.outcome in contended:
        return "claim contention"
    if invocation.aws + invocation.github >= invocation.seconds / 2:
        return "waiting on the stand-ins"
    return "its own code (and the machine)"


def report(
    invocations: dict[str, list[Invocation]], containers: int, rounds: int, walls: dict[str, list[float]]
) -> tuple[float, float]:
    count = len(invocations["dispatcher"]) // rounds
    print(
        f"burst tail: {count} events a round ({DUPLICATE_SHARE:.0%} duplicates), {containers} containers, "
        f"{rounds} rounds each, interleaved"
    )
    stats = {}
    for kind in KINDS:
        seconds = [invocation.seconds for invocation in invocations[kind]]
        stats[kind] = (statistics.median(seconds), percentile(seconds, 0.99), max(seconds))
        outcomes = Counter(invocation.outcome for invocation in invocations[kind])
        p50, p99, longest = (value * 1000 for value in stats[kind])
        print(
            f"  {kind:10} p50 {p50:6.1f} ms   p99 {p99:6.1f} ms   max {longest:6.1f} ms   "
            f"({', '.join(f'{name} {total}' for name, total in sorted(outcomes.items()))}); "
            f"a burst took {statistics.median(walls[kind]):.1f} s"
        )
        middle = [invocation for invocation in invocations[kind] if not invocation.first_call]
        parts = {
            "AWS calls": statistics.median(invocation.aws for invocation in middle),
            "GitHub": statistics.median(invocation.github for invocation in middle),
            "own": statistics.median(
                invocation.seconds - invocation.clients - invocation.aws - invocation.github for invocation in middle
            ),
        }
        print(
            "             medians of the calls after the first: "
            + ", ".join(f"{name} {value * 1000:.1f} ms" for name, value in parts.items())
        )
    contended = {"ClaimContended", "duplicate"}
    for kind in KINDS:
        ordered = sorted(invocations[kind], key=lambda invocation: invocation.seconds, reverse=True)
        slowest = ordered[: max(1, math.ceil(len(ordered) / 100))]
        causes = Counter(cause(invocation, contended) for invocation in slowest)
        print(f"  {kind}'s slowest 1% ({len(slowest)}): " + ", ".join(f"{n} {c}" for c, n in causes.most_common()))
        for invocation in slowest:
            own = invocation.seconds - invocation.clients - invocation.aws - invocation.github
            print(
                f"    {invocation.seconds * 1000:6.1f} ms  {invocation.outcome:15} clients "
                f"{invocation.clients * 1000:5.1f}  AWS calls {invocation.aws * 1000:5.1f}  GitHub "
                f"{invocation.github * 1000:5.1f}  own {own * 1000:5.1f}  ({cause(invocation, contended)})"
            )
    p50_ratio = stats["dispatcher"][0] / stats["baseline"][0]
    p99_ratio = stats["dispatcher"][1] / stats["baseline"][1]
    for name, ratio, target in (("p50", p50_ratio, P50_TARGET), ("p99", p99_ratio, P99_TARGET)):
        print(f"burst {name}: dispatcher / baseline = {ratio:.2f} (target <= {target}): {_verdict(ratio, target)}")
    return p50_ratio, p99_ratio


@dataclass(frozen=True)
class MotoRound:
    """What moto server did during one round: its calls, the seconds each operation held its lock (moto's own work),
    and the seconds requests waited for that lock (behind the other containers' requests)."""

    calls: Counter[str]
    held: dict[str, float]
    waited: float
    wall: float


def report_moto(served: dict[str, list[MotoRound]]) -> None:
    print("  moto server, which serves one request at a time (stand_ins/moto_server.py):")
    for kind in KINDS:
        calls: Counter[str] = Counter()
        held: Counter[str] = Counter()
        for moto_round in served[kind]:
            calls.update(moto_round.calls)
            held.update(moto_round.held)
        requests = sum(calls.values())
        busy = sum(held.values()) / sum(moto_round.wall for moto_round in served[kind])
        waited = sum(moto_round.waited for moto_round in served[kind]) / max(1, requests)
        work = ", ".join(
            f"{name.split(':')[1]} {held[name] / calls[name] * 1000:.1f} ms" for name in sorted(held) if calls[name]
        )
        print(f"    {kind:10} busy {busy:4.0%} of the burst; a request waited {waited * 1000:4.1f} ms; each: {work}")


def _verdict(ratio: float, target: float) -> str:
    return "OK" if ratio <= target else "OVER"


def _serve_github_double(connection: Any) -> None:
    """The GitHub double in a process of its own: sharing moto's interpreter (and its lock on Python code), GitHub's
    answers would slow down with every DynamoDB call anyone made, which the real services never do."""
    from stand_ins.github_double import GitHubDouble

    with GitHubDouble(tokens={TOKEN}) as github:
        connection.send((github.url, github.repository, github.workflow))
        connection.recv()  # until the benchmark is done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launches", type=int, default=200, help="distinct launches a round (default 200)")
    parser.add_argument("--containers", type=int, default=DEFAULT_CONTAINERS, help="containers (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="bursts per kind, alternating (default 2)")
    parser.add_argument(
        "--lambda-src",
        help="the folder holding the deploy_trigger package to measure (default: this checkout's lambda_src/); "
        "e.g. a `git worktree` of an earlier commit's, to measure what a change saved",
    )
    arguments = parser.parse_args()

    import multiprocessing

    from stand_ins.moto_server import SerializedMotoServer

    ours, theirs = multiprocessing.get_context("spawn").Pipe()
    double = multiprocessing.get_context("spawn").Process(target=_serve_github_double, args=(theirs,), daemon=True)
    double.start()
    github_url, repository, workflow = ours.recv()
    with SerializedMotoServer() as moto:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        lambda_src = os.path.abspath(arguments.lambda_src or os.path.join(root, "lambda_src"))
        environment = container_environment(lambda_src, moto.url, github_url, repository, workflow)

        invocations: dict[str, list[Invocation]] = {kind: [] for kind in KINDS}
        walls: dict[str, list[float]] = {kind: [] for kind in KINDS}
        served: dict[str, list[MotoRound]] = {kind: [] for kind in KINDS}
        for round_number in range(arguments.rounds):
            order = KINDS if round_number % 2 == 0 else KINDS[::-1]
            for kind in order:
                events = burst(arguments.launches, seed=round_number * 2 + KINDS.index(kind))
                moto.reset_calls()
                answered, wall = run_round(kind, events, arguments.containers, environment)
                invocations[kind] += answered
                walls[kind].append(wall)
                served[kind].append(MotoRound(moto.calls, moto.held_seconds, moto.waited_seconds, wall))
        report(invocations, arguments.containers, arguments.rounds, walls)
        report_moto(served)
        sys.stdout.flush()
    ours.send("done")
    double.join(timeout=30)


if __name__ == "__main__":
    main()
