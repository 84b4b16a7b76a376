"""The CLI as ``pip install`` gives it: a wheel without the stand-ins, the drill or test tooling, so nothing the
console script imports may come from them, and dependencies pinned exactly as the dev install pins them."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT_ROOT = Path(__file__).resolve().parents[2]

#: Top-level packages of the development side (and moto, a dev-only dependency the stand-ins run on).
DEV_ONLY_PACKAGES = {"stand_ins", "drill", "tests", "moto"}

LIST_LOADED_PACKAGES = (
    "import json, sys\n"
    "import deploy_trigger_cli.main\n"
    "print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))\n"
)


def test_importing_the_cli_loads_no_stand_in_drill_or_test_module() -> None:
    # A fresh interpreter: this one has loaded the stand-ins already (the test fixtures import them).
    answer = subprocess.run(  # noqa: S603 - fixed argument list
        [sys.executable, "-c", LIST_LOADED_PACKAGES], capture_output=True, text=True, timeout=60, check=False
    )

    assert answer.returncode == 0, answer.stderr
    loaded = set(json.loads(answer.stdout))
    assert "deploy_trigger_cli" in loaded
    assert not loaded & DEV_ONLY_PACKAGES


def _pins(requirements: Path) -> dict[str, str]:
    """Every requirement of a pip requirements file, following ``-r`` includes, as name -> full requirement."""
    pins: dict[str, str] = {}
    for raw in requirements.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(_pins(requirements.parent / line.removeprefix("-r ").strip()))
        elif line:
            pins[canonicalize_name(Requirement(line).name)] = str(Requirement(line))
    return pins


def _declared(requirements: list[str]) -> dict[str, str]:
    return {canonicalize_name(Requirement(line).name): str(Requirement(line)) for line in requirements}


def test_pyproject_pins_what_requirements_txt_pins() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    runtime = _declared(project["project"]["dependencies"])
    development = _declared(project["dependency-groups"]["dev"])
    dev_install = _pins(PROJECT_ROOT / "requirements.txt")

    assert not runtime.keys() & development.keys()
    assert {**runtime, **development} == dev_install
    assert all("==" in requirement for requirement in dev_install.values())


def test_the_wheel_needs_every_pin_the_lambda_bundle_has() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    runtime = _declared(project["project"]["dependencies"])
    bundled = _pins(PROJECT_ROOT / "lambda_src" / "deploy_trigger" / "requirements.txt")

    assert bundled.items() <= runtime.items()


def test_the_wheel_ships_no_development_package() -> None:
    packages = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]

    assert {"deploy_trigger", "deploy_trigger_cli", "infra"} <= set(packages)
    assert not {package.split(".")[0] for package in packages} & DEV_ONLY_PACKAGES


def test_the_wheel_ships_every_package_of_what_it_ships() -> None:
    """A subpackage left out of the list installs a CLI that fails on import (``deploy_trigger.ledger`` was)."""
    packages = set(tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    roots = {"deploy_trigger": PROJECT_ROOT / "lambda_src" / "deploy_trigger"} | {
        name: PROJECT_ROOT / name for name in ("deploy_trigger_cli", "infra")
    }
    found = {
        ".".join((name, *init.parent.relative_to(root).parts))
        for name, root in roots.items()
        for init in root.rglob("__init__.py")
    }

    assert found == packages
