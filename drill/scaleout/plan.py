"""The scale-out to replay, drawn from the seed: launches, their events, the faults they meet, and the
deliveries EventBridge makes (originals, duplicates later, duplicates at the same moment, malformed events).

Counts are exact shares of the launch count (rounded), and only *which* launches get them is random, so two runs
with the same flags meet the same faults and a report's numbers can be checked against the flags.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from drill.scaleout.config import DrillConfig
from drill.scaleout.faults import FaultKind
from stand_ins.autoscaling_events import at, instance_id, launch_successful, lifecycle_action

ASG_NAMES = ("web-asg", "api-asg", "worker-asg", "batch-asg", "edge-asg")
LIFECYCLE_HOOK = "deploy-trigger-launch"
#: In lifecycle mode the first group also has another tool's launch hook (a bootstrap hook).
OTHER_HOOK = "bootstrap-hook"
#: A warm-pool instance entered the pool this long before the scale-out moved it into the group.
WARM_POOL_LEAD_SECONDS = 600.0


class DeliveryKind(StrEnum):
    ORIGINAL = "original"
    DUPLICATE = "duplicate"  # the same event again, later (EventBridge's at-least-once delivery)
    CONCURRENT = "concurrent"  # the same event twice at the same moment
    MALFORMED = "malformed"  # claims to be a launch, but cannot be dispatched
    OTHER_HOOK = "other hook"  # the same launch's action of another tool's hook on the group: not ours
    WARM_POOL_ENTRY = "warm pool entry"  # the instance entered the warm pool earlier: continued, never deployed
    STALE = "stale"  # a late duplicate of the warm-pool entry, after the launch into the group


@dataclass(frozen=True)
class Launch:
    instance_id: str
    asg_name: str
    detail_type: str
    fault: FaultKind | None


@dataclass(frozen=True)
class Delivery:
    """One event handed to Lambda's asynchronous queue, ``offset`` seconds after the scale-out began."""

    number: int
    kind: DeliveryKind
    offset: float
    event: dict[str, Any]
    #: The launch's instance ID; for a malformed event, whatever it carried (None when it carried none).
    instance_id: str | None

    @property
    def event_id(self) -> str:
        return str(self.event["id"])


@dataclass(frozen=True)
class Plan:
    launches: tuple[Launch, ...]
    deliveries: tuple[Delivery, ...]
    #: Lifecycle mode: launches whose events Auto Scaling never delivered (their original, never handed over).
    lost: tuple[Delivery, ...] = ()

    @property
    def faults(self) -> dict[str, FaultKind]:
        return {launch.instance_id: launch.fault for launch in self.launches if launch.fault is not None}

    @property
    def malformed(self) -> tuple[Delivery, ...]:
        return tuple(d for d in self.deliveries if d.kind is DeliveryKind.MALFORMED)

    def count(self, kind: DeliveryKind) -> int:
        return sum(1 for delivery in self.deliveries if delivery.kind is kind)


def asg_names(count: int) -> list[str]:
    return [ASG_NAMES[i] if i < len(ASG_NAMES) else f"asg-{i + 1}" for i in range(count)]


def fault_quotas(config: DrillConfig) -> Iterator[tuple[FaultKind, int]]:
    """How many launches meet each fault: the rate times the launch count, rounded; kills and rate limits are
    split evenly between their two variants."""
    n, rates = config.launches, config.faults
    kills = round(rates.kill * n)
    limits = round(rates.rate_limited * n)
    yield FaultKind.KILLED_BEFORE_ACCEPT, kills - kills // 2
    yield FaultKind.KILLED_AFTER_ACCEPT, kills // 2
    yield FaultKind.ERROR_AFTER_ACCEPT, round(rates.error_after_accept * n)
    yield FaultKind.DROPPED_AFTER_ACCEPT, round(rates.drop_after_accept * n)
    yield FaultKind.CLIENT_TIMEOUT, round(rates.client_timeout * n)
    yield FaultKind.RATE_LIMITED_SHORT, limits - limits // 2
    yield FaultKind.RATE_LIMITED_LONG, limits // 2
    yield FaultKind.SLOW, round(rates.slow * n)
    yield FaultKind.REJECTED, round(rates.rejected * n)


