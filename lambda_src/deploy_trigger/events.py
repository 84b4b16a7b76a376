"""Auto Scaling events -> an :class:`InstanceLaunch` to deploy, :class:`Ignored`, or :class:`MalformedEvent`.

A small typed model with explicit checks rather than Powertools' pydantic parser: the pydantic import
alone costs more cold start (~170-300 ms measured here) than this whole module, and the validation the
service needs is a handful of rules. Real events vary (``Origin``/``Destination`` only in newer events,
``time`` with or without milliseconds, ``NotificationMetadata`` a string or an object), so only the
fields the dispatch depends on are required.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deploy_trigger.errors import MalformedEvent

SOURCE = "aws.autoscaling"
LIFECYCLE_ACTION = "EC2 Instance-launch Lifecycle Action"
LAUNCH_SUCCESSFUL = "EC2 Instance Launch Successful"
LAUNCH_TRANSITION = "autoscaling:EC2_INSTANCE_LAUNCHING"
WARM_POOL = "WarmPool"
#: The key of deploy-trigger's own part of an event: ``{"foundBySweep": true}`` marks a launch event the tracker's
#: sweep synthesized for an instance whose event never came (``deploy_trigger.sweep``). Auto Scaling never sends it.
OWN_PART = "deploy-trigger"
FOUND_BY_SWEEP = "foundBySweep"

#: An EC2 instance ID, matched whole (no surrounding whitespace); the CLI checks its arguments with it too.
INSTANCE_ID = re.compile(r"i-[0-9a-f]{8,17}")
#: Longer than any real value (ASG and hook names: 255, tokens: 36); bounds what reaches the ledger.
_MAX_FIELD_LENGTH = 1024


@dataclass(frozen=True)
class InstanceLaunch:
    instance_id: str
    asg_name: str
    #: Identifies this launch of the instance: the lifecycle action token, or the scaling activity ID.
    #: A warm-pool instance launches again with a new key; a duplicate delivery carries the same one.
    launch_key: str
    event_id: str
    detail_type: str
    region: str | None = None
    lifecycle_hook_name: str | None = None
    lifecycle_action_token: str | None = None
    notification_metadata: str | None = None
    #: When Auto Scaling started this action (the event's ``time``, epoch seconds): of two launches of one
    #: instance, the later one is the newer launch, whichever event arrives last.
    time: float | None = None
    #: A launch hook's action for an instance entering the warm pool: continued, never deployed.
    into_warm_pool: bool = False
    #: Synthesized by the sweep for an instance the ledger had never seen (a lifecycle action in lifecycle-hook mode, a
    #: launch-successful event in launch-successful mode): no token or activity ID (an action is completed by
    #: instance ID), the sweep's time, and launch key ``sweep:<instance_id>``. It claims only an instance no event
    #: claimed (``ledger.model.may_sweep_claim_again``): a real event that came first always wins.
    found_by_sweep: bool = False

    def started_at(self, now: float) -> float:
        """The launch's own time; one built without it (never a parsed event) counts as happening ``now``."""
        return self.time if self.time is not None else now


@dataclass(frozen=True)
class Ignored:
    reason: str


def parse_event(
    event: object, allowed_asg_names: frozenset[str] = frozenset(), lifecycle_hook_name: str | None = None
) -> InstanceLaunch | Ignored:
    """Classify one EventBridge event; raise :class:`MalformedEvent` for a launch that cannot be trusted.

    With ``lifecycle_hook_name``, a lifecycle action of any other hook is ignored: a group may have several
    launch hooks (a bootstrap hook, another tool's), each sending its own event, and only ours is ours.
    """
    if not isinstance(event, Mapping):
        raise MalformedEvent(f"event must be a JSON object, got {type(event).__name__}")
    source, detail_type = event.get("source"), event.get("detail-type")
    if source != SOURCE:
        return Ignored(f"source {_shown(source)} is not {SOURCE}")
    if detail_type not in (LIFECYCLE_ACTION, LAUNCH_SUCCESSFUL):
        return Ignored(f"detail-type {_shown(detail_type)} is not an instance launch")
    detail = event.get("detail")
    if not isinstance(detail, Mapping) or not detail:
        raise MalformedEvent(f"{detail_type} event has no detail object")

    instance_id = _text(detail, "EC2InstanceId")
    if not INSTANCE_ID.fullmatch(instance_id):
        raise MalformedEvent(f"EC2InstanceId {_shown(instance_id)} does not match ^{INSTANCE_ID.pattern}$")
    asg_name = _text(detail, "AutoScalingGroupName")
    if not asg_name.strip():
        raise MalformedEvent("detail.AutoScalingGroupName is missing")

    found_by_sweep = _found_by_sweep(event)
    if detail_type == LIFECYCLE_ACTION:
        action = _lifecycle_action(detail, lifecycle_hook_name, found_by_sweep=found_by_sweep)
        if isinstance(action, Ignored):
            return action
        token, hook_name = action
        # An instance ID launches into a group once (a warm-pool return is a new action, but its instance is then
        # known to the ledger, so never swept): one key for every sweep of it, and every sweep is a duplicate.
        launch_key = f"sweep:{instance_id}" if found_by_sweep else token
    else:
        token, hook_name = "", ""
        launch_key = _launch_successful_key(detail, instance_id, found_by_sweep=found_by_sweep)

    into_warm_pool = detail.get("Destination") == WARM_POOL
    if into_warm_pool and detail_type == LAUNCH_SUCCESSFUL:
        return Ignored("launch into the warm pool; the instance is deployed when it moves into the group")
    if allowed_asg_names and asg_name not in allowed_asg_names:
        return Ignored(f"Auto Scaling group {asg_name!r} is not in ALLOWED_ASG_NAMES")

    return InstanceLaunch(
        instance_id=instance_id,
        asg_name=asg_name,
        launch_key=launch_key,
        event_id=_optional_text(event, "id") or "",
        detail_type=detail_type,
        region=_optional_text(event, "region"),
        lifecycle_hook_name=hook_name or None,
        lifecycle_action_token=token or None,
        notification_metadata=_metadata(detail.get("NotificationMetadata")),
        time=_event_time(event),
        into_warm_pool=into_warm_pool,
        found_by_sweep=found_by_sweep,
    )


