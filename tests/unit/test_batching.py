"""Batch mode against the real ledger (moto) and a scripted GitHub: each instance deployed by exactly one run, whatever
happens to the drainer between its batch's writes and its POST; a lone launch goes at once; 257 launches go in two
runs; a duplicate event for a batched instance sends nothing."""

import json
from dataclasses import dataclass, field
from typing import Any

import pytest

from deploy_trigger import metric_names
from deploy_trigger.batching import BatchSender
from deploy_trigger.deadline import Deadline
from deploy_trigger.dispatch import DispatchConfig, Dispatcher, Outcome
from deploy_trigger.drain import BATCH_SECONDS, DrainConfig, Drainer
from deploy_trigger.errors import DispatchRejected, OutcomeUnknown, RateLimited
from deploy_trigger.events import InstanceLaunch, parse_event
from deploy_trigger.github_budget import BUSY_RECHECK_SECONDS, BudgetGate
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


class CountingDrainer:
    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


@dataclass
class Scene:
    """The ledger (moto), a scripted GitHub, a dispatcher in batch mode and the drainers that follow it."""

    ledger: Ledger
    budget: BudgetItem
    manifests: BatchItems
    github: ScriptedGitHub
    clock: SleepingClock
    drainer_function: CountingDrainer = field(default_factory=CountingDrainer)

    def __post_init__(self) -> None:
        group = AutoScalingStandIn()
        group.add_group("web-asg", HOOK)
        self.dispatcher = self.dispatcher_for(group)

    def dispatcher_for(self, group: AutoScalingStandIn, *, sends: bool = False) -> Dispatcher:
        """A batch-mode dispatcher; ``sends``: it sends the queue itself when no one has sent within the interval
        (as deployed), else it only queues, and the tests' drainer runs send everything."""
        return Dispatcher(
            self.ledger,
            self.github,
            CONFIG,
            lifecycle=group,
            budget=BudgetGate(self.budget, clock=self.clock),
            drainer=self.drainer_function,
            batches=self.batches() if sends else None,
            clock=self.clock,
        )

    def batches(self) -> BatchSender:
        return BatchSender(self.ledger, self.manifests, self.github, CONFIG, clock=self.clock)

    def drain(self, *, seconds: float = 900) -> Any:
        """One drainer run (a fresh one, as each Lambda invocation is)."""
        batches = self.batches()
        drainer = Drainer(
            self.ledger,
            self.budget,
            self.github,
            DrainConfig(dispatch=CONFIG),
            clock=self.clock,
            sleep=self.clock.sleep,
            batches=batches,
        )
        return drainer.drain(Deadline(seconds, monotonic=self.clock, wall_clock=self.clock))

    def arrive(
        self, count: int, *, first: int = 0, asg: str = "web-asg", dispatcher: Dispatcher | None = None
    ) -> list[str]:
        for number in range(first, first + count):
            result = (dispatcher or self.dispatcher).handle(launch(number, self.clock, asg=asg), self.deadline())
            assert result.outcome is Outcome.QUEUED
            self.clock.advance(0.01)
        return [instance_id(number) for number in range(first, first + count)]

    def deadline(self) -> Deadline:
        return Deadline(30, monotonic=self.clock, wall_clock=self.clock)

    def entry(self, instance: str) -> LedgerEntry:
        found = self.ledger.get(instance)
        assert found is not None
        return found

    def deployments(self) -> dict[str, int]:
        """How many POSTs named each instance: the count a second deployment would raise to 2."""
        counts: dict[str, int] = {}
        for sent in self.github.dispatched:
            for instance in instances_of(sent):
                counts[instance] = counts.get(instance, 0) + 1
        return counts


@pytest.fixture
def scene(ledger: Ledger, budget: BudgetItem, dynamodb: Any, github: ScriptedGitHub, clock: SleepingClock) -> Scene:
    return Scene(ledger, budget, BatchItems(dynamodb, TABLE), github, clock)


def launch(number: int, clock: Clock, *, asg: str = "web-asg") -> InstanceLaunch:
    event = lifecycle_action(instance_id(number), asg, token=f"token-{number}", time=events_at(clock.now))
    parsed = parse_event(event)
    assert isinstance(parsed, InstanceLaunch)
    return parsed


