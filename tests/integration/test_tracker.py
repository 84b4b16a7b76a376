"""The tracker closes the loop: each dispatched launch ends with its instance let into service (CONTINUE) or
replaced (ABANDON) exactly once, with an alert for every failure, whatever interrupts the tracker.

Ledger on moto server, runs from the GitHub double; Auto Scaling's lifecycle calls (not in moto) go to a
thin fake that behaves like the real API: one completion per pending action, then "no active action"."""

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests

from deploy_trigger import runtime
from deploy_trigger.alerts import DeploymentAlert
from deploy_trigger.deadline import Deadline
from deploy_trigger.events import InstanceLaunch, parse_event
from deploy_trigger.github_client import GitHubClient
from deploy_trigger.handler import tracker_handler
from deploy_trigger.ledger.model import Claimed, LedgerEntry, Status
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.lifecycle import LifecycleAnswer, LifecycleResult
from deploy_trigger.runs import RunListing, RunRef
from deploy_trigger.tracking import Tracker
from deploy_trigger_cli.local_lambda import LocalLambdaContext
from stand_ins.autoscaling_events import at, launch_successful
from stand_ins.autoscaling_group import AutoScalingStandIn
from stand_ins.deployment import TOKEN
from stand_ins.github_double import ErrorAfterAccept, GitHubDouble
from stand_ins.github_listing import LISTING_DELAY_SECONDS
from stand_ins.invoke import invoke
from tests.integration.conftest import TRACKER_CONFIG, Stack, github_client
from tests.integration.emf import metrics
from tests.integration.waiting import RECONCILE_WAIT, Clock


class Killed(BaseException):
    """The tracker's process dying mid-call (not an error any code path handles)."""


HOOK = "deploy-trigger-launch"


@dataclass
class DyingAutoScaling(AutoScalingStandIn):
    """The Auto Scaling stand-in, and a tracker process that can die right after a completion took effect."""

    die_after_completing: bool = False

    def complete(
        self, asg_name: str, hook_name: str, instance_id: str, result: LifecycleResult, *, token: str | None = None
    ) -> LifecycleAnswer:
        answer = super().complete(asg_name, hook_name, instance_id, result, token=token)
        if self.die_after_completing and answer is LifecycleAnswer.DONE:
            raise Killed
        return answer

    def ended(self) -> list[tuple[str, str]]:
        """(instance, result) of every completion that took effect, in order."""
        return [(instance, result) for instance, _, result in self.completions]


@dataclass
class Inbox:
    alerts: list[DeploymentAlert] = field(default_factory=list)

    def publish(self, alert: DeploymentAlert) -> None:
        self.alerts.append(alert)


@dataclass
class Harness:
    stack: Stack
    github: GitHubDouble
    autoscaling: DyingAutoScaling
    inbox: Inbox
    clock: Clock
    tracker: Tracker
    ledger: Ledger

    def launch(self, instance: str, *, lifecycle: bool = True) -> str:
        """Dispatch a launch through the real handler; returns the run ID GitHub made for it."""
        event = self.autoscaling.launch("web-asg", instance)[0] if lifecycle else launch_successful(instance)
        result = invoke(event).result
        assert result is not None
        return str(result["run_id"])

    def claim(self, instance: str, dispatch_id: str | None = None) -> LedgerEntry:
        """The instance launches and a dispatcher ("invocation") claims it, its lease 30 s long."""
        launch = parse_event(self.autoscaling.launch("web-asg", instance)[0])
        assert isinstance(launch, InstanceLaunch)
        claim = self.ledger.claim(launch, dispatch_id or uuid.uuid4().hex, "invocation", lease_until=time.time() + 30)
        assert isinstance(claim, Claimed)
        return claim.entry

    def record_dispatch_without_a_run(self, instance: str) -> None:
        assert self.ledger.record_dispatched(self.claim(instance), "invocation", RunRef(), reconciled=False)

    def fast_launch(self, instance: str, *, claimed_ago: float = 0.0) -> str:
        """What a dispatch leaves behind (a run, a DISPATCHED entry), without a handler invocation's cost;
        ``claimed_ago``: the first claim was that long before the dispatch (a launch retried hours later)."""
        dispatch_id = uuid.uuid4().hex
        offset, self.clock.offset = self.clock.offset, self.clock.offset - claimed_ago
        claimed = self.claim(instance, dispatch_id)
        self.clock.offset = offset
        answer = requests.post(
            f"{self.github.url}/repos/{self.github.repository}/actions/workflows/{self.github.workflow}/dispatches",
            json={"ref": "main", "inputs": {"instance_id": instance, "dispatch_id": dispatch_id, "asg_name": "web-asg",
                                            "lifecycle_hook_name": "deploy", "aws_region": "us-east-1"}},
            headers={"Authorization": f"Bearer {TOKEN}", "X-GitHub-Api-Version": "2026-03-10", "User-Agent": "test"},
            timeout=10,
        )  # fmt: skip
        run_id = int(answer.json()["workflow_run_id"])
        assert self.ledger.record_dispatched(claimed, "invocation", RunRef(run_id=run_id), reconciled=False)
        return str(run_id)

    def finish_run(self, run_id: str, conclusion: str) -> None:
        self.github.set_run_status(int(run_id), status="completed", conclusion=conclusion)

    def tracker_pass(self) -> dict[str, object]:
        return self.tracker.run_pass(Deadline(60)).as_dict()

    def item(self, instance: str) -> dict[str, Any]:
        return self.stack.item(instance)


