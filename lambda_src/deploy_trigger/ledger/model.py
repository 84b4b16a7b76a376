"""The ledger's model: each status with its meaning, the whole entry, and the state rules.

Each rule is written twice on purpose, side by side: as a predicate the Python code decides with, and as
the DynamoDB condition that makes the write that depends on it atomic (a rule of the README's
"Exactly once: the rules": every transition is a conditional write on the state it leaves). One
parametrized test runs both over every status, so the two can never disagree.

No botocore here: the dispatcher's algorithm, the tracker and the operator CLI import this module alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType


class Status(StrEnum):
    CLAIMED = "CLAIMED"
    DISPATCHED = "DISPATCHED"
    FAILED = "FAILED"
    RESET = "RESET"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    DEPLOY_FAILED = "DEPLOY_FAILED"
    WARMED = "WARMED"
    WAITING = "WAITING"

    @property
    def meaning(self) -> str:
        """What the status means to an operator, and who moves it on."""
        return _MEANINGS[self]


_MEANINGS: Mapping[Status, str] = MappingProxyType(
    {
        Status.CLAIMED: "An invocation holds the claim and may be calling GitHub; if its lease has expired, the "
        "next retry of the event takes over (and first looks for a run the earlier attempt may have started).",
        Status.DISPATCHED: "GitHub accepted the dispatch: the deployment workflow was started.",
        Status.FAILED: "GitHub rejected the dispatch for good; nothing more is sent for this launch until an "
        "operator fixes the cause and resets the entry.",
        Status.RESET: "An operator reset a rejected dispatch; the next event for this instance dispatches anew.",
        Status.RUNNING: "The workflow run is in progress.",
        Status.SUCCEEDED: "The workflow run succeeded (and the instance's lifecycle action was continued).",
        Status.DEPLOY_FAILED: "The run failed, never appeared or got stuck; the instance was abandoned and an "
        "alert sent.",
        Status.WARMED: "The instance entered the warm pool: its lifecycle action there was continued and nothing "
        "was deployed; its launch out of the pool into the group is deployed.",
        Status.WAITING: "Claimed, but GitHub's rate limit has no room for its dispatch yet: it waits in the ledger's "
        "queue, its lifecycle action heartbeaten, and the drainer dispatches it (once, in order) as budget returns.",
    }
)

#: Statuses the tracker follows: the item is in the tracking index.
TRACKED: tuple[Status, ...] = (Status.DISPATCHED, Status.RUNNING)
#: Statuses of a launch the drainer owns: parked for budget, or taken from the queue by a drainer (which may be
#: calling GitHub, or have died doing so: the item stays in the queue, due again when its lease ends).
QUEUED: tuple[Status, ...] = (Status.WAITING, Status.CLAIMED)
#: Statuses of a launch whose dispatch is settled: GitHub has its run, so the launch is never sent again.
SETTLED: tuple[Status, ...] = (*TRACKED, Status.SUCCEEDED, Status.DEPLOY_FAILED)


@dataclass(frozen=True)
class HistoryEvent:
    at: datetime | None
    event: str
    detail: str


@dataclass(frozen=True)
class LedgerEntry:
    """One instance's item, as the dispatcher, the tracker and the operator read it."""

    instance_id: str
    status: Status
    launch_key: str
    dispatch_id: str
    attempts: int = 0
    lease_owner: str | None = None
    lease_expires_at: float | None = None
    #: True while a POST for ``dispatch_id`` may have reached GitHub unconfirmed: a takeover reconciles first.
    post_unconfirmed: bool = False
    #: When ``dispatch_id`` was first claimed; no run for it can be older (the lower bound when listing runs).
    first_claimed_at: float = 0.0
    #: When Auto Scaling started this launch's action (the event's time): what tells a newer launch of the
    #: instance from a late duplicate of an earlier one. None on items written before it was recorded.
    launch_time: float | None = None
    asg_name: str = ""
    #: The event's region (the workflow's ``aws_region`` input); None on items written before it was recorded.
    region: str | None = None
    event_id: str | None = None
    detail_type: str | None = None
    lifecycle_hook_name: str | None = None
    #: A capability to complete the instance's lifecycle action: never shown or logged.
    lifecycle_action_token: str | None = field(default=None, repr=False)
    run_id: int | None = None
    run_url: str | None = None
    run_status: str | None = None
    conclusion: str | None = None
    head_sha: str | None = None
    deploy_outcome: str | None = None
    last_error: str | None = None
    failure_reason: str | None = None
    last_heartbeat_at: float | None = None
    #: When the item is next due in its tracking-index partition (a queued launch: when it may be tried).
    next_check_at: float | None = None
    #: The tracking-index partition the item is in (``schema.OPEN_DEPLOYMENTS``, ``UNCONFIRMED_OUTCOMES`` or
    #: ``WAITING_FOR_BUDGET``), None when it is in none.
    tracking: str | None = None
    lifecycle_intent: str | None = None
    lifecycle_result: str | None = None
    #: Batch mode: the dispatch ID of the batch (one run, one matrix job per instance) this launch is sent in, and
    #: its place in the batch's ``instances`` input. None while it is in no batch.
    batch_id: str | None = None
    batch_position: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    dispatched_at: datetime | None = None
    finished_at: datetime | None = None
    expires_at: float | None = None
    history: tuple[HistoryEvent, ...] = ()

    def lease_live(self, now: float) -> bool:
        return self.lease_expires_at is not None and self.lease_expires_at > now

    @property
    def run_dispatch_id(self) -> str:
        """The dispatch ID its run carries in its name: the batch's, for a launch sent in a batch."""
        return self.batch_id or self.dispatch_id


