"""AWS clients for the CLI: boto3's standard credential chain and region, built lazily, one per service.

boto3 honours ``AWS_ENDPOINT_URL`` by itself, which is how the CLI reaches moto server and the local stand-ins;
nothing here knows about them. Tests hand in ready clients (e.g. a botocore ``Stubber``-wrapped Lambda client)
through ``overrides``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cache
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from deploy_trigger_cli.errors import ConfigError, OperationFailed

#: An operator waits for the answer: a few quick retries, then a clear error rather than a long hang.
_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"mode": "standard", "max_attempts": 3})


class AwsClients:
    def __init__(self, region: str | None = None, overrides: Mapping[str, Any] | None = None) -> None:
        self._explicit_region = region
        self._clients: dict[str, Any] = dict(overrides or {})
        self._session: boto3.session.Session | None = None

    @property
    def region(self) -> str | None:
        """``--region``, else boto3's own choice (AWS_DEFAULT_REGION, the profile's region), else AWS_REGION.

        boto3 does not read AWS_REGION, but the Lambda runtime sets it and the dispatcher's settings read it, so a
        shell configured like the function works here too.
        """
        return self._explicit_region or self._boto_session().region_name or os.environ.get("AWS_REGION") or None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            try:
                self._clients[service] = self._boto_session().client(service, region_name=self.region, config=_CONFIG)
            except NoRegionError:
                raise ConfigError(
                    "no AWS region: pass --region, set AWS_REGION, or give your AWS profile a region"
                ) from None
        return self._clients[service]

    def _boto_session(self) -> boto3.session.Session:
        if self._session is None:
            self._session = _shared_session()
        return self._session


@cache
def _shared_session() -> boto3.session.Session:
    """One boto3 session per process: building one loads botocore's data files (a third of a second), and
    credentials and region are resolved once, as the AWS CLI does for one command."""
    return boto3.session.Session()


def aws_error(error: ClientError | BotoCoreError) -> str:
    """``Code: message`` of a failed AWS call, in one line."""
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        return f"{details.get('Code', 'Unknown')}: {details.get('Message', '')}".rstrip(": ")
    return f"{type(error).__name__}: {error}"


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def failed(action: str, error: ClientError | BotoCoreError) -> OperationFailed | ConfigError:
    """The CLI error for an AWS call that failed: missing credentials are configuration, the rest an operation."""
    if isinstance(error, NoCredentialsError):
        return ConfigError(
            "no AWS credentials found (environment, profile, SSO or instance role): "
            "configure them as for the AWS CLI, e.g. AWS_PROFILE=..."
        )
    return OperationFailed(f"{action} failed: {aws_error(error)}")