@pytest.fixture
def harness(stack: Stack, github: GitHubDouble) -> Harness:
    clock, autoscaling, inbox = Clock(), DyingAutoScaling(), Inbox()
    autoscaling.add_group("web-asg", HOOK)
    ledger = Ledger(stack.dynamodb, stack.table, clock=clock)
    tracker = Tracker(ledger, github_client(stack, github), autoscaling, inbox, TRACKER_CONFIG, clock=clock)
    return Harness(stack, github, autoscaling, inbox, clock, tracker, ledger)


def test_success_continues_the_lifecycle_action_once(harness: Harness, instance_ids: Callable[[], str]) -> None:
    instance = instance_ids()
    run_id = harness.launch(instance)
    harness.tracker_pass()
    assert harness.item(instance).status == "RUNNING"

    harness.finish_run(run_id, "success")
    first = harness.tracker_pass()
    second = harness.tracker_pass()

    assert harness.autoscaling.ended() == [(instance, "CONTINUE")]
    item = harness.item(instance)
    assert (item.status, item.lifecycle_result, item.conclusion) == (
        "SUCCEEDED", "CONTINUE", "success",
    )  # fmt: skip
    assert "tracking" not in harness.stack.raw_item(instance)  # left the index: no later pass looks at it
    (run,) = harness.github.runs
    assert item.head_sha == run.head_sha  # the commit this instance runs, for `deploy-trigger fleet`
    assert first["DeploySucceeded"] == 1
    assert second["due"] == 0
    assert harness.inbox.alerts == []


@pytest.mark.parametrize("conclusion", ["failure", "cancelled", "timed_out", "startup_failure"])
def test_failed_run_abandons_once_and_alerts_once(
    harness: Harness, instance_ids: Callable[[], str], conclusion: str
) -> None:
    instance = instance_ids()
    run_id = harness.launch(instance)
    harness.finish_run(run_id, conclusion)

    report = harness.tracker_pass()
    harness.tracker_pass()

    assert harness.autoscaling.ended() == [(instance, "ABANDON")]
    (alert,) = harness.inbox.alerts
    assert (alert.instance_id, alert.asg_name, alert.conclusion, alert.outcome) == (
        instance, "web-asg", conclusion, "failed",
    )  # fmt: skip
    assert alert.run_url is not None
    assert alert.run_url.endswith(f"/actions/runs/{run_id}")
    assert harness.item(instance).status == Status.DEPLOY_FAILED
    assert (report["DeployFailed"], report["LifecycleAbandoned"]) == (1, 1)


