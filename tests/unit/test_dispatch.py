"""The exactly-once algorithm against the real ledger (moto) and a scripted GitHub: every path, and the
number of ledger and GitHub calls each one costs."""

from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from deploy_trigger.deadline import Deadline
from deploy_trigger.dispatch import DispatchConfig, Dispatcher, Outcome
from deploy_trigger.errors import (
    ClaimContended,
    DispatchRejected,
    GitHubUnavailable,
    OutcomeUnknown,
    PreviouslyRejected,
    RateLimited,
)
from deploy_trigger.events import InstanceLaunch, parse_event
from deploy_trigger.github_budget import BudgetGate
from deploy_trigger.ledger.budget_item import BudgetItem
from deploy_trigger.ledger.model import LedgerEntry, Status
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.runs import RunRef
from stand_ins.autoscaling_events import at as events_at
from stand_ins.autoscaling_events import launch_successful, lifecycle_action
from stand_ins.autoscaling_group import AutoScalingStandIn
from tests.unit.doubles import TABLE, Clock, ScriptedGitHub

INSTANCE = "i-0123456789abcdef0"
MARGIN = 5.0
HOOK = "deploy-trigger-launch"
#: When Auto Scaling started the first launch of the tests' instance (the events' own time).
LAUNCHED = 1_799_999_000.0


@pytest.fixture
def ledger_calls(dynamodb: Any) -> Counter[str]:
    calls: Counter[str] = Counter()
    dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.update([model.name]))
    return calls


@pytest.fixture
def autoscaling() -> AutoScalingStandIn:
    group = AutoScalingStandIn()
    group.add_group("web-asg", HOOK)
    return group


@pytest.fixture
def dispatcher(
    ledger: Ledger, github: ScriptedGitHub, clock: Clock, autoscaling: AutoScalingStandIn, dynamodb: Any
) -> Dispatcher:
    config = DispatchConfig(ref="main", aws_region="us-east-1", extra_inputs={"environment": "prod"},
                            lease_margin_seconds=MARGIN)  # fmt: skip
    budget = BudgetGate(BudgetItem(dynamodb, TABLE), clock=clock)
    return Dispatcher(ledger, github, config, lifecycle=autoscaling, budget=budget, clock=clock)


def deadline(clock: Clock, seconds: float = 30) -> Deadline:
    return Deadline(seconds, monotonic=clock, wall_clock=clock)


def launch(token: str = "token-1", instance: str = INSTANCE, *, at: float = LAUNCHED) -> InstanceLaunch:
    parsed = parse_event(lifecycle_action(instance, "web-asg", token=token, time=events_at(at)))
    assert isinstance(parsed, InstanceLaunch)
    return parsed


def first_dispatch_fails(dispatcher: Dispatcher, github: ScriptedGitHub, clock: Clock, error: Exception) -> None:
    """GitHub answers the launch's first dispatch with ``error``, and the dispatcher raises it."""
    github.answers = [error]
    with pytest.raises(type(error)):
        dispatcher.handle(launch(), deadline(clock))


def entry(ledger: Ledger, instance: str = INSTANCE) -> LedgerEntry:
    found = ledger.get(instance)
    assert found is not None
    return found


def item(dynamodb: Any, instance: str = INSTANCE) -> dict[str, Any]:
    return dynamodb.get_item(TableName=TABLE, Key={"instance_id": {"S": instance}})["Item"]  # type: ignore[no-any-return]


def test_new_launch_dispatches_once_with_the_contract_inputs_and_two_ledger_writes(
    dispatcher: Dispatcher, github: ScriptedGitHub, ledger: Ledger, clock: Clock, ledger_calls: Counter[str]
) -> None:
    result = dispatcher.handle(launch(), deadline(clock))

    assert result.outcome is Outcome.DISPATCHED
    assert ledger_calls == Counter({"PutItem": 1, "UpdateItem": 1})  # claim, record
    assert github.dispatched == [
        {
            "ref": "main",
            "environment": "prod",
            "instance_id": INSTANCE,
            "dispatch_id": result.dispatch_id,
            "asg_name": "web-asg",
            "lifecycle_hook_name": "deploy-trigger-launch",
            "aws_region": "us-east-1",
        }
    ]
    recorded = entry(ledger)
    assert (recorded.status, recorded.dispatch_id, recorded.run_id) == (Status.DISPATCHED, result.dispatch_id, 1)
    assert recorded.attempts == 1
    assert not recorded.post_unconfirmed


