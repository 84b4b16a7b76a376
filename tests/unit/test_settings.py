"""The functions' settings: what each variable accepts and refuses, the environment the CDK app writes for them,
and that importing them loads none of the Lambda's dependencies (the CDK app and the CLI import them)."""

import json
import subprocess
import sys

import pytest

from deploy_trigger import runtime
from deploy_trigger.settings import (
    BATCH_MAX_INSTANCES_RANGE,
    CHECK_INTERVAL_RANGE,
    HEARTBEAT_INTERVAL_RANGE,
    LEASE_MARGIN_RANGE,
    MAX_DEPLOY_RANGE,
    RUN_APPEAR_TIMEOUT_RANGE,
    ConfigurationError,
    GitHubTarget,
    Settings,
    TrackerSettings,
)
from deploy_trigger.workflow_contract import MAX_BATCH_INSTANCES

GITHUB_ENVIRONMENT = {
    "GITHUB_REPOSITORY": "example-org/example-app",
    "GITHUB_WORKFLOW": "deploy.yml",
    "GITHUB_CREDENTIALS_SECRET": "deploy-trigger/github",
}
DISPATCHER_ENVIRONMENT = {
    **GITHUB_ENVIRONMENT,
    "LEDGER_TABLE_NAME": "ledger",
    "GITHUB_REF": "main",
    "AWS_REGION": "eu-west-1",
}
TRACKER_ENVIRONMENT = {**GITHUB_ENVIRONMENT, "LEDGER_TABLE_NAME": "ledger", "AWS_REGION": "eu-west-1"}


def test_the_dispatcher_defaults() -> None:
    assert Settings.from_env(DISPATCHER_ENVIRONMENT) == Settings(
        ledger_table_name="ledger",
        github=GitHubTarget(
            repository="example-org/example-app",
            workflow="deploy.yml",
            credentials_secret="deploy-trigger/github",
            api_url="https://api.github.com",
            api_version="2026-03-10",
        ),
        github_ref="main",
        aws_region="eu-west-1",
        allowed_asg_names=frozenset(),
        workflow_extra_inputs={},
        lease_margin_seconds=5.0,
        batch_max_instances=0,  # batch mode off: one dispatch per launch
    )


