"""The scale-out drill, end to end: the real handler in worker processes against moto server and the GitHub
double. One drill keeps the invariant under every fault at once; one breaks it on purpose (a workflow whose
run-name drops the dispatch ID makes reconciliation blind), proving the verdict can fail; the CLI documents
itself and refuses settings that would make the drill meaningless."""

import json
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest

from drill.scaleout.cli import main
from drill.scaleout.config import ConfigError, DrillConfig, FaultRates
from drill.scaleout.faults import FaultKind
from drill.scaleout.plan import build_plan
from drill.scaleout.render import render
from drill.scaleout.run import run_drill

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Every fault rate 0: a drill changes only the ones it means.
NO_FAULTS = FaultRates(**dict.fromkeys((rate.name for rate in fields(FaultRates)), 0.0))

#: Short enough for a test, and still production's relation: every retry delay > timeout + lease margin (1 s) +
#: the listing delay a takeover waits out (1.5 s).
QUICK = DrillConfig(
    launches=40,
    asgs=2,
    seed=7,
    workers=6,
    function_timeout=7.0,
    retry_delays=(10.0, 10.0),
    burst_seconds=2.0,
    faults=FaultRates(
        duplicate=0.3,
        concurrent_share=0.5,
        kill=0.1,
        error_after_accept=0.05,
        drop_after_accept=0.05,
        client_timeout=0.05,
        rate_limited=0.05,
        slow=0.05,
        malformed=0.075,
        rejected=0.05,
    ),
)


@pytest.mark.slow
def test_every_fault_at_once_still_gives_each_launch_exactly_one_run() -> None:
    report = run_drill(QUICK)

    assert report.verdict.ok, report.verdict.summary
    assert report.exit_code == 0
    assert set(report.faults_injected) == {kind.value for kind in FaultKind}
    assert all(count >= 1 for count in report.faults_injected.values()), report.faults_injected
    assert report.invocations_ended.get("killed", 0) >= 2
    rejected = len(report.verdict.rejected_accounted)
    assert rejected == 2
    assert report.runs_created == QUICK.launches - rejected
    assert report.reconciled_runs >= 1  # runs GitHub created while the answer was lost were found, not re-sent
    assert report.duplicates_suppressed >= 1
    malformed = report.deliveries["malformed"]
    assert malformed == 3
    assert report.dead_letters_by_error["MalformedEvent"] == malformed
    dead_lettered_rejections = sum(
        report.dead_letters_by_error.get(e, 0) for e in ("DispatchRejected", "PreviouslyRejected")
    )
    assert dead_lettered_rejections >= rejected
    assert report.verdict.unexpected_runs == {}
    assert json.loads(report.to_json())["exit_code"] == 0


@pytest.mark.slow
def test_without_the_dispatch_id_in_run_names_the_drill_reports_duplicate_runs() -> None:
    blind = replace(
        QUICK,
        launches=12,
        run_name=None,
        faults=replace(NO_FAULTS, error_after_accept=0.25, drop_after_accept=0.25),
    )

    lost_answers = set(build_plan(blind).faults)

    report = run_drill(blind)

    assert not report.verdict.ok
    assert report.exit_code == 1
    # A launch whose answer was lost after GitHub created the run gets a second run: the retry cannot find the
    # first one by its dispatch ID, so it sends again.
    assert report.verdict.multiple_runs
    assert set(report.verdict.multiple_runs) <= lost_answers
    assert set(report.verdict.multiple_runs.values()) == {2}
    assert report.verdict.summary.startswith("BROKEN:")
    assert "more than one run" in report.verdict.summary


