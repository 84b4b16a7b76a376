"""Builds the dispatcher once per container, lazily: settings, AWS clients and the GitHub client.

A factory rather than module-level clients, so importing the handler costs only imports, tests can
inject moto-backed or fake collaborators without import-order tricks, and a bad setting fails on the
container's first event with a message naming it. On Lambda, :func:`prepare_container` builds the two AWS clients
every function here uses during the container's init phase (see there).
"""

from __future__ import annotations

import os
from functools import cache
from typing import TYPE_CHECKING, Any

import botocore.session
from botocore.config import Config

from deploy_trigger.dispatch import DispatchConfig, Dispatcher
from deploy_trigger.github_auth import SecretCredentials, SecretReader
from deploy_trigger.github_budget import BudgetGate
from deploy_trigger.github_client import GitHubClient
from deploy_trigger.ledger.budget_item import BudgetItem
from deploy_trigger.ledger.table import Ledger
from deploy_trigger.lifecycle import LifecycleActions
from deploy_trigger.settings import GitHubTarget, Settings, TrackerSettings

if TYPE_CHECKING:
    # The drainer's, tracker's and sweep's modules are imported by their factories: the three functions share this
    # package, and a dispatcher's cold start need not load (or, on Lambda, compile) the other two's code.
    from deploy_trigger.batching import BatchSender
    from deploy_trigger.drain import Drainer, DrainerFunction
    from deploy_trigger.sweep import Sweeper
    from deploy_trigger.tracking import Tracker

#: DynamoDB answers in milliseconds; short timeouts and few retries keep a ledger write inside the
#: reserve the deadline keeps for it (deadline.RESERVE_SECONDS) even when DynamoDB misbehaves.
_DYNAMODB_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 2})


@cache
def settings() -> Settings:
    return Settings.from_env(os.environ)


@cache
def tracker_settings() -> TrackerSettings:
    return TrackerSettings.from_env(os.environ)


@cache
def aws_session() -> Any:
    """The container's one botocore session: its clients share the endpoint and service data it loads once.

    botocore rather than boto3: boto3 adds resources and S3's transfer manager, which nothing here uses, and
    importing it costs a cold start 13 ms more than importing botocore's session (bench/cold_path.py). botocore
    reads the same environment (region, credentials, ``AWS_ENDPOINT_URL``, which is how the tests and the local
    drill reach moto server).
    """
    return botocore.session.get_session()


@cache
def dynamodb_client() -> Any:
    return aws_session().create_client("dynamodb", config=_DYNAMODB_CONFIG)


@cache
def autoscaling_client() -> Any:
    return aws_session().create_client("autoscaling")


@cache
def secretsmanager_client() -> Any:
    return aws_session().create_client("secretsmanager")


@cache
def secret_reader() -> SecretReader:
    """The container's one cache of the credentials secret, whichever functions' GitHub clients read it."""
    return SecretReader(secretsmanager_client)


@cache
def dispatcher() -> Dispatcher:
    config = settings()
    ledger = Ledger(dynamodb_client(), config.ledger_table_name)
    github = _github(config.github)
    dispatch = _dispatch_config(config)
    return Dispatcher(
        ledger,
        github,
        dispatch,
        lifecycle=LifecycleActions(autoscaling_client),
        budget=BudgetGate(
            BudgetItem(dynamodb_client(), config.ledger_table_name), interval=config.mutation_interval_seconds
        ),
        drainer=_DrainerOnFirstWake(config.drainer_function_name) if config.drainer_function_name else None,
        batches=_batches(ledger, github, dispatch) if dispatch.batched else None,
    )


def _batches(ledger: Ledger, github: GitHubClient, dispatch: DispatchConfig) -> BatchSender:
    """Batch mode's sender: the dispatcher's for a quiet period's launch, the drainer's for the rest."""
    from deploy_trigger.batching import BatchSender
    from deploy_trigger.ledger.batch_item import BatchItems

    return BatchSender(ledger, BatchItems(dynamodb_client(), settings().ledger_table_name), github, dispatch)


class _DrainerOnFirstWake:
    """The dispatcher's way to wake the drainer function, built the first time a launch is parked: only a container
    that met GitHub's limits needs the drainer's module (``deploy_trigger.drain``)."""

    def __init__(self, function_name: str) -> None:
        self._function_name = function_name
        self._function: DrainerFunction | None = None

    def wake(self) -> None:
        if self._function is None:
            from deploy_trigger.drain import DrainerFunction

            self._function = DrainerFunction(lambda_client, self._function_name)
        self._function.wake()


