"""`doctor`: every check passes on a good setup and fails on a broken one, in pairs; the token never shows."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from deploy_trigger.workflow_contract import BATCH_RUN_NAME
from stand_ins.aws_resources import create_app_secret, create_token_secret
from stand_ins.deployment import REPOSITORY, TOKEN, WORKFLOW
from stand_ins.fake_credentials import made_up_token
from stand_ins.github_double import DEFAULT_DECLARED_INPUTS, GitHubDouble
from tests.cli.conftest import CliResult
from tests.examples.workflow_files import BATCH, SINGLE
from tests.integration.keys import app_key_pair
from tests.stand_in_fixtures import Deployment

Run = Callable[..., CliResult]
CHECKS = [
    "secret",
    "api-version",
    "token",
    "repository",
    "permissions",
    "workflow",
    "workflow-inputs",
    "run-name",
    "ref",
    "table",
    "ttl",
    "rule",
]
#: Batch mode holds the workflow to the batch contract: one more check, with the others that read the file.
BATCH_CHECKS = [*CHECKS[:8], "matrix", *CHECKS[8:]]
FINE_GRAINED = made_up_token("github_pat_")
REVOKED = made_up_token()  # the double does not know it: a token revoked since it was stored


@dataclass
class Setup:
    """What one doctor run is given: the GitHub double's arguments, extra CLI flags, and the deployment."""

    deployment: Deployment
    double: dict[str, Any] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)

    def secret_holding(self, value: str) -> None:
        name = f"deploy-trigger/other-{uuid.uuid4().hex[:8]}"
        create_token_secret(self.deployment.secretsmanager, name, value)
        self.argv += ["--secret", name]

    def app_credentials(self) -> None:
        private_pem, _ = app_key_pair()
        name = f"deploy-trigger/app-{uuid.uuid4().hex[:8]}"
        create_app_secret(self.deployment.secretsmanager, name, "4242", "77", private_pem)
        self.argv += ["--secret", name]

    def table(self, *, key: str = "instance_id", ttl: bool = True) -> None:
        name = f"other-{uuid.uuid4().hex[:8]}"
        self.deployment.dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        if ttl:
            self.deployment.dynamodb.update_time_to_live(
                TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
            )
        self.argv += ["--table", name]


@dataclass(frozen=True)
class Breakage:
    name: str
    check: str
    #: Part of the failing check's reason.
    says: str
    #: Makes the setup broken (True) or, for the pair's other half, the matching good variant (False).
    apply: Callable[[Setup, bool], None]


def _flag(flag: str, bad: str) -> Callable[[Setup, bool], None]:
    def apply(setup: Setup, broken: bool) -> None:
        if broken:
            setup.argv += [flag, bad]

    return apply


def _double(good: dict[str, Any], bad: dict[str, Any]) -> Callable[[Setup, bool], None]:
    def apply(setup: Setup, broken: bool) -> None:
        setup.double.update(bad if broken else good)

    return apply


def _missing_secret(setup: Setup, broken: bool) -> None:
    if broken:
        setup.argv += ["--secret", "deploy-trigger/does-not-exist"]


def _unusable_secret(setup: Setup, broken: bool) -> None:
    setup.secret_holding(json.dumps({"username": "ci"}) if broken else json.dumps({"token": TOKEN}))


def _bad_token(setup: Setup, broken: bool) -> None:
    setup.secret_holding(REVOKED if broken else TOKEN)


def _app_permissions(setup: Setup, broken: bool) -> None:
    _, public_pem = app_key_pair()
    setup.app_credentials()
    setup.double["apps"] = [("4242", "77", public_pem)]
    setup.double["installation_permissions"] = {"actions": "read"} if broken else {"actions": "write"}


def _app_not_installed(setup: Setup, broken: bool) -> None:
    _, public_pem = app_key_pair()
    setup.app_credentials()
    setup.double["apps"] = [] if broken else [("4242", "77", public_pem)]


def _extra_input(setup: Setup, broken: bool) -> None:
    setup.deployment.configure(WORKFLOW_EXTRA_INPUTS=json.dumps({"environment": "prod"}))
    declared = DEFAULT_DECLARED_INPUTS if broken else DEFAULT_DECLARED_INPUTS | {"environment"}
    setup.double["declared_inputs"] = declared