@dataclass(frozen=True)
class _Draft:
    kind: DeliveryKind
    offset: float
    event: dict[str, Any]
    instance_id: str | None


def build_plan(config: DrillConfig) -> Plan:
    rng = random.Random(config.seed)  # noqa: S311 - a reproducible drill, not a secret
    first_number = rng.randrange(1, 2**40)  # instance IDs differ between seeds, like real ones
    groups = asg_names(config.asgs)
    launches, originals = _launches(config, rng, first_number, groups)
    drafts = [*originals, *_duplicates(config, rng, originals)]
    drafts += _malformed(config, rng, first_number + config.launches, groups)
    lost: list[_Draft] = []
    if config.lifecycle:
        warm = _warm_pool_entries(config, rng, originals)
        drafts += _other_hooks(rng, originals, groups[0]) + warm
        lost = _lost(config, rng, originals, launches, {draft.instance_id for draft in warm})
        never = {draft.instance_id for draft in lost}
        drafts = [d for d in drafts if not (d.instance_id in never and d.kind in _LAUNCH_DELIVERIES)]
    drafts.sort(key=lambda draft: draft.offset)
    return Plan(
        launches=tuple(launches),
        deliveries=tuple(
            Delivery(number, draft.kind, round(draft.offset, 3), draft.event, draft.instance_id)
            for number, draft in enumerate(drafts, start=1)
        ),
        lost=tuple(Delivery(0, draft.kind, draft.offset, draft.event, draft.instance_id) for draft in lost),
    )


#: The deliveries of a launch's own event (a lost event loses them all; another hook's event still comes).
_LAUNCH_DELIVERIES = (DeliveryKind.ORIGINAL, DeliveryKind.DUPLICATE, DeliveryKind.CONCURRENT)


def _lost(
    config: DrillConfig, rng: random.Random, originals: list[_Draft], launches: list[Launch], pooled: set[str | None]
) -> list[_Draft]:
    """Hook launches without a fault or a warm-pool past whose event never arrives."""
    unfaulted = {launch.instance_id for launch in launches if launch.fault is None}
    candidates = [d for d in _hooked(originals) if d.instance_id in unfaulted and d.instance_id not in pooled]
    return rng.sample(candidates, min(len(candidates), round(config.lost_event_share * len(_hooked(originals)))))


def _launches(
    config: DrillConfig, rng: random.Random, first_number: int, groups: list[str]
) -> tuple[list[Launch], list[_Draft]]:
    """Each launch with its fault and its original delivery, spread over the burst."""
    n = config.launches
    faults: list[FaultKind | None] = [None] * n
    unassigned = rng.sample(range(n), n)
    for kind, count in fault_quotas(config):
        for index in unassigned[:count]:
            faults[index] = kind
        unassigned = unassigned[count:]
    announced_by_success = set(rng.sample(range(n), round(config.launch_successful_share * n)))
    launches, originals = [], []
    for index in range(n):
        instance, group = instance_id(first_number + index), rng.choice(groups)
        event = _launch_event(rng, instance, group, by_success=index in announced_by_success)
        launches.append(Launch(instance, group, str(event["detail-type"]), faults[index]))
        originals.append(_Draft(DeliveryKind.ORIGINAL, rng.uniform(0, config.burst_seconds), event, instance))
    return launches, originals


def _duplicates(config: DrillConfig, rng: random.Random, originals: list[_Draft]) -> list[_Draft]:
    duplicated = rng.sample(originals, round(config.faults.duplicate * len(originals)))
    concurrent = round(config.faults.concurrent_share * len(duplicated))
    # A later duplicate arrives before Lambda's first retry would: it may meet a live claim or a settled one.
    later_by = config.retry_delays[0] if config.retry_delays else config.function_timeout
    return [
        _Draft(DeliveryKind.CONCURRENT, original.offset, original.event, original.instance_id)
        if number < concurrent
        else _Draft(
            DeliveryKind.DUPLICATE, original.offset + rng.uniform(0.2, later_by), original.event, original.instance_id
        )
        for number, original in enumerate(duplicated)
    ]


def _hooked(originals: list[_Draft]) -> list[_Draft]:
    return [d for d in originals if d.event["detail-type"] == "EC2 Instance-launch Lifecycle Action"]