@cache
def drainer() -> Drainer:
    """The drainer function's: the dispatcher's settings (same ledger, workflow and credential), its own pace."""
    from deploy_trigger.drain import DrainConfig, Drainer

    config = settings()
    ledger = Ledger(dynamodb_client(), config.ledger_table_name)
    github = _github(config.github)
    dispatch = _dispatch_config(config)
    batches = _batches(ledger, github, dispatch) if dispatch.batched else None
    return Drainer(
        ledger,
        BudgetItem(dynamodb_client(), config.ledger_table_name),
        github,
        DrainConfig(
            dispatch=dispatch,
            mutation_interval_seconds=config.mutation_interval_seconds,
            hook_global_timeout_seconds=config.hook_global_timeout_seconds,
        ),
        batches=batches,
    )


def _dispatch_config(config: Settings) -> DispatchConfig:
    return DispatchConfig(
        ref=config.github_ref,
        aws_region=config.aws_region,
        extra_inputs=config.workflow_extra_inputs,
        lease_margin_seconds=config.lease_margin_seconds,
        run_listing_delay_seconds=config.run_listing_delay_seconds,
        batch_max_instances=config.batch_max_instances,
    )


@cache
def tracker() -> Tracker:
    from deploy_trigger.alerts import Alerts
    from deploy_trigger.tracking import Tracker, TrackerConfig

    config = tracker_settings()
    return Tracker(
        Ledger(dynamodb_client(), config.ledger_table_name),
        _github(config.github),
        LifecycleActions(autoscaling_client),
        Alerts(aws_session().create_client("sns"), config.alert_topic_arn),
        TrackerConfig(
            run_appear_timeout=config.run_appear_timeout_seconds,
            heartbeat_interval=config.heartbeat_interval_seconds,
            max_deploy=config.max_deploy_seconds,
            check_interval=config.check_interval_seconds,
        ),
    )


@cache
def sweeper() -> Sweeper | None:
    """The tracker's sweep for launches whose event never came; None when no dispatcher is configured for it.
    Cached like the rest: the sweeper remembers its first sightings across the container's passes."""
    from deploy_trigger.events import LAUNCH_SUCCESSFUL
    from deploy_trigger.sweep import (
        AutoScalingGroups,
        DispatcherFunction,
        LaunchSuccessfulMode,
        LaunchTimes,
        SweepConfig,
        Sweeper,
    )

    config = tracker_settings()
    if not config.dispatcher_function_name:
        return None
    groups = AutoScalingGroups(autoscaling_client)
    ledger = Ledger(dynamodb_client(), config.ledger_table_name)
    launch_successful = (
        LaunchSuccessfulMode(groups, ledger, LaunchTimes(ec2_client))
        if config.launch_detail_type == LAUNCH_SUCCESSFUL
        else None
    )
    return Sweeper(
        groups,
        ledger,
        DispatcherFunction(lambda_client, config.dispatcher_function_name),
        SweepConfig(
            hook_name=config.lifecycle_hook_name, group_names=config.allowed_asg_names, region=config.aws_region
        ),
        launch_successful=launch_successful,
    )


@cache
def ec2_client() -> Any:
    return aws_session().create_client("ec2")


@cache
def lambda_client() -> Any:
    return aws_session().create_client("lambda")


def _github(target: GitHubTarget) -> GitHubClient:
    return GitHubClient(
        api_url=target.api_url,
        repository=target.repository,
        workflow=target.workflow,
        api_version=target.api_version,
        credentials=SecretCredentials(target.credentials_secret, secret_reader()),
    )


def prepare_container() -> None:
    """On Lambda, during the init phase: build the DynamoDB and Secrets Manager clients (every function here uses
    both; building one reads no setting and calls nothing), so a container's first event does not.

    An on-demand function's init runs on a full vCPU, unthrottled, for up to 10 s (AWS's serverless guide
    "Effectively running Java on Serverless", "Utilize initialization phase"); its invocations get the share its
    memory buys, one vCPU at 1,769 MB (Lambda guide, "Configure Lambda function memory"), and the dispatcher has
    256 MB. Client building is most of a cold start's own work after the imports (bench/cold_path.py), so it is
    cheapest there, and a container's first event in a burst no longer carries it (bench/burst_tail.py). Lambda
    sets ``AWS_LAMBDA_INITIALIZATION_TYPE`` in every execution environment (Lambda guide, "Defined runtime
    environment variables"); anywhere else (tests, the drill, the CLI) this does nothing and the factories stay lazy.
    """
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"):
        dynamodb_client()
        secretsmanager_client()


def reset() -> None:
    """Forget everything built (tests, and the local drill between scenarios)."""
    for factory in (
        settings,
        tracker_settings,
        aws_session,
        dynamodb_client,
        autoscaling_client,
        secretsmanager_client,
        secret_reader,
        lambda_client,
        ec2_client,
        dispatcher,
        drainer,
        tracker,
        sweeper,
    ):
        factory.cache_clear()
