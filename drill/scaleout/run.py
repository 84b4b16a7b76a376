"""One drill run, start to end: stand-ins up, containers warm, the scale-out replayed, the evidence gathered."""

from __future__ import annotations

import time
from collections.abc import Callable

import boto3

from deploy_trigger.drain import LAUNCH_SECONDS
from drill.scaleout.backlog import BacklogSampler, QueueWatch
from drill.scaleout.config import DrillConfig
from drill.scaleout.containers import ContainerPool
from drill.scaleout.drainer import DrainerSchedule
from drill.scaleout.faults import FaultInjector, KillSwitch
from drill.scaleout.lambda_async import DRAINER, LambdaAsyncQueue, QueueStatus
from drill.scaleout.lifecycle import run_lifecycle_phase, sweep_lost_launches
from drill.scaleout.plan import build_plan
from drill.scaleout.progress import Progress
from drill.scaleout.report import DrillReport, Machine, Observed, Timing, build_report
from drill.scaleout.stand_ins import FAKE_CREDENTIALS, StandIns, stand_ins
from stand_ins.autoscaling_events import REGION
from stand_ins.deployment import RUN_LISTING_DELAY_SECONDS

#: After the events have settled, the drain goes on while the queue keeps getting shorter. The longest it may rightly
#: stand still: GitHub's hourly window (GitHub seconds), then a killed drainer's lease, twice, and a run's start. A
#: drain still for longer is stuck, and the verdict lists what is still queued.
GITHUB_HOUR = 3600.0
RUN_START_SECONDS = 10.0


def run_drill(config: DrillConfig, on_progress: Callable[[Progress], None] | None = None) -> DrillReport:
    """Replay the scale-out ``config`` describes against local stand-ins; raise ConfigError for bad settings."""
    config.validate()
    machine = Machine.now()
    started = time.monotonic()
    plan = build_plan(config)
    kill_switch = KillSwitch()
    injector = FaultInjector(plan.faults, config, kill_switch)
    with stand_ins(config, injector, plan) as local:
        environment = local.container_environment(config)
        with ContainerPool(config.workers, environment, config.handler_logs, others={DRAINER: 1}) as pool:
            pool.wait_ready()
            local.moto.reset_calls()  # from here on, every AWS call is the handler's (or Lambda's)
            schedule = DrainerSchedule(config)
            # A killed drainer's launch comes due again after its claim (one launch's bound and the margin) and the
            # listing delay; two of them in a row may stand still that long.
            stall = LAUNCH_SECONDS + config.lease_margin + RUN_LISTING_DELAY_SECONDS
            cap = config.wall_seconds(GITHUB_HOUR) + 2 * stall + RUN_START_SECONDS
            watches = _watch(local), _watch(local)  # the loop's, and the sampler's thread's
            queue = LambdaAsyncQueue(
                pool, config, local.dead_letters, kill_switch, drainer=schedule, watch=watches[0], drain_cap=cap
            )
            sampler = BacklogSampler(
                watches[1], lambda: queue.origin, lambda: len(local.github.runs), lambda: queue.dead_lettered
            )
            scale_out_started = time.monotonic()

            def report_status(status: QueueStatus) -> None:
                if on_progress is not None:
                    latest = sampler.latest
                    on_progress(Progress(status, len(local.github.runs), latest.waiting if latest else 0))

            with sampler:
                records = queue.run(plan.deliveries, report_status)
                # Lifecycle mode: the launches whose events never came are found by the tracker's sweep; what it
                # queued is drained like the rest.
                swept = sweep_lost_launches(config, plan, local) if config.lifecycle else []
                if swept:
                    records = queue.run((), report_status)
            scale_out_ended = time.monotonic()
            containers_started = pool.cold_containers_started
        aws_calls = local.moto.calls  # before the drill's own reads of the queue and the ledger below
        for watch in watches:  # and without the drill's reads of the queue while it ran
            aws_calls.subtract(watch.calls)
        runs, github_requests = local.github.runs, local.github.requests
        dead_letters, ledger = local.dead_letters.drain(), local.ledger()
        still_queued = _watch(local).queued_instances()
        # Lifecycle mode: every delivery has settled; now the runs end and the tracker closes the loop.
        lifecycle = run_lifecycle_phase(config, plan, local) if config.lifecycle else None
        observed = Observed(
            records=records,
            runs=runs,
            github_requests=github_requests,
            aws_calls=aws_calls,
            dead_letters=dead_letters,
            ledger=ledger,
            faults_applied=injector.applied,
            containers_started=containers_started,
            missed_kills=queue.missed_kills,
            lifecycle=lifecycle,
            swept=swept,
            drainer_runs=queue.drainer_runs,
            backlog=sampler.samples,
            refusals=local.github.refusals,
            content_created_at=local.github.content_created_at,
            origin_epoch=queue.origin_epoch,
            drain_capped=queue.drain_capped,
            still_queued=still_queued,
        )
    ended = time.monotonic()
    timing = Timing(
        wall_seconds=round(ended - started, 2),
        setup_seconds=round(scale_out_started - started, 2),
        scale_out_seconds=round(scale_out_ended - scale_out_started, 2),
        wrap_up_seconds=round(ended - scale_out_ended, 2),
    )
    return build_report(config, plan, observed, timing, machine)


def _watch(local: StandIns) -> QueueWatch:
    """Reads of the ledger's queue on a client of their own (each thread its own)."""
    client = boto3.client("dynamodb", endpoint_url=local.moto.url, region_name=REGION, **FAKE_CREDENTIALS)
    return QueueWatch(client, local.table)