def instances_of(sent: dict[str, str]) -> list[str]:
    return [member["instance_id"] for member in json.loads(sent["instances"])]


def test_a_lone_launch_in_a_quiet_period_is_sent_by_its_own_invocation_at_once(scene: Scene) -> None:
    group = AutoScalingStandIn()
    group.add_group("web-asg", HOOK)
    dispatcher = scene.dispatcher_for(group, sends=True)

    result = dispatcher.handle(launch(0, scene.clock), scene.deadline())

    assert result.outcome is Outcome.DISPATCHED
    (sent,) = scene.github.dispatched
    assert instances_of(sent) == [instance_id(0)]
    assert result.run.run_id is not None
    stored = scene.entry(instance_id(0))
    assert (stored.status, stored.batch_id, stored.batch_position) == (Status.DISPATCHED, sent["dispatch_id"], 0)
    assert scene.drainer_function.wakes == 0


def test_launches_right_behind_one_wait_for_the_next_batch_together(scene: Scene) -> None:
    group = AutoScalingStandIn()
    group.add_group("web-asg", HOOK)
    dispatcher = scene.dispatcher_for(group, sends=True)
    first = dispatcher.handle(launch(0, scene.clock), scene.deadline())
    scene.clock.advance(0.1)
    behind = scene.arrive(5, first=1, dispatcher=dispatcher)  # within GitHub's second: each is queued

    scene.drain()

    assert first.outcome is Outcome.DISPATCHED
    assert [instances_of(sent) for sent in scene.github.dispatched] == [[instance_id(0)], behind]
    assert scene.drainer_function.wakes == 5


def test_the_drainer_sends_a_lone_queued_launch_at_once_as_a_batch_of_one(scene: Scene) -> None:
    (instance,) = scene.arrive(1)
    assert scene.github.dispatched == []  # the scene.dispatcher never POSTs in batch mode
    assert scene.drainer_function.wakes == 1

    arrived_at = scene.clock.now
    sent_at: list[float] = []
    send = scene.github.dispatch
    scene.github.dispatch = lambda *call: sent_at.append(scene.clock.now) or send(*call)  # type: ignore[method-assign]
    report = scene.drain()

    assert sent_at == [arrived_at]  # no window waited for
    (sent,) = scene.github.dispatched
    assert json.loads(sent["instances"]) == [
        {"instance_id": instance, "asg_name": "web-asg", "lifecycle_hook_name": HOOK, "aws_region": "us-east-1"}
    ]
    stored = scene.entry(instance)
    assert stored.status is Status.DISPATCHED
    assert (stored.batch_id, stored.batch_position) == (sent["dispatch_id"], 0)
    assert stored.run_dispatch_id == sent["dispatch_id"]
    assert report.counts[metric_names.BATCHES_DISPATCHED] == 1


def test_a_burst_of_256_plus_one_goes_in_two_runs_each_instance_once_in_its_place(scene: Scene) -> None:
    instances = scene.arrive(257)

    report = scene.drain()

    assert [len(instances_of(sent)) for sent in scene.github.dispatched] == [256, 1]
    assert scene.deployments() == dict.fromkeys(instances, 1)
    first, second = (sent["dispatch_id"] for sent in scene.github.dispatched)
    assert {(scene.entry(i).batch_id, scene.entry(i).batch_position) for i in instances[:3]} == {
        (first, 0),
        (first, 1),
        (first, 2),
    }
    assert scene.entry(instances[-1]).batch_id == second
    assert all(scene.entry(i).status is Status.DISPATCHED for i in instances)
    assert report.counts[metric_names.DISPATCHED] == 257
    assert report.waiting == 0


def test_a_batch_cannot_outgrow_githubs_65535_characters_of_inputs(scene: Scene) -> None:
    long_asg = "a" * 240  # GitHub's limit on an Auto Scaling group name is 255 characters
    group = AutoScalingStandIn()
    group.add_group(long_asg, HOOK)
    scene.arrive(256, asg=long_asg, dispatcher=scene.dispatcher_for(group))

    scene.drain()

    sizes = [
        len(json.dumps({name: value for name, value in sent.items() if name != "ref"}))
        for sent in scene.github.dispatched
    ]
    assert len(scene.github.dispatched) == 2
    assert max(sizes) <= MAX_INPUTS_CHARACTERS
    assert sum(len(instances_of(sent)) for sent in scene.github.dispatched) == 256


