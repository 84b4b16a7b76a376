"""What queueing rate-limited launches costs a burst that meets no limit: the dispatcher as it is against today's
handler (commit 56b1501, before the queue), measured in one run.

Each version is a warm container of its own (a spawned process that imports its own ``deploy_trigger``, with its
own ledger table), both against one moto server and one GitHub double with its limits off. After one warm-up
launch, each sends N new launches, then the same N events again (duplicate deliveries), in batches that alternate
between the two so that machine noise hits both alike; every handler call is timed inside its container. Calls
are counted where they land, batch by batch, while the other container is idle.

Targets: no added latency (p50 and p99 ratios near 1); calls per launch as today's: 2 ledger writes and 1 POST per
new launch, 1 ledger call per duplicate. Exits 1 only if the current code makes more calls of some kind per launch
than the baseline; latency is reported, never judged (the machine is shared). Without git or the commit, it
measures the current code alone.

    .venv/bin/python -m bench.no_limit_overhead [--launches 300] [--batch 20]    # from the checkout root
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Only modules that import no deploy_trigger up here: each container imports this module before it picks its
# deploy_trigger (spawn re-imports the main module), so the stand-ins that need it are imported in main().
from bench.stand_in_setup import TOKEN, create_resources, github_calls, handler_environment
from stand_ins.autoscaling_events import instance_id, lifecycle_action

if TYPE_CHECKING:
    from stand_ins.github_double import GitHubDouble
    from stand_ins.moto_server import SerializedMotoServer

BASELINE = "56b1501"
ROOT = Path(__file__).resolve().parents[1]
#: Each phase and what the handler answers to every event of it when all goes well.
PHASES = {"new launch": "dispatched", "duplicate": "duplicate"}

Event = dict[str, Any]


def run_container(lambda_src: str, environment: dict[str, str], connection: Connection) -> None:
    """A warm container: imports ``deploy_trigger`` from ``lambda_src``, creates its resources, then runs each batch
    of events it is sent and answers each call's latency and the outcomes."""
    sys.path.insert(0, lambda_src)
    os.environ.update(environment)
    # Powertools prints its EMF documents even with metrics disabled (every 100 values, and the cold start), and
    # warns when a flush finds none: the numbers are the output here, so the container's stdout goes nowhere.
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the life of the process
    warnings.filterwarnings("ignore", "No application metrics to publish")
    import deploy_trigger
    from stand_ins.invoke import invoke

    imported = Path(deploy_trigger.__file__).resolve()
    if not imported.is_relative_to(Path(lambda_src).resolve()):
        raise RuntimeError(f"imported deploy_trigger from {imported}, not from {lambda_src}")
    create_resources(environment["LEDGER_TABLE_NAME"], environment["GITHUB_CREDENTIALS_SECRET"])
    connection.send(str(imported.parent))
    while (events := connection.recv()) is not None:
        latencies, outcomes = [], Counter[str]()
        for event in events:
            started = time.perf_counter()
            outcome = invoke(event)
            latencies.append(time.perf_counter() - started)
            outcomes[outcome.error or str((outcome.result or {}).get("result"))] += 1
        connection.send((latencies, outcomes))


