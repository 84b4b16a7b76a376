"""The Auto Scaling lifecycle adapter: let an instance into service, have it replaced, or keep it waiting.

Calls go by instance ID (no token needed). Completing an action that already ended, because the workflow
completed it itself, or its heartbeat timeout passed, answers ``ValidationError: No active Lifecycle
Action found``: a terminal outcome, reported as such, never an error to retry forever.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger.errors import LifecycleUnavailable


class LifecycleResult(StrEnum):
    CONTINUE = "CONTINUE"  # the instance goes InService (and behind the load balancer)
    ABANDON = "ABANDON"  # the instance is terminated and the group launches a replacement


class LifecycleAnswer(StrEnum):
    DONE = "DONE"
    NO_ACTIVE_ACTION = "NO_ACTIVE_ACTION"  # already completed elsewhere, or timed out


class LifecycleActions:
    def __init__(self, client: Any) -> None:
        self._client = client

    def complete(self, asg_name: str, hook_name: str, instance_id: str, result: LifecycleResult) -> LifecycleAnswer:
        return self._call(
            "complete_lifecycle_action",
            AutoScalingGroupName=asg_name,
            LifecycleHookName=hook_name,
            InstanceId=instance_id,
            LifecycleActionResult=result.value,
        )

    def heartbeat(self, asg_name: str, hook_name: str, instance_id: str) -> LifecycleAnswer:
        return self._call(
            "record_lifecycle_action_heartbeat",
            AutoScalingGroupName=asg_name,
            LifecycleHookName=hook_name,
            InstanceId=instance_id,
        )

    def _call(self, operation: str, **arguments: str) -> LifecycleAnswer:
        try:
            getattr(self._client, operation)(**arguments)
        except ClientError as error:
            details = error.response.get("Error", {})
            if details.get("Code") == "ValidationError" and "No active Lifecycle Action" in details.get("Message", ""):
                return LifecycleAnswer.NO_ACTIVE_ACTION
            raise LifecycleUnavailable(f"{operation} failed: {details.get('Code')}: {details.get('Message')}") from None
        except BotoCoreError as error:
            raise LifecycleUnavailable(f"{operation} failed: {type(error).__name__}") from None
        return LifecycleAnswer.DONE
