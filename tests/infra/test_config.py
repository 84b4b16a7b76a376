"""The configuration model: defaults, parsing of context values, and the messages a user sees."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy_trigger.settings import (
    BATCH_MAX_INSTANCES_RANGE,
    HEARTBEAT_INTERVAL_RANGE,
    MAX_DEPLOY_RANGE,
    MUTATION_INTERVAL_RANGE,
    RUN_APPEAR_TIMEOUT_RANGE,
    SUPPORTED_API_VERSIONS,
)
from deploy_trigger.workflow_contract import MAX_BATCH_INSTANCES, MAX_WORKFLOW_INPUTS
from infra.config import (
    CONTEXT_KEYS,
    REQUIRED_KEYS,
    ConfigurationError,
    DeployTriggerConfig,
    HookDefaultResult,
    RemovalChoice,
    TriggerMode,
)
from tests.infra.synthesis import CUSTOMIZED_CONTEXT, REQUIRED_CONTEXT

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_apply_when_only_required_keys_are_given() -> None:
    config = DeployTriggerConfig.from_mapping(REQUIRED_CONTEXT)

    assert config.mode is TriggerMode.LIFECYCLE_HOOK
    assert config.github_ref == "main"
    assert config.github_api_url == "https://api.github.com"
    assert config.github_api_version == "2026-03-10"
    assert config.asg_names == ()
    assert dict(config.workflow_extra_inputs) == {}
    assert config.dispatcher_timeout_seconds == 30
    assert config.reserved_concurrency == 5
    assert config.alarm_email is None
    assert config.github_credentials_kms_key_arn is None
    assert config.removal_policy is RemovalChoice.RETAIN
    assert config.tracker_enabled is True
    assert config.run_appear_timeout_seconds == 600
    assert config.heartbeat_interval_seconds == 300
    assert config.max_deploy_seconds == 3600
    assert config.lifecycle_hook_heartbeat_timeout_seconds == 900
    assert config.lifecycle_hook_default_result is HookDefaultResult.ABANDON
    assert config.crash_loop_abandon_threshold == 3
    assert config.github_mutation_interval_seconds == 1
    assert config.hook_global_timeout_seconds == 90_000
    assert config.batch_dispatch is False
    assert config.batch_max_instances == MAX_BATCH_INSTANCES
    assert config.dispatch_batch_max_instances == 0  # off: one dispatch per launch


def test_every_key_is_read() -> None:
    config = DeployTriggerConfig.from_mapping(CUSTOMIZED_CONTEXT)

    assert config.mode is TriggerMode.LAUNCH_SUCCESSFUL
    assert config.github_ref == "release"
    assert config.github_api_url == "https://github.example.com/api/v3"
    assert config.github_api_version == "2022-11-28"
    assert config.asg_names == ("web-asg", "worker-asg")
    assert dict(config.workflow_extra_inputs) == {"environment": "production", "region_label": "eu"}
    assert config.dispatcher_timeout_seconds == 45
    assert config.reserved_concurrency == 3
    assert config.alarm_email == "oncall@example.com"
    assert config.removal_policy is RemovalChoice.DESTROY
    assert config.tracker_enabled is False
    assert config.run_appear_timeout_seconds == 900
    assert config.heartbeat_interval_seconds == 600
    assert config.max_deploy_seconds == 7200
    assert config.lifecycle_hook_heartbeat_timeout_seconds == 1800
    assert config.lifecycle_hook_name == "platform-deploy"
    assert config.lifecycle_hook_default_result is HookDefaultResult.CONTINUE
    assert config.crash_loop_abandon_threshold == 5
    assert config.github_mutation_interval_seconds == 2.5
    assert config.batch_dispatch is True
    assert config.batch_max_instances == 64
    assert config.dispatch_batch_max_instances == 64
    assert set(CUSTOMIZED_CONTEXT) == set(CONTEXT_KEYS)


def test_command_line_strings_are_parsed_like_cdk_json_values() -> None:
    # `cdk synth -c key=value` passes every value as a string.
    config = DeployTriggerConfig.from_mapping(
        {
            **REQUIRED_CONTEXT,
            "asgNames": "web-asg, worker-asg,web-asg",
            "workflowExtraInputs": '{"environment": "staging"}',
            "dispatcherTimeoutSeconds": "60",
            "reservedConcurrency": "unreserved",
            "trackerEnabled": "false",
            "lifecycleHookHeartbeatTimeoutSeconds": "1800",
            "lifecycleHookDefaultResult": "CONTINUE",
            "githubMutationIntervalSeconds": "0.5",
            "batchDispatch": "true",
            "batchMaxInstances": "100",
        }
    )

    assert config.github_mutation_interval_seconds == 0.5
    assert config.batch_dispatch is True
    assert config.dispatch_batch_max_instances == 100
    assert config.tracker_enabled is False
    assert config.lifecycle_hook_heartbeat_timeout_seconds == 1800
    assert config.lifecycle_hook_default_result is HookDefaultResult.CONTINUE
    assert config.asg_names == ("web-asg", "worker-asg")
    assert dict(config.workflow_extra_inputs) == {"environment": "staging"}
    assert config.dispatcher_timeout_seconds == 60
    assert config.reserved_concurrency is None


def test_config_is_immutable() -> None:
    config = DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "workflowExtraInputs": {"a": "b"}})

    with pytest.raises(AttributeError):
        config.github_ref = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.workflow_extra_inputs["a"] = "c"  # type: ignore[index]


def test_missing_required_keys_are_named_with_an_example() -> None:
    with pytest.raises(ConfigurationError) as raised:
        DeployTriggerConfig.from_mapping({"githubWorkflow": "deploy.yml"})

    message = str(raised.value)
    assert "githubRepository" in message
    assert "githubCredentialsSecret" in message
    assert "-c githubRepository=my-org/my-app" in message
    assert '"githubRepository": "my-org/my-app"' in message


@pytest.mark.parametrize("timeout", [9, "9", 0, 901])
def test_timeout_outside_lambda_limits_is_refused(timeout: object) -> None:
    with pytest.raises(ConfigurationError, match=r"'dispatcherTimeoutSeconds' must be between 10 and 900 seconds"):
        DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "dispatcherTimeoutSeconds": timeout})


def test_minimum_timeout_is_accepted() -> None:
    config = DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "dispatcherTimeoutSeconds": 10})

    assert config.dispatcher_timeout_seconds == 10


@pytest.mark.parametrize(
    ("key", "value", "complaint"),
    [
        ("mode", "launch", "one of lifecycle-hook | launch-successful"),
        ("githubRepository", "just-a-name", "owner/repo"),
        ("githubWorkflow", ".github/workflows/deploy.yml", "file name (not a path)"),
        ("githubCredentialsSecret", "bad name!", "secret name or ARN"),
        ("githubCredentialsKmsKeyArn", "arn:aws:kms:eu-west-1:111122223333:alias/github", "KMS key ARN"),
        ("githubApiUrl", "http://github.example.com/api/v3", "https URL"),
        ("githubApiVersion", "2021-01-01", "one of " + ", ".join(SUPPORTED_API_VERSIONS)),
        ("asgNames", ["web,asg"], "no commas"),
        ("workflowExtraInputs", {"instance_id": "x"}, "dispatcher's own inputs: instance_id"),
        ("workflowExtraInputs", {"count": 3}, "values are strings"),
        ("workflowExtraInputs", "{not json", "not valid JSON"),
        ("workflowExtraInputs", {f"input_{n}": "x" for n in range(21)}, "at most 20 remain"),
        ("reservedConcurrency", 0, "0 would stop the dispatcher"),
        ("reservedConcurrency", True, "whole number"),
        ("alarmEmail", "not-an-address", "email address"),
        ("removalPolicy", "snapshot", "retain | destroy"),
        ("trackerEnabled", "yes", "true or false"),
        ("trackerEnabled", 1, "true or false"),
        ("runAppearTimeoutSeconds", 59, "between 60 and 86400 seconds, got 59"),
        ("heartbeatIntervalSeconds", 3601, "between 30 and 3600 seconds, got 3601"),
        ("maxDeploySeconds", 172801, "between 60 and 172800 seconds, got 172801"),
        ("lifecycleHookHeartbeatTimeoutSeconds", 29, "between 30 and 7200 seconds, got 29"),
        ("lifecycleHookHeartbeatTimeoutSeconds", 7201, "between 30 and 7200 seconds, got 7201"),
        ("lifecycleHookDefaultResult", "abandon", "one of ABANDON | CONTINUE"),
        ("crashLoopAbandonThreshold", 0, "at least 1"),
        ("githubMutationIntervalSeconds", "soon", "a number of seconds, got 'soon'"),
        ("githubMutationIntervalSeconds", True, "a number of seconds, got True"),
        ("githubMutationIntervalSeconds", -0.5, "between 0 and 60 seconds, got -0.5"),
        ("githubMutationIntervalSeconds", "nan", "between 0 and 60 seconds, got nan"),
        ("batchDispatch", "on", "true or false"),
        ("batchDispatch", 1, "true or false"),
        ("batchMaxInstances", 1, "between 2 and 256 instances, got 1: GitHub runs at most 256 jobs of one matrix"),
        ("batchMaxInstances", 257, "between 2 and 256 instances, got 257"),
        ("batchMaxInstances", 0, "between 2 and 256 instances, got 0"),
        ("batchMaxInstances", -3, "between 2 and 256 instances, got -3"),
        ("batchMaxInstances", "many", "whole number"),
        ("batchMaxInstances", True, "whole number"),
    ],
)
def test_invalid_values_are_refused_naming_the_key(key: str, value: object, complaint: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, key: value})

    message = str(raised.value)
    assert f"'{key}'" in message
    assert complaint in message
    assert f"-c {key}=" in message


# --- The tracker and the lifecycle hook ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("heartbeat", "hook_timeout"),
    [(300, 420), (300, 400), (900, 1020), (30, 150)],
)
def test_a_hook_that_could_time_out_between_two_heartbeats_is_refused(heartbeat: int, hook_timeout: int) -> None:
    with pytest.raises(ConfigurationError) as raised:
        DeployTriggerConfig.from_mapping(
            {
                **REQUIRED_CONTEXT,
                "heartbeatIntervalSeconds": heartbeat,
                "runAppearTimeoutSeconds": 60,
                "lifecycleHookHeartbeatTimeoutSeconds": hook_timeout,
            }
        )

    message = str(raised.value)
    assert message.startswith(
        f"context key 'lifecycleHookHeartbeatTimeoutSeconds' must be more than heartbeatIntervalSeconds + 120 = "
        f"{heartbeat + 120} seconds, got {hook_timeout}: "
    )
    assert "default result" in message
    assert "-c lifecycleHookHeartbeatTimeoutSeconds=" in message


def test_the_shortest_hook_timeout_that_leaves_a_heartbeat_time_to_land_is_accepted() -> None:
    config = DeployTriggerConfig.from_mapping(
        {**REQUIRED_CONTEXT, "runAppearTimeoutSeconds": 60, "lifecycleHookHeartbeatTimeoutSeconds": 421}
    )

    assert config.lifecycle_hook_heartbeat_timeout_seconds == 421


def test_a_hook_that_could_time_out_before_a_late_run_appears_is_refused() -> None:
    # No heartbeat before GitHub lists the run: the hook must outlast the wait for it.
    with pytest.raises(ConfigurationError, match=r"more than runAppearTimeoutSeconds \+ 120 = 720 seconds, got 700"):
        DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "lifecycleHookHeartbeatTimeoutSeconds": 700})


def test_a_max_deploy_beyond_the_hook_s_global_timeout_is_refused() -> None:
    with pytest.raises(ConfigurationError) as raised:
        DeployTriggerConfig.from_mapping(
            {
                **REQUIRED_CONTEXT,
                "heartbeatIntervalSeconds": 30,
                "runAppearTimeoutSeconds": 60,
                "lifecycleHookHeartbeatTimeoutSeconds": 200,
                "maxDeploySeconds": 20001,
            }
        )

    assert str(raised.value).startswith("context key 'maxDeploySeconds' must be at most 20000 seconds, got 20001")


@pytest.mark.parametrize(
    "context",
    [
        {"mode": "launch-successful"},  # no hook at all
        {"trackerEnabled": False},  # only the workflow completes the action: no heartbeat to wait for
    ],
)
def test_hook_relations_apply_only_where_the_tracker_heartbeats_a_hook(context: dict[str, object]) -> None:
    config = DeployTriggerConfig.from_mapping(
        {**REQUIRED_CONTEXT, **context, "heartbeatIntervalSeconds": 1800, "lifecycleHookHeartbeatTimeoutSeconds": 900}
    )

    assert config.heartbeat_interval_seconds == 1800


def test_a_heartbeat_no_shorter_than_the_longest_deploy_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'heartbeatIntervalSeconds' must be shorter than maxDeploySeconds"):
        DeployTriggerConfig.from_mapping(
            {**REQUIRED_CONTEXT, "mode": "launch-successful", "heartbeatIntervalSeconds": 600, "maxDeploySeconds": 600}
        )


@pytest.mark.parametrize(
    ("key", "limits"),
    [
        ("runAppearTimeoutSeconds", RUN_APPEAR_TIMEOUT_RANGE),
        ("heartbeatIntervalSeconds", HEARTBEAT_INTERVAL_RANGE),
        ("maxDeploySeconds", MAX_DEPLOY_RANGE),
    ],
)
def test_tracker_durations_are_held_to_the_tracker_s_own_limits(key: str, limits: tuple[int, int]) -> None:
    base = {"heartbeatIntervalSeconds": 30, "maxDeploySeconds": MAX_DEPLOY_RANGE[1], "runAppearTimeoutSeconds": 600}
    low, high = limits
    for value in (low, high):
        config = DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "mode": "launch-successful", **base, key: value})
        assert value in (
            config.run_appear_timeout_seconds,
            config.heartbeat_interval_seconds,
            config.max_deploy_seconds,
        )
    for value in (low - 1, high + 1):
        with pytest.raises(ConfigurationError, match=f"'{key}' must be between {low} and {high} seconds"):
            DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "mode": "launch-successful", **base, key: value})


def test_the_drainer_s_pace_is_held_to_the_drainer_s_own_limits() -> None:
    low, high = MUTATION_INTERVAL_RANGE
    for value in (low, high, 1.5):
        config = DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "githubMutationIntervalSeconds": value})
        assert config.github_mutation_interval_seconds == value
    for value in (low - 0.001, high + 0.001):
        with pytest.raises(
            ConfigurationError, match=f"'githubMutationIntervalSeconds' must be between {low} and {high}"
        ):
            DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "githubMutationIntervalSeconds": value})


# --- Batch mode ----------------------------------------------------------------------------------------


def test_the_batch_size_is_held_to_its_range_with_batch_mode_on_or_off() -> None:
    low, high = BATCH_MAX_INSTANCES_RANGE
    assert (low, high) == (2, MAX_BATCH_INSTANCES)
    for value in (low, 100, high):
        config = DeployTriggerConfig.from_mapping(
            {**REQUIRED_CONTEXT, "batchDispatch": True, "batchMaxInstances": value}
        )
        assert config.dispatch_batch_max_instances == value
    for batch_dispatch in (True, False):
        for value in (low - 1, high + 1):
            with pytest.raises(ConfigurationError, match=f"'batchMaxInstances' must be between {low} and {high}"):
                DeployTriggerConfig.from_mapping(
                    {**REQUIRED_CONTEXT, "batchDispatch": batch_dispatch, "batchMaxInstances": value}
                )


def test_the_batch_size_matters_only_with_batch_mode_on() -> None:
    config = DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "batchMaxInstances": 10})

    assert config.batch_dispatch is False
    assert config.dispatch_batch_max_instances == 0


@pytest.mark.parametrize("batch_dispatch", [False, True])
def test_extra_inputs_may_fill_what_the_mode_s_own_inputs_leave(batch_dispatch: bool) -> None:
    # 5 reserved inputs one dispatch per launch (instance_id, ...), 2 in batch mode (dispatch_id, instances).
    allowed = 23 if batch_dispatch else 20
    inputs = {f"input_{n}": "x" for n in range(allowed)}
    context = {**REQUIRED_CONTEXT, "batchDispatch": batch_dispatch, "workflowExtraInputs": inputs}

    config = DeployTriggerConfig.from_mapping(context)

    assert len(config.workflow_extra_inputs) == allowed
    with pytest.raises(ConfigurationError) as raised:
        DeployTriggerConfig.from_mapping({**context, "workflowExtraInputs": {**inputs, "one_more": "x"}})
    mode = " in batch mode" if batch_dispatch else ""
    assert (
        f"has {allowed + 1} inputs; GitHub accepts {MAX_WORKFLOW_INPUTS}, {MAX_WORKFLOW_INPUTS - allowed} of which "
        f"the dispatcher sends{mode}, so at most {allowed} remain"
    ) in str(raised.value)


@pytest.mark.parametrize("name", ["dispatch_id", "instances"])
def test_batch_mode_refuses_extra_inputs_named_like_the_batch_s_own(name: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        DeployTriggerConfig.from_mapping(
            {**REQUIRED_CONTEXT, "batchDispatch": True, "workflowExtraInputs": {name: "x", "environment": "prod"}}
        )

    message = str(raised.value)
    assert message.startswith(
        f"context key 'workflowExtraInputs' may not set the dispatcher's own inputs in batch mode: {name}"
    )
    assert "-c workflowExtraInputs=" in message


def test_batch_mode_leaves_the_single_instance_input_names_to_extra_inputs() -> None:
    # A batch's instances travel inside `instances`: instance_id and the rest are no input of the batch's workflow.
    inputs = {"instance_id": "x", "asg_name": "y", "lifecycle_hook_name": "z", "aws_region": "w"}

    config = DeployTriggerConfig.from_mapping(
        {**REQUIRED_CONTEXT, "batchDispatch": True, "workflowExtraInputs": inputs}
    )

    assert dict(config.workflow_extra_inputs) == inputs
    with pytest.raises(ConfigurationError, match="own inputs: asg_name, aws_region, instance_id, lifecycle_hook_name"):
        DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "workflowExtraInputs": inputs})


@pytest.mark.parametrize(
    ("hook_timeout", "global_timeout"),
    [(421, 42_100), (900, 90_000), (1728, 172_800), (1729, 172_800), (7200, 172_800)],
)
def test_the_hook_s_global_timeout_is_100_heartbeat_timeouts_and_at_most_48_hours(
    hook_timeout: int, global_timeout: int
) -> None:
    config = DeployTriggerConfig.from_mapping(
        {**REQUIRED_CONTEXT, "runAppearTimeoutSeconds": 60, "lifecycleHookHeartbeatTimeoutSeconds": hook_timeout}
    )

    assert config.hook_global_timeout_seconds == global_timeout


def test_without_the_tracker_a_queued_launch_s_action_lasts_one_heartbeat_timeout() -> None:
    """Nothing heartbeats a launch waiting for GitHub budget then: the drainer's headroom must count from that."""
    tracked = DeployTriggerConfig.from_mapping(REQUIRED_CONTEXT)
    untracked = DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "trackerEnabled": "false"})

    assert tracked.queued_action_lifetime_seconds == 90_000
    assert untracked.queued_action_lifetime_seconds == 900