@dataclass(frozen=True)
class Claimed:
    """This invocation won the claim for a new launch."""

    entry: LedgerEntry


@dataclass(frozen=True)
class Existing:
    """The claim lost: the item as it stands (an earlier claim of this or another launch)."""

    entry: LedgerEntry


# -- conditions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A DynamoDB ConditionExpression and the constant values it names; the caller binds the rest."""

    expression: str
    values: Mapping[str, str] = field(default_factory=dict)

    def __and__(self, other: Condition) -> Condition:
        return Condition(f"({self.expression}) AND ({other.expression})", {**self.values, **other.values})

    def __or__(self, other: Condition) -> Condition:
        return Condition(f"({self.expression}) OR ({other.expression})", {**self.values, **other.values})


def status_is(*statuses: Status) -> Condition:
    """``#status = :status_x``, or ``#status IN (...)`` for several: generated, so any set of states fits."""
    placeholders = {f":status_{status.value.lower()}": status.value for status in statuses}
    names = ", ".join(placeholders)
    expression = f"#status = {names}" if len(placeholders) == 1 else f"#status IN ({names})"
    return Condition(expression, placeholders)


def status_is_not(status: Status) -> Condition:
    placeholder = f":status_{status.value.lower()}"
    return Condition(f"#status <> {placeholder}", {placeholder: status.value})


#: No item for the instance yet: its first launch.
IS_NEW = Condition("attribute_not_exists(instance_id)")


# -- the rules: each predicate with the condition that enforces it -----------------------------------------


def is_newer_launch(entry: LedgerEntry, launch_key: str, launch_time: float) -> bool:
    """Is this launch later than the one the item holds? Decided from the events' own times, never from "its key
    differs": a late duplicate of an earlier launch also carries another key. An item written before launch
    times were recorded takes any other key as newer, as it always did."""
    return launch_key != entry.launch_key and (entry.launch_time is None or entry.launch_time < launch_time)


#: Binds ``:launch_key`` and ``:launch_time`` (the arriving launch's).
IS_NEWER_LAUNCH = Condition(
    "launch_key <> :launch_key AND (attribute_not_exists(launch_time) OR launch_time < :launch_time)"
)


def may_claim_again(entry: LedgerEntry, launch_key: str, launch_time: float) -> bool:
    """May a launch claim an instance's existing item? The reset launch (or a newer one) after an operator reset,
    or a newer launch while no invocation is dispatching (a warm-pool instance moving into the group)."""
    if entry.status is Status.RESET:
        return launch_key == entry.launch_key or is_newer_launch(entry, launch_key, launch_time)
    return entry.status is not Status.CLAIMED and is_newer_launch(entry, launch_key, launch_time)


#: Binds ``:launch_key`` and ``:launch_time``.
MAY_CLAIM_AGAIN = (status_is(Status.RESET) & (Condition("launch_key = :launch_key") | IS_NEWER_LAUNCH)) | (
    status_is_not(Status.CLAIMED) & IS_NEWER_LAUNCH
)


def may_sweep_claim_again(entry: LedgerEntry, launch_key: str) -> bool:
    """May a launch the sweep found claim an existing item? Only its own launch after an operator reset. Any other
    item was written by an event that came after the sweep looked, maybe this very launch's own (late) event, whose
    claim may already have sent a POST: a swept launch is never newer than it, whatever the times say."""
    return entry.status is Status.RESET and entry.launch_key == launch_key


#: Binds ``:launch_key``.
MAY_SWEEP_CLAIM_AGAIN = status_is(Status.RESET) & Condition("launch_key = :launch_key")


def is_held(entry: LedgerEntry, owner: str, dispatch_id: str) -> bool:
    """Does this invocation still hold the claim on this dispatch? Only then may it record an outcome."""
    return entry.status is Status.CLAIMED and entry.lease_owner == owner and entry.dispatch_id == dispatch_id


