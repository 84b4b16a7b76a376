"""Linters we did not write judge the example workflow and scripts: zizmor (GitHub Actions security, offline) and
shellcheck (every shell script, and every workflow ``run:`` block). Each also fails a deliberately broken input here,
so a linter that silently checks nothing cannot pass."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
WORKFLOWS = ROOT / "examples" / "workflows"
BIN = Path(sys.executable).parent
SCRIPTS = sorted(path for path in (ROOT / "examples").rglob("*.sh"))
#: ``uses: owner/action@<40 hex> # vX.Y.Z``: a SHA cannot be moved like a tag, and the comment says which tag to
#: compare it with when updating.
PINNED = re.compile(r"^\s*(- )?uses: [\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    # --offline: no GitHub API calls (the audits that need one are skipped); --persona=auditor: every finding.
    return subprocess.run(  # noqa: S603 - our pinned linter on our files
        [str(BIN / "zizmor"), "--offline", "--persona=auditor", "--no-progress", "--format=plain", *map(str, paths)],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


def shellcheck(path: Path | None, text: str | None = None) -> subprocess.CompletedProcess[str]:
    target = [str(path)] if path is not None else ["--shell=bash", "-"]
    return subprocess.run(  # noqa: S603 - our pinned linter on our files
        [str(BIN / "shellcheck"), "--severity=info", *target], input=text, capture_output=True, text=True,
        check=False, timeout=60,
    )  # fmt: skip


def workflow_files() -> list[Path]:
    return sorted(WORKFLOWS.glob("*.yml"))


def run_blocks() -> list[tuple[str, str]]:
    blocks = []
    for path in workflow_files():
        workflow: dict[Any, Any] = yaml.safe_load(path.read_text())
        for job_name, job in workflow["jobs"].items():
            for index, step in enumerate(job["steps"]):
                if "run" in step:
                    blocks.append((f"{path.name}:{job_name}:{step.get('name', index)}", step["run"]))
    return blocks


def test_zizmor_finds_nothing_in_the_example_workflows() -> None:
    result = zizmor(*workflow_files())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout + result.stderr


def test_both_example_workflows_are_linted() -> None:
    assert {path.name for path in workflow_files()} >= {"deploy.yml", "deploy-batch.yml"}


def test_zizmor_fails_an_unpinned_action_without_persist_credentials(tmp_path: Path) -> None:
    broken = tmp_path / "deploy.yml"
    broken.write_text(
        (WORKFLOWS / "deploy.yml")
        .read_text()
        .replace("actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2", "actions/checkout@v4")
        .replace("persist-credentials: false", "persist-credentials: true")
    )

    result = zizmor(broken)

    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout
    assert "artipacked" in result.stdout


def test_zizmor_fails_a_matrix_entry_interpolated_into_a_script(tmp_path: Path) -> None:
    # The batch workflow's matrix comes from an input: whoever dispatches it by hand chooses its values.
    broken = tmp_path / "deploy-batch.yml"
    broken.write_text(
        (WORKFLOWS / "deploy-batch.yml")
        .read_text()
        .replace('ssm-run.sh "$INSTANCE_ID" "/opt', 'ssm-run.sh "${{ matrix.instance.instance_id }}" "/opt')
    )

    result = zizmor(broken)

    assert result.returncode != 0
    assert "template-injection" in result.stdout


def test_every_action_is_pinned_to_a_commit_sha_with_its_version() -> None:
    uses = [line for path in workflow_files() for line in path.read_text().splitlines() if "uses:" in line]

    assert uses
    assert [line for line in uses if not PINNED.match(line)] == []


@pytest.mark.parametrize("line", ["- uses: actions/checkout@v4", "uses: actions/checkout@11bd71901bbe5b1630ce # v4",
                                  "uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683"])  # fmt: skip
def test_the_pin_shape_refuses_a_tag_a_short_sha_or_no_version(line: str) -> None:
    assert not PINNED.match(line)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_shellcheck_finds_nothing_in_the_scripts(script: Path) -> None:
    result = shellcheck(script)

    assert result.returncode == 0, result.stdout


def test_there_are_scripts_to_check() -> None:
    assert {path.name for path in SCRIPTS} >= {"ssm-run.sh", "release.sh"}


@pytest.mark.parametrize(("where", "script"), run_blocks(), ids=[where for where, _ in run_blocks()])
def test_shellcheck_finds_nothing_in_the_workflow_run_blocks(where: str, script: str) -> None:
    # GitHub runs a `run:` block with `bash -e {0}` on Linux runners: check it as bash.
    result = shellcheck(None, script)

    assert result.returncode == 0, f"{where}:\n{result.stdout}"


def test_shellcheck_fails_a_broken_run_block() -> None:
    result = shellcheck(None, "aws ssm send-command --instance-ids $INSTANCE_ID\ncd $dir && ls\n")

    assert result.returncode != 0
    assert "SC2086" in result.stdout
