"""Cold start: importing the handler and building its clients, against the floor every Python Lambda that
talks to DynamoDB over HTTP pays (``import boto3, requests; boto3.client('dynamodb')``).

Each sample is a fresh interpreter, the two commands interleaved so that machine noise hits both alike.
Prints medians and their ratio; the target is <= 1.3.

    .venv/bin/python -m bench.cold_start [--samples 21]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

FLOOR = "import boto3, requests; boto3.client('dynamodb')"
HANDLER = "import deploy_trigger.handler; from deploy_trigger import runtime; runtime.dispatcher()"
#: The handler as a GitHub App user's first event sees it: JWT signing loaded too (PAT users never pay it).
HANDLER_WITH_APP_AUTH = HANDLER + "; import rsa, rsa.pem, pyasn1.codec.der.decoder"

ENVIRONMENT = {
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "LEDGER_TABLE_NAME": "ledger",
    "GITHUB_REPOSITORY": "acme/app",
    "GITHUB_WORKFLOW": "deploy.yml",
    "GITHUB_REF": "main",
    "GITHUB_CREDENTIALS_SECRET": "deploy-trigger/github",
}


def sample(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, **ENVIRONMENT})
    return time.perf_counter() - started


#: Peak resident memory of a container after a dispatch-ready cold start, App signing loaded too (the most a
#: container holds before its first event; requests and responses add little). Sizes the Lambda's memory.
PEAK_RSS = HANDLER_WITH_APP_AUTH + "; import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def peak_rss_mb() -> float:
    answer = subprocess.run(
        [sys.executable, "-c", PEAK_RSS], check=True, capture_output=True, text=True, env={**os.environ, **ENVIRONMENT}
    )
    return int(answer.stdout.strip()) / 1024  # ru_maxrss is in KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=21, help="fresh interpreters per command (default 21)")
    samples = parser.parse_args().samples
    commands = {"floor": FLOOR, "handler": HANDLER, "handler+app-auth": HANDLER_WITH_APP_AUTH}
    for code in commands.values():  # warm the file system cache once, unmeasured
        sample(code)
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(samples):
        for name, code in commands.items():
            times[name].append(sample(code))
    floor = statistics.median(times["floor"])
    print(f"cold start, median of {samples} fresh interpreters each (interleaved):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:18} {median * 1000:7.1f} ms   ratio to floor {median / floor:4.2f}")
    ratio = statistics.median(times["handler"]) / floor
    print(f"handler / floor = {ratio:.2f} (target <= 1.30): {'OK' if ratio <= 1.3 else 'OVER'}")
    print(f"peak RSS after import and clients (App signing loaded): {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
