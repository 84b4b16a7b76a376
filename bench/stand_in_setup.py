"""What the benchmarks share to run the real handler on the stand-ins: its environment against a moto server and
the GitHub double, its ledger table and token secret, and the GitHub calls counted by name.

Nothing here imports ``deploy_trigger`` at module level: bench.no_limit_overhead starts containers that pick
their own version of it, and they import this module first.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from deploy_trigger.github_client import GitHubClient
    from stand_ins.github_double import GitHubDouble
    from stand_ins.github_model import RecordedRequest

TOKEN = "bench-token"  # noqa: S105 - accepted by the local double only


def handler_environment(moto_url: str, github: GitHubDouble, *, table: str, secret: str) -> dict[str, str]:
    """The dispatcher's environment: AWS on ``moto_url``, GitHub on the double, the token in ``secret``."""
    return {
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "LEDGER_TABLE_NAME": table,
        "GITHUB_REPOSITORY": github.repository,
        "GITHUB_WORKFLOW": github.workflow,
        "GITHUB_REF": "main",
        "GITHUB_CREDENTIALS_SECRET": secret,
        "GITHUB_API_URL": github.url,
        # The numbers are the output here: keep the handler's JSON logs and EMF documents quiet.
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_METRICS_DISABLED": "true",
    }


def container_environment(
    lambda_src: str, moto_url: str, github_url: str, repository: str, workflow: str
) -> dict[str, str]:
    """A fresh process's environment as a deployed dispatcher's container has it, running the ``deploy_trigger`` in
    ``lambda_src``, with its own ledger table and secret names, and its table and secret created on moto."""
    suffix = uuid.uuid4().hex[:8]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([lambda_src, root]),
        "AWS_ENDPOINT_URL": moto_url,
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "LEDGER_TABLE_NAME": f"ledger-{suffix}",
        "GITHUB_REPOSITORY": repository,
        "GITHUB_WORKFLOW": workflow,
        "GITHUB_REF": "main",
        "GITHUB_CREDENTIALS_SECRET": f"github-{suffix}",
        "GITHUB_API_URL": github_url,
        # As the stack deploys it (infra/constructs/service_function.py): INFO logs and EMF metrics on.
        "POWERTOOLS_LOG_LEVEL": "INFO",
        # What Lambda sets in every execution environment: the dispatcher builds its clients in the init then.
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
    }
    os.environ.update({key: environment[key] for key in ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION")})
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"})
    create_resources(environment["LEDGER_TABLE_NAME"], environment["GITHUB_CREDENTIALS_SECRET"])
    return environment


def create_resources(table: str, secret: str) -> None:
    """The ledger table, from the schema of the ``deploy_trigger`` this process imports, and the token secret
    (boto3 finds moto through the environment above)."""
    from stand_ins.aws_resources import create_ledger_table, create_token_secret

    create_ledger_table(boto3.client("dynamodb"), table)
    create_token_secret(boto3.client("secretsmanager"), secret, TOKEN)


def github_calls(requests: Iterable[RecordedRequest]) -> Counter[str]:
    """Requests by method and last path segment, e.g. ``"github:POST dispatches"``."""
    return Counter(f"github:{request.method} {request.path.rsplit('/', 1)[-1]}" for request in requests)


def double_client(github: GitHubDouble) -> GitHubClient:
    """The functions' GitHub client, in this process, aimed at the double with the benchmarks' token."""
    from deploy_trigger.github_auth import SecretCredentials
    from deploy_trigger.github_client import GitHubClient

    return GitHubClient(
        api_url=github.url,
        repository=github.repository,
        workflow=github.workflow,
        api_version="2026-03-10",
        credentials=SecretCredentials("unused", lambda _name, _age: TOKEN),
    )
