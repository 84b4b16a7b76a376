"""The scale-out drill, end to end: the real handler in worker processes against moto server and the GitHub
double. One drill keeps the invariant under every fault at once; one breaks it on purpose (a workflow whose
run-name drops the dispatch ID makes reconciliation blind), proving the verdict can fail; the CLI documents
itself and refuses settings that would make the drill meaningless. With GitHub's rate limits on: a burst past
the secondary limit loses nothing, a drainer killed mid-POST is reconciled, and without a drainer the verdict
lists the launches left queued."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import fields, replace
from pathlib import Path

import pytest

from drill.scaleout.chart import chart_html
from drill.scaleout.cli import main
from drill.scaleout.config import ConfigError, DrillConfig, FaultRates
from drill.scaleout.faults import FaultKind
from drill.scaleout.plan import DeliveryKind, build_plan
from drill.scaleout.render import render
from drill.scaleout.report import DrillReport
from drill.scaleout.run import run_drill
from stand_ins.github_rate_limits import RateLimits

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
    assert kills(report) >= 2  # the dispatchers' and the drainer's
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
        "--no-github-limits",
        "--github-time-scale",
        "--drainer-budget",
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


def kills(report: DrillReport) -> int:
    """Invocations killed while their POST hung: the dispatcher's and the drainer's."""
    assert report.github_limits is not None
    return report.invocations_ended.get("killed", 0) + report.github_limits.drainer.ended.get("killed", 0)


#: 200 launches against 40 content-creating requests a GitHub minute, on a clock x10 (a minute in 6 s): the
#: dispatchers alone would send about twice that, so GitHub refuses, and the queue takes the rest.
BURST = replace(
    QUICK,
    launches=200,
    burst_seconds=2.0,
    github_time_scale=10.0,
    github_rate_limits=RateLimits(content_per_minute=40),
    faults=replace(NO_FAULTS, duplicate=0.2, concurrent_share=0.5, error_after_accept=0.03, drop_after_accept=0.02,
                   malformed=0.02),
)  # fmt: skip


@pytest.mark.slow
def test_a_burst_past_the_secondary_limit_with_lambdas_retries_loses_nothing() -> None:
    report = run_drill(BURST)

    assert report.verdict.ok, report.verdict.summary
    drain = report.github_limits
    assert drain is not None
    assert drain.refusals.get("secondary-minute", 0) >= 1, drain.refusals  # the burst did go past the limit
    assert report.results.get("queued", 0) >= 1
    assert report.lambda_retries >= 1  # the errors after GitHub accepted were retried, twice at most
    assert report.runs_created == BURST.launches
    # Rate limits never reach the DLQ: only the malformed events are there.
    assert report.dead_letters_by_error == {"MalformedEvent": report.deliveries["malformed"]}
    assert (drain.still_queued, report.verdict.still_queued) == (0, [])
    # GitHub's limits held: no schedule beats the floor they set.
    assert drain.drain_github_seconds is not None
    assert drain.drain_github_seconds >= drain.limits_floor_github_seconds > 0
    assert drain.peak_waiting >= 1
    assert drain.drainer.counts.get("Dispatched", 0) >= 1


#: The first two POSTs get through (two a GitHub minute, a minute a wall second), every later one is the drainer's;
#: seed 5 gives the kills to launches delivered after the first six.
KILLED_DRAINER = replace(
    QUICK,
    launches=10,
    seed=5,
    burst_seconds=0.2,
    github_time_scale=60.0,
    github_rate_limits=RateLimits(content_per_minute=2),
    drainer_budget=17.0,
    faults=replace(NO_FAULTS, kill=0.2),
)


@pytest.mark.slow
def test_a_drainer_killed_mid_post_leaves_a_claim_the_next_run_reconciles() -> None:
    plan = build_plan(KILLED_DRAINER)
    originals = [d.instance_id for d in plan.deliveries if d.kind is DeliveryKind.ORIGINAL]
    assert min(originals.index(instance) for instance in plan.faults) >= KILLED_DRAINER.workers

    report = run_drill(KILLED_DRAINER)

    assert report.verdict.ok, report.verdict.summary  # one run each: the run the killed POST made was found
    drain = report.github_limits
    assert drain is not None
    assert drain.drainer.ended.get("killed", 0) >= 1, drain.drainer
    assert kills(report) == 2
    assert report.kills_missed == 0
    assert drain.drainer.counts.get("ReconciledFound", 0) + report.reconciled_runs >= 1
    assert drain.drainer.invocations >= 2  # the killed run, and one after it that took its launch over
    assert report.runs_created == KILLED_DRAINER.launches


@pytest.mark.slow
def test_without_a_drainer_queued_launches_stay_queued_and_the_verdict_says_so() -> None:
    stuck = replace(
        QUICK,
        launches=12,
        burst_seconds=0.2,
        github_time_scale=60.0,
        github_rate_limits=RateLimits(content_per_minute=3),
        drainer=False,
        faults=NO_FAULTS,
    )

    report = run_drill(stuck)

    assert not report.verdict.ok
    assert report.exit_code == 1
    queued = report.verdict.still_queued
    assert len(queued) >= 6
    assert set(queued) == set(report.verdict.zero_runs)  # never deployed, and not in the DLQ either
    assert report.dead_letters == []
    assert "launches still queued for GitHub budget" in report.verdict.summary
    assert report.github_limits is not None
    assert report.github_limits.still_queued == len(queued)
    assert "still queued for GitHub budget" in render(report)
    # The chart is one well-formed SVG with a line per series and the floors marked.
    page = chart_html(report)
    svg = ET.fromstring(page[page.index("<svg") : page.index("</svg>") + len("</svg>")])  # noqa: S314 - our own output
    lines = svg.findall("{http://www.w3.org/2000/svg}polyline")
    assert len(lines) == 3
    assert "floor" in page
    assert "<script" not in page
