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

Launch-successful mode (no hook: an instance is ``InService`` before anything is deployed, so no state says "not
deployed yet") sweeps the same way, with what the mode has in place of the waiting state:

- **Candidates:** the configured groups' ``InService`` instances that the ledger has never seen, seen so for
  :data:`GRACE_SECONDS` (the same first-sighting memory and resends). The swept event is shaped like an
  ``EC2 Instance Launch Successful`` event, with no ``ActivityId``, the sweep's ``time`` and the same marker;
  ``events.parse_event`` keys it ``sweep:<instance_id>`` too, so the same rules hold: a second sweep is a duplicate, and
  the real event (keyed by its ActivityId, timed before the instance could be seen in service) is stale after it.
- **Only launches since the sweep began.** Every group also holds instances that were running before deploy-trigger
  was deployed, and those must never be deployed by it. The reference is the time of the table's first
  launch-successful sweep, recorded in the ledger itself (``Ledger.sweep_since``): one item under a key no instance ID
  can take, written by an UpdateItem that sets the time only if none is there (the first writer wins, and the answer
  carries the time kept, so no read; the tracker already may UpdateItem the table, so no new permission). It lives
  exactly as long as the table (backed up with it, no TTL), and needs no synth-time timestamp. An SSM parameter would
  be a second service and permission for one number, created at run time outside the stack, so it would outlive it.
  Every reader that scans the table keeps ``begins_with(instance_id, "i-")`` (``schema.INSTANCE_ITEMS``).
- **When an instance launched:** from ``ec2:DescribeInstances`` (by an ``instance-id`` filter, 100 a call, so an
  instance EC2 does not list yet is left for the next pass instead of failing the call), asked only for the
  instances due. It is the earlier of ``LaunchTime`` and the attach time of the primary network interface:
  ``LaunchTime`` moves to the last start (a pre-existing instance stopped and started in ``Standby`` would look new),
  the primary interface stays attached from the first. Only an instance launched more than :data:`GRACE_SECONDS`
  after the reference counts: the first sweep comes a minute or so after the deployment, and an instance launching
  just then is at the boundary, where the two clocks (EC2's, the tracker's) and LaunchTime's whole seconds decide;
  the margin puts that boundary where its event alone decides.
- **Not older than :data:`MAX_LAUNCH_AGE_SECONDS`** (a day): a lost event is found minutes after the launch, and
  ledger items expire 90 days after their last write, so an instance whose item expired must never look unseen. An
  instance judged too old (or launched before the reference) is remembered and not looked at again in this container.

Limits: an instance waiting on our hook whose ledger item exists (a warm-pool instance moving into the group
whose event was lost: its item is ``WARMED``) is not swept; its hook times out to the default result. A
``Pending:Wait`` instance of a group with our hook may be waiting on another hook only, ours having timed out
unseen; it is deployed anyway, and completing our action then answers "no active action", which the tracker
takes as terminal. In launch-successful mode, an instance launched into a warm pool before the reference and moved
into the group after it is never swept (its first launch was before), nor is an instance the ledger knows (a pooled
instance back in the group a second time).
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
    LAUNCH_SUCCESSFUL,
    LAUNCH_TRANSITION,
    LIFECYCLE_ACTION,
    OWN_PART,
    SOURCE,
)
from deploy_trigger.ledger.model import LedgerEntry

PENDING_WAIT = "Pending:Wait"
IN_SERVICE = "InService"
#: How long an instance must have been seen waiting, unknown to the ledger, before it is swept.
GRACE_SECONDS = 180.0
#: A swept launch the ledger still has not seen this long after it was sent is sent again.
RESEND_AFTER_SECONDS = 600.0
#: The sweep starts only with this much of the tracker's invocation left (it runs after the tracking pass).
SWEEP_RESERVE_SECONDS = 10.0
#: DescribeAutoScalingGroups takes at most this many names per call.
GROUP_NAMES_PER_CALL = 50
#: Launch-successful mode: an instance launched longer ago than this is never swept (ledger items expire after 90 days).
MAX_LAUNCH_AGE_SECONDS = 24 * 3600.0
#: Instance IDs per DescribeInstances call (the values of one ``instance-id`` filter).
INSTANCE_IDS_PER_CALL = 100


@dataclass(frozen=True)
class WaitingInstance:
    """An instance of a group in the state the sweep looks for (``Pending:Wait``, or ``InService``)."""

    instance_id: str
    asg_name: str


class GroupsPort(Protocol):
    def waiting_instances(self, group_names: frozenset[str]) -> list[WaitingInstance]: ...
    def has_launch_hook(self, asg_name: str, hook_name: str) -> bool: ...


class InServicePort(Protocol):
    def in_service_instances(self, group_names: frozenset[str]) -> list[WaitingInstance]: ...


