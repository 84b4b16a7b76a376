"""The dispatcher Lambda end to end on moto server and the GitHub double: what a launch, a duplicate and an
event that is not ours each do, and what they leave in the ledger, the logs and the metrics."""

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy_trigger.handler import handler
from deploy_trigger.ledger.model import Status
from deploy_trigger.settings import ConfigurationError
from deploy_trigger_cli.local_lambda import LocalLambdaContext
from stand_ins.autoscaling_events import launch_successful, lifecycle_action
from stand_ins.autoscaling_group import AutoScalingStandIn
from stand_ins.deployment import REPOSITORY, TOKEN, WORKFLOW
from stand_ins.github_double import GitHubDouble
from tests.integration.conftest import Stack
from tests.integration.emf import json_lines, metrics

EVENTS = Path(__file__).parent.parent / "events"


def real_event(name: str) -> dict[str, object]:
    return json.loads((EVENTS / name).read_text())  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "instance_id", "hook_name"),
    [
        ("lifecycle_action.json", "i-0a1b2c3d4e5f67890", "deploy-trigger-launch"),
        ("lifecycle_action_legacy.json", "i-1234567890abcdef0", "my-lifecycle-hook"),
        ("launch_successful.json", "i-b188560f", ""),
    ],
)
def test_real_launch_events_dispatch_one_run_and_record_it(
    stack: Stack, github: GitHubDouble, lambda_context: LocalLambdaContext, name: str, instance_id: str, hook_name: str
) -> None:
    if hook_name:
        stack.configure(LIFECYCLE_HOOK_NAME=hook_name)  # the stack's hook (the legacy sample names its own)
    result = handler(real_event(name), lambda_context)

    assert result["result"] == "dispatched"
    assert len(github.runs) == 1
    run = github.runs[0]
    assert run.inputs["instance_id"] == instance_id
    assert run.inputs["lifecycle_hook_name"] == hook_name
    assert result["dispatch_id"] in run.display_title
    item = stack.item(instance_id)
    assert item.status is Status.DISPATCHED
    assert item.run_id == run.id == result["run_id"]
    assert item.run_url == run.html_url


def test_dispatch_request_carries_the_headers_github_requires(
    stack: Stack, github: GitHubDouble, lambda_context: LocalLambdaContext
) -> None:
    handler(lifecycle_action("i-0123456789abcdef0"), lambda_context)

    (post,) = [r for r in github.requests if r.method == "POST"]
    assert post.headers["accept"] == "application/vnd.github+json"
    assert post.headers["x-github-api-version"] == "2026-03-10"
    assert post.headers["user-agent"].startswith("deploy-trigger/")
    assert post.headers["authorization"].startswith("Bearer ")
    assert post.body is not None
    assert post.body["ref"] == "main"
    assert "return_run_details" not in post.body


def test_sequential_duplicates_dispatch_once(
    stack: Stack, github: GitHubDouble, instance_ids: Callable[[], str], capsys: pytest.CaptureFixture[str]
) -> None:
    event = lifecycle_action(instance_ids())

    results = [handler(event, LocalLambdaContext())["result"] for _ in range(4)]

    assert results == ["dispatched", "duplicate", "duplicate", "duplicate"]
    assert len(github.runs) == 1
    emitted = metrics(capsys.readouterr().out)
    assert emitted["Dispatched"] == 1
    assert emitted["DuplicateSuppressed"] == 3
    assert emitted["ColdStart"] == 1


def test_every_log_line_of_an_invocation_carries_the_event_instance_and_dispatch_ids(
    stack: Stack, github: GitHubDouble, lambda_context: LocalLambdaContext, captured_logs: io.StringIO
) -> None:
    event = lifecycle_action("i-0123456789abcdef0", event_id="evt-1234")

    result = handler(event, lambda_context)

    logs = json_lines(captured_logs.getvalue())
    assert logs
    for line in logs:
        assert line["correlation_id"] == "evt-1234"
        assert line["instance_id"] == "i-0123456789abcdef0"
        assert line["dispatch_id"] == result["dispatch_id"]


@pytest.mark.parametrize(
    "event",
    [
        {
            **real_event("lifecycle_action.json"),
            "detail": {
                **real_event("lifecycle_action.json")["detail"],  # type: ignore[dict-item]
                "LifecycleHookName": "bootstrap-hook",
            },
        },
        real_event("terminate_lifecycle_action.json"),
        {**real_event("launch_successful.json"), "detail-type": "EC2 Instance Launch Unsuccessful"},
        {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}},
    ],
)
def test_events_that_are_not_ours_are_ignored_without_error_or_dispatch(
    stack: Stack,
    github: GitHubDouble,
    lambda_context: LocalLambdaContext,
    capsys: pytest.CaptureFixture[str],
    event: dict[str, object],
) -> None:
    result = handler(event, lambda_context)

    assert result["result"] == "ignored"
    assert github.requests == []
    assert metrics(capsys.readouterr().out)["EventIgnored"] == 1


