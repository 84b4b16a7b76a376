"""examples/workflows/scripts/ssm-run.sh against a fake `aws` CLI: the workflow step it runs passes only when
the command succeeded on the instance, and fails when it failed, was cancelled or never finished."""

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "examples" / "workflows" / "scripts" / "ssm-run.sh"

FAKE_AWS = """#!/usr/bin/env bash
# send-command prints a command ID; get-command-invocation walks through the statuses in $STATUSES, one per call.
set -euo pipefail
if [[ "$2" == send-command ]]; then echo "cmd-1"; exit 0; fi
count_file="$FAKE_STATE/calls"
calls=$(( $(cat "$count_file" 2>/dev/null || echo 0) + 1 ))
echo "$calls" > "$count_file"
if [[ "$*" == *StandardOutputContent* ]]; then echo "output of the failed command"; exit 0; fi
read -r -a statuses <<< "$STATUSES"
index=$(( calls <= ${#statuses[@]} ? calls - 1 : ${#statuses[@]} - 1 ))
status=${statuses[$index]}
if [[ "$status" == Missing ]]; then echo "InvocationDoesNotExist" >&2; exit 254; fi
echo "$status"
"""


def run(tmp_path: Path, statuses: str, timeout: str = "30") -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    aws = bin_dir / "aws"
    aws.write_text(FAKE_AWS)
    aws.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATUSES": statuses,
           "FAKE_STATE": str(tmp_path), "SSM_POLL_SECONDS": "0"}  # fmt: skip
    return subprocess.run(  # noqa: S603 - the project's own script
        [str(SCRIPT), "i-0123456789abcdef0", "/opt/app/bin/release.sh abc", timeout],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def test_success_after_polling_passes(tmp_path: Path) -> None:
    result = run(tmp_path, "Missing Pending InProgress Success")

    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stderr


@pytest.mark.parametrize("status", ["Failed", "Cancelled", "TimedOut"])
def test_a_command_that_did_not_succeed_fails_the_step_and_shows_its_output(tmp_path: Path, status: str) -> None:
    result = run(tmp_path, f"InProgress {status}")

    assert result.returncode == 1
    assert f"ended {status}" in result.stderr
    assert "output of the failed command" in result.stderr


def test_a_command_still_running_at_the_timeout_fails(tmp_path: Path) -> None:
    result = run(tmp_path, "InProgress", timeout="1")

    assert result.returncode == 3
    assert "still running" in result.stderr


def test_usage_error(tmp_path: Path) -> None:
    result = subprocess.run([str(SCRIPT)], capture_output=True, text=True, check=False)  # noqa: S603

    assert result.returncode == 2
