"""The drainer Lambda: sends the queue of launches that waited for GitHub budget, one at a time, at GitHub's pace.

A launch GitHub had no budget for is parked in the ledger (status WAITING, the tracking index's WAITING partition)
by the dispatcher, which then wakes the drainer; a schedule runs it every minute as well. Each run sends what is
due, each dispatch a slot on the shared budget item ``GITHUB_MUTATION_INTERVAL_SECONDS`` after the last (sleeping out
a short pause GitHub asked for), and reports how the queue stands (``deploy_trigger.drain``).
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from deploy_trigger.settings import Settings
from infra.constructs.scheduled_function import ScheduledFunction

HANDLER = "deploy_trigger.handler.drainer_handler"

#: Lambda's maximum: a run sleeps out short pauses and paces dispatches a second apart, so a backlog of 500 (what a
#: 1,000-launch scale-out can leave) takes over 8 minutes of one run. A run ends early by itself when nothing is
#: due, or when the pause GitHub asked for outlasts what is left of it.
TIMEOUT = Duration.seconds(900)
#: One drainer at a time, so that invocations queued behind a long run expire instead of starting beside it. The
#: real guard of the pace is the slot each dispatch takes on the budget item: two runs side by side still send one
#: dispatch an interval, which also holds for an account that cannot reserve concurrency (no reservation then).
RESERVED_CONCURRENCY = 1
ROLE_DESCRIPTION = "deploy-trigger drainer: tracking index, ledger updates, credentials secret, own logs"
#: Batch mode's: each batch's manifest in the ledger besides (``LedgerTable.grant_drainer_access``).
ROLE_DESCRIPTION_BATCHED = (
    "deploy-trigger drainer: tracking index, ledger updates, batch manifests, credentials secret, own logs"
)


class DrainerFunction(ScheduledFunction):
    """The drainer's function, log group, role, schedule and asynchronous-invocation settings.

    Its environment is ``settings.to_environment()``: the dispatcher's settings (the same ledger, workflow, ref,
    extra inputs, lease margin and listing delay, the pace and the hooks' global timeout), with no drainer to wake.
    It runs ``code``, the dispatcher's bundled asset. Grants made here: its own log group only. The ledger and the
    credentials secret are granted by their own constructs (``LedgerTable.grant_drainer_access``, with the batches'
    manifests in batch mode, ``GitHubCredentials.grant_read``); it makes no Auto Scaling call and invokes no function.
    Batch mode (``settings.batch_max_instances``) changes neither its timeout nor its memory: a batch is one dispatch
    for up to 256 launches, so a backlog takes fewer runs, not longer ones.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: lambda_.Code,
        settings: Settings,
        reserved_concurrency: int | None = RESERVED_CONCURRENCY,
        removal_policy: RemovalPolicy,
    ) -> None:
        if settings.drainer_function_name:
            raise ValueError("the drainer's settings name no drainer to wake: it would wake itself")
        super().__init__(
            scope,
            construct_id,
            description="deploy-trigger: sends the launches that waited for GitHub budget, at GitHub's pace",
            # Each minute's run sends what a lost wake-up left, and picks up a queue whose pause outlasted the last.
            schedule_description="deploy-trigger: one drain run a minute over the launches waiting for GitHub budget",
            no_sink="A drain run carries no event worth keeping: the queue of waiting launches lives in the ledger's "
            "tracking index until a run sends each one, so a failed, throttled or missed run (or wake-up) is simply "
            "the next minute's work.",
            handler=HANDLER,
            code=code,
            environment=settings.to_environment(),
            timeout=TIMEOUT,
            reserved_concurrency=reserved_concurrency,
            removal_policy=removal_policy,
            role_description=ROLE_DESCRIPTION_BATCHED if settings.batch_max_instances else ROLE_DESCRIPTION,
        )
