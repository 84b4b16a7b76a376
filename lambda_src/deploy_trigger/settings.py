"""The dispatcher's configuration: one typed object, read once from the environment.

Domain code never reads ``os.environ``; it receives a :class:`Settings`. Every variable is validated
when the object is built (at cold start), and a bad one fails with a message that names it, so a
misconfigured deployment is loud on its first event instead of dispatching something half-right.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

#: Inputs the dispatcher always sends; the workflow must declare each of them.
RESERVED_INPUTS = frozenset({"instance_id", "dispatch_id", "asg_name", "lifecycle_hook_name", "aws_region"})
#: GitHub accepts at most 25 inputs on a workflow_dispatch.
MAX_WORKFLOW_INPUTS = 25
SUPPORTED_API_VERSIONS = ("2026-03-10", "2022-11-28")

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class ConfigurationError(ValueError):
    """A setting is missing or invalid; the message names the variable and what is expected."""


@dataclass(frozen=True)
class Settings:
    ledger_table_name: str
    github_repository: str
    github_workflow: str
    github_ref: str
    github_credentials_secret: str
    aws_region: str
    github_api_url: str = "https://api.github.com"
    github_api_version: str = SUPPORTED_API_VERSIONS[0]
    allowed_asg_names: frozenset[str] = field(default_factory=frozenset)
    workflow_extra_inputs: Mapping[str, str] = field(default_factory=dict)
    lease_margin_seconds: float = 5.0

    #: Environment variable -> field, for every variable this model reads (the CDK stack is tested
    #: against this map, so the function's environment can never miss a setting).
    ENVIRONMENT: ClassVar[Mapping[str, str]] = {
        "LEDGER_TABLE_NAME": "ledger_table_name",
        "GITHUB_REPOSITORY": "github_repository",
        "GITHUB_WORKFLOW": "github_workflow",
        "GITHUB_REF": "github_ref",
        "GITHUB_CREDENTIALS_SECRET": "github_credentials_secret",
        "GITHUB_API_URL": "github_api_url",
        "GITHUB_API_VERSION": "github_api_version",
        "ALLOWED_ASG_NAMES": "allowed_asg_names",
        "WORKFLOW_EXTRA_INPUTS": "workflow_extra_inputs",
        "LEASE_MARGIN_SECONDS": "lease_margin_seconds",
    }
    #: Variables without a default. AWS_REGION is set by the Lambda runtime itself.
    REQUIRED: ClassVar[tuple[str, ...]] = (
        "LEDGER_TABLE_NAME",
        "GITHUB_REPOSITORY",
        "GITHUB_WORKFLOW",
        "GITHUB_REF",
        "GITHUB_CREDENTIALS_SECRET",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build and validate the settings; raise :class:`ConfigurationError` naming the bad variable."""
        _require(environ, cls.REQUIRED)
        region = _region(environ)
        return cls(
            ledger_table_name=environ["LEDGER_TABLE_NAME"].strip(),
            github_repository=_repository(environ["GITHUB_REPOSITORY"]),
            github_workflow=environ["GITHUB_WORKFLOW"].strip(),
            github_ref=environ["GITHUB_REF"].strip(),
            github_credentials_secret=environ["GITHUB_CREDENTIALS_SECRET"].strip(),
            aws_region=region,
            github_api_url=_api_url(environ.get("GITHUB_API_URL", cls.github_api_url)),
            github_api_version=_api_version(environ.get("GITHUB_API_VERSION", cls.github_api_version)),
            allowed_asg_names=frozenset(
                n.strip() for n in environ.get("ALLOWED_ASG_NAMES", "").split(",") if n.strip()
            ),
            workflow_extra_inputs=_extra_inputs(environ.get("WORKFLOW_EXTRA_INPUTS", "")),
            lease_margin_seconds=_lease_margin(environ.get("LEASE_MARGIN_SECONDS", str(cls.lease_margin_seconds))),
        )


