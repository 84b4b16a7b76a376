"""The pure parts: workflow YAML, dead-letter message shapes, `--since` times. No servers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deploy_trigger.ledger.schema import iso_time
from deploy_trigger.workflow_contract import BATCH_RESERVED_INPUTS, RESERVED_INPUTS
from deploy_trigger_cli.config import DeadLetterQueue
from deploy_trigger_cli.dead_letters import EVENT, FAILURE_RECORD, UNRECOGNIZED, parse_message
from deploy_trigger_cli.timestamps import parse_since
from deploy_trigger_cli.workflow_contract import (
    WorkflowUnreadable,
    batch_matrix_problems,
    batch_matrix_summary,
    input_problems,
    parse_workflow,
    run_name_problem,
)
from stand_ins.autoscaling_events import lifecycle_action
from stand_ins.github_workflow_file import render_workflow_file
from tests.cli.conftest import failure_record
from tests.examples.workflow_files import BATCH, SINGLE

QUEUE = DeadLetterQueue("https://sqs.us-east-1.amazonaws.com/123456789012/dlq", "dlq")
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


# -- workflow YAML --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "triggers",
    [
        "on: workflow_dispatch",
        "on: [push, workflow_dispatch]",
        "on:\n  workflow_dispatch:",
        '"on":\n  workflow_dispatch: {}',
        "true:\n  workflow_dispatch:",
    ],
)
def test_every_spelling_of_a_dispatch_trigger_is_found(triggers: str) -> None:
    workflow = parse_workflow(f"name: x\n{triggers}\njobs: {{}}\n")

    assert workflow.has_dispatch_trigger
    assert workflow.inputs == {}
    assert input_problems(workflow, {"instance_id"}) == [
        "it does not declare input(s) instance_id that the dispatcher sends, so GitHub rejects every dispatch "
        '(422 "Unexpected inputs provided") and the launches end FAILED'
    ]


@pytest.mark.parametrize("triggers", ["on: push", "on: [push, schedule]", "on:\n  push:\n  pull_request:", ""])
def test_a_workflow_without_dispatch_trigger_is_a_problem(triggers: str) -> None:
    workflow = parse_workflow(f"name: x\n{triggers}\n")

    assert not workflow.has_dispatch_trigger
    assert "no workflow_dispatch trigger" in input_problems(workflow, set(RESERVED_INPUTS))[0]


def test_the_example_workflow_keeps_the_contract() -> None:
    workflow = parse_workflow(SINGLE.read_text())

    assert input_problems(workflow, set(RESERVED_INPUTS)) == []
    assert run_name_problem(workflow) is None


def test_the_doubles_generated_workflow_keeps_the_contract() -> None:
    workflow = parse_workflow(
        render_workflow_file(name="Deploy", declared_inputs=RESERVED_INPUTS, run_name="x ${{ inputs.dispatch_id }}")
    )

    assert set(workflow.inputs) == RESERVED_INPUTS
    assert input_problems(workflow, set(RESERVED_INPUTS)) == []
    assert run_name_problem(workflow) is None


def test_required_inputs_with_a_default_are_fine_without_one_a_problem() -> None:
    text = "on:\n  workflow_dispatch:\n    inputs:\n      a: {required: true, default: x}\n      b: {required: true}\n"

    assert input_problems(parse_workflow(text), {"a"}) == [
        "it requires input(s) b that the dispatcher does not send, so GitHub rejects the dispatch (422); add them to "
        "WORKFLOW_EXTRA_INPUTS or give them a default"
    ]


@pytest.mark.parametrize(
    ("run_name", "ok"),
    [
        ("Deploy ${{ inputs.instance_id }} (${{ inputs.dispatch_id }})", True),
        ("${{inputs.dispatch_id}}", True),
        ("Deploy ${{ github.event.inputs.dispatch_id }}", True),
        ("Deploy ${{ format('{0}', inputs.dispatch_id) }}", True),
        ("Deploy ${{ inputs.dispatch_idx }}", False),
        ("Deploy inputs.dispatch_id", False),
        ("Deploy ${{ inputs.instance_id }}", False),
    ],
)
def test_run_name_must_render_the_dispatch_id(run_name: str, ok: bool) -> None:
    workflow = parse_workflow(f"run-name: {json.dumps(run_name)}\non: workflow_dispatch\n")

    assert (run_name_problem(workflow) is None) is ok


def test_the_example_batch_workflow_keeps_the_batch_contract() -> None:
    workflow = parse_workflow(BATCH.read_text())

    assert input_problems(workflow, set(BATCH_RESERVED_INPUTS)) == []
    assert run_name_problem(workflow) is None
    assert batch_matrix_problems(workflow) == []
    assert batch_matrix_summary(workflow) == (
        "job deploy runs one job per instance, named ${{ matrix.instance.instance_id }}, fail-fast false"
    )


def batch_workflow(jobs: str) -> str:
    return f"run-name: Deploy batch (${{{{ inputs.dispatch_id }}}})\non: workflow_dispatch\njobs:\n{jobs}"


def matrix_job(
    matrix: str = "instance: ${{ fromJSON(inputs.instances) }}",
    name: str | None = "${{ matrix.instance.instance_id }}",
    fail_fast: str = "false",
    job_id: str = "deploy",
) -> str:
    named = f"    name: {json.dumps(name)}\n" if name is not None else ""
    return f"  {job_id}:\n{named}    strategy:\n      fail-fast: {fail_fast}\n      matrix:\n        {matrix}\n"


@pytest.mark.parametrize(
    "job",
    [
        matrix_job(),
        matrix_job(matrix="instance: ${{fromJson(inputs.instances)}}"),
        matrix_job(
            matrix="host: ${{ fromJSON(github.event.inputs.instances) }}", name="${{ matrix.host.instance_id }}"
        ),
        matrix_job(name="Deploy ${{ format('{0} ({1})', matrix.instance.instance_id, matrix.instance.asg_name) }}"),
        # `include` spreads each object's fields into the matrix itself.
        matrix_job(matrix="include: ${{ fromJSON(inputs.instances) }}", name="${{ matrix.instance_id }}"),
    ],
    ids=["example", "fromJson", "other key", "format", "include"],
)
def test_every_spelling_of_one_job_per_instance_is_found(job: str) -> None:
    assert batch_matrix_problems(parse_workflow(batch_workflow(job))) == []


@pytest.mark.parametrize(
    ("jobs", "problem"),
    [
        (
            "  deploy:\n    runs-on: ubuntu-latest\n",
            "it has no job with a matrix over ${{ fromJSON(inputs.instances) }}",
        ),
        (matrix_job(matrix="instance: ${{ inputs.instances }}"), "it has no job with a matrix over"),
        (matrix_job(fail_fast="true"), "job deploy does not set fail-fast: false (GitHub's default is true)"),
        (matrix_job(name=None), "job deploy has no name, so it does not contain ${{ matrix.instance.instance_id }}"),
        (
            matrix_job(name="Deploy ${{ matrix.instance.asg_name }}"),
            "does not contain ${{ matrix.instance.instance_id }}",
        ),
        (matrix_job(name="matrix.instance.instance_id"), "does not contain ${{ matrix.instance.instance_id }}"),
        (matrix_job(matrix="include: ${{ fromJSON(inputs.instances) }}"), "does not contain ${{ matrix.instance_id }}"),
        (
            matrix_job(matrix="instance: ${{ fromJSON(inputs.instances) }}\n        region: [a, b]"),
            "job deploy's matrix has key(s) region besides instance: GitHub runs a job for every combination",
        ),
        (matrix_job() + matrix_job(job_id="verify"), "jobs deploy, verify each have a matrix over inputs.instances"),
    ],
    ids=[
        "no matrix",
        "not fromJSON",
        "fail-fast true",
        "no name",
        "name without the id",
        "name not an expression",
        "include without the id",
        "second dimension",
        "two matrix jobs",
    ],
)
def test_a_batch_workflow_that_would_not_deploy_each_instance_once_in_its_own_job_is_a_problem(
    jobs: str, problem: str
) -> None:
    problems = batch_matrix_problems(parse_workflow(batch_workflow(jobs)))

    assert len(problems) == 1, problems
    assert problem in problems[0]


def test_the_single_workflow_has_no_batch_matrix() -> None:
    workflow = parse_workflow(SINGLE.read_text())

    assert batch_matrix_problems(workflow) == [
        "it has no job with a matrix over ${{ fromJSON(inputs.instances) }}: the run does not deploy each instance in "
        "a job of its own, and the tracker, which follows each instance by its job, finds none"
    ]
    assert input_problems(workflow, set(BATCH_RESERVED_INPUTS)) == [
        "it does not declare input(s) instances that the dispatcher sends, so GitHub rejects every dispatch "
        '(422 "Unexpected inputs provided") and the launches end FAILED',
        "it requires input(s) asg_name, aws_region, instance_id that the dispatcher does not send, so GitHub rejects "
        "the dispatch (422); add them to WORKFLOW_EXTRA_INPUTS or give them a default",
    ]


@pytest.mark.parametrize("text", ["on: [unclosed", "- just\n- a list\n", "just text"])
def test_unreadable_workflows_are_reported_not_raised_raw(text: str) -> None:
    with pytest.raises(WorkflowUnreadable):
        parse_workflow(text)


# -- dead-letter messages -------------------------------------------------------------------------------------


def message(body: Any, **attributes: str) -> dict[str, Any]:
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "r-1",
        "Body": body if isinstance(body, str) else json.dumps(body),
        "Attributes": {"SentTimestamp": "1795435200000", "ApproximateReceiveCount": "2"},
        "MessageAttributes": {name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()},
    }


def test_an_eventbridge_dlq_message_is_the_event_with_error_attributes() -> None:
    event = lifecycle_action("i-0123456789abcdef0")

    letter = parse_message(QUEUE, message(event, ERROR_CODE="SDK_CLIENT_ERROR", ERROR_MESSAGE="Throttled"))

    assert (letter.shape, letter.event, letter.instance_id) == (EVENT, event, "i-0123456789abcdef0")
    assert letter.error == "SDK_CLIENT_ERROR: Throttled"
    assert letter.sent_at == "2026-11-23T12:00:00Z"
    assert letter.receive_count == 2


def test_a_lambda_function_dlq_message_has_its_own_attribute_names() -> None:
    letter = parse_message(
        QUEUE, message(lifecycle_action("i-0123456789abcdef0"), ErrorCode="200", ErrorMessage="boom")
    )

    assert letter.error == "200: boom"


def test_an_on_failure_record_carries_the_event_and_the_error() -> None:
    event = lifecycle_action("i-0123456789abcdef0")

    letter = parse_message(QUEUE, message(failure_record(event, "DispatchRejected", "HTTP 422", "EventAgeExceeded")))

    assert (letter.shape, letter.event) == (FAILURE_RECORD, event)
    assert letter.error == "DispatchRejected: HTTP 422 (EventAgeExceeded, 3 attempt(s))"


def test_an_on_failure_record_without_a_response_still_replays() -> None:
    event = lifecycle_action("i-0123456789abcdef0")
    record = {"requestContext": {"condition": "EventAgeExceeded"}, "requestPayload": json.dumps(event)}

    letter = parse_message(QUEUE, message(record))

    assert (letter.shape, letter.event) == (FAILURE_RECORD, event)
    assert letter.error == "no error recorded (EventAgeExceeded)"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("{not json", "the body is not JSON"),
        ({"hello": "world"}, "neither an EventBridge event nor a Lambda on-failure record"),
        ({"requestPayload": 42}, "an on-failure record whose requestPayload is no event"),
    ],
)
def test_anything_else_is_unrecognized(body: Any, error: str) -> None:
    letter = parse_message(QUEUE, message(body))

    assert (letter.shape, letter.event, letter.error) == (UNRECOGNIZED, None, error)


# -- --since --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", NOW - timedelta(hours=2)),
        ("30m", NOW - timedelta(minutes=30)),
        ("45s", NOW - timedelta(seconds=45)),
        ("7d", NOW - timedelta(days=7)),
        ("1w", NOW - timedelta(weeks=1)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("2026-11-23T00:00:00Z", datetime(2026, 11, 23, tzinfo=UTC)),
        ("2026-11-23T01:00:00+01:00", datetime(2026, 11, 23, tzinfo=UTC)),
        ("2026-11-23", datetime(2026, 11, 23, tzinfo=UTC)),
    ],
)
def test_since_accepts_durations_and_iso_times(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "2 hours", "h2", ""])
def test_since_rejects_anything_else_with_the_accepted_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"30m, 2h, 7d, 1w"):
        parse_since(text, NOW)


def test_ledger_time_matches_the_ledgers_own_format_so_strings_compare_as_times() -> None:
    assert iso_time(datetime(2026, 11, 23, 4, 15, 2, 5000, tzinfo=UTC).timestamp()) == "2026-11-23T04:15:02.005Z"
    assert iso_time((NOW - timedelta(hours=1)).timestamp()) < iso_time(NOW.timestamp())
