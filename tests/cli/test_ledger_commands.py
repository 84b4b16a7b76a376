"""`status`, `list` and `reset` on ledger entries the real handler wrote (moto server + the GitHub double)."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from deploy_trigger import runtime
from deploy_trigger.events import InstanceLaunch, parse_event
from deploy_trigger.ledger.codec import encode_item
from deploy_trigger.ledger.schema import iso_time
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.runs import RunRef
from deploy_trigger_cli.ledger_view import scan
from stand_ins.autoscaling_events import lifecycle_action
from stand_ins.deployment import REPOSITORY, TOKEN, WORKFLOW
from stand_ins.github_double import GitHubDouble, RateLimited, Reject
from stand_ins.moto_server import SerializedMotoServer
from tests.cli.conftest import CliResult
from tests.cli.paging import SmallPages
from tests.stand_in_fixtures import Deployment

Run = Callable[..., CliResult]
UNEXPECTED = 'Unexpected inputs provided: ["aws_region"]'


def dispatched(deployment: Deployment, instance_id: str, asg: str = "web-asg") -> None:
    assert not deployment.handle(lifecycle_action(instance_id, asg)).failed


def rejected(deployment: Deployment, github: GitHubDouble, instance_id: str, asg: str = "web-asg") -> dict[str, object]:
    event = lifecycle_action(instance_id, asg)
    github.inject(Reject(422, UNEXPECTED))
    assert deployment.handle(event).error == "DispatchRejected"
    return event


# -- status ---------------------------------------------------------------------------------------------------


def test_status_of_a_dispatched_instance_tells_when_which_run_and_the_history(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    dispatched(deployment, instance)
    run = github.runs[0]

    result = run_cli("status", instance)

    assert result.code == 0
    assert result.out.startswith(f"{instance}  DISPATCHED")
    assert "GitHub accepted the dispatch" in result.out
    assert f"{run.id} {run.html_url}" in result.out
    assert "web-asg" in result.out
    lines = result.out.splitlines()
    assert [line.split() for line in lines if line.strip().startswith("Attempts")] == [["Attempts", "1"]]
    history = lines[lines.index("History") + 1 :]
    assert "claimed" in history[0]
    assert "dispatched" in history[1]
    assert f"run {run.id}" in history[1]
    assert "Next:" not in result.out


def test_status_of_a_batched_instance_names_its_batch_and_its_place(
    deployment: Deployment, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    instances = [instance_ids() for _ in range(2)]
    ledger = Ledger(deployment.dynamodb, deployment.table)
    for instance in instances:
        launch = parse_event(lifecycle_action(instance, "web-asg"))
        assert isinstance(launch, InstanceLaunch)
        ledger.claim(launch, uuid.uuid4().hex, "dispatcher", time.time() + 30, queued=True)
    batch_id = uuid.uuid4().hex
    joined = ledger.join_batch(ledger.queued(None, 10), "drainer", time.time() + 60, due_again_at=0, batch_id=batch_id)
    ledger.record_batch_dispatched([member.instance_id for member in joined], batch_id, RunRef(7), reconciled=False)

    result = run_cli("status", joined[1].instance_id)

    assert result.code == 0
    assert f"{batch_id}, place 1: its run's title carries it" in result.out
    assert "its own: sent in a batch" in result.out


def test_status_json_carries_the_entry_and_its_history(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    dispatched(deployment, instance)

    entry = run_cli("status", instance, "--json").json()

    assert entry["found"] is True
    assert (entry["instance_id"], entry["status"], entry["attempts"]) == (instance, "DISPATCHED", 1)
    assert entry["run_id"] == github.runs[0].id
    assert entry["run_url"] == github.runs[0].html_url
    assert entry["dispatch_id"] in github.runs[0].display_title
    assert [event["event"] for event in entry["history"]] == ["claimed", "dispatched"]
    assert entry["dispatched_at"].endswith("Z")
    assert "lifecycle_action_token" not in entry  # a capability, never shown


def test_status_of_a_launch_waiting_for_github_budget_says_about_how_long(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    first, second = instance_ids(), instance_ids()
    github.inject(RateLimited(retry_after=600))
    for instance in (first, second):  # the second is held by the pause the first met: no request to GitHub
        answer = deployment.handle(lifecycle_action(instance, "web-asg")).result
        assert answer is not None
        assert answer["result"] == "queued"
    requests_before = len(github.requests)

    text = run_cli("status", second)
    as_json = run_cli("status", second, "--json").json()

    assert text.code == 0
    assert text.out.startswith(f"{second}  WAITING")
    assert re.search(r"waiting for GitHub budget, about 1[01] minutes \(place 2 of 2; GitHub paused", text.out)
    assert as_json["waiting"]["position"] == 2
    assert as_json["waiting"]["queue_length"] == 2
    assert as_json["waiting"]["about_minutes"] in (10, 11)
    assert len(github.requests) == requests_before  # the CLI reads the ledger only


def test_status_shows_the_commit_the_run_deployed_and_its_conclusion(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    finished, in_progress = instance_ids(), instance_ids()
    head_sha = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"
    item = {
        "instance_id": finished,
        "status": "DEPLOY_FAILED",
        "launch_key": "launch-1",
        "dispatch_id": "d-1",
        "asg_name": "web-asg",
        "run_id": 4242,
        "run_url": "https://github.com/acme/web/actions/runs/4242",
        "head_sha": head_sha,
        "conclusion": "cancelled",
        "deploy_outcome": "failed",
        "finished_at": iso_time(datetime.now(UTC).timestamp()),
    }
    deployment.dynamodb.put_item(TableName=deployment.table, Item=encode_item(item))
    dispatched(deployment, in_progress)

    text = run_cli("status", finished).out
    as_json = run_cli("status", finished, "--json").json()
    running = run_cli("status", in_progress).out

    rows, running_rows = (dict(re.findall(r"^  (\S.*?) {2,}(.*)$", out, flags=re.MULTILINE)) for out in (text, running))
    assert rows["Deployed commit"] == "a1b2c3d"
    assert rows["Conclusion"] == "cancelled (deploy failed)"
    assert text.index("Run ") < text.index("Deployed commit") < text.index("Attempts")  # beside the run
    assert (as_json["head_sha"], as_json["conclusion"], as_json["deploy_outcome"]) == (head_sha, "cancelled", "failed")
    assert running_rows["Deployed commit"] == "- (recorded when the run ends)"
    assert running_rows["Conclusion"] == "- (the run has not ended)"


def test_status_of_a_failed_instance_shows_the_error_and_what_to_do(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    rejected(deployment, github, instance)

    result = run_cli("status", instance)

    assert result.code == 0
    assert result.out.startswith(f"{instance}  FAILED")
    assert "rejected the dispatch for good" in result.out
    assert "HTTP 422" in result.out
    assert UNEXPECTED in result.out
    assert "rejected" in result.out.split("History", 1)[1]
    assert "Next: fix the cause" in result.out
    assert f"deploy-trigger reset {instance}" in result.out
    assert run_cli("status", instance, "--json").json()["last_error"].endswith(UNEXPECTED)


def test_status_of_an_unknown_instance_exits_1_and_says_why_there_may_be_none(
    deployment: Deployment, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()

    result = run_cli("status", instance)
    as_json = run_cli("status", instance, "--json")

    assert result.code == as_json.code == 1
    assert f"No ledger entry for {instance}" in result.out
    assert "redrive" in result.out
    assert as_json.json() == {"instance_id": instance, "found": False, "message": result.out.strip()}


def test_status_of_something_that_is_no_instance_id_is_a_usage_error(deployment: Deployment, run_cli: Run) -> None:
    result = run_cli("status", "web-01")

    assert result.code == 2
    assert "is not an EC2 instance ID" in result.err
    assert "Traceback" not in result.err


def test_status_without_a_table_names_the_flag_and_the_variable(
    deployment: Deployment, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    deployment.unset("LEDGER_TABLE_NAME")

    result = run_cli("status", instance_ids())

    assert result.code == 2
    assert "--table" in result.err
    assert "LEDGER_TABLE_NAME" in result.err
    assert "--stack" in result.err
    assert result.out == ""


def test_status_of_a_table_that_does_not_exist_says_so(
    deployment: Deployment, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    result = run_cli("status", instance_ids(), "--table", "no-such-table", "--json")

    assert result.code == 2
    assert "table 'no-such-table' does not exist" in result.json()["error"]
    assert result.json()["exit_code"] == 2


# -- list -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ledger_of_three(moto_server: SerializedMotoServer) -> tuple[str, dict[str, str]]:
    """A table of its own, shared by the list tests (they only read it): a dispatched entry (web-asg), a failed
    one (api-asg), and one dispatched 3 days ago (web-asg)."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        deployment = Deployment(moto_server.url, monkeypatch)
        entries = {name: f"i-{uuid.uuid4().hex[:17]}" for name in ("dispatched", "failed", "old")}
        with GitHubDouble(repository=REPOSITORY, workflow=WORKFLOW, tokens={TOKEN}) as github:
            deployment.use_github(github)
            dispatched(deployment, entries["dispatched"], "web-asg")
            rejected(deployment, github, entries["failed"], "api-asg")
            dispatched(deployment, entries["old"], "web-asg")
        three_days_ago = (datetime.now(UTC) - timedelta(days=3)).isoformat(timespec="milliseconds")
        deployment.dynamodb.update_item(
            TableName=deployment.table,
            Key={"instance_id": {"S": entries["old"]}},
            UpdateExpression="SET updated_at = :old",
            ExpressionAttributeValues={":old": {"S": three_days_ago.replace("+00:00", "Z")}},
        )
    runtime.reset()
    return deployment.table, entries


