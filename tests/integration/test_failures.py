"""Exactly one run per launch whatever fails: killed invocations, lost answers, rate limits, rejections,
a slow GitHub. Each test ends by counting the runs GitHub made."""

import time
from collections.abc import Callable
from typing import Any

import pytest

from deploy_trigger.handler import drainer_handler, handler
from deploy_trigger.ledger.model import Status
from deploy_trigger_cli.local_lambda import LocalLambdaContext
from stand_ins.autoscaling_events import lifecycle_action
from stand_ins.deployment import REPOSITORY, TOKEN, WORKFLOW
from stand_ins.github_double import (
    CloseMidBody,
    Delay,
    DropAfterAccept,
    ErrorAfterAccept,
    GarbageAfterAccept,
    GitHubDouble,
    HangAfterAccept,
    HangBeforeAccept,
    RateLimited,
    Reject,
    ResetAfterReceive,
    Unauthorized,
)
from stand_ins.github_faults import Fault
from stand_ins.invoke import ChildInvocation, invoke
from tests.integration.conftest import Stack
from tests.integration.emf import metrics
from tests.integration.waiting import RECONCILE_WAIT, wait_for_lease_expiry, wait_until

POST = ("POST", "/dispatches")
LIST = ("GET", "/runs")


@pytest.fixture
def instance(instance_ids: Callable[[], str]) -> str:
    return instance_ids()


@pytest.fixture
def event(instance: str) -> dict[str, Any]:
    """The instance's launch (a lifecycle action), as EventBridge delivers it."""
    return lifecycle_action(instance)


def killed_mid_dispatch(
    event: dict[str, Any], github: GitHubDouble, fault: Fault, *, until: Callable[[], bool]
) -> None:
    """A first invocation of ``event`` in its own process that meets ``fault``, killed as a Lambda timeout kills it
    once ``until`` holds (the dispatch has gone as far as the test needs)."""
    github.inject(fault)
    first = ChildInvocation(event, budget_seconds=6)
    wait_until(until, what=f"the dispatch to get as far as {fault} lets it")
    first.kill()


@pytest.mark.slow
def test_killed_after_github_accepted_the_retry_reconciles_and_posts_nothing(
    stack: Stack, github: GitHubDouble, instance: str, event: dict[str, Any]
) -> None:
    # The timeout of the founding incident: the run exists, the ledger does not know it.
    killed_mid_dispatch(event, github, HangAfterAccept(seconds=30), until=lambda: len(github.runs) == 1)
    assert stack.status(instance) == "CLAIMED"

    wait_for_lease_expiry(stack, instance)
    retry = invoke(event)

    assert retry.result is not None
    assert retry.result["result"] == "reconciled"
    assert retry.result["run_id"] == github.runs[0].id
    assert github.count(*POST) == 1
    assert len(github.runs) == 1
    assert stack.status(instance) == "DISPATCHED"


@pytest.mark.slow
def test_killed_before_github_acted_the_retry_dispatches_once_with_the_same_dispatch_id(
    stack: Stack, github: GitHubDouble, instance: str, event: dict[str, Any]
) -> None:
    killed_mid_dispatch(event, github, HangBeforeAccept(seconds=30), until=lambda: github.count(*POST) == 1)
    dispatch_id = stack.item(instance).dispatch_id

    wait_for_lease_expiry(stack, instance)
    retry = invoke(event)

    assert retry.result is not None
    assert retry.result["result"] == "dispatched"
    assert github.count(*LIST) == 1  # it looked before it sent
    assert len(github.runs) == 1
    assert github.runs[0].inputs["dispatch_id"] == dispatch_id