def test_the_tracker_defaults() -> None:
    settings = TrackerSettings.from_env(TRACKER_ENVIRONMENT)

    assert settings.github == Settings.from_env(DISPATCHER_ENVIRONMENT).github
    assert (
        settings.alert_topic_arn,
        settings.run_appear_timeout_seconds,
        settings.heartbeat_interval_seconds,
        settings.max_deploy_seconds,
        settings.check_interval_seconds,
    ) == ("", 600, 300, 3600, 60)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("GITHUB_REPOSITORY", " example-org/example-app ", ("github", "repository", "example-org/example-app")),
        ("GITHUB_API_URL", "https://ghe.example.com/api/v3/", ("github", "api_url", "https://ghe.example.com/api/v3")),
        ("GITHUB_API_VERSION", "2022-11-28", ("github", "api_version", "2022-11-28")),
        ("ALLOWED_ASG_NAMES", " web-asg, ,worker-asg ", ("allowed_asg_names", frozenset({"web-asg", "worker-asg"}))),
        ("WORKFLOW_EXTRA_INPUTS", '{"environment": "prod"}', ("workflow_extra_inputs", {"environment": "prod"})),
        ("WORKFLOW_EXTRA_INPUTS", "", ("workflow_extra_inputs", {})),
        ("LEASE_MARGIN_SECONDS", "2.5", ("lease_margin_seconds", 2.5)),
        ("LEASE_MARGIN_SECONDS", str(LEASE_MARGIN_RANGE[0]), ("lease_margin_seconds", 1.0)),
        ("LEASE_MARGIN_SECONDS", str(LEASE_MARGIN_RANGE[1]), ("lease_margin_seconds", 10.0)),
        ("BATCH_MAX_INSTANCES", "", ("batch_max_instances", 0)),
        ("BATCH_MAX_INSTANCES", "0", ("batch_max_instances", 0)),
        ("BATCH_MAX_INSTANCES", str(BATCH_MAX_INSTANCES_RANGE[0]), ("batch_max_instances", 2)),
        ("BATCH_MAX_INSTANCES", f" {MAX_BATCH_INSTANCES} ", ("batch_max_instances", 256)),
    ],
)
def test_the_dispatcher_accepts(variable: str, value: str, expected: tuple[object, ...]) -> None:
    settings: object = Settings.from_env({**DISPATCHER_ENVIRONMENT, variable: value})

    *path, wanted = expected
    for attribute in path:
        settings = getattr(settings, str(attribute))
    assert settings == wanted


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("GITHUB_REPOSITORY", "", "missing required environment variable.*GITHUB_REPOSITORY"),
        ("GITHUB_REPOSITORY", "not-a-repo", "GITHUB_REPOSITORY must be 'owner/repo'"),
        ("GITHUB_WORKFLOW", " ", "missing required environment variable.*GITHUB_WORKFLOW"),
        ("GITHUB_REF", "", "missing required environment variable.*GITHUB_REF"),
        ("GITHUB_CREDENTIALS_SECRET", "", "missing required environment variable.*GITHUB_CREDENTIALS_SECRET"),
        ("LEDGER_TABLE_NAME", "", "missing required environment variable.*LEDGER_TABLE_NAME"),
        ("GITHUB_API_URL", "ftp://example.com", "GITHUB_API_URL must be an http"),
        ("GITHUB_API_VERSION", "2021-01-01", "GITHUB_API_VERSION must be one of"),
        ("WORKFLOW_EXTRA_INPUTS", "{not json", "WORKFLOW_EXTRA_INPUTS is not valid JSON"),
        ("WORKFLOW_EXTRA_INPUTS", '["a"]', "WORKFLOW_EXTRA_INPUTS must be a JSON object of strings"),
        ("WORKFLOW_EXTRA_INPUTS", '{"environment": 1}', "WORKFLOW_EXTRA_INPUTS must be a JSON object of strings"),
        ("WORKFLOW_EXTRA_INPUTS", '{"instance_id": "x"}', "may not override"),
        (
            "WORKFLOW_EXTRA_INPUTS",
            "{" + ",".join(f'"input{i}": "x"' for i in range(21)) + "}",
            "WORKFLOW_EXTRA_INPUTS has 21 inputs",
        ),
        ("LEASE_MARGIN_SECONDS", "soon", "LEASE_MARGIN_SECONDS must be a number"),
        ("LEASE_MARGIN_SECONDS", "0.5", "between 1 and 10"),
        ("LEASE_MARGIN_SECONDS", "30", "between 1 and 10"),
        ("BATCH_MAX_INSTANCES", "1", "BATCH_MAX_INSTANCES must be 0 .batch mode off. or .* from 2 to 256, got '1'"),
        ("BATCH_MAX_INSTANCES", "257", "BATCH_MAX_INSTANCES must be 0 .* from 2 to 256, got '257'"),
        ("BATCH_MAX_INSTANCES", "-2", "BATCH_MAX_INSTANCES must be 0 .* got '-2'"),
        ("BATCH_MAX_INSTANCES", "64.5", "BATCH_MAX_INSTANCES must be 0 .* got '64.5'"),
        ("BATCH_MAX_INSTANCES", "all", "BATCH_MAX_INSTANCES must be 0 .* got 'all'"),
    ],
)
def test_the_dispatcher_refuses_naming_the_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**DISPATCHER_ENVIRONMENT, variable: value})


# In batch mode the workflow takes a batch's inputs (dispatch_id, instances): the instance's own names are free then,
# and 23 extra inputs fit beside the 2 reserved.
BATCHED = {**DISPATCHER_ENVIRONMENT, "BATCH_MAX_INSTANCES": "64"}