@pytest.mark.parametrize(
    "secret",
    [
        "deploy-trigger/github",
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:deploy-trigger/github",
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:deploy-trigger/github-AbC123",
    ],
)
def test_secret_may_be_a_name_or_an_arn(secret: str) -> None:
    config = DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "githubCredentialsSecret": secret})

    assert config.github_credentials_secret == secret


def test_numeric_workflow_id_is_accepted_from_cdk_json() -> None:
    config = DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, "githubWorkflow": 161335})

    assert config.github_workflow == "161335"


def test_cdk_json_documents_the_defaults_and_sets_no_required_key() -> None:
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    own_keys = {key: value for key, value in context.items() if not key.startswith("@")}

    assert not set(REQUIRED_KEYS) & set(own_keys)
    assert set(own_keys) <= set(CONTEXT_KEYS)
    from_cdk_json = DeployTriggerConfig.from_mapping({**REQUIRED_CONTEXT, **own_keys})
    assert from_cdk_json == DeployTriggerConfig.from_mapping(REQUIRED_CONTEXT)


def _run_app(context: dict[str, object], outdir: Path) -> subprocess.CompletedProcess[str]:
    # What `cdk synth` does: run app.py with the context in CDK_CONTEXT_JSON.
    environment = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir)}
    return subprocess.run(  # noqa: S603 - fixed argument list
        [sys.executable, str(PROJECT_ROOT / "app.py")],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_app_refuses_a_9_second_timeout_with_a_clear_message(tmp_path: Path) -> None:
    result = _run_app({**REQUIRED_CONTEXT, "dispatcherTimeoutSeconds": 9}, tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith("deploy-trigger: context key 'dispatcherTimeoutSeconds' must be between 10")
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_app_refuses_a_hook_that_times_out_before_a_heartbeat_lands(tmp_path: Path) -> None:
    result = _run_app({**REQUIRED_CONTEXT, "lifecycleHookHeartbeatTimeoutSeconds": 400}, tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith(
        "deploy-trigger: context key 'lifecycleHookHeartbeatTimeoutSeconds' must be more than "
        "heartbeatIntervalSeconds + 120 = 420 seconds, got 400"
    )
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_app_refuses_a_batch_larger_than_a_matrix_with_a_clear_message(tmp_path: Path) -> None:
    result = _run_app({**REQUIRED_CONTEXT, "batchDispatch": True, "batchMaxInstances": 257}, tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith(
        "deploy-trigger: context key 'batchMaxInstances' must be between 2 and 256 instances, got 257: GitHub runs at "
        "most 256 jobs of one matrix"
    )
    assert '"context": {"batchMaxInstances": 256}' in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*.template.json"))


def test_app_names_a_missing_github_repository(tmp_path: Path) -> None:
    context = {key: value for key, value in REQUIRED_CONTEXT.items() if key != "githubRepository"}

    result = _run_app(context, tmp_path)

    assert result.returncode == 1
    assert "missing required context key(s): githubRepository." in result.stderr
    assert "-c githubRepository=my-org/my-app" in result.stderr
    assert "Traceback" not in result.stderr
