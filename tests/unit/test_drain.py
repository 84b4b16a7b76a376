"""The drainer against the real ledger (moto) and a scripted GitHub: the queue sent in order, once, at the pace;
a rate limit met here pauses everyone; a drainer killed mid-POST is taken over and reconciled, never re-sent."""

import itertools
from typing import Any

import pytest

from deploy_trigger import metric_names
from deploy_trigger.deadline import Deadline
from deploy_trigger.dispatch import DispatchConfig, Dispatcher, Outcome
from deploy_trigger.drain import LAUNCH_SECONDS, DrainConfig, Drainer, Pace
from deploy_trigger.errors import DispatchRejected, OutcomeUnknown, RateLimited
from deploy_trigger.events import InstanceLaunch, parse_event
from deploy_trigger.github_budget import BudgetGate, BudgetState
from deploy_trigger.ledger.budget_item import BudgetItem
from deploy_trigger.ledger.model import LedgerEntry, Status
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.runs import RunRef
from stand_ins.autoscaling_events import at as events_at
from stand_ins.autoscaling_events import instance_id, lifecycle_action
from stand_ins.autoscaling_group import AutoScalingStandIn
from tests.unit.doubles import TABLE, Clock, ScriptedGitHub, SleepingClock

INTERVAL = 1.0
CONFIG = DispatchConfig(
    ref="main", aws_region="us-east-1", extra_inputs={}, lease_margin_seconds=5, run_listing_delay_seconds=10
)
HOOK = "deploy-trigger-launch"


@pytest.fixture
def dispatcher(ledger: Ledger, github: ScriptedGitHub, clock: Clock, budget: BudgetItem) -> Dispatcher:
    group = AutoScalingStandIn()
    group.add_group("web-asg", HOOK)
    return Dispatcher(ledger, github, CONFIG, lifecycle=group, budget=BudgetGate(budget, clock=clock), clock=clock)


def drainer(ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock, **config: Any) -> Drainer:
    settings = DrainConfig(dispatch=CONFIG, mutation_interval_seconds=INTERVAL, **config)
    return Drainer(ledger, budget, github, settings, clock=clock, sleep=clock.sleep)


def run_for(clock: Clock, seconds: float = 900) -> Deadline:
    return Deadline(seconds, monotonic=clock, wall_clock=clock)


def launch(number: int, *, at: float) -> InstanceLaunch:
    event = lifecycle_action(instance_id(number), "web-asg", token=f"token-{number}", time=events_at(at))
    parsed = parse_event(event)
    assert isinstance(parsed, InstanceLaunch)
    return parsed


def queue_behind_a_limit(
    dispatcher: Dispatcher, github: ScriptedGitHub, clock: Clock, count: int, *, retry_after: float = 60
) -> list[str]:
    """``count`` launches, the first refused for a rate limit: all of them wait in the queue."""
    github.answers = [RateLimited(retry_after, "secondary rate limit")]
    for number in range(count):
        result = dispatcher.handle(launch(number, at=clock.now), run_for(clock, 30))
        assert result.outcome is Outcome.QUEUED
        clock.advance(0.1)
    return [instance_id(number) for number in range(count)]


def post_times(github: ScriptedGitHub, clock: Clock) -> list[float]:
    """When each dispatch POST from now on is sent (the list fills as they are)."""
    times: list[float] = []
    send = github.dispatch

    def timed(ref: str, inputs: Any, deadline: Deadline) -> RunRef:
        times.append(clock.now)
        return send(ref, inputs, deadline)

    github.dispatch = timed  # type: ignore[method-assign]
    return times


def status(ledger: Ledger, instance: str) -> LedgerEntry:
    entry = ledger.get(instance)
    assert entry is not None
    return entry


