"""`redrive`: dead-letter messages of both shapes replayed through the real handler (local target) or an async
invoke (lambda target, botocore Stubber), deleted only after a successful replay; one run per instance throughout."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from stand_ins.autoscaling_events import launch_successful, lifecycle_action
from stand_ins.github_double import GitHubDouble, Reject
from tests.cli.conftest import CliResult, failure_record
from tests.stand_in_fixtures import Deployment

Run = Callable[..., CliResult]
#: The stubbed dispatcher function, and ``redrive --target lambda --yes --json`` aimed at it.
LambdaTarget = tuple[Stubber, Callable[[], CliResult]]
UNEXPECTED = 'Unexpected inputs provided: ["aws_region"]'


def delivery_failed(deployment: Deployment, event: dict[str, Any]) -> None:
    """What the rule target's DLQ receives: the event, with EventBridge's error attributes."""
    deployment.send(
        deployment.delivery_dlq,
        event,
        {"ERROR_CODE": "NO_PERMISSIONS", "ERROR_MESSAGE": "Lambda function not accessible", "RULE_ARN": "arn:..."},
    )


def function_failed(deployment: Deployment, event: dict[str, Any], error_type: str, message: str) -> None:
    deployment.send(deployment.failure_dlq, failure_record(event, error_type, message))


def in_both_queues(deployment: Deployment, raw: dict[str, Any], recorded: dict[str, Any], message: str) -> None:
    """``raw`` in the delivery DLQ, and ``recorded`` in the on-failure queue after an OutcomeUnknown (``message``)."""
    delivery_failed(deployment, raw)
    function_failed(deployment, recorded, "OutcomeUnknown", message)


def messages(result: CliResult) -> list[dict[str, Any]]:
    return result.json()["messages"]  # type: ignore[no-any-return]


def test_dry_run_lists_both_shapes_with_their_errors_and_changes_nothing(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    raw, recorded = lifecycle_action(instance_ids()), launch_successful(instance_ids())
    in_both_queues(deployment, raw, recorded, "dispatch answered HTTP 502: Bad Gateway")

    result = run_cli("redrive", "--target", "local", "--json")

    assert result.code == 0
    report = result.json()
    assert report["dry_run"] is True
    by_shape = {message["shape"]: message for message in messages(result)}
    assert by_shape["event"]["instance_id"] == raw["detail"]["EC2InstanceId"]
    assert by_shape["event"]["error"] == "NO_PERMISSIONS: Lambda function not accessible"
    assert by_shape["on-failure record"]["instance_id"] == recorded["detail"]["EC2InstanceId"]
    assert by_shape["on-failure record"]["error"] == (
        "OutcomeUnknown: dispatch answered HTTP 502: Bad Gateway (RetriesExhausted, 3 attempt(s))"
    )
    assert {message["outcome"] for message in messages(result)} == {"would replay"}
    assert {message["expectation"] for message in messages(result)} == {"no ledger entry: the replay dispatches once"}
    # Nothing happened: no run, no ledger entry, both messages still there and visible again at once.
    assert github.runs == []
    assert deployment.status(raw["detail"]["EC2InstanceId"]) is None
    assert deployment.visible(deployment.delivery_dlq) == deployment.visible(deployment.failure_dlq) == 1


def test_dry_run_text_says_how_to_replay(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    delivery_failed(deployment, lifecycle_action(instance_ids()))

    result = run_cli("redrive", "--target", "local")

    assert result.code == 0
    assert "Dry run: nothing replayed, reset or deleted." in result.out
    assert "error:    NO_PERMISSIONS: Lambda function not accessible" in result.out
    assert "Run again with --yes to replay 1 message(s)" in result.out


def test_yes_replays_on_failure_records_and_raw_events_and_deletes_them(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    raw, recorded = lifecycle_action(instance_ids()), lifecycle_action(instance_ids())
    in_both_queues(deployment, raw, recorded, "dispatch sent but no answer: ReadTimeout")

    result = run_cli("redrive", "--target", "local", "--yes", "--json")

    assert result.code == 0, result.out
    assert [message["outcome"] for message in messages(result)] == ["replayed", "replayed"]
    assert result.json()["replayed"] == 2
    assert result.json()["remaining"] == 0
    assert sorted(run.inputs["instance_id"] for run in github.runs) == sorted(
        event["detail"]["EC2InstanceId"] for event in (raw, recorded)
    )
    assert deployment.status(raw["detail"]["EC2InstanceId"]) == "DISPATCHED"
    assert deployment.status(recorded["detail"]["EC2InstanceId"]) == "DISPATCHED"
    assert deployment.queued(deployment.delivery_dlq) == deployment.queued(deployment.failure_dlq) == 0


def test_running_redrive_twice_yields_one_run_per_instance(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    # The same launch in both queues (delivered late and also failed), plus an event already dispatched.
    twice, done = lifecycle_action(instance_ids()), lifecycle_action(instance_ids())
    assert not deployment.handle(done).failed
    in_both_queues(deployment, twice, twice, "dispatch answered HTTP 502")
    function_failed(deployment, done, "OutcomeUnknown", "dispatch answered HTTP 502")

    first = run_cli("redrive", "--target", "local", "--yes", "--json")
    second = run_cli("redrive", "--target", "local", "--yes", "--json")

    assert first.code == second.code == 0
    details = [message["detail"] for message in messages(first)]
    assert details[0].startswith("dispatched: run ")
    assert details[1].startswith("duplicate: already dispatched")
    assert details[2].startswith("duplicate: already dispatched")
    assert messages(second) == []
    runs_per_instance = [run.inputs["instance_id"] for run in github.runs]
    assert sorted(runs_per_instance) == sorted({twice["detail"]["EC2InstanceId"], done["detail"]["EC2InstanceId"]})
    assert github.count("POST", "/dispatches") == 2


@pytest.fixture
def rejected_launch(deployment: Deployment, github: GitHubDouble, instance_ids: Callable[[], str]) -> dict[str, Any]:
    """A launch GitHub rejected (FAILED in the ledger), its event in the on-failure queue, as Lambda leaves it."""
    event = lifecycle_action(instance_ids())
    github.inject(Reject(422, UNEXPECTED))
    invocation = deployment.handle(event)
    assert invocation.error == "DispatchRejected"
    function_failed(deployment, event, invocation.error, invocation.message)
    assert deployment.status(event["detail"]["EC2InstanceId"]) == "FAILED"
    return event


def test_a_failed_entry_stays_failed_without_a_post_unless_reset(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, rejected_launch: dict[str, Any]
) -> None:
    instance = rejected_launch["detail"]["EC2InstanceId"]

    dry = run_cli("redrive", "--target", "local", "--json")
    replayed = run_cli("redrive", "--target", "local", "--yes", "--json")

    assert "the replay fails again without calling GitHub" in messages(dry)[0]["expectation"]
    assert replayed.code == 1
    (message,) = messages(replayed)
    assert message["outcome"] == "failed"
    assert message["detail"].startswith("PreviouslyRejected: ")
    assert message["detail"].endswith("the message stays in its queue")
    assert github.count("POST", "/dispatches") == 1  # only the original, rejected one
    assert github.runs == []
    assert deployment.status(instance) == "FAILED"
    assert deployment.visible(deployment.failure_dlq) == 1


def test_redrive_with_reset_failed_resets_and_dispatches_once(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, rejected_launch: dict[str, Any]
) -> None:
    instance = rejected_launch["detail"]["EC2InstanceId"]

    dry = run_cli("redrive", "--target", "local", "--reset-failed", "--json")
    assert deployment.status(instance) == "FAILED"  # a dry run resets nothing
    assert messages(dry)[0]["action"] == "reset, then replay"

    result = run_cli("redrive", "--target", "local", "--reset-failed", "--yes", "--json")
    again = run_cli("redrive", "--target", "local", "--reset-failed", "--yes", "--json")

    assert result.code == again.code == 0
    assert messages(result)[0]["outcome"] == "replayed"
    assert messages(again) == []
    assert [run.inputs["instance_id"] for run in github.runs] == [instance]
    assert deployment.status(instance) == "DISPATCHED"
    events = [event.event for event in deployment.item(instance).history]
    assert events == ["claimed", "rejected", "reset", "claimed", "dispatched"]
    assert deployment.queued(deployment.failure_dlq) == 0


def test_reset_then_redrive_dispatches_once(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, rejected_launch: dict[str, Any]
) -> None:
    instance = rejected_launch["detail"]["EC2InstanceId"]

    assert run_cli("reset", instance).code == 0
    result = run_cli("redrive", "--target", "local", "--yes", "--json")

    assert result.code == 0
    assert messages(result)[0]["expectation"] == "ledger RESET: the replay dispatches once"
    assert [run.inputs["instance_id"] for run in github.runs] == [instance]


def test_a_message_that_is_no_event_stays_and_fails_the_run(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    deployment.send(deployment.failure_dlq, "not json at all")
    deployment.send(deployment.failure_dlq, {"hello": "world"})
    delivery_failed(deployment, lifecycle_action(instance_ids()))

    result = run_cli("redrive", "--target", "local", "--yes", "--json")

    assert result.code == 1
    outcomes = sorted((message["shape"], message["outcome"]) for message in messages(result))
    assert outcomes == [("event", "replayed"), ("unrecognized", "left"), ("unrecognized", "left")]
    assert deployment.visible(deployment.failure_dlq) == 2
    assert deployment.queued(deployment.delivery_dlq) == 0


def test_an_ignored_event_is_replayed_to_clear_it(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    delivery_failed(deployment, lifecycle_action(instance_ids(), hook_name="bootstrap-hook"))

    result = run_cli("redrive", "--target", "local", "--yes", "--json")

    assert result.code == 0
    (message,) = messages(result)
    assert message["detail"].startswith("ignored by the dispatcher: lifecycle hook 'bootstrap-hook' is not")
    assert github.runs == []


# -- the lambda target --------------------------------------------------------------------------------------


@pytest.fixture
def lambda_target(run_cli: Run) -> Iterator[LambdaTarget]:
    """The dispatcher function behind a botocore Stubber, and ``redrive --target lambda --yes`` aimed at it."""
    client = boto3.client("lambda", region_name="us-east-1", endpoint_url="http://127.0.0.1:9")
    with Stubber(client) as stubber:
        yield (
            stubber,
            lambda: run_cli("redrive", "--target", "lambda", "--yes", "--json", aws_clients={"lambda": client}),
        )
        stubber.assert_no_pending_responses()


def test_lambda_target_invokes_the_function_asynchronously_and_deletes_after_acceptance(
    deployment: Deployment, github: GitHubDouble, instance_ids: Callable[[], str], lambda_target: LambdaTarget
) -> None:
    stubber, redrive = lambda_target
    raw, recorded = lifecycle_action(instance_ids()), lifecycle_action(instance_ids())
    in_both_queues(deployment, raw, recorded, "dispatch answered HTTP 502")
    for event in (raw, recorded):
        stubber.add_response(
            "invoke",
            {"StatusCode": 202},
            {"FunctionName": deployment.function, "InvocationType": "Event", "Payload": json.dumps(event).encode()},
        )

    result = redrive()

    assert result.code == 0, result.out
    assert result.json()["target"] == f"function {deployment.function} (asynchronous invoke)"
    assert [message["outcome"] for message in messages(result)] == ["replayed", "replayed"]
    assert deployment.queued(deployment.delivery_dlq) == deployment.queued(deployment.failure_dlq) == 0
    assert github.runs == []  # the deployed function dispatches, not this process


def test_lambda_target_keeps_the_message_when_the_invoke_is_refused(
    deployment: Deployment, github: GitHubDouble, instance_ids: Callable[[], str], lambda_target: LambdaTarget
) -> None:
    stubber, redrive = lambda_target
    delivery_failed(deployment, lifecycle_action(instance_ids()))
    stubber.add_client_error(
        "invoke", service_error_code="TooManyRequestsException", service_message="Rate exceeded", http_status_code=429
    )

    result = redrive()

    assert result.code == 1
    (message,) = messages(result)
    assert message["outcome"] == "failed"
    assert message["detail"] == (
        "Lambda did not accept the event: TooManyRequestsException: Rate exceeded; the message stays in its queue"
    )
    assert deployment.visible(deployment.delivery_dlq) == 1


@pytest.mark.parametrize(
    ("unset", "target", "named"),
    [
        ("DEPLOY_TRIGGER_FUNCTION_NAME", "lambda", ("--function-name", "DispatcherFunctionName")),
        ("DEPLOY_TRIGGER_DLQ_URLS", "local", ("--dlq-url", "DEPLOY_TRIGGER_DLQ_URLS")),
    ],
    ids=["the lambda target without a function name", "no queue at all"],
)
def test_a_missing_function_name_or_queue_is_a_usage_error_naming_the_flag_and_its_source(
    deployment: Deployment, run_cli: Run, unset: str, target: str, named: tuple[str, str]
) -> None:
    deployment.unset(unset)

    result = run_cli("redrive", "--target", target)

    assert result.code == 2
    for name in named:
        assert name in result.err


def test_dlq_url_flags_pick_the_queues(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    in_both_queues(deployment, lifecycle_action(instance_ids()), lifecycle_action(instance_ids()), "HTTP 502")

    result = run_cli("redrive", "--target", "local", "--dlq-url", deployment.failure_dlq, "--json")

    assert [queue["url"] for queue in result.json()["queues"]] == [deployment.failure_dlq]
    assert [message["shape"] for message in messages(result)] == ["on-failure record"]


def test_target_defaults_to_local_against_a_stand_in_endpoint_and_to_lambda_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from deploy_trigger_cli.parser import build_parser

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    assert build_parser().parse_args(["redrive"]).target == "local"
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    assert build_parser().parse_args(["redrive"]).target == "lambda"


def test_verbose_shows_the_handlers_logs_on_stderr_only(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    delivery_failed(deployment, lifecycle_action(instance_ids()))

    quiet = run_cli("redrive", "--target", "local", "--yes", "--json")
    delivery_failed(deployment, lifecycle_action(instance_ids()))
    verbose = run_cli("redrive", "--target", "local", "--yes", "--json", "--verbose")

    assert quiet.err == ""
    assert '"message":"launch dispatched"' in verbose.err
    assert verbose.json()["replayed"] == 1  # stdout is still one JSON document
