"""Alerts a human acts on: failed, abandoned and stuck deployments, published to the SNS topic.

The message says which instance, which group, which run (with its URL) and how it ended, so whoever is
paged can open the run straight from the notification.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger import observability


@dataclass(frozen=True)
class DeploymentAlert:
    outcome: str  # "failed", "no run", "stuck"
    instance_id: str
    asg_name: str
    dispatch_id: str
    run_url: str | None
    conclusion: str | None
    lifecycle_result: str | None
    detail: str

    @property
    def subject(self) -> str:
        # SNS subjects: ASCII, at most 100 characters.
        return f"deploy-trigger: deploy {self.outcome} on {self.instance_id} ({self.asg_name})"[:100]


class Alerts:
    def __init__(self, client: Any, topic_arn: str) -> None:
        self._client = client
        self._topic_arn = topic_arn

    def publish(self, alert: DeploymentAlert) -> None:
        """Publish, or log when no topic is configured. A failed publish is logged, never raised: the
        ledger records the outcome and the metric alarms fire regardless."""
        observability.logger.error(alert.subject, extra={"alert": asdict(alert)})
        if not self._topic_arn:
            return
        try:
            self._client.publish(
                TopicArn=self._topic_arn,
                Subject=alert.subject,
                Message=json.dumps(asdict(alert), indent=2),
            )
        except (ClientError, BotoCoreError) as error:
            observability.logger.error("could not publish the alert", extra={"error": type(error).__name__})