def test_plain_mode_launch_sends_an_empty_hook_name(
    dispatcher: Dispatcher, github: ScriptedGitHub, clock: Clock
) -> None:
    parsed = parse_event(launch_successful(INSTANCE, "api-asg"))
    assert isinstance(parsed, InstanceLaunch)

    dispatcher.handle(parsed, deadline(clock))

    assert github.dispatched[0]["lifecycle_hook_name"] == ""
    assert github.dispatched[0]["asg_name"] == "api-asg"


def test_duplicate_event_costs_one_ledger_call_and_no_github_call(
    dispatcher: Dispatcher, github: ScriptedGitHub, clock: Clock, ledger_calls: Counter[str]
) -> None:
    first = dispatcher.handle(launch(), deadline(clock))
    ledger_calls.clear()

    again = dispatcher.handle(launch(), deadline(clock))

    assert again.outcome is Outcome.DUPLICATE
    assert again.dispatch_id == first.dispatch_id
    assert ledger_calls == Counter({"PutItem": 1})  # the claim that lost, with the item it lost to
    assert len(github.dispatched) == 1


def test_live_lease_held_by_another_invocation_is_not_dispatched(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    ledger.claim(launch(), "dispatch-held", "other-invocation", lease_until=clock.now + 30)

    with pytest.raises(ClaimContended):
        dispatcher.handle(launch(), deadline(clock))

    assert github.dispatched == []
    assert entry(ledger).lease_owner == "other-invocation"


def test_lease_ends_at_the_holders_deadline_plus_the_margin(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    github.answers = [OutcomeUnknown("connection reset")]
    started = clock.now

    with pytest.raises(OutcomeUnknown):
        dispatcher.handle(launch(), deadline(clock, seconds=12))

    held = entry(ledger)
    assert held.status == Status.CLAIMED
    assert held.lease_expires_at is not None
    assert held.lease_expires_at <= started + 12 + MARGIN


def test_takeover_after_a_crash_after_github_accepted_reconciles_instead_of_posting(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock, ledger_calls: Counter[str]
) -> None:
    # A first invocation claimed, GitHub accepted, then it was killed before recording anything.
    ledger.claim(launch(), "dispatch-1", "killed-invocation", lease_until=clock.now + 35)
    github.runs["dispatch-1"] = RunRef(run_id=4242, html_url="https://github.example/runs/4242")
    clock.advance(60)  # Lambda's first retry
    ledger_calls.clear()

    result = dispatcher.handle(launch(), deadline(clock))

    assert result.outcome is Outcome.RECONCILED
    assert result.dispatch_id == "dispatch-1"
    assert github.searched == ["dispatch-1"]
    assert github.dispatched == []
    assert ledger_calls == Counter({"PutItem": 1, "UpdateItem": 2})  # lost claim, take-over, record
    recorded = entry(ledger)
    assert (recorded.status, recorded.run_id, recorded.attempts) == (Status.DISPATCHED, 4242, 2)


def test_takeover_after_a_crash_before_the_post_dispatches_with_the_same_dispatch_id(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    ledger.claim(launch(), "dispatch-1", "killed-invocation", lease_until=clock.now + 35)
    clock.advance(60)

    result = dispatcher.handle(launch(), deadline(clock))

    assert result.outcome is Outcome.DISPATCHED
    assert result.reconciled_not_found
    assert github.searched == ["dispatch-1"]
    assert [sent["dispatch_id"] for sent in github.dispatched] == ["dispatch-1"]
    assert entry(ledger).status == Status.DISPATCHED


def test_unknown_outcome_is_reconciled_by_the_retry_and_never_posted_twice(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    # GitHub made the run, then answered 502.
    first_dispatch_fails(dispatcher, github, clock, OutcomeUnknown("HTTP 502"))

    with pytest.raises(ClaimContended):  # within the margin, nobody may take over yet
        dispatcher.handle(launch(), deadline(clock))
    clock.advance(60)
    result = dispatcher.handle(launch(), deadline(clock))

    assert result.outcome is Outcome.RECONCILED
    assert len(github.dispatched) == 1
    assert entry(ledger).last_error == "OutcomeUnknown: HTTP 502"  # kept: how this dispatch went
    story = [(event.event, event.detail) for event in entry(ledger).history]
    assert [event for event, _ in story] == ["claimed", "released", "taken_over", "dispatched"]
    assert story[-1][1].startswith("found by reconciliation")


def test_a_rate_limited_launch_is_queued_for_the_drainer_and_never_raised_for_lambda_to_retry(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock, dynamodb: Any
) -> None:
    github.answers = [RateLimited(120, "rate limited")]

    result = dispatcher.handle(launch(), deadline(clock))

    assert result.outcome is Outcome.QUEUED
    queued = entry(ledger)
    assert queued.status == Status.WAITING
    assert not queued.post_unconfirmed  # GitHub proved it did not act: the drainer may POST without listing runs
    assert [e.instance_id for e in ledger.queued(clock.now, 10)] == [INSTANCE]  # in line from now
    assert BudgetItem(dynamodb, TABLE).read().paused_until == clock.now + 120  # and everyone waits as GitHub asked


def test_a_redelivered_event_for_a_queued_launch_is_a_duplicate_costing_one_ledger_call(
    dispatcher: Dispatcher, github: ScriptedGitHub, clock: Clock, ledger_calls: Counter[str]
) -> None:
    github.answers = [RateLimited(120, "rate limited")]
    dispatcher.handle(launch(), deadline(clock))
    ledger_calls.clear()
    posts = len(github.dispatched)

    for _ in range(2):
        clock.advance(200)  # even after the pause: the drainer sends it, nobody else
        assert dispatcher.handle(launch(), deadline(clock)).outcome is Outcome.DUPLICATE

    assert len(github.dispatched) == posts
    assert sum(ledger_calls.values()) == 2


def test_after_a_rate_limit_a_container_queues_new_launches_until_the_pause_ends(
    dispatcher: Dispatcher, github: ScriptedGitHub, clock: Clock, ledger: Ledger
) -> None:
    github.answers = [RateLimited(60, "rate limited")]
    dispatcher.handle(launch(instance=INSTANCE), deadline(clock))
    clock.advance(10)

    held = dispatcher.handle(launch(token="t-2", instance="i-0aaaaaaaaaaaaaaa1"), deadline(clock))

    assert held.outcome is Outcome.QUEUED
    assert len(github.dispatched) == 1  # no request while limited
    assert [e.instance_id for e in ledger.queued(None, 10)] == [INSTANCE, "i-0aaaaaaaaaaaaaaa1"]  # in line behind
    clock.advance(51)
    after = dispatcher.handle(launch(token="t-3", instance="i-0aaaaaaaaaaaaaaa2"), deadline(clock))
    assert after.outcome is Outcome.DISPATCHED  # the pause is over and no drainer holds a queue: clear again


def test_a_container_that_never_met_a_limit_pays_no_budget_read(
    dispatcher: Dispatcher, clock: Clock, ledger_calls: Counter[str]
) -> None:
    for number in range(3):
        dispatcher.handle(launch(token=f"t-{number}", instance=f"i-0aaaaaaaaaaaaaaa{number}"), deadline(clock))

    assert ledger_calls == Counter({"PutItem": 3, "UpdateItem": 3})  # two writes per launch, no GetItem


def test_a_rate_limited_reconciliation_queues_the_launch_still_unconfirmed(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    first_dispatch_fails(dispatcher, github, clock, OutcomeUnknown("HTTP 502"))
    clock.advance(60)
    github.find_run = _rate_limited_listing  # type: ignore[method-assign]

    assert dispatcher.handle(launch(), deadline(clock)).outcome is Outcome.QUEUED

    queued = entry(ledger)
    assert queued.status == Status.WAITING
    assert queued.post_unconfirmed  # the drainer lists runs before it sends anything
    assert len(github.dispatched) == 1


def _rate_limited_listing(dispatch_id: str, created_since: float, deadline: Deadline) -> RunRef | None:
    raise RateLimited(30, "rate limited while listing runs")


def test_connection_never_made_is_safe_to_retry_at_once(
    dispatcher: Dispatcher, github: ScriptedGitHub, clock: Clock
) -> None:
    first_dispatch_fails(dispatcher, github, clock, GitHubUnavailable("connection refused"))

    assert dispatcher.handle(launch(), deadline(clock)).outcome is Outcome.DISPATCHED
    assert github.searched == []


def test_permanent_rejection_is_recorded_and_never_posted_again(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    first_dispatch_fails(
        dispatcher, github, clock, DispatchRejected(422, 'Unexpected inputs provided: ["environment"]')
    )

    failed = entry(ledger)
    assert failed.status == Status.FAILED
    assert "Unexpected inputs provided" in (failed.last_error or "")
    assert "Unexpected inputs provided" in (failed.failure_reason or "")
    for _ in range(3):  # Lambda's retries and duplicate deliveries: each fails loudly, none posts
        with pytest.raises(PreviouslyRejected, match="Unexpected inputs"):
            dispatcher.handle(launch(), deadline(clock))
    assert len(github.dispatched) == 1


def test_warm_pool_instance_relaunching_with_a_new_token_is_a_new_deployment(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock, ledger_calls: Counter[str]
) -> None:
    first = dispatcher.handle(launch(token="token-1"), deadline(clock))
    clock.advance(3600)
    ledger_calls.clear()

    second = dispatcher.handle(launch(token="token-2", at=LAUNCHED + 3600), deadline(clock))
    assert ledger_calls == Counter({"PutItem": 1, "UpdateItem": 2})  # the rare path: one write more, history kept
    again = dispatcher.handle(launch(token="token-2", at=LAUNCHED + 3600), deadline(clock))

    assert second.outcome is Outcome.DISPATCHED
    assert second.dispatch_id != first.dispatch_id
    assert again.outcome is Outcome.DUPLICATE
    assert len(github.dispatched) == 2
    assert [event.event for event in entry(ledger).history] == ["claimed", "dispatched", "claimed", "dispatched"]
    assert entry(ledger).dispatch_id == second.dispatch_id


def test_new_launch_replaces_an_expired_claim_of_an_earlier_launch(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    ledger.claim(launch(token="token-1"), "dispatch-old", "killed-invocation", lease_until=clock.now + 35)
    clock.advance(600)

    result = dispatcher.handle(launch(token="token-2", at=LAUNCHED + 3600), deadline(clock))

    assert result.outcome is Outcome.DISPATCHED
    assert result.dispatch_id != "dispatch-old"
    assert github.searched == []  # the new dispatch ID was never sent: nothing to reconcile
    assert entry(ledger).launch_key == "token-2"


def test_two_takeovers_of_the_same_expired_claim_cannot_both_win(ledger: Ledger, clock: Clock) -> None:
    ledger.claim(launch(), "dispatch-1", "killed-invocation", lease_until=clock.now + 35)
    clock.advance(60)
    stale = entry(ledger)

    ledger.take_over(stale, "retry-a", clock.now + 35)
    with pytest.raises(ClaimContended):
        ledger.take_over(stale, "retry-b", clock.now + 35)

    assert entry(ledger).lease_owner == "retry-a"


def test_an_invocation_that_lost_its_claim_cannot_overwrite_the_ledger(ledger: Ledger, clock: Clock) -> None:
    ledger.claim(launch(), "dispatch-1", "slow-invocation", lease_until=clock.now + 35)
    clock.advance(60)
    ledger.take_over(entry(ledger), "retry", clock.now + 35)

    slow_view = replace(entry(ledger), lease_owner="slow-invocation")
    assert not ledger.record_failed(slow_view, "slow-invocation", "too late")
    assert entry(ledger).status == Status.CLAIMED


def test_ledger_item_is_readable_by_an_operator(dispatcher: Dispatcher, dynamodb: Any, clock: Clock) -> None:
    result = dispatcher.handle(launch(), deadline(clock))

    raw = item(dynamodb)
    assert raw["status"] == {"S": "DISPATCHED"}
    assert raw["dispatch_id"] == {"S": result.dispatch_id}
    assert raw["asg_name"] == {"S": "web-asg"}
    assert raw["lifecycle_hook_name"] == {"S": "deploy-trigger-launch"}
    assert raw["lifecycle_action_token"] == {"S": "token-1"}
    assert raw["run_id"] == {"N": "1"}
    assert raw["run_url"] == {"S": "https://x/1"}
    assert int(raw["expires_at"]["N"]) > clock.now + 30 * 24 * 3600
    assert raw["dispatched_at"]["S"].endswith("Z")
    assert {"event_id", "created_at", "updated_at", "attempts", "history"} <= raw.keys()


def test_operator_reset_of_a_failed_launch_lets_the_same_event_dispatch_again(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    first_dispatch_fails(
        dispatcher, github, clock, DispatchRejected(422, "Workflow does not have 'workflow_dispatch' trigger")
    )

    assert ledger.reset_failed(INSTANCE, "workflow fixed in PR #12")
    assert not ledger.reset_failed(INSTANCE, "twice")  # only a FAILED launch can be reset
    result = dispatcher.handle(launch(), deadline(clock))

    assert result.outcome is Outcome.DISPATCHED
    assert len(github.dispatched) == 2
    assert entry(ledger).status == Status.DISPATCHED


def test_reset_refuses_a_launch_that_did_not_fail(dispatcher: Dispatcher, ledger: Ledger, clock: Clock) -> None:
    dispatcher.handle(launch(), deadline(clock))

    assert not ledger.reset_failed(INSTANCE, "by mistake")
    assert not ledger.reset_failed("i-00000000000000000", "no such instance")
    assert entry(ledger).status == Status.DISPATCHED


def test_a_late_event_of_an_earlier_launch_is_stale_and_never_dispatched(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock, ledger_calls: Counter[str]
) -> None:
    dispatcher.handle(launch(token="token-1"), deadline(clock))
    clock.advance(3600)
    newer = dispatcher.handle(launch(token="token-2", at=LAUNCHED + 3600), deadline(clock))
    before = entry(ledger)
    clock.advance(5 * 3600)  # Lambda keeps retrying a throttled event for up to 6 hours
    ledger_calls.clear()

    late = dispatcher.handle(launch(token="token-1"), deadline(clock))

    assert late.outcome is Outcome.STALE
    assert ledger_calls == Counter({"PutItem": 1})  # the claim that lost, as for any duplicate
    assert len(github.dispatched) == 2
    assert entry(ledger) == before  # the newer launch keeps its dispatch and its tracking
    assert (before.dispatch_id, before.status) == (newer.dispatch_id, Status.DISPATCHED)


def test_a_late_event_is_stale_even_while_the_newer_launch_holds_its_claim(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock
) -> None:
    ledger.claim(launch(token="token-2", at=LAUNCHED + 60), "dispatch-2", "live-invocation", clock.now + 30)

    assert dispatcher.handle(launch(token="token-1"), deadline(clock)).outcome is Outcome.STALE
    assert github.dispatched == []


def test_a_warm_pool_entry_is_continued_once_by_its_token_and_never_deployed(
    dispatcher: Dispatcher, ledger: Ledger, github: ScriptedGitHub, clock: Clock, autoscaling: AutoScalingStandIn
) -> None:
    (into_pool,) = autoscaling.launch("web-asg", INSTANCE, into_warm_pool=True, time=events_at(LAUNCHED))
    pooled = parse_event(into_pool)
    assert isinstance(pooled, InstanceLaunch)

    first = dispatcher.handle(pooled, deadline(clock))
    again = dispatcher.handle(pooled, deadline(clock))  # a duplicate delivery

    assert (first.outcome, again.outcome) == (Outcome.WARM_POOL, Outcome.DUPLICATE)
    assert autoscaling.completions == [(INSTANCE, HOOK, "CONTINUE")]
    assert autoscaling.no_active_answers[INSTANCE] == 0  # the duplicate made no second call
    assert autoscaling.instance_state(INSTANCE) == "Warmed:Stopped"
    assert github.dispatched == []
    recorded = entry(ledger)
    assert (recorded.status, recorded.lifecycle_result) == (Status.WARMED, "CONTINUE")
    assert [event.event for event in recorded.history] == ["warm_pool_entered", "warm_pool_continued"]

    clock.advance(3600)
    (into_group,) = autoscaling.launch("web-asg", INSTANCE, time=events_at(LAUNCHED + 3600))
    moved = parse_event(into_group)
    assert isinstance(moved, InstanceLaunch)
    deployed = dispatcher.handle(moved, deadline(clock))

    assert deployed.outcome is Outcome.DISPATCHED
    assert len(github.dispatched) == 1
    assert dispatcher.handle(pooled, deadline(clock)).outcome is Outcome.STALE  # the pool entry's late duplicate


def test_a_warm_pool_entry_whose_first_attempt_died_is_continued_by_the_retry(
    dispatcher: Dispatcher, ledger: Ledger, clock: Clock, autoscaling: AutoScalingStandIn
) -> None:
    (into_pool,) = autoscaling.launch("web-asg", INSTANCE, into_warm_pool=True, time=events_at(LAUNCHED))
    pooled = parse_event(into_pool)
    assert isinstance(pooled, InstanceLaunch)
    ledger.claim(pooled, "dispatch-1", "died-before-continuing", clock.now + 30)  # recorded, never continued

    assert dispatcher.handle(pooled, deadline(clock)).outcome is Outcome.WARM_POOL
    assert autoscaling.completions == [(INSTANCE, HOOK, "CONTINUE")]
    assert entry(ledger).lifecycle_result == "CONTINUE"


def test_a_takeover_waits_until_github_can_list_the_run_before_it_reconciles(
    dispatcher: Dispatcher, github: ScriptedGitHub, clock: Clock
) -> None:
    first_dispatch_fails(dispatcher, github, clock, OutcomeUnknown("HTTP 502"))
    clock.advance(MARGIN + 1)  # the lease has expired: a duplicate delivery arrives

    with pytest.raises(ClaimContended, match="may not list"):
        dispatcher.handle(launch(), deadline(clock))
    assert github.searched == []  # a listing now could miss the run, and "no run" would POST again
    clock.advance(10)
    result = dispatcher.handle(launch(), deadline(clock))

    assert result.outcome is Outcome.RECONCILED
    assert len(github.dispatched) == 1
