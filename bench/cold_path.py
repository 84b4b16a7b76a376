"""A cold container's whole first answer: a fresh process, from its start to the answer for a new launch, for the
dispatcher and for a minimal baseline Lambda, on moto server and the GitHub double (loopback, no network).

The baseline is what any Lambda that starts a workflow must do, and no more, written the usual way: import boto3
and requests, build a Secrets Manager client, read the token, POST the dispatch once. No ledger, so no exactly-once:
the difference is what the dispatcher's guarantees and its own code cost a cold container. The two run interleaved,
one fresh interpreter per sample, so machine noise hits both alike. Each sample reports where its time went: the
interpreter's start, each import, each AWS client built, each AWS call (the secret, the ledger's claim and record)
and the POST, seen from the process that made them; what is left is the code between them (ours, Powertools',
botocore's request building).

Target: the dispatcher's median first answer <= 1.2x the baseline's, in the same run.

    .venv/bin/python -m bench.cold_path [--samples 15]    # from the checkout root, like `make bench`
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict

from bench.stand_in_setup import TOKEN, container_environment

TARGET_RATIO = 1.2

#: What each sample runs in its fresh interpreter (``python -c``): nothing is imported before the first mark, and
#: the timing hooks wrap botocore's and requests' own entry points once both are imported, so every phase is seen
#: the same way for both kinds. Marks are ``time.monotonic()``, one clock for every process on the machine.
CHILD = r"""
import time
_started = time.monotonic()
import json, os, sys
marks = [["interpreter", _started]]
calls = []
def mark(name):
    marks.append([name, time.monotonic()])
if os.environ["BENCH_KIND"] == "dispatcher":
    import botocore.session  # what deploy_trigger.runtime builds its clients with
else:
    import boto3
mark("import the AWS SDK")
import requests
mark("import requests")
import botocore.endpoint, botocore.session
def _timed(label_of, function):
    def timed(*args, **kwargs):
        started = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            calls.append([label_of(*args, **kwargs), started, time.monotonic()])
    return timed
botocore.session.Session.create_client = _timed(
    lambda self, service, *a, **k: "client " + service, botocore.session.Session.create_client)
botocore.endpoint.Endpoint.make_request = _timed(
    lambda self, model, *a, **k: model.service_model.service_name + ":" + model.name,
    botocore.endpoint.Endpoint.make_request)
requests.Session.send = _timed(
    lambda self, request, **k: "github:" + request.method + " " + request.path_url.split("?")[0].rsplit("/", 1)[-1],
    requests.Session.send)
event = json.loads(os.environ["BENCH_EVENT"])
if os.environ["BENCH_KIND"] == "dispatcher":
    import deploy_trigger.handler  # Lambda's init: the module's imports, and the clients it builds there
    mark("init")
    class Context:  # what Lambda passes: the handler reads its names and its clock
        function_name = "deploy-trigger-dispatcher"
        function_version = "$LATEST"
        invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:deploy-trigger-dispatcher"
        memory_limit_in_mb = 256
        aws_request_id = "00000000-0000-0000-0000-000000000000"
        log_group_name = "/aws/lambda/deploy-trigger-dispatcher"
        log_stream_name = "bench"
        def get_remaining_time_in_millis(self):
            return max(0, int((_started + 30 - time.monotonic()) * 1000))
    mark("handler start")
    answer = deploy_trigger.handler.handler(event, Context())
    ok = answer.get("result") == "dispatched"
