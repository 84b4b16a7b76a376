"""Auto Scaling events shaped like the ones EventBridge delivers, for the tests and the drill.

The shapes follow the EventBridge reference ("Amazon EC2 Auto Scaling events"); newer events carry
``Origin``/``Destination``, older ones do not, and both must work.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


def instance_id(number: int) -> str:
    """A valid, distinct instance ID for each number (17 hex digits, like current EC2 IDs)."""
    return f"i-{number:017x}"


def lifecycle_action(
    instance: str,
    asg_name: str = "web-asg",
    *,
    token: str | None = None,
    hook_name: str = "deploy-trigger-launch",
    destination: str | None = "AutoScalingGroup",
    origin: str | None = "EC2",
    event_id: str | None = None,
    metadata: Any = None,
    time: str | None = None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "LifecycleActionToken": token or str(uuid.uuid4()),
        "AutoScalingGroupName": asg_name,
        "LifecycleHookName": hook_name,
        "EC2InstanceId": instance,
        "LifecycleTransition": "autoscaling:EC2_INSTANCE_LAUNCHING",
    }
    if metadata is not None:
        detail["NotificationMetadata"] = metadata
    if origin:
        detail["Origin"] = origin
    if destination:
        detail["Destination"] = destination
    return _envelope("EC2 Instance-launch Lifecycle Action", asg_name, detail, event_id, [], time=time)


def launch_successful(
    instance: str,
    asg_name: str = "web-asg",
    *,
    activity_id: str | None = None,
    destination: str | None = "AutoScalingGroup",
    event_id: str | None = None,
    time: str | None = None,
) -> dict[str, Any]:
    activity = activity_id or str(uuid.uuid4())
    detail: dict[str, Any] = {
        "StatusCode": "InProgress",
        "Description": f"Launching a new EC2 instance: {instance}",
        "AutoScalingGroupName": asg_name,
        "ActivityId": activity,
        "Details": {"Availability Zone": "us-east-1b", "Subnet ID": "subnet-0123456789abcdef0"},
        "RequestId": activity,
        "StatusMessage": "",
        "EndTime": _now(),
        "EC2InstanceId": instance,
        "StartTime": _now(),
        "Cause": "At 2026-11-23T03:00:00Z an instance was started in response to a difference between desired "
        "and actual capacity, increasing the capacity from 2 to 3.",
    }
    if destination:
        detail["Origin"] = "EC2"
        detail["Destination"] = destination
    instance_arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}"
    return _envelope("EC2 Instance Launch Successful", asg_name, detail, event_id, [instance_arn], time=time)


def _envelope(
    detail_type: str,
    asg_name: str,
    detail: dict[str, Any],
    event_id: str | None,
    extra_resources: list[str],
    *,
    time: str | None = None,
) -> dict[str, Any]:
    asg_arn = f"arn:aws:autoscaling:{REGION}:{ACCOUNT}:autoScalingGroup:{uuid.uuid4()}:autoScalingGroupName/{asg_name}"
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": "aws.autoscaling",
        "account": ACCOUNT,
        "time": time or _now(),
        "region": REGION,
        "resources": [asg_arn, *extra_resources],
        "detail": detail,
    }


def at(epoch: float) -> str:
    """An event ``time`` for an epoch second (events carry whole seconds, sometimes milliseconds)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