class LedgerPort(Protocol):
    def known(self, instance_ids: Sequence[str]) -> Mapping[str, LedgerEntry]: ...


class SinceMarkerPort(Protocol):
    def sweep_since(self, now: float) -> float: ...


class LaunchTimesPort(Protocol):
    def launched_at(self, instance_ids: Sequence[str]) -> Mapping[str, float]: ...


class DispatcherPort(Protocol):
    def deliver(self, event: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class SweepConfig:
    hook_name: str
    #: The groups to look at; empty = every group (in lifecycle-hook mode, those with our hook are kept).
    group_names: frozenset[str]
    region: str
    grace_seconds: float = GRACE_SECONDS
    resend_after_seconds: float = RESEND_AFTER_SECONDS
    max_launch_age_seconds: float = MAX_LAUNCH_AGE_SECONDS


@dataclass(frozen=True)
class LaunchSuccessfulMode:
    """What the sweep needs in launch-successful mode: the groups' in-service instances, since when it looks (the
    ledger's marker), and when each instance launched (EC2)."""

    groups: InServicePort
    since: SinceMarkerPort
    launch_times: LaunchTimesPort


@dataclass
class SweepReport:
    waiting: int = 0
    #: Launch-successful mode: the in-service instances looked at (those judged too old before are not).
    in_service: int = 0
    #: Instances the ledger has never seen, and of those the ones still inside the grace period.
    unseen: int = 0
    in_grace: int = 0
    #: Launch-successful mode: instances due but launched before the sweep's reference (or too long ago): never sent.
    launched_before: int = 0
    #: Instances whose launch was handed to the dispatcher in this sweep.
    sent: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    skipped: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "waiting": self.waiting,
            "in_service": self.in_service,
            "unseen": self.unseen,
            "in_grace": self.in_grace,
            "launched_before": self.launched_before,
            "sent": self.sent,
            **dict(self.counts),
            **({"skipped": self.skipped} if self.skipped else {}),
        }


def swept_event(instance_id: str, asg_name: str, hook_name: str, region: str, now: float) -> dict[str, Any]:
    """The lifecycle-action event that never came, as the dispatcher parses it (``events.parse_event``)."""
    detail = {
        "AutoScalingGroupName": asg_name,
        "LifecycleHookName": hook_name,
        "EC2InstanceId": instance_id,
        "LifecycleTransition": LAUNCH_TRANSITION,
    }
    return _found_by_sweep(LIFECYCLE_ACTION, detail, region, now)


def swept_launch_successful_event(instance_id: str, asg_name: str, region: str, now: float) -> dict[str, Any]:
    """The ``EC2 Instance Launch Successful`` event that never came, as ``events.parse_event`` reads it: no ActivityId
    (the sweep knows none), so it is keyed ``sweep:<instance_id>``."""
    detail = {
        "AutoScalingGroupName": asg_name,
        "EC2InstanceId": instance_id,
        "StatusCode": "Successful",
        "Destination": "AutoScalingGroup",
    }
    return _found_by_sweep(LAUNCH_SUCCESSFUL, detail, region, now)


def _found_by_sweep(detail_type: str, detail: Mapping[str, str], region: str, now: float) -> dict[str, Any]:
    """An Auto Scaling event as EventBridge delivers it, at the sweep's time, marked as found by the sweep."""
    return {
        "version": "0",
        "id": f"sweep-{uuid.uuid4()}",
        "detail-type": detail_type,
        "source": SOURCE,
        "time": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [],
        "detail": dict(detail),
        OWN_PART: {FOUND_BY_SWEEP: True},
    }