class Container:
    """One version's warm container and what was measured in it."""

    def __init__(
        self, name: str, lambda_src: Path, environment: dict[str, str], first_instance: int, launches: int
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.name = name
        self._connection, child_end = context.Pipe()
        self._process = context.Process(
            target=run_container, args=(str(lambda_src), environment, child_end), daemon=True, name=name
        )
        self._process.start()
        self.package: str = self._receive()
        self.warm_up = lifecycle_action(instance_id(first_instance))
        self.events = [lifecycle_action(instance_id(first_instance + 1 + n)) for n in range(launches)]
        self.latencies: dict[str, list[float]] = {phase: [] for phase in PHASES}
        self.calls: dict[str, Counter[str]] = {phase: Counter() for phase in PHASES}

    def run(self, events: list[Event]) -> tuple[list[float], Counter[str]]:
        self._connection.send(events)
        answer: tuple[list[float], Counter[str]] = self._receive()
        return answer

    def close(self) -> None:
        if self._process.is_alive():
            self._connection.send(None)
            self._process.join(timeout=10)
        self._process.kill()  # only if it did not stop; a no-op once it has
        self._process.join()

    def _receive(self) -> Any:
        try:
            return self._connection.recv()
        except EOFError:
            raise SystemExit(f"the {self.name} container died (its traceback is above)") from None


def export_baseline(into: Path) -> Path | None:
    """The baseline's lambda_src, exported from git (the work tree untouched); None, said why, if it cannot be."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", BASELINE, "lambda_src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as error:
        stderr = getattr(error, "stderr", None)
        reason = stderr.decode(errors="replace").strip() if stderr else str(error)
        print(f"baseline {BASELINE} unavailable ({reason}): measuring the current code only\n")
        return None
    return into / "lambda_src"


def measure(
    container: Container, events: list[Event], expected: str, moto: SerializedMotoServer, github: GitHubDouble
) -> tuple[list[float], Counter[str]]:
    """One batch in one container, the other idle: each call's latency, and the calls that reached the stand-ins."""
    moto.reset_calls()
    before = len(github.requests)
    latencies, outcomes = container.run(events)
    if set(outcomes) != {expected}:
        raise SystemExit(f"{container.name}: expected only {expected!r} outcomes, got {dict(outcomes)}")
    return latencies, moto.calls + github_calls(github.requests[before:])


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def report(containers: list[Container], launches: int) -> list[str]:
    """Print latencies and calls per event side by side; return the calls the current code makes more of."""
    current, baseline = containers[0], (containers[1] if len(containers) > 1 else None)
    for container in containers:
        print(f"{container.name:8}: deploy_trigger from {container.package}")
    print(f"\nhandler latency, ms (each version {launches} events per phase, in its own warm container):")
    print(f"  {'':12}" + "".join(f"{c.name + ' p50':>14}{c.name + ' p99':>14}" for c in containers), end="")
    print(f"{'ratio p50':>11}{'ratio p99':>11}" if baseline else "")
    for phase in PHASES:
        columns = [(statistics.median(c.latencies[phase]), p99(c.latencies[phase])) for c in containers]
        line = f"  {phase:12}" + "".join(f"{p50 * 1000:14.2f}{high * 1000:14.2f}" for p50, high in columns)
        if baseline:
            line += f"{columns[0][0] / columns[1][0]:11.2f}{columns[0][1] / columns[1][1]:11.2f}"
        print(line)
    more: list[str] = []
    for phase in PHASES:
        print(f"\ncalls per {phase}:" + "".join(f"{c.name:>10}" for c in containers))
        names = sorted(set().union(*(c.calls[phase] for c in containers)))
        for name in names:
            print(f"  {name:30}" + "".join(f"{c.calls[phase][name] / launches:10.2f}" for c in containers))
            if baseline and current.calls[phase][name] > baseline.calls[phase][name]:
                more.append(f"{phase}: {name}")
    return more


def main() -> None:
    from stand_ins.github_double import GitHubDouble
    from stand_ins.moto_server import SerializedMotoServer

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launches", type=int, default=300, help="new launches per version (default 300)")
    parser.add_argument("--batch", type=int, default=20, help="launches per batch before switching (default 20)")
    arguments = parser.parse_args()
    launches, batch = arguments.launches, arguments.batch
    with (
        tempfile.TemporaryDirectory() as exported,
        SerializedMotoServer() as moto,
        GitHubDouble(tokens={TOKEN}, rate_limits=None) as github,  # limits off: the burst meets none
    ):
        versions = {"current": ROOT / "lambda_src"}
        baseline_src = export_baseline(Path(exported))
        if baseline_src is not None:
            versions[BASELINE] = baseline_src
        suffix = uuid.uuid4().hex[:8]
        containers: list[Container] = []
        try:
            for number, (name, lambda_src) in enumerate(versions.items()):
                table, secret = f"ledger-{name}-{suffix}", f"github-{name}-{suffix}"
                environment = handler_environment(moto.url, github, table=table, secret=secret)
                # Distinct instances per version, so the double's runs tell them apart too.
                containers.append(Container(name, lambda_src, environment, number * 1_000_000 + 1, launches))
            for container in containers:  # the cold start and first secret read, unmeasured
                measure(container, [container.warm_up], "dispatched", moto, github)
            for phase, expected in PHASES.items():
                for index, start in enumerate(range(0, launches, batch)):
                    for container in containers if index % 2 == 0 else containers[::-1]:
                        latencies, calls = measure(
                            container, container.events[start : start + batch], expected, moto, github
                        )
                        container.latencies[phase] += latencies
                        container.calls[phase] += calls
        finally:
            for container in containers:
                container.close()
        more = report(containers, launches)
    if len(containers) == 1:
        print("\nno baseline to compare calls with")
    elif more:
        raise SystemExit(f"\nREGRESSION: the current code makes more calls per launch than {BASELINE}: {more}")
    else:
        print(f"\ncalls per launch: none above {BASELINE}'s (OK)")


if __name__ == "__main__":
    main()
