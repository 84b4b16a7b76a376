"""The drainer's pace against the floor GitHub's limits set: a backlog past the hourly limit, sent by the real
drainer through the real GitHub client to the double enforcing github.com's limits on a compressed clock.

The drill measures the same thing inside a whole scale-out on moto server, where each conditional write costs moto
tens of milliseconds, more than a compressed second: its ratio is moto's. Here the ledger is moto in this process
(a few milliseconds a write), so the ratio is the drainer's own: how close to GitHub's limits plus the second
GitHub asks between mutations it sends a backlog. Target: within 1.1x of that floor.

    .venv/bin/python -m bench.drain_pace [--launches 600] [--time-scale 40]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import boto3
from moto import mock_aws

from bench.stand_in_setup import TOKEN, double_client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--launches", type=int, default=600, help="queued launches (default 600: past 500 an hour)")
    parser.add_argument("--time-scale", type=float, default=40.0, help="GitHub seconds per wall second (default 40)")
    args = parser.parse_args()
    os.environ.update({"AWS_DEFAULT_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "b", "AWS_SECRET_ACCESS_KEY": "b"})
    os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
    with mock_aws():
        run(args.launches, args.time_scale)


def run(launches: int, scale: float) -> None:
    from deploy_trigger.deadline import Deadline
    from deploy_trigger.dispatch import DispatchConfig
    from deploy_trigger.drain import DrainConfig, Drainer
    from deploy_trigger.events import InstanceLaunch
    from deploy_trigger.ledger.budget_item import BudgetItem
    from deploy_trigger.ledger.model import Claimed
    from deploy_trigger.ledger.table import Ledger
    from stand_ins.aws_resources import create_ledger_table
    from stand_ins.github_double import GitHubDouble, RateLimits
    from stand_ins.github_rate_limits import floor_seconds

    limits = RateLimits(time_scale=scale)
    dynamodb = boto3.client("dynamodb")
    create_ledger_table(dynamodb, "ledger")
    ledger, budget = Ledger(dynamodb, "ledger"), BudgetItem(dynamodb, "ledger")
    for number in range(launches):  # what a burst GitHub refused leaves: claimed launches, parked in arrival order
        instance = f"i-{number:017x}"
        launch = InstanceLaunch(instance, "web-asg", f"key-{number}", f"event-{number}", "launch", time=time.time())
        claim = ledger.claim(launch, uuid.uuid4().hex, "dispatcher", time.time() + 30)
        if not isinstance(claim, Claimed):
            raise SystemExit(f"could not claim {instance}: {claim}")
        ledger.park(claim.entry, "dispatcher", "rate limited", not_before=time.time(), post_unconfirmed=False)

    with GitHubDouble(tokens={TOKEN}, rate_limits=limits) as github:
        client = double_client(github)
        dispatch = DispatchConfig(ref="main", aws_region="us-east-1", extra_inputs={}, lease_margin_seconds=5)
        drainer = Drainer(ledger, budget, client, DrainConfig(dispatch=dispatch, mutation_interval_seconds=1 / scale))
        started = time.time()
        runs = 0
        while ledger.queued(None, 1) and runs < 20:
            drainer.drain(Deadline(900))
            runs += 1
        created = sorted(run.created_at.timestamp() for run in github.runs)
        refusals = [refusal.kind for refusal in github.refusals]

    drain = (max(created) - started) * scale
    paced, limits_only = floor_seconds(launches, limits, min_interval=1.0), floor_seconds(launches, limits)
    print(f"{launches} queued launches, GitHub's limits at x{scale:g} ({len(github.runs)} runs, {runs} drainer runs)")
    print(f"  drain time         {drain:8.0f} GitHub s ({drain / scale:.1f} wall s)")
    print(f"  floor, limits + 1 s pace {paced:6.0f} GitHub s: ratio {drain / paced:.3f} (target <= 1.1)")
    print(f"  floor, limits alone      {limits_only:6.0f} GitHub s: ratio {drain / limits_only:.3f}")
    print(f"  refused by GitHub: {len(refusals)} ({', '.join(sorted(set(refusals))) or 'none'})")


if __name__ == "__main__":
    main()