class Sweeper:
    """One sweep per tracker pass; keeps what it saw between passes (the first sightings, the launches sent).

    With ``launch_successful``, it sweeps in launch-successful mode (in-service instances launched since its
    reference), otherwise in lifecycle-hook mode (instances waiting on our hook)."""

    def __init__(
        self,
        groups: GroupsPort,
        ledger: LedgerPort,
        dispatcher: DispatcherPort,
        config: SweepConfig,
        *,
        launch_successful: LaunchSuccessfulMode | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._groups = groups
        self._ledger = ledger
        self._dispatcher = dispatcher
        self._config = config
        self._launch_successful = launch_successful
        self._clock = clock
        self._first_seen: dict[str, float] = {}
        self._sent_at: dict[str, float] = {}
        #: Launch-successful mode: the reference, once read (it never changes), and the instances judged launched
        #: before it or too long ago (judged for good: a launch time only ever gets older).
        self._since: float | None = None
        self._launched_before: set[str] = set()

    def sweep(self, deadline: Deadline) -> SweepReport:
        report = SweepReport()
        if deadline.remaining() < SWEEP_RESERVE_SECONDS:
            report.skipped = "too little time left after the tracking pass"
            return report
        try:
            if self._launch_successful is not None:
                self._sweep_in_service(report, self._launch_successful)
            else:
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
        due = self._due(unseen, now, report)
        hooked: dict[str, bool] = {}
        for instance in due:
            if instance.asg_name not in hooked:
                hooked[instance.asg_name] = self._groups.has_launch_hook(instance.asg_name, self._config.hook_name)
            if not hooked[instance.asg_name]:
                continue
            event = swept_event(
                instance.instance_id, instance.asg_name, self._config.hook_name, self._config.region, now
            )
            self._send(instance, event, now, report)

    def _sweep_in_service(self, report: SweepReport, mode: LaunchSuccessfulMode) -> None:
        now = self._clock()
        if self._since is None:
            # Recorded on the first sweep, before anything is looked at: the instances in service now predate it.
            self._since = mode.since.sweep_since(now)
        in_service = mode.groups.in_service_instances(self._config.group_names)
        present = {instance.instance_id for instance in in_service}
        self._launched_before &= present  # an instance gone is forgotten
        looked_at = [instance for instance in in_service if instance.instance_id not in self._launched_before]
        report.in_service = len(looked_at)
        known = self._ledger.known([instance.instance_id for instance in looked_at]) if looked_at else {}
        unseen = [instance for instance in looked_at if instance.instance_id not in known]
        report.unseen = len(unseen)
        due = self._due(unseen, now, report)
        launched = mode.launch_times.launched_at([instance.instance_id for instance in due]) if due else {}
        earliest = self._since + self._config.grace_seconds
        for instance in due:
            launched_at = launched.get(instance.instance_id)
            if launched_at is None:
                continue  # EC2 does not list it (yet): the next pass asks again
            if launched_at <= earliest or now - launched_at > self._config.max_launch_age_seconds:
                self._launched_before.add(instance.instance_id)
                report.launched_before += 1
                continue
            event = swept_launch_successful_event(instance.instance_id, instance.asg_name, self._config.region, now)
            self._send(instance, event, now, report)

    def _due(self, unseen: Sequence[WaitingInstance], now: float, report: SweepReport) -> list[WaitingInstance]:
        """The unseen instances seen so for the grace period and not sent within the resend interval."""
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
        return due

    def _send(self, instance: WaitingInstance, event: Mapping[str, Any], now: float, report: SweepReport) -> None:
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
        return self._instances(group_names, PENDING_WAIT)

    def in_service_instances(self, group_names: frozenset[str]) -> list[WaitingInstance]:
        """Instances ``InService`` in the named groups, or in every group (launch-successful mode)."""
        return self._instances(group_names, IN_SERVICE)

    def _instances(self, group_names: frozenset[str], state: str) -> list[WaitingInstance]:
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
                        if instance.get("LifecycleState") == state
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


class LaunchTimes:
    """When each instance launched, from ``ec2:DescribeInstances``: the earlier of its ``LaunchTime`` (moved by every
    start) and its primary network interface's attach time (kept from the first launch)."""

    def __init__(self, client_source: Callable[[], Any]) -> None:
        self._client_source = client_source

    def launched_at(self, instance_ids: Sequence[str]) -> dict[str, float]:
        """By an ``instance-id`` filter rather than ``InstanceIds``, which fails the whole call for one ID EC2 does not
        know yet (eventually consistent): such an instance is simply missing from the answer."""
        unique = list(dict.fromkeys(instance_ids))
        launched: dict[str, float] = {}
        for start in range(0, len(unique), INSTANCE_IDS_PER_CALL):
            values = unique[start : start + INSTANCE_IDS_PER_CALL]
            token: str | None = None
            while True:
                page = self._call(
                    Filters=[{"Name": "instance-id", "Values": values}], **({"NextToken": token} if token else {})
                )
                for reservation in page.get("Reservations", []):
                    for instance in reservation.get("Instances", []):
                        times = [instance.get("LaunchTime")] + [
                            interface.get("Attachment", {}).get("AttachTime")
                            for interface in instance.get("NetworkInterfaces", [])
                            if interface.get("Attachment", {}).get("DeviceIndex") == 0
                        ]
                        known = [moment.timestamp() for moment in times if isinstance(moment, datetime)]
                        if known:
                            launched[str(instance["InstanceId"])] = min(known)
                token = page.get("NextToken")
                if not token:
                    break
        return launched

    def _call(self, **arguments: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = self._client_source().describe_instances(**arguments)
        except ClientError as error:
            details = error.response.get("Error", {})
            raise LifecycleUnavailable(
                f"describe_instances failed: {details.get('Code')}: {details.get('Message')}"
            ) from None
        except BotoCoreError as error:
            raise LifecycleUnavailable(f"describe_instances failed: {type(error).__name__}") from None
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
