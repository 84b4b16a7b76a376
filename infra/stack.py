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

        # The operator CLI (deploy_trigger_cli.stack_outputs) reads these by key: renaming one breaks it.
        service = self.service
        outputs = {
            "LedgerTableName": service.ledger.table.table_name,
            "DispatcherFunctionName": service.dispatcher.function.function_name,
            "DeliveryDlqUrl": service.delivery_dead_letters.queue.queue_url,
            "FailureDlqUrl": service.failure_dead_letters.queue.queue_url,
            "EventRuleName": service.launch_events.rule.rule_name,
            # The secret's ARN as the functions know it: for a secret given by name, a partial ARN (no random
            # suffix), which Secrets Manager accepts as a SecretId.
            "CredentialsSecretArn": service.credentials.secret.secret_arn,
            "GithubRepository": config.github_repository,
            "GithubWorkflow": config.github_workflow,
            "GithubRef": config.github_ref,
            "AlarmTopicArn": service.alarm_topic.topic.topic_arn,
            "DashboardName": service.monitoring.dashboard.dashboard_name,
        }
        if service.tracker is not None:
            outputs["TrackerFunctionName"] = service.tracker.function.function_name
        for key, value in outputs.items():
            CfnOutput(self, key, value=value)