def test_help_documents_the_flags() -> None:
    answer = subprocess.run(
        # From the checkout root, like `make demo`: the drill is not installed, it runs from the checkout.
        [sys.executable, "-m", "drill", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert answer.returncode == 0
    for flag in (
        "--launches",
        "--asgs",
        "--seed",
        "--workers",
        "--function-timeout",
        "--retry-delays",
        "--duplicate-rate",
        "--kill-rate",
        "--error-rate",
        "--drop-rate",
        "--timeout-rate",
        "--rate-limit-rate",
        "--slow-rate",
        "--malformed-rate",
        "--reject-rate",
        "--json",
        "--quiet",
        "--no-run-name",
        "--lifecycle",
        "--deploy-failure-rate",
        "--lifecycle-expire-rate",
    ):
        assert flag in answer.stdout
    assert "exactly one GitHub Actions run per EC2" in answer.stdout


def test_retry_delays_must_outlast_the_timeout_plus_the_lease_margin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="not longer than --function-timeout"):
        DrillConfig(function_timeout=8, retry_delays=(9, 20)).validate()
    # Past the lease, a takeover still waits out GitHub's listing delay: a retry within it would contend.
    with pytest.raises(ConfigError, match="RUN_LISTING_DELAY_SECONDS"):
        DrillConfig(function_timeout=8, retry_delays=(10, 20)).validate()
    DrillConfig(function_timeout=8, retry_delays=(11, 20)).validate()

    assert main(["--function-timeout", "8", "--retry-delays", "8,16", "--json", "-"]) == 2
    assert "retry" in capsys.readouterr().err


#: Lifecycle mode, quickly: no fault that makes Lambda retry (retries wait out their delays), duplicates kept.
LIFECYCLE = replace(
    QUICK,
    launches=30,
    burst_seconds=1.0,
    lifecycle=True,
    deploy_failure_rate=0.2,
    faults=replace(NO_FAULTS, duplicate=0.2, slow=0.1),
)


@pytest.mark.slow
def test_lifecycle_mode_lets_each_instance_into_service_or_has_it_replaced_once() -> None:
    report = run_drill(LIFECYCLE)

    assert report.verdict.ok, report.verdict.summary
    assert report.exit_code == 0
    lifecycle = report.lifecycle
    assert lifecycle is not None
    assert lifecycle.runs_failed == 6  # 20 % of 30, exactly
    assert lifecycle.in_service + lifecycle.replaced == lifecycle.hooked_launches
    assert lifecycle.in_service >= 1
    assert lifecycle.replaced >= 1
    # The split follows the runs: the instances whose run failed are replaced, the others go InService.
    assert lifecycle.replaced == lifecycle.hooked_runs_failed
    assert lifecycle.in_service == lifecycle.hooked_launches - lifecycle.hooked_runs_failed
    assert lifecycle.alerts == lifecycle.runs_failed
    assert (lifecycle.timed_out, lifecycle.still_pending, lifecycle.already_ended) == (0, 0, 0)
    assert lifecycle.plain_recorded == lifecycle.plain_launches
    assert lifecycle.ledger_statuses == {"SUCCEEDED": 24, "DEPLOY_FAILED": 6}
    assert report.verdict.lifecycle is not None
    assert report.verdict.lifecycle.hooked == lifecycle.hooked_launches
    assert json.loads(report.to_json())["lifecycle"]["in_service"] == lifecycle.in_service
    # Auto Scaling as it really sends events: another hook's actions on the first group (ignored), warm-pool
    # entries (continued once, never deployed) and their late duplicates (stale): one run per instance still.
    assert report.deliveries["other hook"] >= 1
    assert report.deliveries["stale"] == report.deliveries["warm pool entry"] >= 1
    assert report.verdict.lifecycle.warm_pool_entries == report.deliveries["warm pool entry"]
    assert report.verdict.unexpected_dead_letters == {}
    assert report.deliveries["lost"] == report.verdict.lost_events >= 1  # never delivered: found by the sweep
    assert report.verdict.lost_not_swept_once == {}


@pytest.mark.slow
def test_lifecycle_actions_that_time_out_before_the_tracker_break_the_verdict() -> None:
    late = replace(LIFECYCLE, launches=12, deploy_failure_rate=0.25, lifecycle_expire_rate=0.5)

    report = run_drill(late)

    assert not report.verdict.ok
    assert report.exit_code == 1
    closed = report.verdict.lifecycle
    assert closed is not None
    assert report.lifecycle is not None
    expired = report.lifecycle.timed_out
    assert expired >= 2
    # Nobody completed them (the group applied its default, ABANDON), and the tracker's late completion was
    # answered "no active lifecycle action": each is listed, none is counted as completed.
    assert len(closed.not_completed_once) == expired
    assert set(closed.not_completed_once.values()) == {0}
    assert report.lifecycle.already_ended == expired
    # The ones whose run succeeded were replaced anyway: their fate contradicts their run.
    assert closed.wrong_result
    assert all("run success, action ABANDON" in why for why in closed.wrong_result.values())
    assert "lifecycle actions not completed exactly once" in report.verdict.summary
    text = render(report)
    assert "timed out first (default result ABANDON)" in text
    assert "fate contradicts run" in text