def test_a_run_whose_status_github_shows_as_null_is_not_finished(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    run_id = harness.launch(instance)
    harness.github.set_run_status(int(run_id), status=None, conclusion=None)  # GitHub's schema allows it

    report = harness.tracker_pass()

    assert harness.autoscaling.completions == []
    assert harness.inbox.alerts == []
    assert harness.item(instance).status == Status.RUNNING
    assert report.get("DeployFailed", 0) == report.get("DeploySucceeded", 0) == 0


def test_listed_runs_carry_the_commit_they_run(harness: Harness, instance_ids: Callable[[], str]) -> None:
    harness.launch(instance_ids())
    client = github_client(harness.stack, harness.github)
    [served] = harness.github.runs
    time.sleep(LISTING_DELAY_SECONDS + 0.1)  # GitHub lists a new run a little later

    [listed] = client.list_runs(time.time() - 60, Deadline(30)).runs
    read = client.get_run(served.id, Deadline(30))

    assert listed.head_sha == served.head_sha
    assert read is not None
    assert read.head_sha == served.head_sha


def test_run_that_never_appears_is_abandoned_after_the_deadline(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    harness.record_dispatch_without_a_run(instance)  # accepted (204), yet GitHub never lists a run

    harness.tracker_pass()
    assert harness.autoscaling.ended() == []  # within the deadline: still waiting
    harness.clock.offset = 601
    harness.tracker_pass()

    assert harness.autoscaling.ended() == [(instance, "ABANDON")]
    assert harness.inbox.alerts[0].outcome == "no run"
    assert harness.item(instance).deploy_outcome == "no run"


def test_slow_healthy_deploy_gets_heartbeats_until_the_maximum_then_is_abandoned_as_stuck(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    harness.launch(instance)

    for minutes in (1, 4, 6, 11, 16):
        harness.clock.offset = minutes * 60
        harness.tracker_pass()
    assert harness.autoscaling.heartbeats[instance] == 3  # at 6, 11 and 16 minutes (every 5)
    assert harness.autoscaling.ended() == []
    assert harness.item(instance).status == "RUNNING"

    harness.clock.offset = 3601
    harness.tracker_pass()

    assert harness.autoscaling.ended() == [(instance, "ABANDON")]
    assert harness.inbox.alerts[0].outcome == "stuck"


def test_tracker_killed_after_completing_and_rerun_neither_completes_twice_nor_loses_the_entry(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instances = [instance_ids() for _ in range(3)]
    runs = [harness.launch(instance) for instance in instances]
    for run_id in runs:
        harness.finish_run(run_id, "success")
    harness.autoscaling.die_after_completing = True

    harness.tracker_pass()  # every completion "kills" the tracker before it records anything
    assert all(harness.item(i).status == "DISPATCHED" for i in instances)  # not lost: still tracked
    harness.autoscaling.die_after_completing = False
    harness.tracker_pass()

    assert sorted(harness.autoscaling.ended()) == sorted((i, "CONTINUE") for i in instances)
    for instance in instances:
        item = harness.item(instance)
        assert item.status == "SUCCEEDED"
        assert (item.lifecycle_result or "").startswith("CONTINUE")


@pytest.mark.parametrize(
    ("ended_as", "conclusion", "status", "recorded", "counted", "alerts"),
    [
        (LifecycleResult.CONTINUE, "success", Status.SUCCEEDED, "CONTINUE (ALREADY_ENDED: the instance is InService)",
         "LifecycleContinued", 0),
        (LifecycleResult.ABANDON, "failure", Status.DEPLOY_FAILED, "ABANDON (ALREADY_ENDED: the instance is gone)",
         "LifecycleAbandoned", 1),
    ],
    ids=["continued", "abandoned"],
)  # fmt: skip
def test_a_lifecycle_action_the_workflow_completed_itself_is_a_terminal_outcome_counted_as_its_result(
    harness: Harness,
    instance_ids: Callable[[], str],
    ended_as: LifecycleResult,
    conclusion: str,
    status: Status,
    recorded: str,
    counted: str,
    alerts: int,
) -> None:
    instance = instance_ids()
    run_id = harness.launch(instance)
    harness.autoscaling.complete("web-asg", HOOK, instance, ended_as)  # the workflow, through OIDC
    workflow_completions = harness.autoscaling.ended()
    harness.finish_run(run_id, conclusion)

    report = harness.tracker_pass()

    assert harness.autoscaling.ended() == workflow_completions  # the tracker completed nothing more
    item = harness.item(instance)
    assert item.status is status
    assert item.lifecycle_result == recorded
    assert (report["LifecycleAlreadyEnded"], report[counted]) == (1, 1)  # the crash-loop alarm sees an abandon
    assert len(harness.inbox.alerts) == alerts
    assert harness.tracker_pass()["due"] == 0


def test_plain_mode_records_the_outcome_without_lifecycle_calls(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    run_id = harness.launch(instance, lifecycle=False)
    harness.finish_run(run_id, "failure")

    harness.tracker_pass()

    assert harness.autoscaling.ended() == []
    assert harness.item(instance).status == "DEPLOY_FAILED"
    assert harness.inbox.alerts[0].lifecycle_result is None


def test_history_reads_as_the_instance_s_story(harness: Harness, instance_ids: Callable[[], str]) -> None:
    instance = instance_ids()
    run_id = harness.launch(instance)
    harness.tracker_pass()
    harness.finish_run(run_id, "success")
    harness.tracker_pass()

    events = [event.event for event in harness.item(instance).history]

    assert events == ["claimed", "dispatched", "run_queued", "completing", "deploy_succeeded"]


@pytest.mark.slow
def test_hundreds_of_in_flight_deployments_in_one_pass_within_the_github_budget(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    launches = 250  # three pages of runs: the listing, not the number of deployments, sets the cost
    instances = [instance_ids() for _ in range(launches)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        runs = dict(zip(instances, pool.map(harness.fast_launch, instances), strict=True))
    # The pass a minute later sees every run listed; one within GitHub's listing delay would see the last few appear
    # between its pages and, rightly, read those one by one.
    time.sleep(LISTING_DELAY_SECONDS + 0.1)
    requests_before = len(harness.github.requests)

    first = harness.tracker_pass()
    for instance in instances[: launches // 2]:
        harness.finish_run(runs[instance], "success")
    second = harness.tracker_pass()
    third = harness.tracker_pass()

    github_calls = len(harness.github.requests) - requests_before
    assert first["due"] == launches
    assert second["DeploySucceeded"] == launches // 2
    assert third["due"] == launches // 2
    assert github_calls <= 3 * 3  # three passes, three pages of 100 runs each: not one call per deployment
    assert len(harness.autoscaling.ended()) == launches // 2


def test_outcome_unknown_that_no_retry_settles_is_reported_after_fifteen_minutes(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    event = harness.autoscaling.launch("web-asg", instance)[0]
    harness.github.inject(ErrorAfterAccept(502))
    assert invoke(event).error == "OutcomeUnknown"

    assert harness.tracker_pass()["unresolved"] == []  # retries have 15 minutes to reconcile it
    harness.clock.offset = 15 * 60 + 1
    assert harness.tracker_pass()["unresolved"] == [instance]

    time.sleep(RECONCILE_WAIT)  # the lease margin and the listing delay, then Lambda's retry settles it
    assert invoke(event).result is not None
    assert harness.tracker_pass()["unresolved"] == []


def test_tracker_handler_emits_its_pass_as_metrics(
    harness: Harness,
    instance_ids: Callable[[], str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    run_id = harness.launch(instance_ids())
    harness.finish_run(run_id, "failure")
    monkeypatch.setattr(runtime, "tracker", lambda: harness.tracker)

    result = tracker_handler({"source": "aws.scheduler"}, LocalLambdaContext(budget_seconds=60))

    emitted = metrics(capsys.readouterr().out)
    assert result["due"] == 1
    assert (emitted["TrackerBacklog"], emitted["DeployFailed"], emitted["LifecycleAbandoned"]) == (1, 1, 1)
    assert emitted["UnresolvedOutcomes"] == 0
    assert "DeployDuration" in emitted  # the finished run's duration was recorded


def test_the_first_heartbeat_is_due_from_when_the_action_started_not_from_the_claim(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    (event,) = harness.autoscaling.launch("web-asg", instance, time=at(time.time() - 290))  # a late delivery
    assert invoke(event).result is not None

    harness.clock.offset = 15  # 305 s after the action started, 15 s after the claim
    harness.tracker_pass()

    assert harness.autoscaling.heartbeats[instance] == 1


def test_the_action_is_heartbeaten_while_the_run_has_not_appeared_yet(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    harness.record_dispatch_without_a_run(instance)

    harness.clock.offset = 301
    report = harness.tracker_pass()

    assert harness.autoscaling.heartbeats[instance] == 1
    assert report["LifecycleHeartbeats"] == 1
    assert harness.item(instance).status is Status.DISPATCHED  # still waiting, within runAppearTimeout


def test_stuck_is_measured_from_the_dispatch_not_from_a_first_claim_hours_earlier(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    harness.fast_launch(instance, claimed_ago=2 * 3600)  # retried for hours, dispatched just now

    report = harness.tracker_pass()

    assert "DeployStuck" not in report
    assert harness.item(instance).status is Status.RUNNING
    assert harness.autoscaling.ended() == []


def test_a_finished_dispatch_of_a_replaced_launch_touches_neither_the_new_action_nor_the_inbox(
    harness: Harness, instance_ids: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = instance_ids()
    old_run = harness.launch(instance)
    seen_by_the_pass = harness.ledger.due_for_tracking(harness.clock(), 10)  # the pass read this entry...
    (newer,) = harness.autoscaling.launch("web-asg", instance, time=at(time.time() + 60))
    assert invoke(newer).result is not None  # ...then the instance launched again: a new dispatch
    harness.finish_run(old_run, "failure")
    monkeypatch.setattr(harness.ledger, "due_for_tracking", lambda now, limit: seen_by_the_pass)

    report = harness.tracker_pass()

    assert harness.autoscaling.ended() == []  # the fence (the intent write) lost: no Auto Scaling call
    assert harness.inbox.alerts == []
    assert "DeployFailed" not in report
    assert harness.item(instance).status is Status.DISPATCHED  # the newer launch, untouched


def test_a_success_after_the_hook_had_timed_out_is_a_failure_to_alert_on(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    run_id = harness.launch(instance)
    harness.autoscaling.time_out(instance, HOOK)  # the default result, ABANDON: the instance is terminated
    harness.finish_run(run_id, "success")

    report = harness.tracker_pass()

    item = harness.item(instance)
    assert (item.status, item.deploy_outcome) == (Status.DEPLOY_FAILED, "succeeded too late")
    assert [alert.outcome for alert in harness.inbox.alerts] == ["succeeded too late"]
    assert "DeploySucceeded" not in report
    assert report["LifecycleAbandoned"] == 1


def test_with_a_second_hook_on_the_group_one_run_and_only_our_action_is_completed(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    harness.autoscaling.add_group("multi-asg", HOOK, "bootstrap-hook")
    ours, theirs = harness.autoscaling.launch("multi-asg", instance)
    result = invoke(ours).result
    assert result is not None
    ignored = invoke(theirs).result
    assert ignored is not None
    assert ignored["result"] == "ignored"
    assert len(harness.github.runs) == 1
    harness.finish_run(str(result["run_id"]), "success")

    harness.tracker_pass()

    assert harness.autoscaling.completions == [(instance, HOOK, "CONTINUE")]
    assert [a.hook_name for a in harness.autoscaling.pending(instance)] == ["bootstrap-hook"]  # not ours to end


def test_a_cut_off_run_listing_never_finishes_an_entry_as_no_run(
    harness: Harness, instance_ids: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    instance = instance_ids()
    harness.record_dispatch_without_a_run(instance)
    harness.clock.offset = 601  # past runAppearTimeoutSeconds
    listing = GitHubClient.list_runs
    monkeypatch.setattr(GitHubClient, "list_runs", lambda *_, **__: RunListing(runs=[], complete=False))

    cut_off = harness.tracker_pass()

    assert "DeployNoRun" not in cut_off
    assert harness.item(instance).status is Status.DISPATCHED  # kept for a pass that can see every run
    monkeypatch.setattr(GitHubClient, "list_runs", listing)
    harness.tracker_pass()
    assert harness.item(instance).deploy_outcome == "no run"  # a complete listing can conclude it


def test_a_launch_waiting_for_github_budget_is_heartbeaten_like_a_running_deploy(
    harness: Harness, instance_ids: Callable[[], str]
) -> None:
    instance = instance_ids()
    claimed = harness.claim(instance)
    parked = harness.ledger.park(claimed, "invocation", "limited", not_before=time.time(), post_unconfirmed=False)
    assert parked

    harness.clock.offset = 200
    harness.tracker_pass()
    assert harness.autoscaling.heartbeats[instance] == 0  # not due yet
    for offset in (301, 450, 602):
        harness.clock.offset = offset
        harness.tracker_pass()

    assert harness.autoscaling.heartbeats[instance] == 2  # at 301 and 602 s: one per interval, from the launch
    assert harness.item(instance).status is Status.WAITING  # still waiting: the drainer sends it, nobody else
    assert harness.autoscaling.ended() == []