def listed(run_cli: Run, table: str, *filters: str) -> set[str]:
    result = run_cli("list", "--table", table, "--json", *filters)
    assert result.code == 0
    return {entry["instance_id"] for entry in result.json()["entries"]}


def test_list_without_filters_shows_every_entry_as_a_table(
    deployment: Deployment, ledger_of_three: tuple[str, dict[str, str]], run_cli: Run
) -> None:
    table, entries = ledger_of_three

    result = run_cli("list", "--table", table)

    assert result.code == 0
    header, *rows = result.out.split("\n\n")[0].splitlines()
    assert header.split() == ["INSTANCE", "STATUS", "ASG", "ATTEMPTS", "UPDATED", "RUN", "LAST", "ERROR"]
    assert [row.split()[0] for row in rows] == [entries[k] for k in ("failed", "dispatched", "old")]
    failed_row = rows[0]
    assert "FAILED" in failed_row
    assert "api-asg" in failed_row
    assert "HTTP 422" in failed_row
    assert result.out.rstrip().endswith("3 entries")


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (("--status", "FAILED"), {"failed"}),
        (("--status", "dispatched"), {"dispatched", "old"}),
        (("--status", "FAILED,DISPATCHED"), {"failed", "dispatched", "old"}),
        (("--status", "FAILED", "--status", "RESET"), {"failed"}),
        (("--status", "CLAIMED"), set()),
        (("--asg", "web-asg"), {"dispatched", "old"}),
        (("--since", "2h"), {"dispatched", "failed"}),
        (("--since", "4d"), {"dispatched", "failed", "old"}),
        (("--asg", "web-asg", "--since", "90m"), {"dispatched"}),
        (("--status", "DISPATCHED", "--asg", "api-asg"), set()),
    ],
)
def test_list_filters(
    deployment: Deployment,
    ledger_of_three: tuple[str, dict[str, str]],
    run_cli: Run,
    filters: tuple[str, ...],
    expected: set[str],
) -> None:
    table, entries = ledger_of_three

    assert listed(run_cli, table, *filters) == {entries[name] for name in expected}