def _ghes_api_version(setup: Setup, broken: bool) -> None:
    """GitHub Enterprise Server 3.20 with the default API version (broken) or the one it serves."""
    setup.double.update(ghes_version="3.20", api_prefix="/api/v3")
    if not broken:
        setup.deployment.configure(GITHUB_API_VERSION="2022-11-28")


def _table(setup: Setup, broken: bool) -> None:
    setup.table(key="pk" if broken else "instance_id")


def _ttl(setup: Setup, broken: bool) -> None:
    setup.table(ttl=not broken)


def _rule_disabled(setup: Setup, broken: bool) -> None:
    if broken:
        setup.deployment.events.disable_rule(Name=setup.deployment.rule)


def _batch_workflow(old: str, new: str) -> Callable[[Setup, bool], None]:
    """Batch mode on, and the example batch workflow served (the good half), or it with ``old`` replaced by ``new``."""

    def apply(setup: Setup, broken: bool) -> None:
        setup.deployment.configure(BATCH_MAX_INSTANCES="50")
        text = BATCH.read_text()
        assert old in text
        setup.double["workflow_file"] = text.replace(old, new) if broken else text

    return apply


def _batch_mode(setup: Setup) -> None:
    """The dispatcher in batch mode, and the example batch workflow on GitHub: a good batch setup."""
    setup.deployment.configure(BATCH_MAX_INSTANCES="50")
    setup.double["workflow_file"] = BATCH.read_text()


def _single_workflow_in_batch_mode(setup: Setup, broken: bool) -> None:
    _batch_mode(setup)
    if broken:
        setup.double["workflow_file"] = SINGLE.read_text()


NO_TRIGGER = "name: Deploy\non:\n  push:\n    branches: [main]\njobs: {}\n"

BREAKAGES = [
    Breakage("missing secret", "secret", "does not exist", _missing_secret),
    Breakage("secret without credentials", "secret", "must hold a token", _unusable_secret),
    Breakage("bad token", "token", "does not accept the token", _bad_token),
    Breakage("app not installed", "token", "refused the App credentials", _app_not_installed),
    Breakage("missing repository", "repository", "acme/other was not found", _flag("--repository", "acme/other")),
    Breakage(
        "classic token without repo scope",
        "permissions",
        "requires the repo scope",
        _double({"token_scopes": {TOKEN: ["repo", "workflow"]}}, {"token_scopes": {TOKEN: ["workflow"]}}),
    ),
    Breakage(
        "user cannot push",
        "permissions",
        "permissions.push is false",
        _double(
            {"repository_permissions": {"pull": True, "push": True}},
            {"repository_permissions": {"pull": True, "push": False}},
        ),
    ),
    Breakage("app without actions write", "permissions", "dispatching needs actions: write", _app_permissions),
    Breakage("workflow missing", "workflow", "'other.yml' was not found", _flag("--workflow", "other.yml")),
    Breakage(
        "workflow disabled",
        "workflow",
        "is disabled_manually",
        _double({"workflow_state": "active"}, {"workflow_state": "disabled_manually"}),
    ),
    Breakage(
        "workflow without an input",
        "workflow-inputs",
        "does not declare input(s) aws_region",
        _double({}, {"declared_inputs": DEFAULT_DECLARED_INPUTS - {"aws_region"}}),
    ),
    Breakage("extra input not declared", "workflow-inputs", "does not declare input(s) environment", _extra_input),
    Breakage(
        "no workflow_dispatch trigger",
        "workflow-inputs",
        "has no workflow_dispatch trigger",
        _double({}, {"workflow_file": NO_TRIGGER}),
    ),
    Breakage(
        "required input not sent",
        "workflow-inputs",
        "requires input(s) approver",
        _double(
            {},
            {
                "workflow_file": "run-name: Deploy ${{ inputs.dispatch_id }}\non:\n  workflow_dispatch:\n    inputs:\n"
                + "".join(f"      {name}: {{type: string}}\n" for name in sorted(DEFAULT_DECLARED_INPUTS))
                + "      approver: {type: string, required: true}\n"
            },
        ),
    ),
    Breakage(
        "run-name without dispatch id",
        "run-name",
        "does not contain ${{ inputs.dispatch_id }}",
        _double({}, {"run_name": "Deploy ${{ inputs.instance_id }}"}),
    ),
    Breakage("no run-name", "run-name", "has no run-name", _double({}, {"run_name": None})),
    Breakage("ghes with the default api version", "api-version", "refuses API version 2026-03-10", _ghes_api_version),
    Breakage("missing ref", "ref", "'release' is neither a branch nor a tag", _flag("--ref", "release")),
    Breakage("table with wrong key", "table", "is keyed on pk (HASH, S)", _table),
    Breakage("table missing", "table", "'no-such-table' does not exist", _flag("--table", "no-such-table")),
    Breakage("ttl disabled", "ttl", "TTL is DISABLED", _ttl),
    Breakage(
        "rule not targeting the function",
        "rule",
        "not function 'some-other-function'",
        _flag("--function-name", "some-other-function"),
    ),
    Breakage("rule missing", "rule", "'no-such-rule' does not exist", _flag("--rule-name", "no-such-rule")),
    Breakage("rule disabled", "rule", "is DISABLED", _rule_disabled),
]


