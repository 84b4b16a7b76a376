"""The example batch workflow keeps batch mode's contract: the two inputs, the dispatch ID in the run name, one
matrix job per instance named by its ID, siblings never cancelled, jobs serialized per instance, and deploy.yml's
steps per instance. A copy that drifts from what the dispatcher sends or the tracker reads fails here."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from deploy_trigger.runs import WorkflowJob
from deploy_trigger.workflow_contract import (
    BATCH_INSTANCE_FIELDS,
    BATCH_RESERVED_INPUTS,
    BATCH_RUN_NAME,
    MAX_WORKFLOW_INPUTS,
)
from tests.examples.workflow_files import BATCH, SINGLE, load_workflow

#: What deploy.yml reads from its inputs, the batch workflow reads from its matrix entry.
MATRIX_ENTRY = "matrix.instance."


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return load_workflow(BATCH)


@pytest.fixture(scope="module")
def job(workflow: dict[Any, Any]) -> dict[str, Any]:
    (only,) = workflow["jobs"].values()
    return only  # type: ignore[no-any-return]


def test_declares_exactly_the_inputs_the_batch_dispatcher_sends(workflow: dict[Any, Any]) -> None:
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]

    assert set(inputs) == BATCH_RESERVED_INPUTS
    assert len(inputs) <= MAX_WORKFLOW_INPUTS
    assert all(spec["type"] == "string" and spec["required"] is True for spec in inputs.values())


def test_run_name_carries_the_dispatch_id_so_a_lost_answer_can_be_reconciled(workflow: dict[Any, Any]) -> None:
    assert workflow["run-name"] == BATCH_RUN_NAME
    assert "${{ inputs.dispatch_id }}" in workflow["run-name"]


def test_one_matrix_job_per_instance_and_no_other_dimension(job: dict[str, Any]) -> None:
    # Another matrix key would multiply the jobs: each instance deployed once per combination.
    assert job["strategy"]["matrix"] == {"instance": "${{ fromJSON(inputs.instances) }}"}


def test_one_instance_failing_never_cancels_its_siblings(job: dict[str, Any]) -> None:
    assert job["strategy"]["fail-fast"] is False


def test_each_job_is_named_by_its_instance_id_as_the_tracker_reads_it(job: dict[str, Any]) -> None:
    instance_id = "i-0123456789abcdef0"
    rendered = job["name"].replace("${{ matrix.instance.instance_id }}", instance_id)

    assert job["name"] == "${{ matrix.instance.instance_id }}"
    assert WorkflowJob(job_id=1, name=rendered, status="queued", conclusion=None).instance_ids() == [instance_id]


def test_jobs_for_one_instance_are_serialized_with_single_runs_and_never_cancelled(
    workflow: dict[Any, Any], job: dict[str, Any]
) -> None:
    single = load_workflow(SINGLE)["concurrency"]

    assert "concurrency" not in workflow  # a workflow-level group would make one pending batch cancel another
    assert job["concurrency"]["cancel-in-progress"] is False
    assert job["concurrency"]["group"] == single["group"].replace("inputs.", MATRIX_ENTRY)
    assert f"{MATRIX_ENTRY}instance_id" in job["concurrency"]["group"]


def test_every_field_it_reads_from_an_instance_is_one_the_dispatcher_sends(workflow: dict[Any, Any]) -> None:
    text = json.dumps(workflow["jobs"])
    read = set(re.findall(rf"{re.escape(MATRIX_ENTRY)}(\w+)", text))

    assert read == set(BATCH_INSTANCE_FIELDS)


def test_each_instance_gets_exactly_deploy_yml_s_steps(job: dict[str, Any]) -> None:
    """The steps are deploy.yml's, reading the matrix entry where deploy.yml reads its inputs: one place to fill in
    the deploy, and the same verification and lifecycle completion for a batch as for a single run."""
    (single,) = load_workflow(SINGLE)["jobs"].values()
    per_instance = json.loads(json.dumps(single).replace("inputs.", MATRIX_ENTRY))

    assert job["steps"] == per_instance["steps"]
    assert job["env"] == per_instance["env"]
    assert job["permissions"] == per_instance["permissions"]
    assert job["timeout-minutes"] == per_instance["timeout-minutes"]


def test_no_input_is_interpolated_into_a_shell_script(job: dict[str, Any]) -> None:
    scripts = [step["run"] for step in job["steps"] if "run" in step]

    assert scripts
    assert not [script for script in scripts if "${{" in script]


def test_each_job_verifies_then_completes_its_own_instance_s_lifecycle_action(job: dict[str, Any]) -> None:
    steps = job["steps"]
    names = [step.get("name", "") for step in steps]
    verify = next(i for i, n in enumerate(names) if n.startswith("Verify"))
    completions = {
        step["run"].split("--lifecycle-action-result")[1].strip(): (index, step)
        for index, step in enumerate(steps)
        if "complete-lifecycle-action" in step.get("run", "")
    }

    assert set(completions) == {"CONTINUE", "ABANDON"}
    assert all(index > verify for index, _ in completions.values())
    assert "success()" in completions["CONTINUE"][1]["if"]
    assert "failure()" in completions["ABANDON"][1]["if"]
    for _, step in completions.values():
        assert f"{MATRIX_ENTRY}lifecycle_hook_name != ''" in step["if"]  # plain mode has no action to complete
        assert '--instance-id "$INSTANCE_ID"' in step["run"]
    assert job["env"]["INSTANCE_ID"] == "${{ matrix.instance.instance_id }}"