else:
    secrets = boto3.client("secretsmanager")  # module level (Lambda guide, best practices): init
    mark("init")
    mark("handler start")
    token = secrets.get_secret_value(SecretId=os.environ["GITHUB_CREDENTIALS_SECRET"])["SecretString"]
    detail = event["detail"]
    response = requests.post(
        os.environ["GITHUB_API_URL"] + "/repos/" + os.environ["GITHUB_REPOSITORY"] + "/actions/workflows/"
        + os.environ["GITHUB_WORKFLOW"] + "/dispatches",
        json={"ref": "main", "inputs": {
            "instance_id": detail["EC2InstanceId"], "dispatch_id": event["id"].replace("-", ""),
            "asg_name": detail["AutoScalingGroupName"], "lifecycle_hook_name": detail["LifecycleHookName"],
            "aws_region": event["region"]}},
        headers={"Authorization": "Bearer " + token, "Accept": "application/vnd.github+json",
                 "X-GitHub-Api-Version": "2026-03-10", "User-Agent": "baseline"},
        timeout=10,
    )
    ok = response.status_code in (200, 204)
mark("answer")
compile_seconds = 0.0
if os.environ.get("BENCH_COMPILE"):
    # After the answer, unmeasured: what compiling the imported modules that a bundle ships (everything but the
    # standard library and boto3/botocore, which the Lambda runtime provides) from source takes.
    provided = ("boto3", "botocore", "jmespath", "s3transfer", "dateutil", "six")
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None) or ""
        if not path.endswith(".py") or path.startswith(sys.base_prefix) or name.split(".")[0] in provided:
            continue
        with open(path, "rb") as source:
            text = source.read()
        started = time.monotonic()
        compile(text, path, "exec")
        compile_seconds += time.monotonic() - started
with os.fdopen(int(os.environ["BENCH_REPORT_FD"]), "w") as report:
    json.dump({"ok": ok, "marks": marks, "calls": calls, "compile": compile_seconds}, report)