BATCH_BREAKAGES = [
    Breakage(
        "batch mode with the single workflow",
        "workflow-inputs",
        "does not declare input(s) instances that the dispatcher sends",
        _single_workflow_in_batch_mode,
    ),
    Breakage(
        "batch workflow without the instances input",
        "workflow-inputs",
        "does not declare input(s) instances",
        _batch_workflow("      instances:\n", "      instance_list:\n"),
    ),
    Breakage(
        "batch workflow requiring an input not sent",
        "workflow-inputs",
        "requires input(s) approver",
        _batch_workflow("      instances:\n", "      approver: {type: string, required: true}\n      instances:\n"),
    ),
    Breakage(
        "batch run-name without dispatch id",
        "run-name",
        "does not contain ${{ inputs.dispatch_id }}",
        _batch_workflow(f"run-name: {BATCH_RUN_NAME}", "run-name: Deploy batch"),
    ),
    Breakage(
        "batch matrix not over the instances",
        "matrix",
        "has no job with a matrix over ${{ fromJSON(inputs.instances) }}",
        _batch_workflow("instance: ${{ fromJSON(inputs.instances) }}", "instance: [i-0123456789abcdef0]"),
    ),
    Breakage(
        "batch matrix with fail-fast left on",
        "matrix",
        "does not set fail-fast: false (GitHub's default is true)",
        _batch_workflow("      fail-fast: false\n", ""),
    ),
    Breakage(
        "batch jobs not named by instance",
        "matrix",
        "job deploy's name 'Deploy an instance' does not contain ${{ matrix.instance.instance_id }}",
        _batch_workflow("name: ${{ matrix.instance.instance_id }}", "name: Deploy an instance"),
    ),
    Breakage(
        "batch matrix with a second dimension",
        "matrix",
        "has key(s) attempt besides instance",
        _batch_workflow("        instance: ${{", "        attempt: [1, 2]\n        instance: ${{"),
    ),
]


def run_doctor(setup: Setup, run_cli: Run, *extra: str) -> CliResult:
    options = dict(setup.double)
    apps = options.pop("apps", [])
    with GitHubDouble(repository=REPOSITORY, workflow=WORKFLOW, tokens={TOKEN, FINE_GRAINED}, **options) as github:
        for app_id, installation_id, public_pem in apps:
            github.add_app(app_id=app_id, installation_id=installation_id, public_key_pem=public_pem)
        setup.deployment.use_github(github)
        return run_cli("doctor", *setup.argv, *extra)


def verdicts(result: CliResult) -> dict[str, dict[str, Any]]:
    return {check["name"]: check for check in result.json()["checks"]}


def test_a_good_setup_passes_every_check(deployment: Deployment, run_cli: Run) -> None:
    result = run_doctor(Setup(deployment), run_cli, "--json")

    assert result.code == 0
    assert result.json()["ok"] is True
    assert [(c["name"], c["outcome"]) for c in result.json()["checks"]] == [(name, "pass") for name in CHECKS]


