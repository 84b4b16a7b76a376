"""The example workflows as the tests read them: YAML, with the trigger under ``on`` however PyYAML spelled it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).parents[2] / "examples" / "workflows"
SINGLE = WORKFLOWS / "deploy.yml"
BATCH = WORKFLOWS / "deploy-batch.yml"


def load_workflow(path: Path) -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the bare key `on` as the boolean True.
    loaded["on"] = loaded.pop(True, loaded.get("on"))
    return loaded