@dataclass(frozen=True)
class TrackerSettings:
    """The tracker's configuration: it follows dispatched runs and completes lifecycle actions."""

    ledger_table_name: str
    github_repository: str
    github_workflow: str
    github_credentials_secret: str
    aws_region: str
    github_api_url: str = "https://api.github.com"
    github_api_version: str = SUPPORTED_API_VERSIONS[0]
    #: SNS topic for failed, abandoned and stuck deployments; empty = log only (local runs).
    alert_topic_arn: str = ""
    #: A dispatch whose run GitHub never lists within this time is abandoned.
    run_appear_timeout_seconds: int = 600
    #: How often a running deploy's lifecycle action is heartbeaten (well under the hook's heartbeat timeout).
    heartbeat_interval_seconds: int = 300
    #: A deploy still unfinished this long after its dispatch is stuck: abandoned, and a human is told.
    max_deploy_seconds: int = 3600
    #: How long the tracker waits before looking at an unfinished entry again.
    check_interval_seconds: int = 60

    ENVIRONMENT: ClassVar[Mapping[str, str]] = {
        "LEDGER_TABLE_NAME": "ledger_table_name",
        "GITHUB_REPOSITORY": "github_repository",
        "GITHUB_WORKFLOW": "github_workflow",
        "GITHUB_CREDENTIALS_SECRET": "github_credentials_secret",
        "GITHUB_API_URL": "github_api_url",
        "GITHUB_API_VERSION": "github_api_version",
        "ALERT_TOPIC_ARN": "alert_topic_arn",
        "RUN_APPEAR_TIMEOUT_SECONDS": "run_appear_timeout_seconds",
        "HEARTBEAT_INTERVAL_SECONDS": "heartbeat_interval_seconds",
        "MAX_DEPLOY_SECONDS": "max_deploy_seconds",
        "CHECK_INTERVAL_SECONDS": "check_interval_seconds",
    }
    REQUIRED: ClassVar[tuple[str, ...]] = (
        "LEDGER_TABLE_NAME",
        "GITHUB_REPOSITORY",
        "GITHUB_WORKFLOW",
        "GITHUB_CREDENTIALS_SECRET",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TrackerSettings:
        _require(environ, cls.REQUIRED)
        region = _region(environ)
        heartbeat = _seconds(environ, "HEARTBEAT_INTERVAL_SECONDS", cls.heartbeat_interval_seconds, 30, 3600)
        max_deploy = _seconds(environ, "MAX_DEPLOY_SECONDS", cls.max_deploy_seconds, 60, 48 * 3600)
        if heartbeat >= max_deploy:
            raise ConfigurationError("HEARTBEAT_INTERVAL_SECONDS must be shorter than MAX_DEPLOY_SECONDS")
        return cls(
            ledger_table_name=environ["LEDGER_TABLE_NAME"].strip(),
            github_repository=_repository(environ["GITHUB_REPOSITORY"]),
            github_workflow=environ["GITHUB_WORKFLOW"].strip(),
            github_credentials_secret=environ["GITHUB_CREDENTIALS_SECRET"].strip(),
            aws_region=region,
            github_api_url=_api_url(environ.get("GITHUB_API_URL", cls.github_api_url)),
            github_api_version=_api_version(environ.get("GITHUB_API_VERSION", cls.github_api_version)),
            alert_topic_arn=environ.get("ALERT_TOPIC_ARN", "").strip(),
            run_appear_timeout_seconds=_seconds(
                environ, "RUN_APPEAR_TIMEOUT_SECONDS", cls.run_appear_timeout_seconds, 60, 24 * 3600
            ),
            heartbeat_interval_seconds=heartbeat,
            max_deploy_seconds=max_deploy,
            check_interval_seconds=_seconds(environ, "CHECK_INTERVAL_SECONDS", cls.check_interval_seconds, 0, 3600),
        )


def _require(environ: Mapping[str, str], names: tuple[str, ...]) -> None:
    missing = [name for name in names if not environ.get(name, "").strip()]
    if missing:
        raise ConfigurationError(f"missing required environment variable(s): {', '.join(missing)}")


def _region(environ: Mapping[str, str]) -> str:
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigurationError("AWS_REGION is not set (the Lambda runtime sets it; set it when running locally)")
    return region


def _seconds(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value = environ.get(name, "").strip() or str(default)
    if not value.isdigit() or not low <= int(value) <= high:
        raise ConfigurationError(f"{name} must be a whole number of seconds from {low} to {high}, got {value!r}")
    return int(value)


def _repository(value: str) -> str:
    value = value.strip()
    if not _REPOSITORY.match(value):
        raise ConfigurationError(f"GITHUB_REPOSITORY must be 'owner/repo', got {value!r}")
    return value


def _names(value: str) -> frozenset[str]:
    return frozenset(name.strip() for name in value.split(",") if name.strip())


def _api_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://[^/\s]+", value):
        raise ConfigurationError(
            "GITHUB_API_URL must be an http(s) URL such as https://api.github.com or https://HOST/api/v3, "
            f"got {value!r}"
        )
    return value


def _api_version(value: str) -> str:
    value = value.strip()
    if value not in SUPPORTED_API_VERSIONS:
        raise ConfigurationError(
            f"GITHUB_API_VERSION must be one of {', '.join(SUPPORTED_API_VERSIONS)}, got {value!r}"
        )
    return value


def _extra_inputs(value: str) -> dict[str, str]:
    if not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"WORKFLOW_EXTRA_INPUTS is not valid JSON: {error.msg}") from None
    if not isinstance(parsed, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()):
        raise ConfigurationError('WORKFLOW_EXTRA_INPUTS must be a JSON object of strings, e.g. {"environment": "prod"}')
    clash = sorted(RESERVED_INPUTS & parsed.keys())
    if clash:
        raise ConfigurationError(
            f"WORKFLOW_EXTRA_INPUTS may not override the dispatcher's own inputs: {', '.join(clash)}"
        )
    if len(parsed) + len(RESERVED_INPUTS) > MAX_WORKFLOW_INPUTS:
        raise ConfigurationError(
            f"WORKFLOW_EXTRA_INPUTS has {len(parsed)} inputs; GitHub allows {MAX_WORKFLOW_INPUTS} in all, "
            f"{len(RESERVED_INPUTS)} of which the dispatcher uses"
        )
    return parsed


def _lease_margin(value: str) -> float:
    try:
        margin = float(value)
    except ValueError:
        raise ConfigurationError(f"LEASE_MARGIN_SECONDS must be a number of seconds, got {value!r}") from None
    if not 1 <= margin <= 10:
        raise ConfigurationError(f"LEASE_MARGIN_SECONDS must be between 1 and 10, got {value!r}")
    return margin
