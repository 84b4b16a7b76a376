"""The workflow file the GitHub double serves from ``.github/workflows/{workflow}``, unless a test gives its own.

Generated from what the double itself enforces (the declared inputs and the ``run-name`` template), so the file a
client reads and the dispatches the double accepts can never disagree. Strings are written as JSON, which YAML
reads back unchanged (``${{ ... }}`` and quotes included).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from stand_ins.github_jobs import BATCH_INPUT


def render_workflow_file(*, name: str, declared_inputs: Iterable[str], run_name: str | None) -> str:
    """A minimal valid workflow with a ``workflow_dispatch`` trigger declaring ``declared_inputs`` (all optional);
    with ``instances`` among them, a batch workflow whose matrix job runs once per instance."""
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
    lines += ["", "jobs:", "  deploy:"]
    lines += _batch_job() if BATCH_INPUT in inputs else _single_job()
    return "\n".join(lines)


def _single_job() -> list[str]:
    return ["    runs-on: ubuntu-latest", "    steps:", '      - run: echo "deploying ${{ inputs.instance_id }}"', ""]


def _batch_job() -> list[str]:
    """One matrix job per instance in ``inputs.instances``, named by its instance ID, as the double makes them
    (stand_ins/github_jobs.py) and the example batch workflow declares them; one failure cancels no sibling."""
    return [
        "    name: ${{ matrix.instance.instance_id }}",
        "    strategy:",
        "      fail-fast: false",
        "      matrix:",
        "        instance: ${{ fromJSON(inputs.instances) }}",
        "    runs-on: ubuntu-latest",
        "    steps:",
        '      - run: echo "deploying ${{ matrix.instance.instance_id }}"',
        "",
    ]