#: Binds ``:held_by`` and ``:held_dispatch_id``.
IS_HELD = status_is(Status.CLAIMED) & Condition("lease_owner = :held_by AND dispatch_id = :held_dispatch_id")


def may_take_over(entry: LedgerEntry, seen: LedgerEntry) -> bool:
    """Is the claim still exactly the expired one this invocation read? Then it may take it over."""
    return (
        entry.status is Status.CLAIMED
        and entry.launch_key == seen.launch_key
        and entry.lease_owner == seen.lease_owner
        and entry.lease_expires_at == seen.lease_expires_at
    )


#: Binds ``:seen_launch_key``, ``:seen_owner`` and ``:seen_lease``.
MAY_TAKE_OVER = status_is(Status.CLAIMED) & Condition(
    "launch_key = :seen_launch_key AND lease_owner = :seen_owner AND lease_expires_at = :seen_lease"
)


def is_tracked(entry: LedgerEntry, dispatch_id: str) -> bool:
    """Is this dispatch still being followed by the tracker? A newer launch of the instance ends that."""
    return entry.status in TRACKED and entry.dispatch_id == dispatch_id


#: Binds ``:tracked_dispatch_id``.
IS_TRACKED = status_is(*TRACKED) & Condition("dispatch_id = :tracked_dispatch_id")


def may_reset(entry: LedgerEntry) -> bool:
    """Only a launch GitHub rejected is reset, by an operator, after fixing the cause."""
    return entry.status is Status.FAILED


MAY_RESET = status_is(Status.FAILED)


def is_settled(entry: LedgerEntry) -> bool:
    """GitHub has this launch's run: a redelivered event for it is a duplicate, never a second dispatch."""
    return entry.status in SETTLED


def is_warm_pool_entry(entry: LedgerEntry, launch_key: str) -> bool:
    """Is the item this warm-pool entry's record? Only then is its lifecycle result recorded on it."""
    return entry.status is Status.WARMED and entry.launch_key == launch_key


#: Binds ``:warm_launch_key``.
IS_WARM_POOL_ENTRY = status_is(Status.WARMED) & Condition("launch_key = :warm_launch_key")


def may_take_from_queue(entry: LedgerEntry, seen: LedgerEntry) -> bool:
    """Is the parked launch still exactly as the drainer read it (same dispatch, same attempt)? Then it may take it
    from the queue. (A drainer's expired claim in the queue is taken over like any claim: ``may_take_over``.)"""
    return entry.status is Status.WAITING and entry.dispatch_id == seen.dispatch_id and entry.attempts == seen.attempts


#: Binds ``:seen_dispatch_id`` and ``:seen_attempts``.
MAY_TAKE_FROM_QUEUE = status_is(Status.WAITING) & Condition(
    "dispatch_id = :seen_dispatch_id AND attempts = :seen_attempts"
)


def is_queued(entry: LedgerEntry, dispatch_id: str) -> bool:
    """Is this launch still in the queue (waiting, or taken by a drainer), under this dispatch? Only then is a
    heartbeat the tracker sent for it recorded on it."""
    return entry.status in QUEUED and entry.dispatch_id == dispatch_id


#: Binds ``:queued_dispatch_id``.
IS_QUEUED = status_is(*QUEUED) & Condition("dispatch_id = :queued_dispatch_id")


def may_join_batch(entry: LedgerEntry, seen: LedgerEntry) -> bool:
    """May the drainer take this queued launch into a new batch? Only as it read it (parked, or a drainer's expired
    claim of it) and only if it is in no batch yet: a launch is in one batch at most, so no two runs deploy it."""
    taken = may_take_from_queue(entry, seen) if seen.status is Status.WAITING else may_take_over(entry, seen)
    return taken and entry.batch_id is None


IN_NO_BATCH = Condition("attribute_not_exists(batch_id)")
#: Binds ``:seen_dispatch_id`` and ``:seen_attempts`` (a parked launch's); ``MAY_JOIN_BATCH_AFTER_DRAINER`` the
#: take-over's ``:seen_launch_key``, ``:seen_owner`` and ``:seen_lease`` (a drainer's expired claim).
MAY_JOIN_BATCH = MAY_TAKE_FROM_QUEUE & IN_NO_BATCH
MAY_JOIN_BATCH_AFTER_DRAINER = MAY_TAKE_OVER & IN_NO_BATCH


def is_in_batch(entry: LedgerEntry, batch_id: str) -> bool:
    """Is this launch still a member of this batch, its dispatch not yet recorded? Only then does the batch's
    holder record the batch's run (or its rejection, or its end) on it."""
    return entry.status is Status.CLAIMED and entry.batch_id == batch_id


#: Binds ``:batch_id``.
IS_IN_BATCH = status_is(Status.CLAIMED) & Condition("batch_id = :batch_id")
