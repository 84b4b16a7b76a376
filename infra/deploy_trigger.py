"""``DeployTrigger``: the whole service as one construct, for this app's stack or for any other CDK app.

In another app: build a :class:`~infra.config.DeployTriggerConfig` (``github_repository="my-org/my-app"``,
``github_workflow="deploy.yml"``, ``github_credentials_secret="deploy-trigger/github"``, defaults for the
rest) and add ``DeployTrigger(stack, "DeployTrigger", config=config)``. Apply
``infra.compliance.add_compliance_checks`` to the app to keep the cdk-nag checks.
"""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration, RemovalPolicy
from constructs import Construct

from infra.config import DeployTriggerConfig, RemovalChoice
from infra.constructs.bundling import DEFAULT_CACHE_ROOT, LAMBDA_SOURCE
from infra.constructs.credentials import GitHubCredentials
from infra.constructs.dead_letters import DeadLetterQueue
from infra.constructs.dispatcher import Dispatcher, dispatcher_environment
from infra.constructs.event_rule import LaunchEventRule
from infra.constructs.ledger import Ledger
from infra.constructs.monitoring import Monitoring


class DeployTrigger(Construct):
    """Auto Scaling launch events -> EventBridge -> dispatcher Lambda (+ ledger) -> GitHub workflow_dispatch.

    Attributes for extending it (a tracker, lifecycle hooks): ``ledger``, ``dispatcher``, ``credentials``,
    ``launch_events``, ``delivery_dead_letters``, ``failure_dead_letters``, ``monitoring``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployTriggerConfig,
        lambda_source: Path = LAMBDA_SOURCE,
        bundle_cache: Path = DEFAULT_CACHE_ROOT,
    ) -> None:
        super().__init__(scope, construct_id)
        removal_policy = (
            RemovalPolicy.DESTROY if config.removal_policy is RemovalChoice.DESTROY else RemovalPolicy.RETAIN
        )
        self.ledger = Ledger(self, "Ledger", removal_policy=removal_policy)
        self.credentials = GitHubCredentials(
            self,
            "GitHubCredentials",
            secret_reference=config.github_credentials_secret,
            kms_key_arn=config.github_credentials_kms_key_arn,
        )
        self.delivery_dead_letters = DeadLetterQueue(
            self,
            "DeliveryDeadLetters",
            purpose="events EventBridge could not deliver to the dispatcher",
            removal_policy=removal_policy,
        )
        self.failure_dead_letters = DeadLetterQueue(
            self,
            "FailureDeadLetters",
            purpose="events whose invocations failed or timed out after Lambda's retries, with the error",
            removal_policy=removal_policy,
        )
        self.dispatcher = Dispatcher(
            self,
            "Dispatcher",
            environment=dispatcher_environment(
                ledger_table_name=self.ledger.table.table_name,
                github_repository=config.github_repository,
                github_workflow=config.github_workflow,
                github_ref=config.github_ref,
                github_credentials_secret=config.github_credentials_secret,
                github_api_url=config.github_api_url,
                github_api_version=config.github_api_version,
                allowed_asg_names=config.asg_names,
                workflow_extra_inputs=config.workflow_extra_inputs,
            ),
            timeout=Duration.seconds(config.dispatcher_timeout_seconds),
            reserved_concurrency=config.reserved_concurrency,
            failure_queue=self.failure_dead_letters.queue,
            removal_policy=removal_policy,
            source_dir=lambda_source,
            bundle_cache=bundle_cache,
        )
        self.ledger.grant_dispatcher_access(self.dispatcher.function)
        self.credentials.grant_read(self.dispatcher.function)
        self.launch_events = LaunchEventRule(
            self,
            "LaunchEvents",
            detail_type=config.mode.detail_type,
            asg_names=config.asg_names,
            handler=self.dispatcher.function,
            dead_letter_queue=self.delivery_dead_letters.queue,
        )
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            dispatcher=self.dispatcher.function,
            dispatcher_timeout=self.dispatcher.timeout,
            dead_letter_queues={
                "DeliveryDeadLetters": self.delivery_dead_letters.queue,
                "FailureDeadLetters": self.failure_dead_letters.queue,
            },
            alarm_email=config.alarm_email,
            removal_policy=removal_policy,
        )