def test_list_since_accepts_an_iso_time(
    deployment: Deployment, ledger_of_three: tuple[str, dict[str, str]], run_cli: Run
) -> None:
    table, entries = ledger_of_three
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert listed(run_cli, table, "--since", two_days_ago) == {entries["dispatched"], entries["failed"]}


def test_list_leaves_out_the_sweeps_reference_item(
    deployment: Deployment, ledger_of_three: tuple[str, dict[str, str]], run_cli: Run
) -> None:
    # The launch-successful sweep records since when it looks in an item that is no instance's entry.
    table, entries = ledger_of_three
    Ledger(deployment.dynamodb, table).sweep_since(datetime.now(UTC).timestamp())

    result = run_cli("list", "--table", table, "--json")

    assert result.code == 0
    assert {entry["instance_id"] for entry in result.json()["entries"]} == set(entries.values())


def test_list_says_when_nothing_matches_and_rejects_a_bad_since(
    deployment: Deployment, ledger_of_three: tuple[str, dict[str, str]], run_cli: Run
) -> None:
    table, _ = ledger_of_three

    nothing = run_cli("list", "--table", table, "--status", "CLAIMED")
    bad = run_cli("list", "--table", table, "--since", "yesterday")

    assert nothing.code == 0
    assert nothing.out.strip() == "No ledger entries match: status CLAIMED."
    assert bad.code == 2
    assert "--since 'yesterday'" in bad.err


def test_list_limit_shows_the_newest_and_counts_all(
    deployment: Deployment, ledger_of_three: tuple[str, dict[str, str]], run_cli: Run
) -> None:
    table, entries = ledger_of_three

    result = run_cli("list", "--table", table, "--limit", "1", "--json")

    assert result.json()["count"] == 3
    assert [entry["instance_id"] for entry in result.json()["entries"]] == [entries["failed"]]


def test_scan_follows_pages(deployment: Deployment, github: GitHubDouble, instance_ids: Callable[[], str]) -> None:
    instances = {instance_ids() for _ in range(5)}
    for instance in instances:
        dispatched(deployment, instance)
    pages = deployment.dynamodb.scan(TableName=deployment.table, Limit=2)
    assert "LastEvaluatedKey" in pages  # more than one page at this size

    found = scan(SmallPages(deployment.dynamodb, 2), deployment.table, statuses=["DISPATCHED"])  # two items a Scan page

    assert {record.instance_id for record in found} == instances


# -- reset ----------------------------------------------------------------------------------------------------


def test_reset_moves_a_failed_entry_to_reset_and_notes_who_did_it(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    rejected(deployment, github, instance)

    result = run_cli("reset", instance, "--note", "declared aws_region in #123")

    assert result.code == 0
    assert f"{instance}: reset" in result.out
    assert deployment.status(instance) == "RESET"
    last = deployment.item(instance).history[-1]
    assert last.event == "reset"
    assert "via deploy-trigger reset: declared aws_region in #123" in last.detail


def test_reset_leaves_anything_but_failed_alone_and_exits_1(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    ok, unknown = instance_ids(), instance_ids()
    dispatched(deployment, ok)

    result = run_cli("reset", ok, unknown, "--json")

    assert result.code == 1
    assert [(r["instance_id"], r["reset"], r["status"]) for r in result.json()["results"]] == [
        (ok, False, "DISPATCHED"),
        (unknown, False, None),
    ]
    assert deployment.status(ok) == "DISPATCHED"
    assert all(event.event != "reset" for event in deployment.item(ok).history)