def test_the_queue_is_sent_in_order_once_each_a_pace_apart_after_the_pause(
    dispatcher: Dispatcher, ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    instances = queue_behind_a_limit(dispatcher, github, clock, 5)
    refused_at = clock.now - 0.5
    github.dispatched.clear()

    report = drainer(ledger, budget, github, clock).drain(run_for(clock))

    assert [sent["instance_id"] for sent in github.dispatched] == instances  # in order, each once
    assert report.counts[metric_names.DRAINED] == 5
    assert all(status(ledger, i).status is Status.DISPATCHED for i in instances)
    assert clock.now >= refused_at + 60 + 4 * INTERVAL  # not before the pause, then a second apart
    assert report.waiting == 0
    assert not budget.read().draining(clock.now + LAUNCH_SECONDS + 5)  # new launches flow again soon after the last


def test_posts_from_the_drainer_are_paced_across_runs(
    dispatcher: Dispatcher, ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    queue_behind_a_limit(dispatcher, github, clock, 3, retry_after=1)
    clock.advance(5)
    times = post_times(github, clock)
    drainer(ledger, budget, github, clock).drain(run_for(clock, LAUNCH_SECONDS + 2))  # time for one launch only
    drainer(ledger, budget, github, clock).drain(run_for(clock))

    assert len(times) == 3
    assert all(later - earlier >= INTERVAL for earlier, later in itertools.pairwise(times))


def test_a_rate_limit_met_while_draining_pauses_everyone_and_the_rest_waits_in_order(
    dispatcher: Dispatcher, ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    instances = queue_behind_a_limit(dispatcher, github, clock, 4, retry_after=1)
    clock.advance(2)
    github.dispatched.clear()
    github.answers = [RunRef(run_id=1), RateLimited(3600, "hourly limit")]

    report = drainer(ledger, budget, github, clock).drain(run_for(clock))

    assert [sent["instance_id"] for sent in github.dispatched] == instances[:2]
    assert report.counts[metric_names.RATE_LIMIT_WAITS] == 1
    assert budget.read().paused_until >= clock.now + 3000  # an hour's pause does not fit in one run: it stops
    assert status(ledger, instances[1]).status is Status.WAITING
    assert not status(ledger, instances[1]).post_unconfirmed  # GitHub did not act: no listing needed
    assert report.waiting == 3
    assert report.expected_drain_seconds >= 3000
    assert dispatcher.handle(launch(99, at=clock.now), run_for(clock, 30)).outcome is Outcome.QUEUED  # paused too

    clock.advance(3600)
    drainer(ledger, budget, github, clock).drain(run_for(clock))
    refused = instances[1]  # sent once more after the pause (GitHub did not act on the refused POST), in its place
    assert [sent["instance_id"] for sent in github.dispatched] == [
        *instances[:2],
        refused,
        *instances[2:],
        instance_id(99),
    ]


def test_a_drainer_killed_during_its_post_is_taken_over_and_reconciled_never_sent_twice(
    dispatcher: Dispatcher, ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    instances = queue_behind_a_limit(dispatcher, github, clock, 2, retry_after=1)
    clock.advance(2)
    seen = ledger.queued(clock.now, 1)[0]
    taken = ledger.take_from_queue(seen, "dead-drainer", clock.now + 20, due_again_at=clock.now + 30)
    assert budget.take_slot(clock.now, INTERVAL, draining_until=clock.now + 20, new_hour=True) is not None
    github.runs[taken.dispatch_id] = RunRef(run_id=7)  # its POST reached GitHub; then the process died
    github.dispatched.clear()

    drainer(ledger, budget, github, clock).drain(run_for(clock, LAUNCH_SECONDS + 3))  # the next run, at once

    assert [sent["instance_id"] for sent in github.dispatched] == [instances[1]]  # the dead one held nothing else
    assert status(ledger, instances[0]).status is Status.CLAIMED  # its launch waits out the claim and the delay
    clock.advance(31)
    report = drainer(ledger, budget, github, clock).drain(run_for(clock))

    assert report.counts[metric_names.RECONCILED_FOUND] == 1
    assert [sent["instance_id"] for sent in github.dispatched] == [instances[1]]  # never sent again
    assert github.searched == [taken.dispatch_id]
    assert status(ledger, instances[0]).status is Status.DISPATCHED
    assert status(ledger, instances[0]).run_id == 7


def test_a_lost_answer_while_draining_is_reconciled_before_anything_is_sent_again(
    dispatcher: Dispatcher, ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    (instance,) = queue_behind_a_limit(dispatcher, github, clock, 1, retry_after=1)
    clock.advance(2)
    github.dispatched.clear()
    github.answers = [OutcomeUnknown("HTTP 502")]  # GitHub made the run and lost the answer

    drainer(ledger, budget, github, clock).drain(run_for(clock, LAUNCH_SECONDS + 2))
    assert status(ledger, instance).post_unconfirmed
    clock.advance(20)
    drainer(ledger, budget, github, clock).drain(run_for(clock))

    assert len(github.dispatched) == 1
    assert status(ledger, instance).status is Status.DISPATCHED


def test_a_queued_dispatch_github_rejects_fails_loudly_and_is_not_retried(
    dispatcher: Dispatcher, ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    (instance,) = queue_behind_a_limit(dispatcher, github, clock, 1, retry_after=1)
    clock.advance(2)
    github.answers = [DispatchRejected(422, "Unexpected inputs provided")]

    report = drainer(ledger, budget, github, clock).drain(run_for(clock))

    assert report.counts[metric_names.DISPATCH_REJECTED] == 1
    assert status(ledger, instance).status is Status.FAILED
    assert report.waiting == 0


def test_a_slot_another_drainer_just_took_makes_this_one_wait_its_interval_and_each_launch_goes_once(
    dispatcher: Dispatcher, ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    instances = queue_behind_a_limit(dispatcher, github, clock, 2, retry_after=1)
    clock.advance(2)
    github.dispatched.clear()
    assert budget.take_slot(clock.now, INTERVAL, draining_until=clock.now + 20, new_hour=True) is not None
    times = post_times(github, clock)
    slot_taken_at = clock.now

    for _ in range(2):  # the other drainer took the slot just now: each run waits an interval for its own
        drainer(ledger, budget, github, clock).drain(run_for(clock, LAUNCH_SECONDS + 3))

    assert sorted(sent["instance_id"] for sent in github.dispatched) == instances
    assert times[0] >= slot_taken_at + INTERVAL
    assert times[1] - times[0] >= INTERVAL


def test_an_empty_queue_takes_no_slot_so_the_fast_path_is_never_held_for_nothing(
    ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    report = drainer(ledger, budget, github, clock).drain(run_for(clock))

    assert report.waiting == 0
    assert not budget.read().draining(clock.now)


def test_the_report_warns_when_waiting_hooks_would_expire_before_their_turn(
    dispatcher: Dispatcher, ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    queue_behind_a_limit(dispatcher, github, clock, 3, retry_after=3600)
    clock.advance(10)

    roomy = drainer(ledger, budget, github, clock).drain(run_for(clock, 60))
    tight = drainer(ledger, budget, github, clock, hook_global_timeout_seconds=3000).drain(run_for(clock, 60))

    assert roomy.waiting == 3
    assert roomy.oldest_wait_seconds == pytest.approx(10.3, abs=0.5)
    assert roomy.hook_headroom_seconds is not None
    assert roomy.hook_headroom_seconds > 80_000
    assert tight.hook_headroom_seconds is not None
    assert tight.hook_headroom_seconds < 0


class BehindIndex(Ledger):
    """The tracking index as it can be for a moment: still listing a launch that was settled already."""

    def __init__(self, ledger: Ledger, stale: list[LedgerEntry], clock: Clock, dynamodb: Any) -> None:
        super().__init__(dynamodb, TABLE, clock=clock)
        self.stale = stale
        self.reads = 0

    def queued(self, now: float | None, limit: int) -> list[LedgerEntry]:
        self.reads += 1
        return self.stale if self.reads <= 3 else super().queued(now, limit)


def test_a_queue_page_the_index_has_not_caught_up_with_is_read_again_a_moment_later_never_sent_twice(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    github: ScriptedGitHub,
    clock: SleepingClock,
    dynamodb: Any,
) -> None:
    (instance,) = queue_behind_a_limit(dispatcher, github, clock, 1, retry_after=1)
    clock.advance(2)
    stale = ledger.queued(None, 10)
    drainer(ledger, budget, github, clock).drain(run_for(clock))  # sent
    github.dispatched.clear()
    behind = BehindIndex(ledger, stale, clock, dynamodb)

    settings = DrainConfig(dispatch=CONFIG, mutation_interval_seconds=INTERVAL)
    Drainer(behind, budget, github, settings, clock=clock, sleep=clock.sleep).drain(run_for(clock))

    assert github.dispatched == []  # the stale page's launch could not be taken: it was settled
    assert status(ledger, instance).status is Status.DISPATCHED
    assert clock.sleeps[-1] == pytest.approx(1.0)  # it waited before reading the page again, no spinning


def test_the_expected_drain_counts_githubs_hourly_limit_not_only_the_pace() -> None:
    now = 1_800_000_000.0
    pace = Pace(BudgetState(last_dispatch_at=now - 10), interval=1.0)

    turns = pace.turns(1000, now)

    assert turns[0] == now
    assert turns[499] == now + 499  # the first 500 a second apart
    assert turns[500] == now + 3600  # the 501st waits for the hour
    assert turns[999] == now + 3600 + 499


def test_after_an_hourly_refusal_the_expected_drain_starts_when_the_pause_ends() -> None:
    now = 1_800_000_000.0
    pace = Pace(BudgetState(hour_started=now - 600, hour_dispatches=320), interval=1.0)
    pace.pause(now + 3000, now)  # GitHub: no content creation for 50 minutes

    turns = pace.turns(600, now)

    assert turns[0] == now + 3000
    assert turns[499] == now + 3000 + 499
    assert turns[500] == now + 3000 + 3600


def test_an_event_redelivered_while_a_drainer_holds_its_launch_is_a_duplicate_not_a_retry(
    dispatcher: Dispatcher, ledger: Ledger, budget: BudgetItem, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    """Bouncing off the drainer's claim (ClaimContended) would spend Lambda's retries and end in the DLQ if the
    drainer died holding it; the launch is the drainer's, so the event is done with."""
    (instance,) = queue_behind_a_limit(dispatcher, github, clock, 1, retry_after=1)
    clock.advance(2)
    seen = ledger.queued(clock.now, 1)[0]
    ledger.take_from_queue(seen, "drainer", clock.now + 20, due_again_at=clock.now + 30)
    posts = len(github.dispatched)

    for _ in range(2):  # while the drainer's claim is live, and after it has expired (a dead drainer)
        assert dispatcher.handle(launch(0, at=seen.launch_time or clock.now), run_for(clock, 30)).outcome is (
            Outcome.DUPLICATE
        )
        clock.advance(25)

    assert len(github.dispatched) == posts
    assert status(ledger, instance).status is Status.CLAIMED  # still the drainer's to settle