def test_allow_list_limits_dispatch_to_the_configured_groups(
    stack: Stack, github: GitHubDouble, instance_ids: Callable[[], str]
) -> None:
    stack.configure(ALLOWED_ASG_NAMES="web-asg, api-asg")

    ignored = handler(launch_successful(instance_ids(), "batch-asg"), LocalLambdaContext())
    dispatched = handler(launch_successful(instance_ids(), "api-asg"), LocalLambdaContext())

    assert (ignored["result"], dispatched["result"]) == ("ignored", "dispatched")
    assert len(github.runs) == 1


def test_extra_inputs_from_configuration_reach_the_workflow(
    stack: Stack, github: GitHubDouble, instance_ids: Callable[[], str]
) -> None:
    github.declared_inputs = github.declared_inputs | {"environment"}
    stack.configure(WORKFLOW_EXTRA_INPUTS='{"environment": "production"}')

    handler(lifecycle_action(instance_ids()), LocalLambdaContext())

    assert github.runs[0].inputs["environment"] == "production"


def test_legacy_api_version_asks_for_run_details_and_records_the_run(
    stack: Stack, github: GitHubDouble, instance_ids: Callable[[], str]
) -> None:
    stack.configure(GITHUB_API_VERSION="2022-11-28")
    instance = instance_ids()

    handler(lifecycle_action(instance), LocalLambdaContext())

    (post,) = [r for r in github.requests if r.method == "POST"]
    assert post.body is not None
    assert post.body["return_run_details"] is True
    assert stack.item(instance).run_id == github.runs[0].id


def test_older_enterprise_server_answering_204_is_a_dispatch_the_run_id_of_which_is_unknown(
    stack: Stack, instance_ids: Callable[[], str]
) -> None:
    with GitHubDouble(
        repository=REPOSITORY, workflow=WORKFLOW, tokens={TOKEN}, ghes_version="3.20", api_prefix="/api/v3"
    ) as ghes:
        stack.configure(GITHUB_API_URL=ghes.url, GITHUB_API_VERSION="2022-11-28")
        assert ghes.url.endswith("/api/v3")
        instance = instance_ids()

        result = handler(lifecycle_action(instance), LocalLambdaContext())

        assert result["result"] == "dispatched"
        assert len(ghes.runs) == 1  # the refused return_run_details did not create a run; the resend did
        posted = [r.body or {} for r in ghes.requests if r.method == "POST"]
        assert [body.get("return_run_details") for body in posted] == [True, None]  # then resent without it
        assert stack.item(instance).status is Status.DISPATCHED
        assert stack.item(instance).run_id is None


# What each variable accepts and refuses is tests/unit/test_settings.py; here, what the handler does with a refusal.
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GITHUB_REPOSITORY", "not-a-repo", "GITHUB_REPOSITORY must be 'owner/repo'"),
        ("LEDGER_TABLE_NAME", "", "LEDGER_TABLE_NAME"),
    ],
)
def test_bad_configuration_fails_at_cold_start_naming_the_variable(
    stack: Stack, github: GitHubDouble, lambda_context: LocalLambdaContext, variable: str, value: str, message: str
) -> None:
    stack.configure(**{variable: value})

    with pytest.raises(ConfigurationError, match=message):
        handler(lifecycle_action("i-0123456789abcdef0"), lambda_context)
    assert github.requests == []


def test_a_warm_pool_entry_is_continued_by_the_real_handler_and_never_deployed(
    stack: Stack, github: GitHubDouble, autoscaling: AutoScalingStandIn, lambda_context: LocalLambdaContext
) -> None:
    instance = "i-0a1b2c3d4e5f67890"
    (into_pool,) = autoscaling.launch("web-asg", instance, into_warm_pool=True)

    first = handler(into_pool, lambda_context)
    again = handler(into_pool, lambda_context)

    assert (first["result"], again["result"]) == ("warm pool", "duplicate")
    assert autoscaling.completions == [(instance, "deploy-trigger-launch", "CONTINUE")]
    assert autoscaling.instance_state(instance) == "Warmed:Stopped"
    assert github.runs == []
    assert stack.item(instance).status is Status.WARMED