@pytest.mark.parametrize("fault", [ErrorAfterAccept(502), ErrorAfterAccept(504), DropAfterAccept()])
def test_answer_lost_after_github_accepted_is_reconciled_into_one_run(
    stack: Stack,
    github: GitHubDouble,
    event: dict[str, Any],
    fault: ErrorAfterAccept | DropAfterAccept,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github.inject(fault)

    first = invoke(event)
    too_soon = invoke(event)  # a duplicate delivery while the claim is still held
    time.sleep(RECONCILE_WAIT)  # LEASE_MARGIN_SECONDS, then the listing delay
    retry = invoke(event)

    assert (first.error, too_soon.error) == ("OutcomeUnknown", "ClaimContended")
    assert retry.result is not None
    assert retry.result["result"] == "reconciled"
    assert github.count(*POST) == 1
    assert len(github.runs) == 1
    emitted = metrics(capsys.readouterr().out)
    assert (emitted["OutcomeUnknown"], emitted["ReconciledFound"]) == (1, 1)


@pytest.mark.parametrize(
    ("fault", "retry_does"),
    [
        (ResetAfterReceive(create_run=False), "dispatched"),
        (ResetAfterReceive(create_run=True), "reconciled"),
        (GarbageAfterAccept(), "reconciled"),
        (GarbageAfterAccept(b"HTTP/1.1 2"), "reconciled"),
        (CloseMidBody(), "reconciled"),
    ],
    ids=["reset before the run", "reset after the run", "garbage", "truncated status line", "close mid-body"],
)
def test_transport_failure_after_the_request_was_sent_is_reconciled_before_any_resend(
    stack: Stack,
    github: GitHubDouble,
    instance: str,
    event: dict[str, Any],
    fault: ResetAfterReceive | GarbageAfterAccept | CloseMidBody,
    retry_does: str,
) -> None:
    github.inject(fault)

    first = invoke(event)
    time.sleep(RECONCILE_WAIT)  # LEASE_MARGIN_SECONDS, then the listing delay
    retry = invoke(event)

    assert first.error == "OutcomeUnknown"  # the request was sent: only a listing can tell what GitHub did
    assert retry.result is not None
    assert retry.result["result"] == retry_does
    assert github.count(*LIST) == 1  # it looked before it (maybe) sent
    assert len(github.runs) == 1
    assert stack.status(instance) == "DISPATCHED"


def test_a_truncated_run_listing_never_lets_the_retry_post_again(stack: Stack, instance_ids: Callable[[], str]) -> None:
    # GitHub stops a filtered listing at 1,000 runs; a cap of 2 makes the same truncation with a few runs.
    with GitHubDouble(repository=REPOSITORY, workflow=WORKFLOW, tokens={TOKEN}, filtered_listing_cap=2) as github:
        stack.use_github(github)
        instance = instance_ids()
        event = lifecycle_action(instance)
        github.inject(ErrorAfterAccept(502))
        first = invoke(event)
        for _ in range(3):  # other launches' runs, newer than this one's
            assert invoke(lifecycle_action(instance_ids())).result is not None
        time.sleep(RECONCILE_WAIT)  # LEASE_MARGIN_SECONDS, then the listing delay

        retry = invoke(event)

        assert first.error == "OutcomeUnknown"
        assert retry.error == "GitHubUnavailable"  # cannot see every run in its window: retried later
        assert [run.inputs["instance_id"] for run in github.runs].count(instance) == 1
        assert stack.item(instance).post_unconfirmed is True


@pytest.mark.parametrize(
    "limit",
    [RateLimited(retry_after=1, status=429), RateLimited(retry_after=1, status=403), RateLimited(1, primary=True)],
    ids=["secondary-429", "secondary-403", "primary"],
)
def test_a_rate_limit_queues_the_launch_and_the_drainer_sends_it_once_after_the_pause(
    stack: Stack,
    github: GitHubDouble,
    instance: str,
    capsys: pytest.CaptureFixture[str],
    limit: RateLimited,
) -> None:
    github.inject(limit)

    first = invoke(lifecycle_action(instance))  # never raised: Lambda's two retries would be spent in 3 minutes
    emitted = metrics(capsys.readouterr().out)
    drained = drainer_handler({}, LocalLambdaContext(budget_seconds=30))

    assert first.result is not None
    assert first.result["result"] == "queued"
    assert (emitted["RateLimited"], emitted["QueuedForBudget"]) == (1, 1)
    assert drained["Drained"] == 1
    assert drained["waiting"] == 0
    assert github.count(*POST) == 2  # the refused one (GitHub did not act) and the drainer's
    assert github.count(*LIST) == 0  # GitHub proved it did not act: nothing to reconcile
    assert [run.inputs["instance_id"] for run in github.runs] == [instance]
    assert stack.item(instance).status == "DISPATCHED"


def test_a_redelivered_event_of_a_queued_launch_is_a_duplicate_and_never_reaches_the_dlq(
    stack: Stack, github: GitHubDouble, instance: str, event: dict[str, Any]
) -> None:
    github.inject(RateLimited(retry_after=120, status=403))

    answers = [invoke(event) for _ in range(3)]

    assert [answer.error for answer in answers] == [None, None, None]
    assert [answer.result["result"] for answer in answers if answer.result] == ["queued", "duplicate", "duplicate"]
    assert github.count(*POST) == 1
    assert stack.item(instance).status == "WAITING"


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Reject(422, 'Unexpected inputs provided: ["aws_region"]'), "Unexpected inputs provided"),
        (Reject(404, "Not Found"), "HTTP 404"),
        (Reject(400, "Problems parsing JSON"), "HTTP 400"),  # only a 400 naming return_run_details is resent
        (Unauthorized(), "Bad credentials"),
    ],
)
def test_permanent_rejection_posts_once_records_why_and_fails_every_delivery(
    stack: Stack,
    github: GitHubDouble,
    instance: str,
    event: dict[str, Any],
    fault: Reject | Unauthorized,
    reason: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github.inject(fault)

    attempts = [invoke(event) for _ in range(3)]  # the first delivery and Lambda's two retries

    assert [a.error for a in attempts] == ["DispatchRejected", "PreviouslyRejected", "PreviouslyRejected"]
    assert github.count(*POST) == 1
    assert github.runs == []
    item = stack.item(instance)
    assert item.status is Status.FAILED
    assert reason in (item.failure_reason or "")
    assert metrics(capsys.readouterr().out)["DispatchRejected"] == 1


def test_undeclared_input_is_github_s_422_and_ends_failed(stack: Stack, github: GitHubDouble, instance: str) -> None:
    stack.configure(WORKFLOW_EXTRA_INPUTS='{"colour": "blue"}')  # the workflow does not declare it

    result = invoke(lifecycle_action(instance))

    assert result.error == "DispatchRejected"
    assert "Unexpected inputs provided" in (stack.item(instance).failure_reason or "")


@pytest.mark.slow
def test_slow_github_cannot_make_the_function_overrun_its_deadline(
    stack: Stack, github: GitHubDouble, instance: str
) -> None:
    github.inject(Delay(seconds=20))
    context = LocalLambdaContext(budget_seconds=10)

    started = time.monotonic()
    with pytest.raises(Exception, match="no answer") as raised:
        handler(lifecycle_action(instance), context)
    elapsed = time.monotonic() - started

    assert raised.typename == "OutcomeUnknown"
    assert elapsed < 10 - 1  # returned with time to spare for Lambda to record the failure
    assert context.get_remaining_time_in_millis() > 0
    assert stack.item(instance).post_unconfirmed is True


@pytest.mark.slow
def test_slow_github_that_accepts_after_the_client_gave_up_still_gets_one_run(
    stack: Stack, github: GitHubDouble, event: dict[str, Any]
) -> None:
    github.inject(Delay(seconds=5))  # answers (and creates the run) after the client's 3 s budget

    first = invoke(event, budget_seconds=6)
    wait_until(lambda: len(github.runs) == 1, what="the slow dispatch to land")
    time.sleep(RECONCILE_WAIT)  # Lambda's retry comes a minute later; sooner, GitHub may not list the run yet
    retry = invoke(event)

    assert first.error == "OutcomeUnknown"
    assert retry.result is not None
    assert retry.result["result"] == "reconciled"
    assert len(github.runs) == 1


@pytest.mark.slow
def test_concurrent_duplicates_in_separate_processes_post_once(
    stack: Stack, github: GitHubDouble, event: dict[str, Any]
) -> None:
    github.inject(Delay(seconds=1.5))  # keeps the winner's claim live while the others arrive

    racers = [ChildInvocation(event, budget_seconds=20) for _ in range(6)]
    outcomes = [racer.wait() for racer in racers]

    winners = [o for o in outcomes if o.result and o.result["result"] == "dispatched"]
    others = [o.error or (o.result or {}).get("result") for o in outcomes if o not in winners]
    assert len(winners) == 1
    assert set(others) <= {"ClaimContended", "duplicate"}
    assert github.count(*POST) == 1
    assert len(github.runs) == 1
    later = invoke(event)  # Lambda's retry of a contended delivery
    assert later.result is not None
    assert later.result["result"] == "duplicate"
