"""checkov, the IaC scanner, on the synthesized template of each tested configuration: nothing fails, and what it
reports wrongly is skipped inline on the resource (``Metadata.checkov.skip``) with its reason. The same templates
without those skips must fail, so the scan cannot pass by checking nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infra.synthesis import synthesize
from tests.infra.test_compliance import CONFIGURATIONS

ROOT = Path(__file__).parents[2]
#: Its own virtual environment (`make install`, from requirements-checkov.txt): its pins clash with ours.
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
#: What checkov reports on the defaults before any skip: each is skipped on its resource, with the reason.
EXPECTED_WITHOUT_SKIPS = {"CKV_AWS_27", "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_119", "CKV_AWS_158", "CKV_AWS_173"}
UNSKIPPED = "defaults-without-skips"


def _strip_skips(template: dict[str, Any]) -> dict[str, Any]:
    for resource in template["Resources"].values():
        resource.get("Metadata", {}).pop("checkov", None)
    return template


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """One checkov run over every configuration's template (its start-up is most of its time): name -> results."""
    files: dict[str, Path] = {}
    for name, context in CONFIGURATIONS.items():
        synthesized = synthesize(context, tmp_path_factory.mktemp("cdk.out"), bundle=False, compliance=False)
        files[name] = tmp_path_factory.mktemp(name) / "template.json"
        files[name].write_text(json.dumps(synthesized.template_json))
        if name == "defaults":
            files[UNSKIPPED] = tmp_path_factory.mktemp(UNSKIPPED) / "template.json"
            files[UNSKIPPED].write_text(json.dumps(_strip_skips(synthesized.template_json)))
    arguments = [arg for path in files.values() for arg in ("-f", str(path))]
    scan = subprocess.run(  # noqa: S603 - our pinned scanner on our templates
        [str(CHECKOV), *arguments, "--framework", "cloudformation", "--output", "json",
         "--skip-download"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    report = json.loads(scan.stdout)
    by_file: dict[str, dict[str, Any]] = {name: {"failed_checks": [], "skipped_checks": []} for name in files}
    for kind, checks in (report if isinstance(report, list) else [report])[0]["results"].items():
        for check in checks:
            name = next(n for n, path in files.items() if check["file_abs_path"] == str(path))
            by_file[name].setdefault(kind, []).append(check)
    return by_file


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_checkov_finds_nothing_unskipped(results: dict[str, dict[str, Any]], configuration: str) -> None:
    failed = [(c["check_id"], c["resource"]) for c in results[configuration]["failed_checks"]]

    assert failed == []


@pytest.mark.parametrize("configuration", sorted(CONFIGURATIONS))
def test_every_checkov_skip_gives_its_reason(results: dict[str, dict[str, Any]], configuration: str) -> None:
    skipped = results[configuration]["skipped_checks"]

    assert skipped
    short = [(c["check_id"], c["resource"]) for c in skipped if len(c["check_result"].get("suppress_comment", "")) < 60]
    assert short == []


def test_the_template_without_its_skips_fails_checkov(results: dict[str, dict[str, Any]]) -> None:
    assert {check["check_id"] for check in results[UNSKIPPED]["failed_checks"]} == EXPECTED_WITHOUT_SKIPS
