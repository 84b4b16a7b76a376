"""The example workflow keeps the dispatcher's contract: every input declared, the dispatch ID in the run name,
runs serialized per instance. A copy that drifts from what the dispatcher sends fails here, not in production."""

from typing import Any

import pytest

from deploy_trigger.workflow_contract import MAX_WORKFLOW_INPUTS, RESERVED_INPUTS, RUN_NAME
from tests.examples.workflow_files import SINGLE, load_workflow


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    return load_workflow(SINGLE)


def test_declares_exactly_the_inputs_the_dispatcher_sends(workflow: dict[Any, Any]) -> None:
    inputs = workflow["on"]["workflow_dispatch"]["inputs"]

    assert set(inputs) == RESERVED_INPUTS
    assert len(inputs) <= MAX_WORKFLOW_INPUTS
    assert all(spec["type"] == "string" for spec in inputs.values())


def test_run_name_carries_the_dispatch_id_so_a_lost_answer_can_be_reconciled(workflow: dict[Any, Any]) -> None:
    assert "${{ inputs.dispatch_id }}" in workflow["run-name"]
    assert workflow["run-name"] == RUN_NAME


def test_runs_for_one_instance_are_serialized_and_never_cancelled(workflow: dict[Any, Any]) -> None:
    concurrency = workflow["concurrency"]

    assert "inputs.instance_id" in concurrency["group"]
    assert concurrency["cancel-in-progress"] is False


def steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return workflow["jobs"]["deploy"]["steps"]  # type: ignore[no-any-return]


def test_no_input_is_interpolated_into_a_shell_script(workflow: dict[Any, Any]) -> None:
    scripts = [step["run"] for step in steps(workflow) if "run" in step]

    assert scripts
    assert not [script for script in scripts if "${{" in script]


def test_verification_runs_after_the_deploy_and_gates_the_lifecycle_result(workflow: dict[Any, Any]) -> None:
    names = [step.get("name", "") for step in steps(workflow)]
    deploy = next(i for i, n in enumerate(names) if n.startswith("Deploy"))
    verify = next(i for i, n in enumerate(names) if n.startswith("Verify"))
    results = {
        step["run"].split("--lifecycle-action-result")[1].strip(): step["if"]
        for step in steps(workflow)
        if "complete-lifecycle-action" in step.get("run", "")
    }

    assert deploy < verify < min(i for i, s in enumerate(steps(workflow)) if "complete-lifecycle" in s.get("run", ""))
    assert "success()" in results["CONTINUE"]
    assert "failure()" in results["ABANDON"]
