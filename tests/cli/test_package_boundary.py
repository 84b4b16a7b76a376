"""The shipped CLI stands on its own: a ``pip install`` of this project has no stand-ins, drill or test tooling,
so nothing the console script imports may come from them."""

from __future__ import annotations

import json
import subprocess
import sys

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
