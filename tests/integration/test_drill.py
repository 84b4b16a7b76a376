"""The scale-out drill, end to end: the real handler in worker processes against moto server and the GitHub
double. One drill keeps the invariant under every fault at once; one breaks it on purpose (a workflow whose
run-name drops the dispatch ID makes reconciliation blind), proving the verdict can fail; the CLI documents
itself and refuses settings that would make the drill meaningless."""

import json
import subprocess
import sys
from dataclasses import replace

import pytest

from drill.scaleout.cli import main
from drill.scaleout.config import ConfigError, DrillConfig, FaultRates
from drill.scaleout.faults import FaultKind
from drill.scaleout.plan import build_plan
from drill.scaleout.run import run_drill

#: Short enough for a test, and still production's relation: every retry delay > timeout + lease margin (1 s).
QUICK = DrillConfig(
    launches=40,
    asgs=2,
    seed=7,
    workers=6,
    function_timeout=7.0,
    retry_delays=(8.5, 8.5),
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
        faults=FaultRates(
            duplicate=0,
            kill=0,
            error_after_accept=0.25,
            drop_after_accept=0.25,
            rate_limited=0,
            slow=0,
            client_timeout=0,
            malformed=0,
        ),
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
        [sys.executable, "-m", "drill", "--help"], capture_output=True, text=True, timeout=60, check=False
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
    ):
        assert flag in answer.stdout
    assert "exactly one GitHub Actions run per EC2" in answer.stdout


def test_retry_delays_must_outlast_the_timeout_plus_the_lease_margin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="not longer than --function-timeout"):
        DrillConfig(function_timeout=8, retry_delays=(9, 20)).validate()

    assert main(["--function-timeout", "8", "--retry-delays", "8,16", "--json", "-"]) == 2
    assert "retry" in capsys.readouterr().err
