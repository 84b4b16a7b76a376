"""The Auto Scaling lifecycle adapter: let an instance into service, have it replaced, or keep it waiting.

Calls go by instance ID (no token needed). Completing an action that already ended, because the workflow
completed it itself, or its heartbeat timeout passed, answers ``ValidationError: No active Lifecycle
Action found``: a terminal outcome, reported as such, never an error to retry forever.
"""

from __future__ import annotations

from collections.abc import Callable
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
    """Auto Scaling's lifecycle calls. The client is built on first use (``client_source``): the dispatcher
    needs one only for warm-pool entries, so a cold start that deploys does not pay for it."""

    def __init__(self, client_source: Callable[[], Any]) -> None:
        self._client_source = client_source

    def complete(
        self, asg_name: str, hook_name: str, instance_id: str, result: LifecycleResult, *, token: str | None = None
    ) -> LifecycleAnswer:
        """Complete our hook's action: by its token when known (that ends exactly this action and no later one),
        else by instance ID (whatever action of this hook is active for the instance now)."""
        return self._call(
            "complete_lifecycle_action",
            AutoScalingGroupName=asg_name,
            LifecycleHookName=hook_name,
            LifecycleActionResult=result.value,
            **_action(instance_id, token),
        )

    def heartbeat(
        self, asg_name: str, hook_name: str, instance_id: str, *, token: str | None = None
    ) -> LifecycleAnswer:
        return self._call(
            "record_lifecycle_action_heartbeat",
            AutoScalingGroupName=asg_name,
            LifecycleHookName=hook_name,
            **_action(instance_id, token),
        )

    def instance_state(self, instance_id: str) -> str | None:
        """The instance's lifecycle state in its group (``InService``, ``Terminating:Wait``...), or None when the
        group no longer has it (terminated and gone)."""
        try:
            answer = self._client_source().describe_auto_scaling_instances(InstanceIds=[instance_id])
        except ClientError as error:
            details = error.response.get("Error", {})
            raise LifecycleUnavailable(f"describe_auto_scaling_instances failed: {details.get('Code')}") from None
        except BotoCoreError as error:
            raise LifecycleUnavailable(f"describe_auto_scaling_instances failed: {type(error).__name__}") from None
        instances = answer.get("AutoScalingInstances", [])
        return str(instances[0].get("LifecycleState")) if instances else None

    def _call(self, operation: str, **arguments: str) -> LifecycleAnswer:
        try:
            getattr(self._client_source(), operation)(**arguments)
        except ClientError as error:
            details = error.response.get("Error", {})
            if details.get("Code") == "ValidationError" and "No active Lifecycle Action" in details.get("Message", ""):
                return LifecycleAnswer.NO_ACTIVE_ACTION
            raise LifecycleUnavailable(f"{operation} failed: {details.get('Code')}: {details.get('Message')}") from None
        except BotoCoreError as error:
            raise LifecycleUnavailable(f"{operation} failed: {type(error).__name__}") from None
        return LifecycleAnswer.DONE


def _action(instance_id: str, token: str | None) -> dict[str, str]:
    return {"LifecycleActionToken": token} if token else {"InstanceId": instance_id}