def test_a_batch_killed_after_its_post_is_reconciled_by_its_dispatch_id_one_run_in_all(scene: Scene) -> None:
    instances = scene.arrive(3)
    send = scene.github.dispatch

    def post_then_die(ref: str, inputs: Any, deadline: Deadline) -> RunRef:
        send(ref, inputs, deadline)  # GitHub made the run...
        raise Killed  # ...and the drainer was killed before it heard

    scene.github.dispatch = post_then_die  # type: ignore[method-assign]
    with pytest.raises(Killed):
        scene.drain()
    scene.github.dispatch = send  # type: ignore[method-assign]
    (batch_id,) = {scene.entry(i).batch_id for i in instances}
    assert all(scene.entry(i).status is Status.CLAIMED for i in instances)

    assert scene.drain(seconds=30).counts == {}  # its lease still holds
    scene.clock.advance(AFTER_THE_LEASE)
    report = scene.drain()

    assert scene.github.searched == [batch_id]
    assert len(scene.github.dispatched) == 1  # never sent again
    assert report.counts[metric_names.RECONCILED_FOUND] == 1
    assert {scene.entry(i).status for i in instances} == {Status.DISPATCHED}
    assert {scene.entry(i).run_id for i in instances} == {scene.github.runs[batch_id].run_id}


def test_a_batch_whose_post_never_arrived_is_resent_with_exactly_its_composition(scene: Scene) -> None:
    instances = scene.arrive(2)
    scene.github.answers = [OutcomeUnknown("read timed out")]
    scene.drain(seconds=BATCH_SECONDS + 2)
    scene.github.runs.clear()  # this time GitHub had not made the run
    scene.arrive(2, first=10)  # launches that came meanwhile go in a batch of their own
    scene.clock.advance(AFTER_THE_LEASE)

    scene.drain()

    first, resent, later = scene.github.dispatched
    assert resent == first  # same dispatch ID, same instances, same order
    assert instances_of(first) == instances
    assert instances_of(later) == [instance_id(10), instance_id(11)]
    assert scene.deployments() == {instance_id(n): 2 if n < 2 else 1 for n in (0, 1, 10, 11)}
    assert {scene.entry(i).status for i in instances} == {Status.DISPATCHED}


def test_a_batch_killed_before_its_manifest_was_never_sent_and_its_launches_go_in_a_later_one(scene: Scene) -> None:
    instances = scene.arrive(3)
    joined = scene.ledger.join_batch(
        scene.ledger.queued(None, 10),
        "dead-drainer",
        scene.clock.now + 60,
        due_again_at=scene.clock.now + 70,
        batch_id="b" * 32,
    )
    assert [member.batch_position for member in joined] == [0, 1, 2]
    scene.clock.advance(71)

    scene.drain()

    (sent,) = scene.github.dispatched
    assert instances_of(sent) == instances  # in their old order
    assert sent["dispatch_id"] != "b" * 32
    assert {scene.entry(i).status for i in instances} == {Status.DISPATCHED}


def test_a_duplicate_event_for_a_batched_instance_deploys_nothing_more(scene: Scene) -> None:
    (instance,) = scene.arrive(1)
    redelivered = launch(0, scene.clock)
    scene.clock.advance(1)
    queued = scene.dispatcher.handle(redelivered, scene.deadline())
    scene.drain()
    dispatched = scene.dispatcher.handle(redelivered, scene.deadline())

    assert (queued.outcome, dispatched.outcome) == (Outcome.DUPLICATE, Outcome.DUPLICATE)
    assert len(scene.github.dispatched) == 1
    assert scene.deployments() == {instance: 1}


def test_a_rate_limited_batch_pauses_everyone_and_keeps_its_composition(scene: Scene) -> None:
    instances = scene.arrive(2)
    scene.github.answers = [RateLimited(120, "secondary rate limit")]
    report = scene.drain(seconds=BATCH_SECONDS + 2)
    assert report.counts[metric_names.RATE_LIMIT_WAITS] == 1
    assert scene.budget.read().paused_until >= scene.clock.now + 110

    scene.clock.advance(AFTER_THE_LEASE + 120)
    scene.drain()

    refused, sent = scene.github.dispatched
    assert sent == refused
    assert scene.github.searched == []  # GitHub proved it had not acted: nothing to reconcile
    assert {scene.entry(i).status for i in instances} == {Status.DISPATCHED}


