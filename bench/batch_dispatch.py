"""A 1,000-instance scale-out in one burst with one credential at GitHub's limits, batched and unbatched, in one run.

The real dispatcher takes each launch as it arrives, the real drainer runs beside it, both through the real GitHub
client to the double enforcing github.com's limits on a compressed clock (``--time-scale``); the ledger is moto in
this process, every call serialized (moto's conditional writes are not atomic across threads). Then every run
succeeds and the real tracker follows each deployment to its end. Printed for each mode: each instance's start
latency (the burst to GitHub's acceptance of the dispatch that deploys it, in GitHub seconds), the drain time, the
GitHub calls by kind (dispatch POSTs, run listings, job listings) and the ledger writes per launch (conditional writes
that lost count too: DynamoDB bills them). The verdict line checks exactly one run (batched: one job) per instance
in each mode.

    .venv/bin/python -m bench.batch_dispatch [--launches 1000] [--time-scale 40]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws

from bench.stand_in_setup import TOKEN, double_client

#: Dispatcher containers taking the burst's events (their ledger calls still run one at a time: moto's).
CONTAINERS = 8
#: The tracker's passes after the scale-out (each follows at most 500 deployments).
TRACKER_PASSES = 20


@dataclass
class ModeResult:
    name: str
    latencies: list[float] = field(default_factory=list)
    drain_seconds: float = 0.0
    runs: int = 0
    deployments: Counter[str] = field(default_factory=Counter)
    github_calls: Counter[str] = field(default_factory=Counter)
    ledger_calls: Counter[str] = field(default_factory=Counter)
    ledger_item_writes: int = 0
    #: Of those, the writes made before the tracker's passes: what dispatching cost.
    dispatch_writes: int = 0
    refusals: int = 0
    unfinished: int = 0


class FairLock:
    """First come, first served: a plain lock lets the busy dispatchers' threads take it again and again, starving
    the drainer's thread, which no real drainer (its own Lambda, against DynamoDB) is."""

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._turn:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._turn.wait_for(lambda: self._serving == ticket)

    def __exit__(self, *_: object) -> None:
        with self._turn:
            self._serving += 1
            self._turn.notify_all()


class Serialized:
    """A botocore client whose calls run one at a time, counted by operation."""

    def __init__(self, client: Any, result: ModeResult) -> None:
        self._client = client
        self._result = result
        self._lock = FairLock()

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._client, name)
        if not callable(method):
            return method

        def call(**arguments: Any) -> Any:
            with self._lock:
                self._result.ledger_calls[name] += 1
                if name in ("put_item", "update_item"):
                    self._result.ledger_item_writes += 1
                return method(**arguments)

        return call


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launches", type=int, default=1000, help="launches in the burst (default 1000)")
    parser.add_argument(
        "--time-scale", type=float, default=40.0, help="GitHub seconds per wall second, unbatched (default 40)"
    )
    parser.add_argument(
        "--batched-time-scale", type=float, default=1.0, help="GitHub seconds per wall second, batched (default 1)"
    )
    args = parser.parse_args()
    os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "b", "AWS_SECRET_ACCESS_KEY": "b"})
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    print(
        f"{args.launches} launches in one burst, one credential, GitHub's limits on: their clock at "
        f"x{args.time_scale:g} unbatched (its drain spans GitHub's hours), x{args.batched_time_scale:g} batched"
    )
    results = []
    for batched, scale in ((False, args.time_scale), (True, args.batched_time_scale)):
        # Powertools prints its metric documents to stdout even when disabled: kept out of the printed numbers.
        with mock_aws(), open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            results.append(run(args.launches, scale, batched=batched))
    for result in results:
        report(result, args.launches)
    unbatched, batched_result = results
    print(
        f"batched / unbatched: drain {batched_result.drain_seconds / unbatched.drain_seconds:.3f}x, "
        f"p99 start {_p(batched_result.latencies, 99) / _p(unbatched.latencies, 99):.3f}x, "
        f"POSTs {batched_result.github_calls['dispatch'] / unbatched.github_calls['dispatch']:.3f}x"
    )