@pytest.mark.parametrize(
    "inputs",
    [{"instance_id": "x", "asg_name": "y"}, {f"input{i}": "x" for i in range(23)}],
    ids=["single-mode-names", "23-inputs"],
)
def test_batch_mode_reserves_only_the_batch_s_inputs(inputs: dict[str, str]) -> None:
    variables = {**BATCHED, "WORKFLOW_EXTRA_INPUTS": json.dumps(inputs)}

    assert Settings.from_env(variables).workflow_extra_inputs == inputs
    with pytest.raises(ConfigurationError, match="WORKFLOW_EXTRA_INPUTS"):
        Settings.from_env({**variables, "BATCH_MAX_INSTANCES": "0"})


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"instances": "[]"}, "may not override the dispatcher's own inputs: instances"),
        ({"dispatch_id": "x"}, "may not override the dispatcher's own inputs: dispatch_id"),
        ({f"input{i}": "x" for i in range(24)}, "has 24 inputs; GitHub allows 25 in all, 2 of which the dispatcher"),
    ],
)
def test_batch_mode_refuses_extra_inputs_that_clash_with_the_batch_s(inputs: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({**BATCHED, "WORKFLOW_EXTRA_INPUTS": json.dumps(inputs)})


@pytest.mark.parametrize(("variable", "expected"), [("0", 0), ("64", 64)])
def test_the_dispatcher_and_the_drainer_dispatch_with_the_batch_size_of_the_settings(
    monkeypatch: pytest.MonkeyPatch, variable: str, expected: int
) -> None:
    for name, value in {**DISPATCHER_ENVIRONMENT, "BATCH_MAX_INSTANCES": variable}.items():
        monkeypatch.setenv(name, value)

    assert runtime.dispatcher()._config.batch_max_instances == expected
    assert runtime.drainer()._config.dispatch.batch_max_instances == expected


@pytest.mark.parametrize("model", [Settings, TrackerSettings])
def test_a_missing_region_is_named(model: type[Settings] | type[TrackerSettings]) -> None:
    environment = {k: v for k, v in {**DISPATCHER_ENVIRONMENT}.items() if k != "AWS_REGION"}

    with pytest.raises(ConfigurationError, match="AWS_REGION is not set"):
        model.from_env(environment)


def test_every_missing_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"AWS_REGION": "eu-west-1"})

    assert str(raised.value) == (
        "missing required environment variable(s): LEDGER_TABLE_NAME, GITHUB_REPOSITORY, GITHUB_WORKFLOW, "
        "GITHUB_CREDENTIALS_SECRET, GITHUB_REF"
    )


@pytest.mark.parametrize(
    ("variable", "limits"),
    [
        ("RUN_APPEAR_TIMEOUT_SECONDS", RUN_APPEAR_TIMEOUT_RANGE),
        ("HEARTBEAT_INTERVAL_SECONDS", HEARTBEAT_INTERVAL_RANGE),
        ("MAX_DEPLOY_SECONDS", MAX_DEPLOY_RANGE),
        ("CHECK_INTERVAL_SECONDS", CHECK_INTERVAL_RANGE),
    ],
)
def test_the_tracker_takes_whole_seconds_within_its_limits(variable: str, limits: tuple[int, int]) -> None:
    # The heartbeat must stay below the longest deploy: give the one not under test room on its side.
    base = {**TRACKER_ENVIRONMENT, "HEARTBEAT_INTERVAL_SECONDS": "30", "MAX_DEPLOY_SECONDS": str(MAX_DEPLOY_RANGE[1])}
    low, high = limits
    attribute = variable.lower()
    for value in (low, high):
        assert getattr(TrackerSettings.from_env({**base, variable: str(value)}), attribute) == value
    for refused in (str(low - 1), str(high + 1), "1.5", "soon"):
        with pytest.raises(ConfigurationError, match=f"{variable} must be a whole number of seconds from {low}"):
            TrackerSettings.from_env({**base, variable: refused})


def test_a_blank_tracker_duration_takes_its_default() -> None:
    settings = TrackerSettings.from_env({**TRACKER_ENVIRONMENT, "CHECK_INTERVAL_SECONDS": " "})

    assert settings.check_interval_seconds == 60


def test_the_tracker_refuses_a_heartbeat_no_shorter_than_the_longest_deploy() -> None:
    with pytest.raises(ConfigurationError, match="HEARTBEAT_INTERVAL_SECONDS must be shorter than MAX_DEPLOY"):
        TrackerSettings.from_env(
            {**TRACKER_ENVIRONMENT, "HEARTBEAT_INTERVAL_SECONDS": "600", "MAX_DEPLOY_SECONDS": "600"}
        )


