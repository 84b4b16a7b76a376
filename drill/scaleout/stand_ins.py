"""The local stand-ins one drill runs against: moto server in its own process (ledger table, credentials secret,
on-failure queue) and the GitHub API double, plus the environment a Lambda container of this deployment would have."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from deploy_trigger.events import LIFECYCLE_ACTION
from deploy_trigger.ledger.codec import decode_entry
from deploy_trigger.ledger.model import LedgerEntry
from deploy_trigger.ledger.schema import INSTANCE_ITEMS, INSTANCE_ITEMS_VALUES
from deploy_trigger.lifecycle import LifecycleResult
from drill.scaleout.config import HOOK_GLOBAL_TIMEOUT, DrillConfig
from drill.scaleout.moto_process import MotoProcess
from drill.scaleout.on_failure import OnFailureQueue
from drill.scaleout.plan import LIFECYCLE_HOOK, DeliveryKind, Plan
from stand_ins.autoscaling_events import REGION
from stand_ins.autoscaling_group import AutoScalingStandIn
from stand_ins.autoscaling_server import ENDPOINT_VARIABLE, AutoScalingServer
from stand_ins.aws_resources import create_ledger_table, create_token_secret
from stand_ins.deployment import REPOSITORY, TOKEN, WORKFLOW, function_environment
from stand_ins.github_double import FaultPolicy, GitHubDouble

#: The hook's DefaultResult: what Auto Scaling does when an action's heartbeat timeout passes.
DEFAULT_RESULT = LifecycleResult.ABANDON
#: moto accepts any credentials; explicit fake ones keep a developer's real ones out of the drill.
FAKE_CREDENTIALS = {"aws_access_key_id": "drill", "aws_secret_access_key": "drill"}


@dataclass
class StandIns:
    moto: MotoProcess
    github: GitHubDouble
    table: str
    secret: str
    dead_letters: OnFailureQueue
    dynamodb: Any
    #: Auto Scaling's lifecycle actions, behind an endpoint the containers' boto3 reaches (moto has none).
    autoscaling: AutoScalingServer

    def container_environment(self, config: DrillConfig) -> dict[str, str]:
        """What the dispatcher function's configuration would hold, pointed at the stand-ins."""
        return {
            **function_environment(
                aws_endpoint_url=self.moto.url,
                table=self.table,
                secret=self.secret,
                lease_margin_seconds=config.lease_margin,
                github_api_url=self.github.url,
            ),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"],
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
            # Loopback only: a proxy configured in the developer's shell must not see these calls.
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            ENDPOINT_VARIABLE: self.autoscaling.url,
            # The drainer's settings, on GitHub's compressed clock. DRAINER_FUNCTION_NAME stays unset: there is
            # no Lambda API to wake the drainer through, and the drill's schedule starts a run whenever the
            # drainer is idle, which is sooner than any wake-up.
            "GITHUB_MUTATION_INTERVAL_SECONDS": f"{config.mutation_interval:g}",
            "HOOK_GLOBAL_TIMEOUT_SECONDS": str(round(config.wall_seconds(HOOK_GLOBAL_TIMEOUT))),
        }

    def ledger(self) -> dict[str, LedgerEntry]:
        """Every ledger entry, by instance ID (a consistent scan, after the drill), read through the codec."""
        entries: dict[str, LedgerEntry] = {}
        pages = self.dynamodb.get_paginator("scan").paginate(
            TableName=self.table,
            ConsistentRead=True,
            # Only what the verdict reads: the history lists would make moto's answer several times larger.
            ProjectionExpression="instance_id, #status, run_id, attempts",
            ExpressionAttributeNames={"#status": "status"},
            # Not the sweep's reference item: it is no instance's entry.
            FilterExpression=INSTANCE_ITEMS,
            ExpressionAttributeValues=dict(INSTANCE_ITEMS_VALUES),
        )
        for page in pages:
            for item in page["Items"]:
                entry = decode_entry(item)
                entries[entry.instance_id] = entry
        return entries


@contextmanager
def stand_ins(config: DrillConfig, fault_policy: FaultPolicy, plan: Plan) -> Iterator[StandIns]:
    with ExitStack() as stack:
        moto = stack.enter_context(MotoProcess())
        github = stack.enter_context(
            GitHubDouble(
                repository=REPOSITORY,
                workflow=WORKFLOW,
                tokens={TOKEN},
                run_name=config.run_name,
                fault_policy=fault_policy,
                rate_limits=config.rate_limits,
            )
        )
        suffix = uuid.uuid4().hex[:8]
        dynamodb, secrets, sqs = (
            boto3.client(service, endpoint_url=moto.url, region_name=REGION, **FAKE_CREDENTIALS)
            for service in ("dynamodb", "secretsmanager", "sqs")
        )
        table, secret = f"deploy-trigger-ledger-{suffix}", f"deploy-trigger/github-{suffix}"
        create_ledger_table(dynamodb, table)
        create_token_secret(secrets, secret, TOKEN)
        dead_letters = OnFailureQueue(sqs, f"deploy-trigger-dispatcher-failures-{suffix}")
        autoscaling = stack.enter_context(AutoScalingServer(_pending_actions(plan)))
        yield StandIns(moto, github, table, secret, dead_letters, dynamodb, autoscaling)


def _pending_actions(plan: Plan) -> AutoScalingStandIn:
    """Every lifecycle action the scale-out's launches wait on, before any event is delivered: warm-pool entries
    first (they came earlier), then each hook's action on the launch into the group."""
    group = AutoScalingStandIn(default_result=DEFAULT_RESULT)
    order = {DeliveryKind.WARM_POOL_ENTRY: 0, DeliveryKind.ORIGINAL: 1, DeliveryKind.OTHER_HOOK: 1}
    pausing = [
        d for d in (*plan.deliveries, *plan.lost) if d.kind in order and d.event["detail-type"] == LIFECYCLE_ACTION
    ]
    hooks: dict[str, list[str]] = {}
    for delivery in pausing:
        detail = delivery.event["detail"]
        group_hooks = hooks.setdefault(detail["AutoScalingGroupName"], [])
        if detail["LifecycleHookName"] not in group_hooks:
            group_hooks.append(detail["LifecycleHookName"])
    for name, names in hooks.items():
        group.add_group(name, *sorted(names, key=lambda hook: hook != LIFECYCLE_HOOK))  # ours first
    for delivery in sorted(pausing, key=lambda d: order[d.kind]):
        detail = delivery.event["detail"]
        group.open_action(
            detail["AutoScalingGroupName"],
            detail["LifecycleHookName"],
            detail["EC2InstanceId"],
            detail["LifecycleActionToken"],
            into_warm_pool=delivery.kind is DeliveryKind.WARM_POOL_ENTRY,
        )
    return group
