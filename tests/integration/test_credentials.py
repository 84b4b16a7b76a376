"""GitHub credentials: App authentication, the secret read once per warm container, and no credential in any
log line, metric, exception message or ledger item."""

import io
import json
import uuid
from collections.abc import Callable

import pytest

from deploy_trigger.observability import logger
from stand_ins.autoscaling_events import lifecycle_action
from stand_ins.aws_resources import create_app_secret, create_token_secret
from stand_ins.deployment import TOKEN
from stand_ins.github_double import GitHubDouble, Reject, Unauthorized
from stand_ins.invoke import invoke
from stand_ins.moto_server import SerializedMotoServer
from tests.integration.conftest import Stack
from tests.integration.keys import app_key_pair

APP_ID, INSTALLATION_ID = "424242", "31337"


@pytest.fixture
def app_stack(stack: Stack, github: GitHubDouble) -> Stack:
    private_key, public_key = app_key_pair()
    github.add_app(APP_ID, INSTALLATION_ID, public_key)
    secret = f"deploy-trigger/app-{uuid.uuid4().hex[:8]}"
    create_app_secret(stack.secretsmanager, secret, APP_ID, INSTALLATION_ID, private_key)
    stack.configure(GITHUB_CREDENTIALS_SECRET=secret)
    return stack


def test_github_app_installation_token_is_minted_once_and_reused_while_fresh(
    app_stack: Stack, github: GitHubDouble, instance_ids: Callable[[], str]
) -> None:
    results = [invoke(lifecycle_action(instance_ids())) for _ in range(3)]

    assert [r.result and r.result["result"] for r in results] == ["dispatched"] * 3
    assert github.tokens_minted == 1
    assert len(github.runs) == 3


def test_revoked_installation_token_is_refreshed_once_and_the_dispatch_goes_through(
    app_stack: Stack, github: GitHubDouble, instance_ids: Callable[[], str]
) -> None:
    assert invoke(lifecycle_action(instance_ids())).result is not None
    github.revoke_installation_tokens()

    result = invoke(lifecycle_action(instance_ids()))

    assert result.result is not None
    assert result.result["result"] == "dispatched"
    assert github.tokens_minted == 2
    assert len(github.runs) == 2


def test_app_401_after_a_refresh_is_a_rejection_not_a_loop(
    app_stack: Stack, github: GitHubDouble, instance_ids: Callable[[], str]
) -> None:
    github.inject(Unauthorized(), times=2)

    result = invoke(lifecycle_action(instance_ids()))

    assert result.error == "DispatchRejected"
    assert github.count("POST", "/dispatches") == 2
    assert github.runs == []


def test_app_key_github_does_not_accept_is_a_credentials_error_that_keeps_the_launch_retryable(
    stack: Stack, github: GitHubDouble, instance_ids: Callable[[], str]
) -> None:
    _, public_key = app_key_pair()
    github.add_app(APP_ID, INSTALLATION_ID, public_key)
    other_key = _other_private_key()
    secret = f"deploy-trigger/wrong-app-{uuid.uuid4().hex[:8]}"
    create_app_secret(stack.secretsmanager, secret, APP_ID, INSTALLATION_ID, other_key)
    stack.configure(GITHUB_CREDENTIALS_SECRET=secret)
    instance = instance_ids()

    result = invoke(lifecycle_action(instance))

    assert result.error == "CredentialsInvalid"
    assert "check app_id, installation_id and private_key" in result.message
    assert github.count("POST", "/dispatches") == 0
    assert stack.status(instance) == "CLAIMED"  # not FAILED: once the secret is fixed, a retry dispatches


@pytest.mark.parametrize("value", ["", "{}", '{"app_id": "1"}', "[1, 2]"])
def test_unusable_secret_names_the_secret_and_never_its_value(
    stack: Stack, github: GitHubDouble, instance_ids: Callable[[], str], value: str
) -> None:
    secret = f"deploy-trigger/broken-{uuid.uuid4().hex[:8]}"
    stack.secretsmanager.create_secret(Name=secret, SecretString=value or " ")
    stack.configure(GITHUB_CREDENTIALS_SECRET=secret)

    result = invoke(lifecycle_action(instance_ids()))

    assert result.error == "CredentialsInvalid"
    assert secret in result.message
    assert github.requests == []


def test_token_in_json_form_is_accepted(stack: Stack, github: GitHubDouble, instance_ids: Callable[[], str]) -> None:
    secret = f"deploy-trigger/json-{uuid.uuid4().hex[:8]}"
    create_token_secret(stack.secretsmanager, secret, json.dumps({"token": TOKEN}))
    stack.configure(GITHUB_CREDENTIALS_SECRET=secret)

    assert invoke(lifecycle_action(instance_ids())).result is not None
    assert len(github.runs) == 1


def test_secret_is_read_once_per_warm_container(
    stack: Stack, moto_server: SerializedMotoServer, github: GitHubDouble, instance_ids: Callable[[], str]
) -> None:
    moto_server.reset_calls()

    for _ in range(5):
        invoke(lifecycle_action(instance_ids()))

    assert moto_server.calls["secretsmanager:GetSecretValue"] == 1
    assert len(github.runs) == 5


def test_no_credential_reaches_logs_metrics_errors_or_the_ledger(
    app_stack: Stack,
    github: GitHubDouble,
    instance_ids: Callable[[], str],
    captured_logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
) -> None:
    logger.setLevel("DEBUG")
    try:
        instances = [instance_ids() for _ in range(3)]
        github.inject(Reject(422, "Unexpected inputs provided"))
        outcomes = [invoke(lifecycle_action(instance)) for instance in instances]
        github.revoke_installation_tokens()
        outcomes.append(invoke(lifecycle_action(instance_ids())))
        app_stack.configure(GITHUB_CREDENTIALS_SECRET=_pat_secret(app_stack))
        github.inject(Unauthorized())
        outcomes.append(invoke(lifecycle_action(instance_ids())))
    finally:
        logger.setLevel("INFO")

    private_key, _ = app_key_pair()
    key_body = private_key.splitlines()[1]
    everything = "\n".join(
        [
            captured_logs.getvalue(),
            capsys.readouterr().out,
            *(o.message for o in outcomes),
            *(json.dumps(app_stack.raw_item(i)) for i in instances),
        ]
    )
    assert "DEBUG" in captured_logs.getvalue()  # the debug lines were there to leak from, and did not
    assert github.tokens_minted == 2
    for secret in [TOKEN, key_body, "ghs_"]:  # ghs_: every installation token the double minted
        assert secret not in everything


def _pat_secret(stack: Stack) -> str:
    name = f"deploy-trigger/pat-{uuid.uuid4().hex[:8]}"
    create_token_secret(stack.secretsmanager, name, TOKEN)
    return name


def _other_private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