def _text(detail: Mapping[str, Any], key: str) -> str:
    value = detail.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedEvent(f"detail.{key} must be a string, got {type(value).__name__}")
    if len(value) > _MAX_FIELD_LENGTH:
        raise MalformedEvent(f"detail.{key} is {len(value)} characters long")
    return value


def _optional_text(event: Mapping[str, Any], key: str) -> str | None:
    value = event.get(key)
    return value[:_MAX_FIELD_LENGTH] if isinstance(value, str) and value else None


def _lifecycle_action(
    detail: Mapping[str, Any], ours: str | None, *, found_by_sweep: bool = False
) -> tuple[str, str] | Ignored:
    """The action's token and hook name, or why it is not a launch action of our hook. A swept action has no
    token (nothing but the lost event carried it)."""
    transition = detail.get("LifecycleTransition")
    if transition is not None and transition != LAUNCH_TRANSITION:
        return Ignored(f"lifecycle transition {_shown(transition)} is not a launch")
    token, hook_name = _text(detail, "LifecycleActionToken"), _text(detail, "LifecycleHookName")
    if found_by_sweep:
        if token or not hook_name.strip():
            raise MalformedEvent("a swept lifecycle action names its hook and carries no LifecycleActionToken")
    elif not token.strip() or not hook_name.strip():
        raise MalformedEvent("lifecycle action without LifecycleActionToken or LifecycleHookName")
    if ours and hook_name != ours:
        return Ignored(f"lifecycle hook {_shown(hook_name)} is not {ours!r}, the one deploy-trigger owns")
    return token, hook_name


def _launch_successful_key(detail: Mapping[str, Any], instance_id: str, *, found_by_sweep: bool) -> str:
    activity = _text(detail, "ActivityId").strip()
    if found_by_sweep:
        # The sweep knows no activity (nothing but the lost event carried it): the same key in every sweep.
        if activity:
            raise MalformedEvent("a swept launch carries no ActivityId")
        return f"sweep:{instance_id}"
    # Every scaling activity has its own ID; without one, the instance ID itself keys the launch.
    return activity or f"launch:{instance_id}"


def _found_by_sweep(event: Mapping[str, Any]) -> bool:
    own = event.get(OWN_PART)
    if own is None:
        return False
    if not isinstance(own, Mapping) or own.get(FOUND_BY_SWEEP) not in (True, False):
        raise MalformedEvent(f"{OWN_PART} must be an object with a boolean {FOUND_BY_SWEEP}, got {_shown(own)}")
    return own[FOUND_BY_SWEEP] is True


def _event_time(event: Mapping[str, Any]) -> float:
    """The event's ``time`` (with or without milliseconds) as epoch seconds; a launch without one is refused,
    because telling a newer launch from a late duplicate of an earlier one depends on it."""
    value = event.get("time")
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MalformedEvent(f"time {_shown(value)} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise MalformedEvent(f"time {_shown(value)} has no time zone")
    return moment.timestamp()


def _metadata(value: object) -> str | None:
    """NotificationMetadata arrives as a string, or as the object that string encodes."""
    if value is None or value == "":
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text[:_MAX_FIELD_LENGTH]


def _shown(value: object) -> str:
    """A short, safe rendering of a value from an untrusted event, for error messages and logs."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
