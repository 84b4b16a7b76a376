"""Batch mode against the real ledger (moto) and a scripted GitHub: each instance deployed by exactly one run, whatever
happens to the drainer between its batch's writes and its POST; a lone launch goes at once; 257 launches go in two
runs; a duplicate event for a batched instance sends nothing."""

import json
from typing import Any

import pytest

from deploy_trigger import metric_names
from deploy_trigger.batching import BatchSender
from deploy_trigger.deadline import Deadline
from deploy_trigger.dispatch import DispatchConfig, Dispatcher, Outcome
from deploy_trigger.drain import BATCH_SECONDS, DrainConfig, Drainer
from deploy_trigger.errors import DispatchRejected, OutcomeUnknown, RateLimited
from deploy_trigger.events import InstanceLaunch, parse_event
from deploy_trigger.github_budget import BudgetGate
from deploy_trigger.ledger.batch_item import BatchItems
from deploy_trigger.ledger.budget_item import BudgetItem
from deploy_trigger.ledger.model import LedgerEntry, Status
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.runs import RunRef
from deploy_trigger.workflow_contract import MAX_INPUTS_CHARACTERS
from stand_ins.autoscaling_events import at as events_at
from stand_ins.autoscaling_events import instance_id, lifecycle_action
from stand_ins.autoscaling_group import AutoScalingStandIn
from tests.unit.doubles import TABLE, Clock, ScriptedGitHub, SleepingClock

CONFIG = DispatchConfig(
    ref="main",
    aws_region="us-east-1",
    extra_inputs={},
    lease_margin_seconds=5,
    run_listing_delay_seconds=10,
    batch_max_instances=256,
)
HOOK = "deploy-trigger-launch"
#: Past a killed batch's lease and GitHub's listing delay: its members are due again.
AFTER_THE_LEASE = BATCH_SECONDS + CONFIG.lease_margin_seconds + CONFIG.run_listing_delay_seconds + 1


class Killed(BaseException):
    """The Lambda runtime ending the drainer mid-call (a timeout): nothing after it runs."""


@pytest.fixture
def clock() -> SleepingClock:
    return SleepingClock()


@pytest.fixture
def ledger(dynamodb: Any, clock: Clock) -> Ledger:
    return Ledger(dynamodb, TABLE, clock=clock)


@pytest.fixture
def budget(dynamodb: Any) -> BudgetItem:
    return BudgetItem(dynamodb, TABLE)


@pytest.fixture
def manifests(dynamodb: Any) -> BatchItems:
    return BatchItems(dynamodb, TABLE)


class CountingDrainer:
    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


@pytest.fixture
def drainer_function() -> CountingDrainer:
    return CountingDrainer()


@pytest.fixture
def dispatcher(
    ledger: Ledger, github: ScriptedGitHub, clock: Clock, budget: BudgetItem, drainer_function: CountingDrainer
) -> Dispatcher:
    group = AutoScalingStandIn()
    group.add_group("web-asg", HOOK)
    return Dispatcher(
        ledger,
        github,
        CONFIG,
        lifecycle=group,
        budget=BudgetGate(budget, clock=clock),
        drainer=drainer_function,
        clock=clock,
    )


def drain(
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: Any,
    clock: SleepingClock,
    *,
    seconds: float = 900,
    config: DispatchConfig = CONFIG,
) -> Any:
    batches = BatchSender(ledger, manifests, github, config, clock=clock)
    drainer = Drainer(
        ledger,
        budget,
        github,
        DrainConfig(dispatch=config),
        clock=clock,
        sleep=clock.sleep,
        batches=batches,
    )
    return drainer.drain(Deadline(seconds, monotonic=clock, wall_clock=clock))


def launch(number: int, clock: Clock, *, asg: str = "web-asg") -> InstanceLaunch:
    event = lifecycle_action(instance_id(number), asg, token=f"token-{number}", time=events_at(clock.now))
    parsed = parse_event(event)
    assert isinstance(parsed, InstanceLaunch)
    return parsed


def arrive(dispatcher: Dispatcher, clock: Clock, count: int, *, first: int = 0) -> list[str]:
    for number in range(first, first + count):
        result = dispatcher.handle(launch(number, clock), Deadline(30, monotonic=clock, wall_clock=clock))
        assert result.outcome is Outcome.QUEUED
        clock.advance(0.01)
    return [instance_id(number) for number in range(first, first + count)]


def entry(ledger: Ledger, instance: str) -> LedgerEntry:
    found = ledger.get(instance)
    assert found is not None
    return found


def instances_of(sent: dict[str, str]) -> list[str]:
    return [member["instance_id"] for member in json.loads(sent["instances"])]


def deployments(github: ScriptedGitHub) -> dict[str, int]:
    """How many POSTs named each instance: the count a second deployment would raise to 2."""
    counts: dict[str, int] = {}
    for sent in github.dispatched:
        for instance in instances_of(sent):
            counts[instance] = counts.get(instance, 0) + 1
    return counts


