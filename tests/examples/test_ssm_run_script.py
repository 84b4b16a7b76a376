"""examples/workflows/scripts/ssm-run.sh against a fake `aws` CLI: the workflow step it runs passes only when
the command succeeded on the instance, and fails when it failed, was cancelled or never finished."""

import json
import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "examples" / "workflows" / "scripts" / "ssm-run.sh"

FAKE_AWS = """#!/usr/bin/env bash
# The agent registers, and SendCommand stops refusing the instance, at $READY_AT on the clock (date +%s);
# send-command then prints a command ID (and keeps the command it was sent); get-command-invocation walks
# through the statuses in $STATUSES, one per call.
set -euo pipefail
ready=$(( $(date +%s) >= ${READY_AT:-0} ))
if [[ "$2" == describe-instance-information ]]; then
  if ((ready)); then echo Online; else echo None; fi
  exit 0
fi
if [[ "$2" == send-command ]]; then
  if ! ((ready)); then
    echo "An error occurred (InvalidInstanceId) calling the SendCommand operation: Instances not in a valid state" >&2
    exit 254
  fi
  printf '%s' "$8" > "$FAKE_STATE/parameters"
  echo "cmd-1"; exit 0
fi
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


#: A clock the script reads with `date +%s` and advances with `sleep`: a minute passes in milliseconds.
FAKE_DATE = """#!/usr/bin/env bash
cat "$FAKE_STATE/clock"
"""
FAKE_SLEEP = """#!/usr/bin/env bash
echo $(( $(cat "$FAKE_STATE/clock") + ${1%.*} )) > "$FAKE_STATE/clock"
"""


def run(
    tmp_path: Path,
    statuses: str,
    timeout: str = "30",
    aws: str = FAKE_AWS,
    command: str = "/opt/app/bin/release.sh abc",
    **env_vars: str,
) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fakes = {"aws": aws, **({"date": FAKE_DATE, "sleep": FAKE_SLEEP} if "READY_AT" in env_vars else {})}
    for name, text in fakes.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "clock").write_text("0\n")
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATUSES": statuses,
           "FAKE_STATE": str(tmp_path), "SSM_POLL_SECONDS": "0", **env_vars}  # fmt: skip
    return subprocess.run(  # noqa: S603 - the project's own script
        [str(SCRIPT), "i-0123456789abcdef0", command, timeout],
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


def test_a_just_launched_instance_is_waited_for_until_its_agent_registers(tmp_path: Path) -> None:
    """The stub refuses for the first (fake) minute, as SSM does before the agent registers: not a failure."""
    result = run(tmp_path, "Success", READY_AT="60", SSM_POLL_SECONDS="5", SSM_READY_SECONDS="300")

    assert result.returncode == 0, result.stderr
    assert "waiting for the SSM agent" in result.stderr
    assert int((tmp_path / "clock").read_text()) >= 60


def test_an_instance_whose_agent_never_registers_fails_clearly_at_the_bound(tmp_path: Path) -> None:
    result = run(tmp_path, "Success", READY_AT="99999", SSM_POLL_SECONDS="5", SSM_READY_SECONDS="120")

    assert result.returncode == 4
    assert "not ready for Run Command after 120s" in result.stderr
    assert 120 <= int((tmp_path / "clock").read_text()) < 130


def test_an_instance_refused_once_registered_is_retried_too(tmp_path: Path) -> None:
    """DescribeInstanceInformation can show Online a moment before SendCommand accepts the instance."""
    always_online = FAKE_AWS.replace("else echo None; fi", "else echo Online; fi")

    result = run(tmp_path, "Success", aws=always_online, READY_AT="30", SSM_POLL_SECONDS="5")

    assert result.returncode == 0, result.stderr
    assert int((tmp_path / "clock").read_text()) >= 30


@pytest.mark.parametrize(("installed", "code"), [(True, 0), (False, 127)])
def test_the_command_waits_on_the_instance_for_the_release_script(tmp_path: Path, installed: bool, code: int) -> None:
    """SSM_REQUIRE_PATH: the command sent waits for the executable, bounded, then says it is missing."""
    release = tmp_path / "release.sh"
    run(tmp_path, "Success", command=f"{release} abc", SSM_REQUIRE_PATH=str(release), SSM_READY_SECONDS="0")
    sent = json.loads((tmp_path / "parameters").read_text())["commands"][0]
    if installed:
        release.write_text("#!/bin/sh\n")
        release.chmod(0o755)

    on_instance = subprocess.run(["bash", "-c", sent], capture_output=True, text=True, check=False, timeout=30)  # noqa: S603, S607

    assert on_instance.returncode == code, on_instance.stderr
    assert ("is not installed after 0s" in on_instance.stderr) is not installed