def run(launches: int, scale: float, *, batched: bool) -> ModeResult:  # noqa: PLR0915 (one scenario, told in order)
    from deploy_trigger.batching import BatchSender
    from deploy_trigger.deadline import Deadline
    from deploy_trigger.dispatch import DispatchConfig, Dispatcher
    from deploy_trigger.drain import DrainConfig, Drainer
    from deploy_trigger.events import InstanceLaunch
    from deploy_trigger.github_budget import BudgetGate
    from deploy_trigger.ledger.batch_item import BatchItems
    from deploy_trigger.ledger.budget_item import BudgetItem
    from deploy_trigger.ledger.table import Ledger
    from deploy_trigger.tracking import Tracker, TrackerConfig
    from deploy_trigger.workflow_contract import BATCH_RESERVED_INPUTS, BATCH_RUN_NAME
    from stand_ins.autoscaling_group import AutoScalingStandIn
    from stand_ins.aws_resources import create_ledger_table
    from stand_ins.github_double import GitHubDouble, RateLimits

    result = ModeResult("batched (256 a run)" if batched else "unbatched")
    limits = RateLimits(time_scale=scale)
    dynamodb = Serialized(boto3.client("dynamodb"), result)
    create_ledger_table(boto3.client("dynamodb"), "ledger")
    ledger, budget = Ledger(dynamodb, "ledger"), BudgetItem(dynamodb, "ledger")
    workflow = {"declared_inputs": BATCH_RESERVED_INPUTS, "run_name": BATCH_RUN_NAME} if batched else {}
    with GitHubDouble(tokens={TOKEN}, rate_limits=limits, **workflow) as github:
        client = double_client(github)
        config = DispatchConfig(
            ref="main",
            aws_region="us-east-1",
            extra_inputs={},
            lease_margin_seconds=5,
            batch_max_instances=256 if batched else 0,
        )
        batches = BatchSender(ledger, BatchItems(dynamodb, "ledger"), client, config) if batched else None
        drainer = Drainer(
            ledger, budget, client, DrainConfig(dispatch=config, mutation_interval_seconds=1 / scale), batches=batches
        )
        dispatcher = Dispatcher(
            ledger,
            client,
            config,
            lifecycle=AutoScalingStandIn(),
            budget=BudgetGate(budget, interval=1 / scale),
            batches=batches,  # as deployed: a launch that finds the interval's slot free sends the queue itself
        )
        arrived: dict[str, float] = {}
        accepted: dict[str, float] = {}  # instance -> when GitHub accepted the dispatch that deploys it
        send = client.dispatch

        def timed_dispatch(ref: str, inputs: Any, deadline: Any) -> Any:
            run = send(ref, inputs, deadline)
            now = time.time()
            for instance in _instances(inputs):
                accepted.setdefault(instance, now)
            return run

        client.dispatch = timed_dispatch  # type: ignore[method-assign]
        done = threading.Event()

        def drain_until_done() -> None:
            while not done.is_set() or ledger.queued(None, 1):
                drainer.drain(Deadline(900))
                time.sleep(0.01)

        drain_thread = threading.Thread(target=drain_until_done)
        drain_thread.start()
        started = time.time()  # the burst: every launch's event is sent now, to containers that take them in turn
        with ThreadPoolExecutor(max_workers=CONTAINERS) as containers:
            for number in range(launches):
                instance = f"i-{number:017x}"
                arrived[instance] = started
                launch = InstanceLaunch(instance, "web-asg", f"key-{number}", f"event-{number}", "launch", time=started)
                containers.submit(dispatcher.handle, launch, Deadline(30))
        done.set()
        drain_thread.join()
        created = [run.id for run in github.runs]
        for run in github.runs:
            for instance in _instances(run.inputs):
                result.deployments[instance] += 1
        if batched:  # a batch run deploys each of its instances in its own job: count those
            result.deployments = Counter({i: len(jobs) for i, jobs in github.jobs_by_instance().items()})
        # Every instance's dispatch is accepted here (this bench injects no lost answers), so its start is known.
        result.latencies = [(accepted[instance] - arrived[instance]) * scale for instance in accepted]
        result.drain_seconds = (max(accepted.values()) - started) * scale
        result.runs = len(created)
        result.refusals = len(github.refusals)
        for run_id in created:
            github.set_run_status(run_id)
        before_tracking = len(github.requests)
        result.dispatch_writes = result.ledger_item_writes
        tracker = Tracker(
            ledger,
            client,
            AutoScalingStandIn(),
            _NoAlerts(),
            TrackerConfig(run_appear_timeout=600, heartbeat_interval=300, max_deploy=3600, check_interval=0),
        )
        for _ in range(TRACKER_PASSES):
            if not ledger.due_for_tracking(time.time() + 1, 1):
                break
            tracker.run_pass(Deadline(900))
            time.sleep(0.2)
        result.unfinished = len(ledger.due_for_tracking(time.time() + 1, launches))
        for request in github.requests:
            result.github_calls[_kind(request.method, request.path)] += 1
        result.github_calls["tracker requests"] = len(github.requests) - before_tracking
    return result


class _NoAlerts:
    """Every run succeeds here: nothing is alerted (the tracker's alert port, kept out of the numbers)."""

    def publish(self, alert: object) -> None:
        raise AssertionError(f"unexpected alert: {alert}")


def _instances(inputs: dict[str, str]) -> list[str]:
    if "instances" in inputs:
        return [member["instance_id"] for member in json.loads(inputs["instances"])]
    return [inputs["instance_id"]]


def _kind(method: str, path: str) -> str:
    if method == "POST" and path.endswith("/dispatches"):
        return "dispatch"
    if path.endswith("/jobs"):
        return "job listing"
    if path.endswith("/runs") or "/runs?" in path:
        return "run listing"
    return f"{method} other"


def report(result: ModeResult, launches: int) -> None:
    latencies = result.latencies
    once = sum(1 for count in result.deployments.values() if count == 1)
    print(f"\n{result.name}: {result.runs} runs, {result.refusals} refusals by GitHub")
    p50, p99 = _p(latencies, 50), _p(latencies, 99)
    print(f"  start latency (GitHub s): p50 {p50:.1f}  p99 {p99:.1f}  max {max(latencies):.1f}")
    print(f"  drain (the burst to the last dispatch accepted): {result.drain_seconds:.0f} GitHub s")
    calls = ", ".join(f"{kind} {count}" for kind, count in sorted(result.github_calls.items()))
    print(f"  GitHub calls: {calls}")
    ledger_calls = ", ".join(f"{name} {count}" for name, count in sorted(result.ledger_calls.items()))
    print(f"  ledger calls: {ledger_calls}")
    tracking = result.ledger_item_writes - result.dispatch_writes
    print(
        f"  ledger item writes per launch: {result.ledger_item_writes / launches:.2f} "
        f"({result.dispatch_writes / launches:.2f} to dispatch, {tracking / launches:.2f} to track)"
    )
    verdict = "OK" if once == launches and len(result.deployments) == launches and not result.unfinished else "BROKEN"
    print(f"  verdict {verdict}: {once} of {launches} instances deployed exactly once, {result.unfinished} untracked")


def _p(values: list[float], percentile: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percentile - 1] if len(values) > 1 else values[0]


if __name__ == "__main__":
    main()