# --- to_environment: what the CDK app writes --------------------------------------------------------------

#: Every field away from its default, so a variable to_environment forgot or from_env ignores shows.
CUSTOM_GITHUB = GitHubTarget(
    repository="example-org/example-app",
    workflow="1234567",
    credentials_secret="arn:aws:secretsmanager:eu-west-1:111122223333:secret:deploy-trigger/github",
    api_url="https://ghe.example.com/api/v3",
    api_version="2022-11-28",
)
CUSTOM_SETTINGS = Settings(
    ledger_table_name="ledger",
    github=CUSTOM_GITHUB,
    github_ref="release",
    aws_region="eu-west-1",
    allowed_asg_names=frozenset({"worker-asg", "web-asg"}),
    workflow_extra_inputs={"region_label": "eu", "environment": "production"},
    lease_margin_seconds=7.5,
    batch_max_instances=64,
)
CUSTOM_TRACKER_SETTINGS = TrackerSettings(
    ledger_table_name="ledger",
    github=CUSTOM_GITHUB,
    aws_region="eu-west-1",
    alert_topic_arn="arn:aws:sns:eu-west-1:111122223333:alarms",
    run_appear_timeout_seconds=900,
    heartbeat_interval_seconds=600,
    max_deploy_seconds=7200,
    check_interval_seconds=30,
)


@pytest.mark.parametrize("settings", [CUSTOM_SETTINGS, CUSTOM_TRACKER_SETTINGS], ids=["dispatcher", "tracker"])
def test_from_env_reads_back_what_to_environment_writes(settings: Settings | TrackerSettings) -> None:
    environment = settings.to_environment()

    assert set(environment) == set(type(settings).ENVIRONMENT)
    assert type(settings).from_env({**environment, "AWS_REGION": settings.aws_region}) == settings


@pytest.mark.parametrize("model", [Settings, TrackerSettings])
def test_the_default_settings_round_trip_too(model: type[Settings] | type[TrackerSettings]) -> None:
    settings = model.from_env({**DISPATCHER_ENVIRONMENT})

    assert model.from_env({**settings.to_environment(), "AWS_REGION": "eu-west-1"}) == settings


def test_the_environment_is_spelled_the_same_whatever_the_order_of_a_set_or_an_object() -> None:
    environment = CUSTOM_SETTINGS.to_environment()

    assert environment["ALLOWED_ASG_NAMES"] == "web-asg,worker-asg"
    assert environment["WORKFLOW_EXTRA_INPUTS"] == '{"environment":"production","region_label":"eu"}'
    assert environment["LEASE_MARGIN_SECONDS"] == "7.5"
    assert Settings.from_env(DISPATCHER_ENVIRONMENT).to_environment()["LEASE_MARGIN_SECONDS"] == "5"


def test_batch_mode_off_writes_no_variable_of_it() -> None:
    """So a stack that leaves batch mode off gives the functions the environment it gave them before the mode."""
    opt_in = Settings.OPT_IN
    assert opt_in == {"BATCH_MAX_INSTANCES"}
    assert opt_in <= set(Settings.ENVIRONMENT)
    off = Settings.from_env(DISPATCHER_ENVIRONMENT).to_environment()

    assert "BATCH_MAX_INSTANCES" not in off
    assert set(off) == set(Settings.ENVIRONMENT) - opt_in
    assert CUSTOM_SETTINGS.to_environment()["BATCH_MAX_INSTANCES"] == "64"


# --- Imports ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "module",
    [
        "deploy_trigger.settings",
        "deploy_trigger.metric_names",
        "deploy_trigger.stack_outputs",
        "deploy_trigger.workflow_contract",
    ],
)
def test_importing_loads_none_of_the_lambdas_dependencies(module: str) -> None:
    # A fresh interpreter: this one has long imported boto3. The CDK app and the CLI import these modules.
    probe = (
        f"import sys, {module}\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in {'boto3', 'botocore', 'requests', "
        "'aws_lambda_powertools', 'rsa', 'pyasn1'})\n"
        "print(','.join(loaded))\n"
    )
    result = subprocess.run(  # noqa: S603  (our own interpreter, a fixed script)
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": ":".join(sys.path)},
    )

    assert result.stdout.strip() == ""