def _other_hooks(rng: random.Random, originals: list[_Draft], group: str) -> list[_Draft]:
    """Another hook on ``group`` pauses the same launches with its own action, token and event."""
    return [
        _Draft(
            DeliveryKind.OTHER_HOOK,
            original.offset + rng.uniform(0, 0.5),
            _with_detail(rng, original.event, LifecycleHookName=OTHER_HOOK, LifecycleActionToken=_uuid(rng)),
            original.instance_id,
        )
        for original in _hooked(originals)
        if original.event["detail"]["AutoScalingGroupName"] == group
    ]


def _warm_pool_entries(config: DrillConfig, rng: random.Random, originals: list[_Draft]) -> list[_Draft]:
    """Some launches came out of the warm pool: their entry into it (earlier, its own token) arrives first, and a
    late duplicate of that entry arrives after the launch into the group was dispatched."""
    hooked = _hooked(originals)
    drafts = []
    for original in rng.sample(hooked, round(config.warm_pool_share * len(hooked))):
        launched = datetime.fromisoformat(str(original.event["time"]).replace("Z", "+00:00")).timestamp()
        entry = _with_detail(rng, original.event, LifecycleActionToken=_uuid(rng), Origin="EC2", Destination="WarmPool")
        entry["time"] = at(launched - WARM_POOL_LEAD_SECONDS)
        drafts.append(
            _Draft(DeliveryKind.WARM_POOL_ENTRY, max(0.0, original.offset - 1.0), entry, original.instance_id)
        )
        late = config.burst_seconds + (config.retry_delays[-1] if config.retry_delays else config.function_timeout)
        drafts.append(_Draft(DeliveryKind.STALE, late + rng.uniform(0, 2), entry, original.instance_id))
    return drafts


def _with_detail(rng: random.Random, event: dict[str, Any], **detail: str) -> dict[str, Any]:
    """Another event about the same launch: its own ID, the detail changed as given."""
    return {**event, "id": _uuid(rng), "detail": {**event["detail"], **detail}}


def _malformed(config: DrillConfig, rng: random.Random, first_number: int, groups: list[str]) -> list[_Draft]:
    drafts = []
    for number in range(round(config.faults.malformed * config.launches)):
        make = _MALFORMED[number % len(_MALFORMED)]
        event, carried = make(rng, instance_id(first_number + number), rng.choice(groups))
        drafts.append(_Draft(DeliveryKind.MALFORMED, rng.uniform(0, config.burst_seconds), event, carried))
    return drafts


def _launch_event(rng: random.Random, instance: str, group: str, *, by_success: bool) -> dict[str, Any]:
    event_id = _uuid(rng)
    if by_success:
        return launch_successful(instance, group, activity_id=_uuid(rng), event_id=event_id)
    # Older events (and aws-lambda-go's samples) carry no Origin/Destination; both shapes must work.
    legacy = rng.random() < 0.2
    return lifecycle_action(
        instance,
        group,
        token=_uuid(rng),
        hook_name=LIFECYCLE_HOOK,
        event_id=event_id,
        origin=None if legacy else "EC2",
        destination=None if legacy else "AutoScalingGroup",
    )


def _without_instance_id(rng: random.Random, instance: str, group: str) -> tuple[dict[str, Any], str | None]:
    event = lifecycle_action(instance, group, token=_uuid(rng), event_id=_uuid(rng))
    del event["detail"]["EC2InstanceId"]
    return event, None


def _with_bad_instance_id(rng: random.Random, instance: str, group: str) -> tuple[dict[str, Any], str | None]:
    bad = instance.replace("i-", "i-zz", 1)  # not hexadecimal
    return lifecycle_action(bad, group, token=_uuid(rng), event_id=_uuid(rng)), bad


def _with_padded_instance_id(rng: random.Random, instance: str, group: str) -> tuple[dict[str, Any], str | None]:
    padded = f" {instance}\n"  # whitespace around a valid ID: must not reach the ledger as a different key
    return launch_successful(padded, group, activity_id=_uuid(rng), event_id=_uuid(rng)), padded


_MALFORMED: tuple[Callable[[random.Random, str, str], tuple[dict[str, Any], str | None]], ...] = (
    _without_instance_id,
    _with_bad_instance_id,
    _with_padded_instance_id,
)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
