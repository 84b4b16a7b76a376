"""AWS and GitHub calls per launch, counted where they land (moto server and the GitHub double), and the
handler's latency on those loopback stand-ins.

Targets: a new launch costs <= 2 ledger writes, 1 POST and 0 secret reads when warm; a duplicate costs
1 ledger call and no GitHub call.

    .venv/bin/python -m bench.calls_per_launch [--launches 200]    # from the checkout root, like `make bench`
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections import Counter

from bench.stand_in_setup import TOKEN, create_resources, github_calls, handler_environment
from stand_ins.autoscaling_events import instance_id, lifecycle_action
from stand_ins.github_double import GitHubDouble
from stand_ins.invoke import invoke
from stand_ins.moto_server import SerializedMotoServer


def measure(
    moto: SerializedMotoServer, github: GitHubDouble, events: list[dict[str, object]]
) -> tuple[Counter[str], list[float]]:
    """Invoke the handler once per event; return the calls made and each invocation's latency."""
    moto.reset_calls()
    before_requests = len(github.requests)
    latencies = []
    for event in events:
        started = time.perf_counter()
        outcome = invoke(event)
        latencies.append(time.perf_counter() - started)
        if outcome.failed:
            raise SystemExit(f"invocation failed: {outcome.error}: {outcome.message}")
    return moto.calls + github_calls(github.requests[before_requests:]), latencies


def report(title: str, calls: Counter[str], latencies: list[float]) -> None:
    count = len(latencies)
    ordered = sorted(latencies)
    p99 = ordered[min(count - 1, int(count * 0.99))]
    print(f"{title} ({count} events): p50 {statistics.median(latencies) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    for name, total in sorted(calls.items()):
        print(f"  {name:38} {total / count:5.2f} per event")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launches", type=int, default=200, help="distinct launches (default 200)")
    launches = parser.parse_args().launches
    with SerializedMotoServer() as moto, GitHubDouble(tokens={TOKEN}) as github:
        suffix = uuid.uuid4().hex[:8]
        table, secret = f"ledger-{suffix}", f"github-{suffix}"
        os.environ.update(handler_environment(moto.url, github, table=table, secret=secret))
        create_resources(table, secret)

        events = [lifecycle_action(instance_id(n + 1)) for n in range(launches + 1)]
        cold_calls, cold_latency = measure(moto, github, events[:1])
        report("first launch in a cold container", cold_calls, cold_latency)
        new_calls, new_latency = measure(moto, github, events[1:])
        report("new launches, warm container", new_calls, new_latency)
        duplicate_calls, duplicate_latency = measure(moto, github, events[1:])
        report("duplicate deliveries, warm container", duplicate_calls, duplicate_latency)
        print(f"runs created: {len(github.runs)} for {launches + 1} launches")


if __name__ == "__main__":
    main()
