"""The sweep: launches whose event never came, found and handed to the dispatcher as if it had.

Auto Scaling sends its events best effort: rarely, none arrives, and the instance would wait in ``Pending:Wait``
until its hook times out to the default result (ABANDON: replaced, and its replacement may be lost too). Each
tracker pass therefore also asks Auto Scaling which instances of the configured groups wait in ``Pending:Wait``,
asks the ledger which of them it has never seen, and, once one has been seen waiting unseen for
:data:`GRACE_SECONDS`, sends the dispatcher the lifecycle-action event that should have come.

Decisions, and why:

- **Grace by first sighting, kept in memory.** ``DescribeAutoScalingGroups`` gives each instance's state but not
  since when. The sweeper remembers when it first saw each unseen waiting instance and sends only after
  :data:`GRACE_SECONDS` (3 minutes: EventBridge delivers in seconds, and the dispatcher's claim is its first call,
  so a launch whose event is merely in flight is in the ledger long before). No extra API call or permission (the
  scaling activities would need parsing their descriptions, EC2's launch time another service), and nothing to
  clean up. The memory lives in the warm tracker container (reserved concurrency 1, invoked every minute, so
  rarely recycled); a cold start forgets it, which only delays a sweep by one grace period. Correctness never
  depends on it: the ledger's rules make any number of sends of one launch one dispatch.
- **Delivery through the dispatcher function** (``lambda:InvokeFunction``, InvocationType ``Event``) rather than
  dispatching in the tracker: the swept launch gets the same retries, the same on-failure queue and alarms, the
  same reserved concurrency that keeps GitHub's rate limits, and the same logs and metrics as any launch; the
  tracker keeps its one-minute pass short and gains no write to GitHub. A launch sent is sent again only after
  :data:`RESEND_AFTER_SECONDS` if the ledger still has not seen it (its invocation was throttled, or lost).
- **The event:** a lifecycle action of our hook with no token (the dispatcher and the tracker then complete by
  instance ID), the sweep's ``time``, and ``"deploy-trigger": {"foundBySweep": true}``. ``events.parse_event`` keys
  it ``sweep:<instance_id>``, the same in every sweep, so a second send is a duplicate. A swept launch claims only
  an instance no event claimed (``ledger.model.may_sweep_claim_again``), and a real event that comes later is
  older than the sweep's time: stale. Either order, one dispatch.
- **Groups:** the allow-list (``ALLOWED_ASG_NAMES``), else every group of the account and region (paginated).
  Either way an instance is swept only if its group has our launch hook (``DescribeLifecycleHooks``, asked only
  for groups with an instance due, so a quiet pass costs one Auto Scaling call and one ledger read at most).

Limits: an instance waiting on our hook whose ledger item exists (a warm-pool instance moving into the group
whose event was lost: its item is ``WARMED``) is not swept; its hook times out to the default result. A
``Pending:Wait`` instance of a group with our hook may be waiting on another hook only, ours having timed out
unseen; it is deployed anyway, and completing our action then answers "no active action", which the tracker
takes as terminal. Launch-successful mode (no hook, no waiting state) has no sweep.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger import metric_names, observability
from deploy_trigger.deadline import Deadline
from deploy_trigger.errors import DispatcherUnreachable, LifecycleUnavailable, RetryLater
from deploy_trigger.events import (
    FOUND_BY_SWEEP,
    LAUNCH_TRANSITION,
    LIFECYCLE_ACTION,
    OWN_PART,
    SOURCE,
)
from deploy_trigger.ledger.model import LedgerEntry

PENDING_WAIT = "Pending:Wait"
#: How long an instance must have been seen waiting, unknown to the ledger, before it is swept.
GRACE_SECONDS = 180.0
#: A swept launch the ledger still has not seen this long after it was sent is sent again.
RESEND_AFTER_SECONDS = 600.0
#: The sweep starts only with this much of the tracker's invocation left (it runs after the tracking pass).
SWEEP_RESERVE_SECONDS = 10.0
#: DescribeAutoScalingGroups takes at most this many names per call.
GROUP_NAMES_PER_CALL = 50


@dataclass(frozen=True)
class WaitingInstance:
    instance_id: str
    asg_name: str


class GroupsPort(Protocol):
    def waiting_instances(self, group_names: frozenset[str]) -> list[WaitingInstance]: ...
    def has_launch_hook(self, asg_name: str, hook_name: str) -> bool: ...


class LedgerPort(Protocol):
    def known(self, instance_ids: Sequence[str]) -> Mapping[str, LedgerEntry]: ...


class DispatcherPort(Protocol):
    def deliver(self, event: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class SweepConfig:
    hook_name: str
    #: The groups to look at; empty = every group (those with our hook are kept).
    group_names: frozenset[str]
    region: str
    grace_seconds: float = GRACE_SECONDS
    resend_after_seconds: float = RESEND_AFTER_SECONDS


@dataclass
class SweepReport:
    waiting: int = 0
    #: Waiting instances the ledger has never seen, and of those the ones still inside the grace period.
    unseen: int = 0
    in_grace: int = 0
    #: Instances whose launch was handed to the dispatcher in this sweep.
    sent: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    skipped: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "waiting": self.waiting,
            "unseen": self.unseen,
            "in_grace": self.in_grace,
            "sent": self.sent,
            **dict(self.counts),
            **({"skipped": self.skipped} if self.skipped else {}),
        }


def swept_event(instance_id: str, asg_name: str, hook_name: str, region: str, now: float) -> dict[str, Any]:
    """The lifecycle-action event that never came, as the dispatcher parses it (``events.parse_event``)."""
    return {
        "version": "0",
        "id": f"sweep-{uuid.uuid4()}",
        "detail-type": LIFECYCLE_ACTION,
        "source": SOURCE,
        "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": {
            "AutoScalingGroupName": asg_name,
            "LifecycleHookName": hook_name,
            "EC2InstanceId": instance_id,
            "LifecycleTransition": LAUNCH_TRANSITION,
        },
        OWN_PART: {FOUND_BY_SWEEP: True},
    }


class Sweeper:
    """One sweep per tracker pass; keeps what it saw between passes (the first sightings, the launches sent)."""

    def __init__(
        self,
        groups: GroupsPort,
        ledger: LedgerPort,
        dispatcher: DispatcherPort,
        config: SweepConfig,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._groups = groups
        self._ledger = ledger
        self._dispatcher = dispatcher
        self._config = config
        self._clock = clock
        self._first_seen: dict[str, float] = {}
        self._sent_at: dict[str, float] = {}

    def sweep(self, deadline: Deadline) -> SweepReport:
        report = SweepReport()
        if deadline.remaining() < SWEEP_RESERVE_SECONDS:
            report.skipped = "too little time left after the tracking pass"
            return report
        try:
            self._sweep(report)
        except RetryLater as error:
            # Counted with the tracker's errors: a sweep failing for 15 minutes (a missing permission, say) pages.
            report.counts[metric_names.TRACKER_ERRORS] += 1
            observability.logger.warning("sweep failed; the next pass sweeps again", extra={"error": str(error)})
        return report

    def _sweep(self, report: SweepReport) -> None:
        waiting = self._groups.waiting_instances(self._config.group_names)
        report.waiting = len(waiting)
        known = self._ledger.known([instance.instance_id for instance in waiting]) if waiting else {}
        unseen = [instance for instance in waiting if instance.instance_id not in known]
        report.unseen = len(unseen)
        now = self._clock()
        self._forget_all_but(instance.instance_id for instance in unseen)
        due = []
        for instance in unseen:
            first_seen = self._first_seen.setdefault(instance.instance_id, now)
            if now - first_seen < self._config.grace_seconds:
                report.in_grace += 1
                continue
            sent_at = self._sent_at.get(instance.instance_id)
            if sent_at is None or now - sent_at >= self._config.resend_after_seconds:
                due.append(instance)
        hooked: dict[str, bool] = {}
        for instance in due:
            if instance.asg_name not in hooked:
                hooked[instance.asg_name] = self._groups.has_launch_hook(instance.asg_name, self._config.hook_name)
            if not hooked[instance.asg_name]:
                continue
            event = swept_event(
                instance.instance_id, instance.asg_name, self._config.hook_name, self._config.region, now
            )
            self._dispatcher.deliver(event)
            self._sent_at[instance.instance_id] = now
            report.sent.append(instance.instance_id)
            observability.logger.warning(
                "launch event never came: handed to the dispatcher by the sweep",
                extra={"instance_id": instance.instance_id, "asg_name": instance.asg_name, "event_id": event["id"]},
            )

    def _forget_all_but(self, unseen: Iterable[str]) -> None:
        """Keep memory only of instances still waiting unseen: the rest were claimed, went on, or are gone."""
        keep = set(unseen)
        for memory in (self._first_seen, self._sent_at):
            for instance_id in [i for i in memory if i not in keep]:
                del memory[instance_id]


class AutoScalingGroups:
    """The sweep's Auto Scaling reads; the client is built on first use, like ``lifecycle.LifecycleActions``."""

    def __init__(self, client_source: Callable[[], Any]) -> None:
        self._client_source = client_source

    def waiting_instances(self, group_names: frozenset[str]) -> list[WaitingInstance]:
        """Instances in ``Pending:Wait`` in the named groups, or in every group when none is named (paginated).
        A group's ``Instances`` never include its warm pool, so a pooled instance is never mistaken for one."""
        names = sorted(group_names)
        batches: list[dict[str, Any]] = (
            [
                {"AutoScalingGroupNames": names[i : i + GROUP_NAMES_PER_CALL]}
                for i in range(0, len(names), GROUP_NAMES_PER_CALL)
            ]
            if names
            else [{}]
        )
        waiting = []
        for arguments in batches:
            token: str | None = None
            while True:
                page = self._call(
                    "describe_auto_scaling_groups", **arguments, **({"NextToken": token} if token else {})
                )
                for group in page.get("AutoScalingGroups", []):
                    waiting += [
                        WaitingInstance(str(instance["InstanceId"]), str(group["AutoScalingGroupName"]))
                        for instance in group.get("Instances", [])
                        if instance.get("LifecycleState") == PENDING_WAIT
                    ]
                token = page.get("NextToken")
                if not token:
                    break
        return waiting

    def has_launch_hook(self, asg_name: str, hook_name: str) -> bool:
        answer = self._call("describe_lifecycle_hooks", AutoScalingGroupName=asg_name, LifecycleHookNames=[hook_name])
        return any(
            hook.get("LifecycleHookName") == hook_name and hook.get("LifecycleTransition") == LAUNCH_TRANSITION
            for hook in answer.get("LifecycleHooks", [])
        )

    def _call(self, operation: str, **arguments: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self._client_source(), operation)(**arguments)
        except ClientError as error:
            details = error.response.get("Error", {})
            raise LifecycleUnavailable(f"{operation} failed: {details.get('Code')}: {details.get('Message')}") from None
        except BotoCoreError as error:
            raise LifecycleUnavailable(f"{operation} failed: {type(error).__name__}") from None
        return answer


class DispatcherFunction:
    """Hands an event to the dispatcher function as EventBridge does: an asynchronous invocation, so it gets the
    function's retries, on-failure queue and reserved concurrency."""

    def __init__(self, client_source: Callable[[], Any], function_name: str) -> None:
        self._client_source = client_source
        self._function_name = function_name

    def deliver(self, event: Mapping[str, Any]) -> None:
        try:
            answer = self._client_source().invoke(
                FunctionName=self._function_name, InvocationType="Event", Payload=json.dumps(event).encode()
            )
        except ClientError as error:
            details = error.response.get("Error", {})
            raise DispatcherUnreachable(f"invoke failed: {details.get('Code')}: {details.get('Message')}") from None
        except BotoCoreError as error:
            raise DispatcherUnreachable(f"invoke failed: {type(error).__name__}") from None
        if answer.get("StatusCode") != 202:  # 202: queued for an asynchronous invocation
            raise DispatcherUnreachable(f"invoke answered {answer.get('StatusCode')}, not 202")
