"""One drill run, start to end: stand-ins up, containers warm, the scale-out replayed, the evidence gathered."""

from __future__ import annotations

import time
from collections.abc import Callable

from drill.scaleout.config import DrillConfig
from drill.scaleout.containers import ContainerPool
from drill.scaleout.faults import FaultInjector, KillSwitch
from drill.scaleout.lambda_async import LambdaAsyncQueue, QueueStatus
from drill.scaleout.lifecycle import run_lifecycle_phase, sweep_lost_launches
from drill.scaleout.plan import build_plan
from drill.scaleout.progress import Progress
from drill.scaleout.report import DrillReport, Machine, Observed, Timing, build_report
from drill.scaleout.stand_ins import stand_ins


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
        with ContainerPool(config.workers, environment, config.handler_logs) as pool:
            pool.wait_ready()
            local.moto.reset_calls()  # from here on, every AWS call is the handler's (or Lambda's)
            queue = LambdaAsyncQueue(pool, config, local.dead_letters, kill_switch)
            scale_out_started = time.monotonic()

            def report_status(status: QueueStatus) -> None:
                if on_progress is not None:
                    on_progress(Progress(status, len(local.github.runs)))

            records = queue.run(plan.deliveries, report_status)
            # Lifecycle mode: the launches whose events never came are found by the tracker's sweep.
            swept = sweep_lost_launches(config, plan, local) if config.lifecycle else []
            scale_out_ended = time.monotonic()
            containers_started = pool.cold_containers_started
        aws_calls = local.moto.calls  # before the drill's own reads of the queue and the ledger below
        runs, github_requests = local.github.runs, local.github.requests
        dead_letters, ledger = local.dead_letters.drain(), local.ledger()
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
        )
    ended = time.monotonic()
    timing = Timing(
        wall_seconds=round(ended - started, 2),
        setup_seconds=round(scale_out_started - started, 2),
        scale_out_seconds=round(scale_out_ended - scale_out_started, 2),
        wrap_up_seconds=round(ended - scale_out_ended, 2),
    )
    return build_report(config, plan, observed, timing, machine)