@pytest.mark.parametrize("broken", [False, True], ids=["passes", "fails"])
@pytest.mark.parametrize(
    "breakage", [*BREAKAGES, *BATCH_BREAKAGES], ids=[b.name for b in [*BREAKAGES, *BATCH_BREAKAGES]]
)
def test_each_check_passes_when_right_and_fails_when_broken(
    deployment: Deployment, run_cli: Run, breakage: Breakage, broken: bool
) -> None:
    setup = Setup(deployment)
    breakage.apply(setup, broken)

    result = run_doctor(setup, run_cli, "--json")

    verdict = verdicts(result)[breakage.check]
    if broken:
        assert result.code == 1
        assert result.json()["ok"] is False
        assert verdict["outcome"] == "fail", verdict
        assert breakage.says in verdict["reason"]
        assert verdict["fix"]
    else:
        assert result.code == 0, result.out
        assert verdict["outcome"] == "pass", verdict
    assert TOKEN not in result.out + result.err
    assert "PRIVATE KEY" not in result.out + result.err


def test_checks_that_depend_on_a_failed_one_are_skipped_not_failed(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    setup.argv += ["--secret", "deploy-trigger/does-not-exist"]

    outcomes = {name: v["outcome"] for name, v in verdicts(run_doctor(setup, run_cli, "--json")).items()}

    assert outcomes == {
        "secret": "fail",
        **dict.fromkeys(CHECKS[1:9], "skip"),
        "table": "pass",
        "ttl": "pass",
        "rule": "pass",
    }


def test_text_output_is_one_line_per_check_with_marks_and_fixes(deployment: Deployment, run_cli: Run) -> None:
    good = run_doctor(Setup(deployment), run_cli)
    broken = Setup(deployment)
    broken.argv += ["--ref", "release"]
    bad = run_doctor(broken, run_cli)

    good_lines = good.out.splitlines()
    assert good_lines[0].startswith(f"deploy-trigger doctor: {REPOSITORY}, workflow {WORKFLOW} at main")
    assert [line.split()[:2] for line in good_lines[2:14]] == [["✓", name] for name in CHECKS]
    assert good_lines[-1] == "All 12 checks passed."
    (ref_line,) = [line for line in bad.out.splitlines() if line.startswith("✗")]
    assert ref_line.split()[1] == "ref"
    assert "Fix: create it, or set GITHUB_REF / --ref" in ref_line
    assert bad.out.splitlines()[-1].startswith("1 check(s) failed")
    assert bad.code == 1


def test_classic_token_type_and_scopes_are_shown_never_the_token(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    setup.double["token_scopes"] = {TOKEN: ["repo", "workflow"]}

    result = run_doctor(setup, run_cli)

    assert "GitHub accepts the classic personal access token" in result.out
    assert "classic personal access token with scopes repo, workflow" in result.out
    assert TOKEN not in result.out
    assert TOKEN[:12] not in result.out


def test_public_repo_scope_on_a_public_repository_is_a_warning(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    setup.double.update(private=False, token_scopes={TOKEN: ["public_repo"]})

    result = run_doctor(setup, run_cli, "--json")

    assert result.code == 0
    assert verdicts(result)["permissions"]["outcome"] == "warn"
    assert "public_repo" in verdicts(result)["permissions"]["reason"]


def test_fine_grained_token_is_a_warning_when_runs_can_be_listed(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    setup.secret_holding(FINE_GRAINED)

    result = run_doctor(setup, run_cli)

    assert result.code == 0
    (line,) = [line for line in result.out.splitlines() if line.split()[1:2] == ["permissions"]]
    assert line.startswith("! permissions")
    assert "cannot verify actions:write without dispatching; listing runs works (actions:read)" in line
    assert "fine-grained personal access token" in line
    assert result.out.splitlines()[-1] == "No check failed; 1 warning(s) to review."
    assert FINE_GRAINED not in result.out


def test_fine_grained_token_that_cannot_list_runs_fails(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    setup.secret_holding(FINE_GRAINED)
    setup.double["token_permissions"] = {FINE_GRAINED: {"contents": "read"}}

    result = run_doctor(setup, run_cli, "--json")

    assert result.code == 1
    permissions = verdicts(result)["permissions"]
    assert permissions["outcome"] == "fail"
    assert "listing the workflow's runs failed (HTTP 403" in permissions["reason"]
    assert verdicts(result)["workflow"]["outcome"] == "fail"


def test_fine_grained_token_without_contents_read_cannot_check_the_file_a_warning(
    deployment: Deployment, run_cli: Run
) -> None:
    setup = Setup(deployment)
    setup.secret_holding(FINE_GRAINED)
    setup.double["token_permissions"] = {FINE_GRAINED: {"actions": "write"}}

    result = run_doctor(setup, run_cli, "--json")

    outcomes = {name: v["outcome"] for name, v in verdicts(result).items()}
    assert result.code == 0
    assert [outcomes[name] for name in ("permissions", "workflow-inputs", "run-name", "ref")] == ["warn"] * 4
    assert outcomes["workflow"] == "pass"


def test_the_workflow_file_on_the_dispatched_ref_is_checked_too(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    setup.double["refs"] = ("main", "release")
    setup.argv += ["--ref", "release"]

    result = run_doctor(setup, run_cli, "--json")

    assert result.code == 0
    assert "on main and release" in verdicts(result)["workflow-inputs"]["reason"]


def test_rule_unknown_is_a_warning(deployment: Deployment, run_cli: Run) -> None:
    deployment.unset("DEPLOY_TRIGGER_RULE_NAME", "DEPLOY_TRIGGER_FUNCTION_NAME")

    result = run_doctor(Setup(deployment), run_cli, "--json")

    assert result.code == 0
    assert verdicts(result)["rule"]["outcome"] == "warn"
    assert "--rule-name" in verdicts(result)["rule"]["fix"]


def test_github_unreachable_fails_the_check_it_stopped_and_skips_the_rest(deployment: Deployment, run_cli: Run) -> None:
    deployment.configure(GITHUB_API_URL="http://127.0.0.1:9")  # discard port: nothing listens

    result = run_cli("doctor", "--json")

    outcomes = {name: v["outcome"] for name, v in verdicts(result).items()}
    assert result.code == 1
    assert outcomes["secret"] == "pass"
    assert outcomes["api-version"] == "fail"  # the first check that calls GitHub
    assert "could not reach GitHub at http://127.0.0.1:9" in verdicts(result)["api-version"]["reason"]
    assert all(outcomes[name] == "skip" for name in CHECKS[2:9])


def test_incomplete_configuration_is_a_usage_error_naming_flags_and_variables(
    deployment: Deployment, run_cli: Run
) -> None:
    deployment.unset("GITHUB_REPOSITORY", "GITHUB_REF")

    result = run_cli("doctor")

    assert result.code == 2
    assert "GitHub repository (--repository or GITHUB_REPOSITORY)" in result.err
    assert "Git ref to dispatch (--ref or GITHUB_REF)" in result.err
    assert "Traceback" not in result.err


def test_invalid_setting_is_a_usage_error_naming_the_flag(deployment: Deployment, run_cli: Run) -> None:
    result = run_cli("doctor", "--repository", "not-a-repository")

    assert result.code == 2
    assert "GITHUB_REPOSITORY must be 'owner/repo'" in result.err
    assert "(flag: --repository)" in result.err


def test_ghes_left_on_the_default_api_version_is_told_to_set_2022_11_28(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    _ghes_api_version(setup, broken=True)

    result = run_doctor(setup, run_cli, "--json")

    verdict = verdicts(result)["api-version"]
    assert result.code == 1
    assert "refuses API version 2026-03-10" in verdict["reason"]
    assert "GITHUB_API_VERSION" in verdict["fix"]
    assert "githubApiVersion" in verdict["fix"]
    assert "to 2022-11-28" in verdict["fix"]
    assert verdicts(result)["token"]["outcome"] == "skip"  # not a token problem: the version is


# -- batch mode -----------------------------------------------------------------------------------------------


def test_batch_mode_checks_the_matrix_job_too_and_says_so(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    _batch_mode(setup)

    result = run_doctor(setup, run_cli, "--json")
    text = run_doctor(setup, run_cli)

    assert result.code == 0, result.out
    assert [(c["name"], c["outcome"]) for c in result.json()["checks"]] == [(name, "pass") for name in BATCH_CHECKS]
    assert result.json()["configuration"]["batch_max_instances"] == 50
    assert (
        "inputs the dispatcher sends in batch mode (dispatch_id, instances)"
        in verdicts(result)["workflow-inputs"]["reason"]
    )
    assert verdicts(result)["matrix"]["reason"] == (
        "job deploy runs one job per instance, named ${{ matrix.instance.instance_id }}, fail-fast false"
    )
    assert text.out.splitlines()[0].endswith(", batch mode (up to 50 instances a run)")
    assert text.out.splitlines()[-1] == f"All {len(BATCH_CHECKS)} checks passed."


def test_batch_mode_off_keeps_the_single_checks_and_refuses_the_batch_workflow(
    deployment: Deployment, run_cli: Run
) -> None:
    setup = Setup(deployment)
    setup.double["workflow_file"] = BATCH.read_text()
    deployment.configure(BATCH_MAX_INSTANCES="0")

    result = run_doctor(setup, run_cli, "--json")

    assert [c["name"] for c in result.json()["checks"]] == CHECKS
    assert result.json()["configuration"]["batch_max_instances"] == 0
    inputs = verdicts(result)["workflow-inputs"]
    assert inputs["outcome"] == "fail"
    assert "does not declare input(s) asg_name, aws_region, instance_id" in inputs["reason"]
    assert inputs["fix"].startswith("this is a batch workflow, and the dispatcher is not in batch mode")
    assert "examples/workflows/deploy.yml" in inputs["fix"]


def test_the_single_workflow_in_batch_mode_is_told_to_pair_workflow_and_mode(
    deployment: Deployment, run_cli: Run
) -> None:
    setup = Setup(deployment)
    _single_workflow_in_batch_mode(setup, broken=True)

    inputs = verdicts(run_doctor(setup, run_cli, "--json"))["workflow-inputs"]

    assert "requires input(s) asg_name, aws_region, instance_id" in inputs["reason"]
    assert inputs["fix"].startswith("this is a single-instance workflow, and the dispatcher is in batch mode")
    assert "examples/workflows/deploy-batch.yml" in inputs["fix"]
    assert "batchDispatch" in inputs["fix"]


def test_batch_fixes_point_at_the_batch_example(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    _batch_workflow(f"run-name: {BATCH_RUN_NAME}", "run-name: Deploy batch")(setup, True)
    setup.double["workflow_file"] = setup.double["workflow_file"].replace("      fail-fast: false\n", "")

    checks = verdicts(run_doctor(setup, run_cli, "--json"))

    assert checks["run-name"]["fix"] == f"set run-name: {BATCH_RUN_NAME}"
    assert "fail-fast: false" in checks["matrix"]["fix"]
    assert "matrix: {instance: ${{ fromJSON(inputs.instances) }}}" in checks["matrix"]["fix"]
    assert "examples/workflows/deploy-batch.yml" in checks["matrix"]["fix"]


@pytest.mark.parametrize("value", ["1", "257", "lots", "-5"])
def test_an_invalid_batch_setting_is_a_usage_error_naming_the_variable(
    deployment: Deployment, run_cli: Run, value: str
) -> None:
    deployment.configure(BATCH_MAX_INSTANCES=value)

    result = run_cli("doctor")

    assert result.code == 2
    assert (
        f"BATCH_MAX_INSTANCES must be 0 (batch mode off) or a whole number of instances from 2 to 256, got {value!r}"
        in (result.err)
    )
    assert "Traceback" not in result.err


def test_the_matrix_check_is_skipped_when_the_workflow_is_missing(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    _batch_mode(setup)
    setup.argv += ["--workflow", "other.yml"]

    outcomes = {name: v["outcome"] for name, v in verdicts(run_doctor(setup, run_cli, "--json")).items()}

    assert outcomes["workflow"] == "fail"
    assert [outcomes[name] for name in ("workflow-inputs", "run-name", "matrix")] == ["skip"] * 3


def test_the_matrix_check_is_a_warning_when_the_file_cannot_be_read(deployment: Deployment, run_cli: Run) -> None:
    setup = Setup(deployment)
    _batch_mode(setup)
    setup.secret_holding(FINE_GRAINED)
    setup.double["token_permissions"] = {FINE_GRAINED: {"actions": "write"}}

    result = run_doctor(setup, run_cli, "--json")

    assert result.code == 0
    assert verdicts(result)["matrix"]["outcome"] == "warn"
    assert "grant Contents: read" in verdicts(result)["matrix"]["reason"]