def test_a_lone_launch_is_dispatched_at_once_as_a_batch_of_one(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: ScriptedGitHub,
    clock: SleepingClock,
    drainer_function: CountingDrainer,
) -> None:
    (instance,) = arrive(dispatcher, clock, 1)
    assert github.dispatched == []  # the dispatcher never POSTs in batch mode
    assert drainer_function.wakes == 1

    arrived_at = clock.now
    sent_at: list[float] = []
    send = github.dispatch
    github.dispatch = lambda *call: sent_at.append(clock.now) or send(*call)  # type: ignore[method-assign]
    report = drain(ledger, budget, manifests, github, clock)

    assert sent_at == [arrived_at]  # no window waited for
    (sent,) = github.dispatched
    assert json.loads(sent["instances"]) == [
        {"instance_id": instance, "asg_name": "web-asg", "lifecycle_hook_name": HOOK, "aws_region": "us-east-1"}
    ]
    stored = entry(ledger, instance)
    assert stored.status is Status.DISPATCHED
    assert (stored.batch_id, stored.batch_position) == (sent["dispatch_id"], 0)
    assert stored.run_dispatch_id == sent["dispatch_id"]
    assert report.counts[metric_names.BATCHES_DISPATCHED] == 1


def test_a_burst_of_256_plus_one_goes_in_two_runs_each_instance_once_in_its_place(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: ScriptedGitHub,
    clock: SleepingClock,
) -> None:
    instances = arrive(dispatcher, clock, 257)

    report = drain(ledger, budget, manifests, github, clock)

    assert [len(instances_of(sent)) for sent in github.dispatched] == [256, 1]
    assert deployments(github) == dict.fromkeys(instances, 1)
    first, second = (sent["dispatch_id"] for sent in github.dispatched)
    assert {(entry(ledger, i).batch_id, entry(ledger, i).batch_position) for i in instances[:3]} == {
        (first, 0),
        (first, 1),
        (first, 2),
    }
    assert entry(ledger, instances[-1]).batch_id == second
    assert all(entry(ledger, i).status is Status.DISPATCHED for i in instances)
    assert report.counts[metric_names.DISPATCHED] == 257
    assert report.waiting == 0


def test_a_batch_cannot_outgrow_githubs_65535_characters_of_inputs(
    ledger: Ledger, budget: BudgetItem, manifests: BatchItems, github: ScriptedGitHub, clock: SleepingClock
) -> None:
    long_asg = "a" * 240  # GitHub's limit on an Auto Scaling group name is 255 characters
    group = AutoScalingStandIn()
    group.add_group(long_asg, HOOK)
    dispatcher = Dispatcher(
        ledger, github, CONFIG, lifecycle=group, budget=BudgetGate(budget, clock=clock), clock=clock
    )
    for number in range(256):
        dispatcher.handle(launch(number, clock, asg=long_asg), Deadline(30, monotonic=clock, wall_clock=clock))

    drain(ledger, budget, manifests, github, clock)

    sizes = [
        len(json.dumps({name: value for name, value in sent.items() if name != "ref"})) for sent in github.dispatched
    ]
    assert len(github.dispatched) == 2
    assert max(sizes) <= MAX_INPUTS_CHARACTERS
    assert sum(len(instances_of(sent)) for sent in github.dispatched) == 256


def test_a_batch_killed_after_its_post_is_reconciled_by_its_dispatch_id_one_run_in_all(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: ScriptedGitHub,
    clock: SleepingClock,
) -> None:
    instances = arrive(dispatcher, clock, 3)
    send = github.dispatch

    def post_then_die(ref: str, inputs: Any, deadline: Deadline) -> RunRef:
        send(ref, inputs, deadline)  # GitHub made the run...
        raise Killed  # ...and the drainer was killed before it heard

    github.dispatch = post_then_die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        drain(ledger, budget, manifests, github, clock)
    github.dispatch = send  # type: ignore[method-assign]
    (batch_id,) = {entry(ledger, i).batch_id for i in instances}
    assert all(entry(ledger, i).status is Status.CLAIMED for i in instances)

    assert drain(ledger, budget, manifests, github, clock, seconds=30).counts == {}  # its lease still holds
    clock.advance(AFTER_THE_LEASE)
    report = drain(ledger, budget, manifests, github, clock)

    assert github.searched == [batch_id]
    assert len(github.dispatched) == 1  # never sent again
    assert report.counts[metric_names.RECONCILED_FOUND] == 1
    assert {entry(ledger, i).status for i in instances} == {Status.DISPATCHED}
    assert {entry(ledger, i).run_id for i in instances} == {github.runs[batch_id].run_id}


def test_a_batch_whose_post_never_arrived_is_resent_with_exactly_its_composition(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: ScriptedGitHub,
    clock: SleepingClock,
) -> None:
    instances = arrive(dispatcher, clock, 2)
    github.answers = [OutcomeUnknown("read timed out")]
    github.runs.clear()
    drain(ledger, budget, manifests, github, clock, seconds=BATCH_SECONDS + 2)
    github.runs.clear()  # this time GitHub had not made the run
    arrive(dispatcher, clock, 2, first=10)  # launches that came meanwhile go in a batch of their own
    clock.advance(AFTER_THE_LEASE)

    drain(ledger, budget, manifests, github, clock)

    first, resent, later = github.dispatched
    assert resent == first  # same dispatch ID, same instances, same order
    assert instances_of(first) == instances
    assert instances_of(later) == [instance_id(10), instance_id(11)]
    assert deployments(github) == {instance_id(n): 2 if n < 2 else 1 for n in (0, 1, 10, 11)}
    assert {entry(ledger, i).status for i in instances} == {Status.DISPATCHED}


