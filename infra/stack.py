"""The deployable stack: reads the configuration from CDK context and composes ``DeployTrigger``.

Environment-agnostic on purpose (no account or region, no lookups): `cdk synth` runs offline with no
credentials, and `cdk deploy` targets whatever account and region the caller's credentials name.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from deploy_trigger import stack_outputs as keys
from infra.config import DeployTriggerConfig
from infra.deploy_trigger import DeployTrigger


class DeployTriggerStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config = DeployTriggerConfig.from_context(self.node)
        self.service = DeployTrigger(self, "DeployTrigger", config=config)

        service = self.service
        outputs = {
            keys.LEDGER_TABLE_NAME: service.ledger.table.table_name,
            keys.DISPATCHER_FUNCTION_NAME: service.dispatcher.function.function_name,
            keys.DELIVERY_DLQ_URL: service.delivery_dead_letters.queue.queue_url,
            keys.FAILURE_DLQ_URL: service.failure_dead_letters.queue.queue_url,
            keys.EVENT_RULE_NAME: service.launch_events.rule.rule_name,
            # The secret's ARN as the functions know it: for a secret given by name, a partial ARN (no random
            # suffix), which Secrets Manager accepts as a SecretId.
            keys.CREDENTIALS_SECRET_ARN: service.credentials.secret.secret_arn,
            keys.GITHUB_REPOSITORY: config.github_repository,
            keys.GITHUB_WORKFLOW: config.github_workflow,
            keys.GITHUB_REF: config.github_ref,
            keys.ALARM_TOPIC_ARN: service.alarm_topic.topic.topic_arn,
            keys.DASHBOARD_NAME: service.monitoring.dashboard.dashboard_name,
            keys.DRAINER_FUNCTION_NAME: service.drainer.function.function_name,
        }
        if service.tracker is not None:
            outputs[keys.TRACKER_FUNCTION_NAME] = service.tracker.function.function_name
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)
