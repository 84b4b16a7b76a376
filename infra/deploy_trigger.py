"""``DeployTrigger``: the whole service as one construct, for this app's stack or for any other CDK app.

In another app: build a :class:`~infra.config.DeployTriggerConfig` (``github_repository="my-org/my-app"``,
``github_workflow="deploy.yml"``, ``github_credentials_secret="deploy-trigger/github"``, defaults for the
rest) and add ``DeployTrigger(stack, "DeployTrigger", config=config)``. Apply
``infra.compliance.add_compliance_checks`` to the app to keep the cdk-nag checks. In lifecycle-hook mode,
give each of your groups the launch hook with ``deploy_trigger.add_launch_hook(group)`` (see
``infra.constructs.lifecycle_hook`` for why it must not be ``group.add_lifecycle_hook()``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from aws_cdk import Duration, RemovalPolicy, Stack, Token
from aws_cdk import aws_autoscaling as autoscaling
from constructs import Construct

from deploy_trigger.settings import GitHubTarget, Settings, TrackerSettings
from infra.config import ConfigurationError, DeployTriggerConfig, HookDefaultResult, RemovalChoice, TriggerMode
from infra.constructs.alarm_topic import AlarmTopic
from infra.constructs.bundling import DEFAULT_CACHE_ROOT, LAMBDA_SOURCE, dispatcher_code
from infra.constructs.credentials import GitHubCredentials
from infra.constructs.dead_letters import DeadLetterQueue
from infra.constructs.dispatcher import DispatcherFunction
from infra.constructs.drainer import RESERVED_CONCURRENCY as DRAINER_CONCURRENCY
from infra.constructs.drainer import DrainerFunction
from infra.constructs.event_rule import LaunchEventRule
from infra.constructs.ledger import LedgerTable
from infra.constructs.lifecycle_access import grant_lifecycle_actions
from infra.constructs.lifecycle_hook import AnyAutoScalingGroup, LaunchLifecycleHook
from infra.constructs.monitoring import Monitoring
from infra.constructs.service_function import ServiceFunction
from infra.constructs.tracker import RESERVED_CONCURRENCY as TRACKER_CONCURRENCY
from infra.constructs.tracker import TrackerFunction

#: The dispatcher's only Auto Scaling call: continuing a warm-pool entry's action (``dispatch._continue_warm_pool``).
WARM_POOL_ACTIONS = ("autoscaling:CompleteLifecycleAction",)


class DeployTrigger(Construct):
    """Auto Scaling launch events -> EventBridge -> dispatcher Lambda (+ ledger) -> GitHub workflow_dispatch,
    a drainer that sends the launches GitHub had no budget for at GitHub's pace, and a tracker that follows each
    deployment to its end and completes the instance's lifecycle action.

    Attributes: ``ledger``, ``drainer``, ``dispatcher``, ``credentials``, ``launch_events``,
    ``delivery_dead_letters``, ``failure_dead_letters``, ``alarm_topic``, ``tracker`` (None when
    ``tracker_enabled`` is off), ``monitoring``.
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
        self.config = config
        self.ledger = LedgerTable(self, "Ledger", removal_policy=removal_policy)
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
        # Construct IDs kept from when one "Monitoring" construct also made the topic: the topic keeps that ID,
        # and the alarms and dashboard sit in it as "Default", which CDK leaves out of logical IDs. A stack
        # deployed before keeps its topic, key, alarms and dashboard, and the topic its subscriptions.
        self.alarm_topic = AlarmTopic(self, "Monitoring", alarm_email=config.alarm_email, removal_policy=removal_policy)
        # One bundled asset for every function, built and uploaded once (an AssetCode binds its asset to the first
        # function's scope and reuses it after).
        code = dispatcher_code(
            runtime=ServiceFunction.RUNTIME,
            architecture=ServiceFunction.ARCHITECTURE,
            source_dir=lambda_source,
            cache_root=bundle_cache,
        )
        # The dispatcher's settings, which the drainer reads too: it sends the same launches to the same workflow.
        settings = Settings(
            ledger_table_name=self.ledger.table.table_name,
            github=self._github_target(),
            github_ref=config.github_ref,
            aws_region=Stack.of(self).region,
            allowed_asg_names=frozenset(config.asg_names),
            workflow_extra_inputs=config.workflow_extra_inputs,
            lifecycle_hook_name=config.lifecycle_hook_name,
            mutation_interval_seconds=config.github_mutation_interval_seconds,
            hook_global_timeout_seconds=config.queued_action_lifetime_seconds,
            # 0 with batch mode off, which writes no variable at all: the stack is what it was before the mode.
            batch_max_instances=config.dispatch_batch_max_instances,
        )
        self.drainer = DrainerFunction(
            self,
            "Drainer",
            code=code,
            settings=settings,
            # Like the tracker's single slot: an account that can reserve nothing cannot reserve this either; the
            # slot each dispatch takes on the budget item still keeps one pace, however many runs overlap.
            reserved_concurrency=DRAINER_CONCURRENCY if config.reserved_concurrency is not None else None,
            removal_policy=removal_policy,
        )
        # In batch mode the drainer keeps each batch's manifest in the ledger too; the dispatcher needs nothing new.
        self.ledger.grant_drainer_access(self.drainer.function, batches=config.batch_dispatch)
        self.credentials.grant_read(self.drainer.function)
        self.dispatcher = DispatcherFunction(
            self,
            "Dispatcher",
            code=code,
            settings=dataclasses.replace(settings, drainer_function_name=self.drainer.function.function_name),
            timeout=Duration.seconds(config.dispatcher_timeout_seconds),
            reserved_concurrency=config.reserved_concurrency,
            failure_queue=self.failure_dead_letters.queue,
            removal_policy=removal_policy,
            drainer=self.drainer.function,
        )
        self.ledger.grant_dispatcher_access(self.dispatcher.function, batches=config.batch_dispatch)
        self.credentials.grant_read(self.dispatcher.function)
        if config.mode is TriggerMode.LIFECYCLE_HOOK:
            # A launch into a warm pool pauses on our hook too; the dispatcher continues it at once.
            grant_lifecycle_actions(self.dispatcher.role, WARM_POOL_ACTIONS, config.asg_names, who="dispatcher")
        self.launch_events = LaunchEventRule(
            self,
            "LaunchEvents",
            detail_type=config.mode.detail_type,
            asg_names=config.asg_names,
            handler=self.dispatcher.function,
            dead_letter_queue=self.delivery_dead_letters.queue,
        )
        self.tracker = self._tracker(removal_policy) if config.tracker_enabled else None
        self.monitoring = Monitoring(
            self.alarm_topic,
            "Default",
            topic=self.alarm_topic.topic,
            dispatcher=self.dispatcher.function,
            dispatcher_timeout=self.dispatcher.timeout,
            dead_letter_queues={
                "DeliveryDeadLetters": self.delivery_dead_letters.queue,
                "FailureDeadLetters": self.failure_dead_letters.queue,
            },
            drainer=self.drainer.function,
            tracker=self.tracker.function if self.tracker is not None else None,
            crash_loop_abandon_threshold=config.crash_loop_abandon_threshold,
        )

    def _github_target(self) -> GitHubTarget:
        return GitHubTarget(
            repository=self.config.github_repository,
            workflow=self.config.github_workflow,
            credentials_secret=self.config.github_credentials_secret,
            api_url=self.config.github_api_url,
            api_version=self.config.github_api_version,
        )

    def _tracker(self, removal_policy: RemovalPolicy) -> TrackerFunction:
        config = self.config
        completes_lifecycle_actions = config.mode is TriggerMode.LIFECYCLE_HOOK
        tracker = TrackerFunction(
            self,
            "Tracker",
            code=self.dispatcher.code,
            settings=TrackerSettings(
                ledger_table_name=self.ledger.table.table_name,
                github=self._github_target(),
                aws_region=Stack.of(self).region,
                alert_topic_arn=self.alarm_topic.topic.topic_arn,
                run_appear_timeout_seconds=config.run_appear_timeout_seconds,
                heartbeat_interval_seconds=config.heartbeat_interval_seconds,
                max_deploy_seconds=config.max_deploy_seconds,
                # The sweep for lost launch events, in the shape of the mode's events.
                dispatcher_function_name=self.dispatcher.function.function_name,
                allowed_asg_names=frozenset(config.asg_names),
                lifecycle_hook_name=config.lifecycle_hook_name,
                launch_detail_type=config.mode.detail_type,
            ),
            alert_topic=self.alarm_topic.topic,
            asg_names=config.asg_names,
            completes_lifecycle_actions=completes_lifecycle_actions,
            sweep_dispatcher=self.dispatcher.function,
            # An account that cannot reserve any concurrency (quota 10, reservedConcurrency "unreserved")
            # cannot reserve the tracker's single slot either; there a pass that runs past the minute may
            # overlap the next one, which at worst repeats an alert.
            reserved_concurrency=TRACKER_CONCURRENCY if config.reserved_concurrency is not None else None,
            removal_policy=removal_policy,
        )
        self.ledger.grant_tracker_access(tracker.function, sweeps=True)
        self.credentials.grant_read(tracker.function)
        return tracker

    def add_launch_hook(
        self, group: AnyAutoScalingGroup, *, name: str | None = None
    ) -> autoscaling.CfnAutoScalingGroup.LifecycleHookSpecificationProperty:
        """Give ``group`` the launch hook, with the heartbeat timeout and default result of this config.

        Refused in launch-successful mode (nothing would complete the action: every instance would wait out
        the timeout, then take the default result), and for a group with a fixed name outside ``asgNames``
        (the dispatcher ignores its launches). See ``LaunchLifecycleHook.attach``.
        """
        if self.config.mode is not TriggerMode.LIFECYCLE_HOOK:
            raise ConfigurationError(
                f"add_launch_hook needs mode '{TriggerMode.LIFECYCLE_HOOK.value}'; in '{self.config.mode.value}' "
                "mode nothing handles the lifecycle action, so every launch would wait out the hook's timeout"
            )
        name = name or self.config.lifecycle_hook_name
        if name != self.config.lifecycle_hook_name:
            raise ConfigurationError(
                f"add_launch_hook name {name!r} is not lifecycleHookName ({self.config.lifecycle_hook_name!r}): the "
                "dispatcher acts only on the actions of lifecycleHookName, so this hook's would wait out its timeout"
            )
        group_name = _fixed_name(group)
        if self.config.asg_names and group_name not in self.config.asg_names:
            raise ConfigurationError(
                f"the group {group_name or '(with a generated name)'} is not in asgNames "
                f"({', '.join(self.config.asg_names)}): the dispatcher would ignore its launches and the tracker "
                "could not complete them. Name the group and add the name to asgNames."
            )
        return LaunchLifecycleHook.attach(
            group,
            name=name,
            heartbeat_timeout=Duration.seconds(self.config.lifecycle_hook_heartbeat_timeout_seconds),
            default_result=_DEFAULT_RESULTS[self.config.lifecycle_hook_default_result],
        )


_DEFAULT_RESULTS = {
    HookDefaultResult.ABANDON: autoscaling.DefaultResult.ABANDON,
    HookDefaultResult.CONTINUE: autoscaling.DefaultResult.CONTINUE,
}


def _fixed_name(group: AnyAutoScalingGroup) -> str | None:
    """The group's name when it is written in the template, else None (CloudFormation generates one)."""
    resource = group if isinstance(group, autoscaling.CfnAutoScalingGroup) else group.node.default_child
    name = getattr(resource, "auto_scaling_group_name", None)
    return name if isinstance(name, str) and not Token.is_unresolved(name) else None
