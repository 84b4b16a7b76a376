"""The workflow file the GitHub double serves from ``.github/workflows/{workflow}``, unless a test gives its own.

Generated from what the double itself enforces (the declared inputs and the ``run-name`` template), so the file a
client reads and the dispatches the double accepts can never disagree. Strings are written as JSON, which YAML
reads back unchanged (``${{ ... }}`` and quotes included).
"""

from __future__ import annotations

import json
from collections.abc import Iterable


def render_workflow_file(*, name: str, declared_inputs: Iterable[str], run_name: str | None) -> str:
    """A minimal valid workflow with a ``workflow_dispatch`` trigger declaring ``declared_inputs`` (all optional)."""
    lines = [f"name: {json.dumps(name)}"]
    if run_name is not None:
        lines.append(f"run-name: {json.dumps(run_name)}")
    lines += ["", "on:", "  workflow_dispatch:"]
    inputs = sorted(declared_inputs)
    if inputs:
        lines.append("    inputs:")
        for input_name in inputs:
            lines += [
                f"      {json.dumps(input_name)}:",
                f"        description: {json.dumps(f'{input_name} (sent by deploy-trigger)')}",
                "        required: false",
                "        type: string",
            ]
    lines += [
        "",
        "jobs:",
        "  deploy:",
        "    runs-on: ubuntu-latest",
        "    steps:",
        '      - run: echo "deploying ${{ inputs.instance_id }}"',
        "",
    ]
    return "\n".join(lines)