def test_a_batch_github_rejects_fails_each_member_loudly_and_is_not_retried(scene: Scene) -> None:
    instances = scene.arrive(2)
    scene.github.answers = [DispatchRejected(422, 'Unexpected inputs provided: ["instances"]')]

    report = scene.drain()
    scene.clock.advance(AFTER_THE_LEASE)
    scene.drain()

    assert len(scene.github.dispatched) == 1
    assert report.counts[metric_names.DISPATCH_REJECTED] == 2
    assert {scene.entry(i).status for i in instances} == {Status.FAILED}


def test_a_launch_arriving_just_after_the_queue_emptied_is_sent_by_the_same_run(scene: Scene) -> None:
    scene.arrive(1)
    later: list[str] = []
    sleep = scene.clock.sleep

    def arrive_while_the_drainer_looks_again(seconds: float) -> None:
        sleep(seconds)
        if scene.github.dispatched and not later:
            later.extend(scene.arrive(1, first=5))  # its container woke the drainer seconds ago

    scene.clock.sleep = arrive_while_the_drainer_looks_again  # type: ignore[method-assign]
    scene.drain()

    assert [instances_of(sent) for sent in scene.github.dispatched] == [[instance_id(0)], later]
    assert scene.entry(later[0]).status is Status.DISPATCHED


def test_the_expected_drain_time_counts_batches_not_launches(scene: Scene) -> None:
    scene.arrive(300)
    scene.budget.pause(scene.clock.now + 600, "secondary rate limit")  # nothing can be sent in this run

    report = scene.drain(seconds=30)

    assert report.waiting == 300
    assert scene.github.dispatched == []
    # Two batches (256 + 44), a GitHub second apart, after the pause: not 300 seconds of single dispatches.
    assert 600 <= report.expected_drain_seconds <= 600 + 2 * DrainConfig(dispatch=CONFIG).mutation_interval_seconds


def test_a_launch_while_a_batch_is_being_sent_joins_the_queue_even_after_the_interval(scene: Scene) -> None:
    group = AutoScalingStandIn()
    group.add_group("web-asg", HOOK)
    dispatcher = scene.dispatcher_for(group, sends=True)
    drainer_sends_until = scene.clock.now + 65  # a drainer's slot: it sends the queue until then
    assert scene.budget.take_slot(scene.clock.now, 1.0, draining_until=drainer_sends_until, new_hour=True)
    scene.clock.advance(5)  # past GitHub's second, not past the drainer's batch

    result = dispatcher.handle(launch(0, scene.clock), scene.deadline())

    assert result.outcome is Outcome.QUEUED  # never racing the drainer for the queue
    assert scene.github.dispatched == []
    assert scene.drainer_function.wakes == 1


def test_a_container_that_found_the_budget_busy_queues_without_asking_again_for_a_while(scene: Scene) -> None:
    asked: list[float] = []
    take_slot = scene.budget.take_slot

    def counted(now: float, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("idle_only"):  # a dispatcher's ask (the drainer takes its slots too)
            asked.append(now)
        return take_slot(now, *args, **kwargs)

    scene.budget.take_slot = counted  # type: ignore[method-assign]
    group = AutoScalingStandIn()
    group.add_group("web-asg", HOOK)
    dispatcher = scene.dispatcher_for(group, sends=True)

    first = dispatcher.handle(launch(0, scene.clock), scene.deadline())  # quiet: sent at once
    scene.clock.advance(0.5)
    burst = scene.arrive(20, first=1, dispatcher=dispatcher)  # busy: the first asks, the rest do not
    scene.clock.advance(BUSY_RECHECK_SECONDS)
    scene.drain()
    later = dispatcher.handle(launch(50, scene.clock), scene.deadline())  # quiet again: it asks, and sends

    assert (first.outcome, later.outcome) == (Outcome.DISPATCHED, Outcome.DISPATCHED)
    assert len(asked) == 3
    assert [instances_of(sent) for sent in scene.github.dispatched] == [[instance_id(0)], burst, [instance_id(50)]]
