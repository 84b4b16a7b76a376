"""The deployable stack: reads the configuration from CDK context and composes ``DeployTrigger``.

Environment-agnostic on purpose (no account or region, no lookups): `cdk synth` runs offline with no
credentials, and `cdk deploy` targets whatever account and region the caller's credentials name.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack
from constructs import Construct

from infra.config import DeployTriggerConfig
from infra.deploy_trigger import DeployTrigger


class DeployTriggerStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        config = DeployTriggerConfig.from_context(self.node)
        self.service = DeployTrigger(self, "DeployTrigger", config=config)

        # What an operator looks for first.
        CfnOutput(self, "LedgerTableName", value=self.service.ledger.table.table_name)
        CfnOutput(self, "DispatcherFunctionName", value=self.service.dispatcher.function.function_name)
        CfnOutput(self, "DeliveryDeadLetterQueueUrl", value=self.service.delivery_dead_letters.queue.queue_url)
        CfnOutput(self, "FailureDeadLetterQueueUrl", value=self.service.failure_dead_letters.queue.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=self.service.monitoring.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=self.service.monitoring.dashboard.dashboard_name)