"""

KINDS = ("dispatcher", "baseline")


def run_sample(
    kind: str, event: dict[str, object], environment: dict[str, str], *, compile_after: bool = False
) -> dict[str, float]:
    """One fresh interpreter; returns its phases in seconds, ``first answer`` being the whole from spawn (and, with
    ``compile_after``, ``compile`` for what compiling its bundled modules took, after the answer)."""
    read_end, write_end = os.pipe()
    variables = {"BENCH_KIND": kind, "BENCH_EVENT": json.dumps(event), "BENCH_REPORT_FD": str(write_end)}
    if compile_after:
        variables["BENCH_COMPILE"] = "1"
    spawned = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        env={**environment, **variables},
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,  # the dispatcher's JSON logs and EMF metrics: written, as on Lambda, not read
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        text = pipe.read()
    _, stderr = child.communicate()
    if child.returncode != 0 or not text:
        raise SystemExit(f"{kind} sample failed (exit {child.returncode}):\n{stderr.decode()}")
    report = json.loads(text)
    if not report["ok"]:
        raise SystemExit(f"{kind} sample did not dispatch:\n{stderr.decode()}")
    result = phases(spawned, report["marks"], report["calls"])
    if compile_after:
        result["compile"] = report["compile"]
    return result


def phases(spawned: float, marks: list[list[object]], calls: list[list[object]]) -> dict[str, float]:
    """Where one sample's time went. Calls are attributed by what they were, wherever they happened; what is left of
    the init (the handler module's own imports) and of the handler (its own code) is named apart."""
    at = {str(name): float(moment) for name, moment in marks}  # type: ignore[arg-type]
    result: dict[str, float] = {"interpreter start": at["interpreter"] - spawned}
    result["import the AWS SDK"] = at["import the AWS SDK"] - at["interpreter"]
    result["import requests"] = at["import requests"] - at["import the AWS SDK"]
    init, handler = at["init"] - at["import requests"], at["answer"] - at["handler start"]
    for label, started, ended in calls:
        duration = float(ended) - float(started)  # type: ignore[arg-type]
        result[str(label)] = result.get(str(label), 0.0) + duration
        if float(started) < at["handler start"]:  # type: ignore[arg-type]
            init -= duration
        else:
            handler -= duration
    result["init: the rest (imports, the session)"] = init
    result["the handler's own code"] = handler
    result["first answer"] = at["answer"] - spawned
    return result


def summarize(samples: list[dict[str, float]]) -> dict[str, tuple[float, float, float]]:
    """Per phase: median, and the spread as the 25th and 75th percentiles."""
    values: dict[str, list[float]] = defaultdict(list)
    for sample in samples:
        for name, value in sample.items():
            values[name].append(value)
    summary = {}
    for name, seen in values.items():
        series = seen + [0.0] * (len(samples) - len(seen))  # a phase some samples did not have
        quartiles = statistics.quantiles(series, n=4) if len(series) > 1 else [series[0]] * 3
        summary[name] = (statistics.median(series), quartiles[0], quartiles[2])
    return summary


def print_report(times: dict[str, list[dict[str, float]]]) -> float:
    summaries = {kind: summarize(samples) for kind, samples in times.items()}
    names: list[str] = []
    for summary in summaries.values():
        names += [name for name in summary if name not in names and name != "first answer"]
    count = len(times["dispatcher"])
    print(f"cold path: a fresh process to the first answer for a new launch, {count} interleaved samples each")
    print(f"  {'phase (median ms, [p25-p75])':44} {'dispatcher':>22} {'baseline':>22}")
    for name in [*names, "first answer"]:
        cells = []
        for kind in KINDS:
            if name in summaries[kind]:
                median, low, high = summaries[kind][name]
                cells.append(f"{median * 1000:7.1f} [{low * 1000:5.0f}-{high * 1000:5.0f}]")
            else:
                cells.append("")
        print(f"  {name:44} {cells[0]:>22} {cells[1]:>22}")
    ratio = summaries["dispatcher"]["first answer"][0] / summaries["baseline"]["first answer"][0]
    verdict = "OK" if ratio <= TARGET_RATIO else "OVER"
    print(f"cold first answer: dispatcher / baseline = {ratio:.2f} (target <= {TARGET_RATIO}): {verdict}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=15, help="fresh processes per kind (default 15, at least 9)")
    parser.add_argument(
        "--lambda-src",
        help="the folder holding the deploy_trigger package to measure (default: this checkout's lambda_src/); "
        "e.g. a `git worktree` of an earlier commit's, to measure what a change saved",
    )
    arguments = parser.parse_args()
    samples = max(9, arguments.samples)

    from stand_ins.autoscaling_events import instance_id, lifecycle_action
    from stand_ins.github_double import GitHubDouble
    from stand_ins.moto_server import SerializedMotoServer

    with SerializedMotoServer() as moto, GitHubDouble(tokens={TOKEN}) as github:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        lambda_src = os.path.abspath(arguments.lambda_src or os.path.join(root, "lambda_src"))
        environment = container_environment(lambda_src, moto.url, github.url, github.repository, github.workflow)
        # Modules load from their bytecode caches, as on a developer's machine (the first, unmeasured samples write
        # them); what Lambda pays instead, compiling the bundle, is printed apart.
        environment.pop("PYTHONDONTWRITEBYTECODE", None)

        launches = iter(range(1, 10_000))
        for kind in KINDS:  # warm the file system cache once each, unmeasured
            run_sample(kind, lifecycle_action(instance_id(next(launches))), environment)
        times: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
        for round_number in range(samples):
            order = KINDS if round_number % 2 == 0 else KINDS[::-1]  # neither always runs right after the other
            for kind in order:
                event = lifecycle_action(instance_id(next(launches)))
                times[kind].append(run_sample(kind, event, environment))
        print_report(times)
        compiled = {
            kind: run_sample(kind, lifecycle_action(instance_id(next(launches))), environment, compile_after=True)
            for kind in KINDS
        }
        print(
            "Lambda runs the bundle without bytecode (infra/constructs/bundling.py), so a cold start there also"
            " compiles the bundled modules it imports: "
            + ", ".join(f"{kind} {compiled[kind]['compile'] * 1000:.0f} ms" for kind in KINDS)
        )


if __name__ == "__main__":
    main()
