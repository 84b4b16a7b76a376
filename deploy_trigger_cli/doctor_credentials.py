"""``doctor``'s verdicts on the credentials: the secret's content, the kind of token, and what it may do.

How "may the token dispatch?" is answered, per kind of credential (GitHub's REST docs for "Create a workflow
dispatch event": classic tokens need the ``repo`` scope, GitHub Apps and fine-grained tokens Actions: write):

- GitHub App: the dispatcher mints installation tokens, and so does doctor; GitHub's answer lists the token's
  ``permissions``, which must include ``actions: write``.
- Classic personal access token: GitHub lists its scopes in the ``X-OAuth-Scopes`` header. ``repo`` passes
  (the documented scope; ``workflow`` only allows changing workflow files). ``public_repo`` on a public
  repository is a warning: not the documented scope. The repository's ``permissions.push`` must not be false
  (the token's user needs write access).
- Fine-grained personal access token: no API lists its permissions, and the only proof of Actions: write is a
  dispatch, which a check must not make. Listing the workflow's runs proves Actions: read (which reconciliation
  needs), so ``doctor_github`` checks that, and the verdict is a warning, never a pass.

Only the kind of a token and its scopes are ever shown, never the token itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger.errors import CredentialsInvalid
from deploy_trigger.github_auth import AppCredentials, Credentials, parse_credentials
from deploy_trigger_cli.aws import aws_error, error_code
from deploy_trigger_cli.checks import CheckResult, failed, passed, warned

# Check names (ruff mistakes two of them for passwords).
SECRET = "secret"  # noqa: S105
TOKEN = "token"  # noqa: S105
PERMISSIONS = "permissions"

# Kinds of personal token, as doctor names them.
CLASSIC = "classic personal access token"
FINE_GRAINED = "fine-grained personal access token"
STORED_INSTALLATION = "GitHub App installation token (stored as a plain token)"
UNKNOWN_KIND = "token of unknown kind (GitHub sent no scopes for it)"


def read_credentials(secretsmanager: Any, name: str, now: float) -> tuple[CheckResult, Credentials | None]:
    """The ``secret`` check: the secret is readable and holds a token or usable App credentials."""
    try:
        answer = secretsmanager.get_secret_value(SecretId=name)
    except ClientError as error:
        return failed(SECRET, *_secret_error(name, error)), None
    except BotoCoreError as error:
        return failed(SECRET, f"reading secret {name!r} failed: {aws_error(error)}"), None
    value = answer.get("SecretString")
    if not isinstance(value, str):
        return failed(
            SECRET, f"secret {name!r} holds binary data", "store the token or App JSON as a SecretString"
        ), None
    try:
        credentials = parse_credentials(value, name)
        if isinstance(credentials, AppCredentials):
            credentials.jwt(now)  # proves the private key is a usable RSA key
    except CredentialsInvalid as error:
        fix = (
            f"put a token, or the App's JSON credentials, into {name!r}: "
            f"aws secretsmanager put-secret-value --secret-id {name} --secret-string ..."
        )
        return failed(SECRET, str(error), fix), None
    kind = (
        f"GitHub App credentials (app {credentials.app_id}, installation {credentials.installation_id})"
        if isinstance(credentials, AppCredentials)
        else "a personal access token"
    )
    return passed(SECRET, f"secret {name!r} is readable and holds {kind}"), credentials


def token_kind(token: str, scopes_header: str | None) -> str:
    """What kind of personal token this is, from its documented prefix or GitHub's scopes header."""
    if token.startswith("github_pat_"):
        return FINE_GRAINED
    if token.startswith("ghs_"):
        return STORED_INSTALLATION
    if scopes_header is not None:
        return CLASSIC
    return UNKNOWN_KIND


def app_permissions_verdict(permissions: Mapping[str, str]) -> CheckResult:
    actions = permissions.get("actions")
    if actions == "write":
        return passed(PERMISSIONS, "the installation token has actions: write (dispatch, list runs)")
    return failed(
        PERMISSIONS,
        f"the installation token has actions: {actions or 'none'}; dispatching needs actions: write",
        "in the App's settings grant Repository permissions > Actions: Read and write, then approve the change on "
        "the installation",
    )


def classic_permissions_verdict(header: str, repository: Any, repository_name: str, secret_name: str) -> CheckResult:
    """A classic token: the ``repo`` scope, and write access for its user (``permissions.push``)."""
    scopes = sorted({scope.strip() for scope in header.split(",") if scope.strip()})
    shown = ", ".join(scopes) or "none"
    fix = (
        "use a classic token with the repo scope, or a fine-grained token with Actions: Read and write on "
        f"{repository_name}, and store it in {secret_name!r}"
    )
    body = repository if isinstance(repository, dict) else {}
    if "repo" not in scopes:
        if "public_repo" in scopes and body.get("private") is False:
            return warned(
                PERMISSIONS,
                f"{CLASSIC} with scopes {shown}: GitHub documents the repo scope for workflow_dispatch; "
                "public_repo may do for a public repository, but that is not documented",
                fix,
            )
        return failed(
            PERMISSIONS,
            f"{CLASSIC} with scopes {shown}: GitHub requires the repo scope to dispatch a workflow "
            "(the workflow scope only allows changing workflow files)",
            fix,
        )
    permissions = body.get("permissions")
    if isinstance(permissions, dict) and permissions.get("push") is False:
        return failed(
            PERMISSIONS,
            f"{CLASSIC} with scope repo, but its user cannot write to {repository_name} (permissions.push is "
            "false); dispatching needs write access",
            f"give the token's user write access to {repository_name}, or use a token of a user who has it",
        )
    return passed(PERMISSIONS, f"{CLASSIC} with scopes {shown}: repo (what workflow_dispatch needs) and write access")


def _secret_error(name: str, error: ClientError) -> tuple[str, str]:
    code = error_code(error)
    if code == "ResourceNotFoundException":
        return (
            f"secret {name!r} does not exist in this account and region",
            f"create it (aws secretsmanager create-secret --name {name} --secret-string ...), or point "
            "GITHUB_CREDENTIALS_SECRET / --secret at the right one",
        )
    if code == "AccessDeniedException":
        return (
            f"not allowed to read secret {name!r} ({aws_error(error)})",
            "run doctor with credentials allowed secretsmanager:GetSecretValue (and kms:Decrypt for a customer key)",
        )
    if code == "DecryptionFailure":
        return f"secret {name!r} cannot be decrypted ({aws_error(error)})", "allow kms:Decrypt on the secret's KMS key"
    return f"reading secret {name!r} failed ({aws_error(error)})", "check the secret in the Secrets Manager console"