def test_a_batch_killed_before_its_manifest_was_never_sent_and_its_launches_go_in_a_later_one(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: ScriptedGitHub,
    clock: SleepingClock,
) -> None:
    instances = arrive(dispatcher, clock, 3)
    joined = ledger.join_batch(
        ledger.queued(None, 10), "dead-drainer", clock.now + 60, due_again_at=clock.now + 70, batch_id="b" * 32
    )
    assert [member.batch_position for member in joined] == [0, 1, 2]
    clock.advance(71)

    drain(ledger, budget, manifests, github, clock)

    (sent,) = github.dispatched
    assert instances_of(sent) == instances  # in their old order
    assert sent["dispatch_id"] != "b" * 32
    assert {entry(ledger, i).status for i in instances} == {Status.DISPATCHED}


def test_a_duplicate_event_for_a_batched_instance_deploys_nothing_more(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: ScriptedGitHub,
    clock: SleepingClock,
) -> None:
    (instance,) = arrive(dispatcher, clock, 1)
    redelivered = launch(0, clock)
    clock.advance(1)
    queued = dispatcher.handle(redelivered, Deadline(30, monotonic=clock, wall_clock=clock))
    drain(ledger, budget, manifests, github, clock)
    dispatched = dispatcher.handle(redelivered, Deadline(30, monotonic=clock, wall_clock=clock))

    assert (queued.outcome, dispatched.outcome) == (Outcome.DUPLICATE, Outcome.DUPLICATE)
    assert len(github.dispatched) == 1
    assert deployments(github) == {instance: 1}


def test_a_rate_limited_batch_pauses_everyone_and_keeps_its_composition(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: ScriptedGitHub,
    clock: SleepingClock,
) -> None:
    instances = arrive(dispatcher, clock, 2)
    github.answers = [RateLimited(120, "secondary rate limit")]
    report = drain(ledger, budget, manifests, github, clock, seconds=BATCH_SECONDS + 2)
    assert report.counts[metric_names.RATE_LIMIT_WAITS] == 1
    assert budget.read().paused_until >= clock.now + 110

    clock.advance(AFTER_THE_LEASE + 120)
    drain(ledger, budget, manifests, github, clock)

    refused, sent = github.dispatched
    assert sent == refused
    assert github.searched == []  # GitHub proved it had not acted: nothing to reconcile
    assert {entry(ledger, i).status for i in instances} == {Status.DISPATCHED}


def test_a_batch_github_rejects_fails_each_member_loudly_and_is_not_retried(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: ScriptedGitHub,
    clock: SleepingClock,
) -> None:
    instances = arrive(dispatcher, clock, 2)
    github.answers = [DispatchRejected(422, 'Unexpected inputs provided: ["instances"]')]

    report = drain(ledger, budget, manifests, github, clock)
    clock.advance(AFTER_THE_LEASE)
    drain(ledger, budget, manifests, github, clock)

    assert len(github.dispatched) == 1
    assert report.counts[metric_names.DISPATCH_REJECTED] == 2
    assert {entry(ledger, i).status for i in instances} == {Status.FAILED}


def test_a_launch_arriving_just_after_the_queue_emptied_is_sent_by_the_same_run(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: ScriptedGitHub,
    clock: SleepingClock,
) -> None:
    arrive(dispatcher, clock, 1)
    later: list[str] = []
    sleep = clock.sleep

    def arrive_while_the_drainer_looks_again(seconds: float) -> None:
        sleep(seconds)
        if github.dispatched and not later:
            later.extend(arrive(dispatcher, clock, 1, first=5))  # its container woke the drainer seconds ago

    clock.sleep = arrive_while_the_drainer_looks_again  # type: ignore[method-assign]
    drain(ledger, budget, manifests, github, clock)

    assert [instances_of(sent) for sent in github.dispatched] == [[instance_id(0)], later]
    assert entry(ledger, later[0]).status is Status.DISPATCHED


def test_the_expected_drain_time_counts_batches_not_launches(
    dispatcher: Dispatcher,
    ledger: Ledger,
    budget: BudgetItem,
    manifests: BatchItems,
    github: ScriptedGitHub,
    clock: SleepingClock,
) -> None:
    arrive(dispatcher, clock, 300)
    budget.pause(clock.now + 600, "secondary rate limit")  # nothing can be sent in this run

    report = drain(ledger, budget, manifests, github, clock, seconds=30)

    assert report.waiting == 300
    assert github.dispatched == []
    # Two batches (256 + 44), a GitHub second apart, after the pause: not 300 seconds of single dispatches.
    assert 600 <= report.expected_drain_seconds <= 600 + 2 * DrainConfig(dispatch=CONFIG).mutation_interval_seconds
