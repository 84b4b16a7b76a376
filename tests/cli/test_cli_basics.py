"""The command line itself: help everywhere, exit codes, errors without tracebacks, and `--stack` outputs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from deploy_trigger.stack_outputs import CLI_KEYS
from stand_ins.autoscaling_events import lifecycle_action
from stand_ins.deployment import REPOSITORY, WORKFLOW
from stand_ins.github_double import GitHubDouble
from tests.cli.conftest import CliResult
from tests.stand_in_fixtures import Deployment

Run = Callable[..., CliResult]
COMMANDS = ["status", "list", "fleet", "doctor", "redrive", "reset"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_for_each_subcommand_exits_0_with_examples(run_cli: Run, command: str) -> None:
    result = run_cli(command, "--help")

    assert result.code == 0
    assert result.out.startswith(f"usage: deploy-trigger {command}")
    assert "examples:" in result.out
    assert f"deploy-trigger {command}" in result.out.split("examples:", 1)[1]
    assert "--json" in result.out
    assert "--stack" in result.out


def test_main_help_lists_the_commands_and_exit_codes(run_cli: Run) -> None:
    result = run_cli("--help")

    assert result.code == 0
    for command in COMMANDS:
        assert f"    {command}" in result.out
    assert "Exit codes: 0 ok, 1 a check or operation failed, 2 usage or configuration error." in result.out


def test_no_command_or_a_bad_flag_is_a_usage_error(run_cli: Run) -> None:
    nothing = run_cli()
    bad = run_cli("list", "--limit", "0")
    unknown = run_cli("status")

    assert nothing.code == bad.code == unknown.code == 2
    assert "usage: deploy-trigger" in nothing.err
    assert "must be at least 1" in bad.err
    assert "INSTANCE_ID" in unknown.err


def test_the_console_script_calls_main() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())

    assert project["project"]["scripts"]["deploy-trigger"] == "deploy_trigger_cli.main:main"
    assert "deploy_trigger_cli" in project["tool"]["setuptools"]["packages"]


@pytest.fixture
def instance(deployment: Deployment, github: GitHubDouble, instance_ids: Callable[[], str]) -> str:
    """An instance whose launch the real handler dispatched: its ledger entry is DISPATCHED."""
    launched = instance_ids()
    assert not deployment.handle(lifecycle_action(launched)).failed
    return launched


def test_stack_outputs_configure_every_command(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance: str
) -> None:
    stack = f"DeployTrigger-{deployment.table}"
    deployment.deploy_function(deployed_environment(deployment, github))
    deployment.create_stack(
        stack,
        {
            "LedgerTableName": deployment.table,
            "DispatcherFunctionName": deployment.function,
            "DeliveryDlqUrl": deployment.delivery_dlq,
            "FailureDlqUrl": deployment.failure_dlq,
            "EventRuleName": deployment.rule,
            "CredentialsSecretArn": deployment.secret,
            "GithubRepository": REPOSITORY,
            "GithubWorkflow": WORKFLOW,
            "GithubRef": "main",
        },
    )
    # Nothing left in the environment but the endpoints: the stack says the rest.
    deployment.unset(
        "LEDGER_TABLE_NAME",
        "GITHUB_REPOSITORY",
        "GITHUB_WORKFLOW",
        "GITHUB_REF",
        "GITHUB_CREDENTIALS_SECRET",
        "DEPLOY_TRIGGER_RULE_NAME",
        "DEPLOY_TRIGGER_FUNCTION_NAME",
        "DEPLOY_TRIGGER_DLQ_URLS",
    )

    status = run_cli("status", instance, "--stack", stack, "--json")
    doctor = run_cli("doctor", "--stack", stack, "--json")
    redrive = run_cli("redrive", "--stack", stack, "--target", "local", "--json")

    assert status.code == 0
    assert status.json()["status"] == "DISPATCHED"
    assert doctor.code == 0, doctor.out
    assert {check["outcome"] for check in doctor.json()["checks"]} == {"pass"}
    assert doctor.json()["configuration"]["rule_name"] == deployment.rule
    assert [(queue["label"], queue["url"]) for queue in redrive.json()["queues"]] == [
        ("delivery DLQ", deployment.delivery_dlq),
        ("on-failure queue", deployment.failure_dlq),
    ]


def deployed_environment(deployment: Deployment, github: GitHubDouble, **extra: str) -> dict[str, str]:
    return {
        "LEDGER_TABLE_NAME": deployment.table,
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_WORKFLOW": WORKFLOW,
        "GITHUB_REF": "main",
        "GITHUB_CREDENTIALS_SECRET": deployment.secret,
        "GITHUB_API_URL": github.url,
        "GITHUB_API_VERSION": "2026-03-10",
        **extra,
    }


def test_doctor_with_a_stack_checks_the_deployed_function_s_settings_not_the_shell_s(
    deployment: Deployment, github: GitHubDouble, run_cli: Run
) -> None:
    stack = f"Extra-{deployment.table}"
    deployed = deployed_environment(deployment, github, WORKFLOW_EXTRA_INPUTS='{"environment": "prod"}')
    deployment.deploy_function(deployed)
    deployment.create_stack(stack, {"DispatcherFunctionName": deployment.function})

    doctor = run_cli("doctor", "--stack", stack, "--json")  # the shell has no WORKFLOW_EXTRA_INPUTS

    assert doctor.code == 1
    failed = {check["name"]: check for check in doctor.json()["checks"] if check["outcome"] == "fail"}
    assert "does not declare input(s) environment" in failed["workflow-inputs"]["reason"]


def test_flags_beat_the_stack_and_the_stack_beats_the_environment(
    deployment: Deployment, run_cli: Run, instance: str
) -> None:
    stack = f"Other-{deployment.table}"
    deployment.create_stack(stack, {"LedgerTableName": "table-from-the-stack"})

    from_stack = run_cli("status", instance, "--stack", stack)
    from_flag = run_cli("status", instance, "--stack", stack, "--table", deployment.table)

    assert from_stack.code == 2
    assert "'table-from-the-stack' does not exist" in from_stack.err
    assert from_flag.code == 0


def test_a_stack_without_an_output_names_it(
    deployment: Deployment, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    stack = f"Partial-{deployment.table}"
    deployment.create_stack(stack, {"GithubRef": "main"})
    deployment.unset("LEDGER_TABLE_NAME")

    result = run_cli("status", instance_ids(), "--stack", stack)

    assert result.code == 2
    assert f"stack {stack!r} has no output LedgerTableName" in result.err


def test_a_missing_stack_is_a_configuration_error(deployment: Deployment, run_cli: Run) -> None:
    result = run_cli("list", "--stack", "NoSuchStack", "--json")

    assert result.code == 2
    assert result.json()["error"].startswith("stack 'NoSuchStack' does not exist")
    assert "Traceback" not in result.err


def test_the_stack_can_come_from_the_environment(
    deployment: Deployment, github: GitHubDouble, run_cli: Run, instance_ids: Callable[[], str]
) -> None:
    stack = f"FromEnv-{deployment.table}"
    deployment.create_stack(stack, {"LedgerTableName": deployment.table})
    deployment.unset("LEDGER_TABLE_NAME")
    deployment.configure(DEPLOY_TRIGGER_STACK=stack)

    result = run_cli("list", "--json")

    assert result.code == 0
    assert result.json()["table"] == deployment.table


def test_the_stack_output_keys_are_the_documented_ones() -> None:
    assert CLI_KEYS == (
        "LedgerTableName",
        "DispatcherFunctionName",
        "DeliveryDlqUrl",
        "FailureDlqUrl",
        "EventRuleName",
        "CredentialsSecretArn",
        "GithubRepository",
        "GithubWorkflow",
        "GithubRef",
    )


def test_every_command_answers_json_that_parses(run_cli: Run, instance: str) -> None:
    results = {
        "status": run_cli("status", instance, "--json"),
        "list": run_cli("list", "--json"),
        "doctor": run_cli("doctor", "--json"),
        "redrive": run_cli("redrive", "--target", "local", "--json"),
        "reset": run_cli("reset", instance, "--json"),
    }

    assert {name: type(result.json()).__name__ for name, result in results.items()} == dict.fromkeys(results, "dict")
    assert results["reset"].code == 1  # a DISPATCHED entry is not reset
    assert results["reset"].json()["results"][0]["status"] == "DISPATCHED"
