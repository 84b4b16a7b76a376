"""The functions' configuration: one typed object each, read once from the environment.

Domain code never reads ``os.environ``; it receives a :class:`Settings` (dispatcher) or a
:class:`TrackerSettings` (tracker). Every variable is validated when the object is built (at cold start), and
a bad one fails with a message that names it, so a misconfigured deployment is loud on its first event
instead of dispatching something half-right. The CDK app builds the same objects and writes their
environment with ``to_environment``, and imports the limits below to refuse at synth what the functions
would refuse at cold start.

Kept free of third-party imports: the CDK app and the CLI import it without loading the Lambda's dependencies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import ClassVar

from deploy_trigger.events import LAUNCH_SUCCESSFUL, LIFECYCLE_ACTION
from deploy_trigger.workflow_contract import (
    BATCH_RESERVED_INPUTS,
    MAX_BATCH_INSTANCES,
    MAX_WORKFLOW_INPUTS,
    RESERVED_INPUTS,
)

SUPPORTED_API_VERSIONS = ("2026-03-10", "2022-11-28")
#: The launch hook deploy-trigger owns on each group; lifecycle actions of any other hook are not ours.
DEFAULT_LIFECYCLE_HOOK_NAME = "deploy-trigger-launch"
#: ``owner/repo``, in the characters GitHub allows in either part.
REPOSITORY_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")

# Inclusive limits, in seconds.
LEASE_MARGIN_RANGE = (1, 10)
LISTING_DELAY_RANGE = (0, 60)
RUN_APPEAR_TIMEOUT_RANGE = (60, 24 * 3600)
HEARTBEAT_INTERVAL_RANGE = (30, 3600)
MAX_DEPLOY_RANGE = (60, 48 * 3600)
CHECK_INTERVAL_RANGE = (0, 3600)
MUTATION_INTERVAL_RANGE = (0, 60)
#: Auto Scaling's global timeout of a lifecycle action: min(100 x heartbeat timeout, 48 h).
HOOK_GLOBAL_TIMEOUT_RANGE = (30, 48 * 3600)
#: With the default hook heartbeat timeout (900 s): 100 x 900 s.
DEFAULT_HOOK_GLOBAL_TIMEOUT_SECONDS = 90_000
#: Batch mode's instances per run, inclusive: a batch of one is no batch (leave the mode off), and GitHub runs at most
#: MAX_BATCH_INSTANCES jobs of one matrix. 0, outside the range, is the mode off.
BATCH_MAX_INSTANCES_RANGE = (2, MAX_BATCH_INSTANCES)


class ConfigurationError(ValueError):
    """A setting is missing or invalid; the message names the variable and what is expected."""


@dataclass(frozen=True)
class GitHubTarget:
    """The workflow both functions work with, and how they reach GitHub."""

    repository: str
    workflow: str
    credentials_secret: str
    api_url: str = "https://api.github.com"
    api_version: str = SUPPORTED_API_VERSIONS[0]

    #: Environment variable -> field.
    ENVIRONMENT: ClassVar[Mapping[str, str]] = {
        "GITHUB_REPOSITORY": "repository",
        "GITHUB_WORKFLOW": "workflow",
        "GITHUB_CREDENTIALS_SECRET": "credentials_secret",
        "GITHUB_API_URL": "api_url",
        "GITHUB_API_VERSION": "api_version",
    }
    REQUIRED: ClassVar[tuple[str, ...]] = ("GITHUB_REPOSITORY", "GITHUB_WORKFLOW", "GITHUB_CREDENTIALS_SECRET")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> GitHubTarget:
        _require(environ, cls.REQUIRED)
        return cls(
            repository=_repository(environ["GITHUB_REPOSITORY"]),
            workflow=environ["GITHUB_WORKFLOW"].strip(),
            credentials_secret=environ["GITHUB_CREDENTIALS_SECRET"].strip(),
            api_url=_api_url(environ.get("GITHUB_API_URL", cls.api_url)),
            api_version=_api_version(environ.get("GITHUB_API_VERSION", cls.api_version)),
        )


#: The GitHub variables as fields of a settings object that holds its target in ``github``.
_GITHUB_ENVIRONMENT = {name: f"github.{attribute}" for name, attribute in GitHubTarget.ENVIRONMENT.items()}


@dataclass(frozen=True)
class Settings:
    """The dispatcher's configuration."""

    ledger_table_name: str
    github: GitHubTarget
    github_ref: str
    #: Set by the Lambda runtime (AWS_REGION), never by the stack: it is not in ENVIRONMENT.
    aws_region: str
    allowed_asg_names: frozenset[str] = field(default_factory=frozenset)
    workflow_extra_inputs: Mapping[str, str] = field(default_factory=dict)
    #: How long a claim outlives its holder's deadline.
    lease_margin_seconds: float = 5.0
    #: How long after a POST whose answer was lost GitHub may still not list the run it created: a takeover
    #: waits this long past the lease before it reconciles, so "no run listed" can be believed.
    run_listing_delay_seconds: float = 10.0
    #: Our launch hook: the dispatcher deploys (or, into the warm pool, continues) only its actions.
    lifecycle_hook_name: str = DEFAULT_LIFECYCLE_HOOK_NAME
    #: The drainer's pace: at most one dispatch this often (GitHub asks for mutations a second apart).
    mutation_interval_seconds: float = 1.0
    #: The drainer function a dispatcher wakes when it parks a launch; empty = its schedule alone (local runs).
    drainer_function_name: str = ""
    #: The lifecycle hook's global timeout, against which the drainer measures the queue's headroom.
    hook_global_timeout_seconds: int = DEFAULT_HOOK_GLOBAL_TIMEOUT_SECONDS
    #: Batch mode (context ``batchDispatch``): 0 is off, one dispatch per launch; else the most instances the drainer
    #: puts in one run (``BATCH_MAX_INSTANCES_RANGE``), and the workflow takes the batch's inputs.
    batch_max_instances: int = 0

    #: Environment variable -> field (dotted into ``github``), for every variable this model reads:
    #: ``to_environment`` writes exactly these (those in ``OPT_IN`` when their mode is on), and the CDK stack is tested
    #: against them.
    ENVIRONMENT: ClassVar[Mapping[str, str]] = {
        "LEDGER_TABLE_NAME": "ledger_table_name",
        **_GITHUB_ENVIRONMENT,
        "GITHUB_REF": "github_ref",
        "ALLOWED_ASG_NAMES": "allowed_asg_names",
        "WORKFLOW_EXTRA_INPUTS": "workflow_extra_inputs",
        "LEASE_MARGIN_SECONDS": "lease_margin_seconds",
        "LIFECYCLE_HOOK_NAME": "lifecycle_hook_name",
        "RUN_LISTING_DELAY_SECONDS": "run_listing_delay_seconds",
        "GITHUB_MUTATION_INTERVAL_SECONDS": "mutation_interval_seconds",
        "DRAINER_FUNCTION_NAME": "drainer_function_name",
        "HOOK_GLOBAL_TIMEOUT_SECONDS": "hook_global_timeout_seconds",
        "BATCH_MAX_INSTANCES": "batch_max_instances",
    }
    #: The variables of opt-in modes: ``to_environment`` writes one only when its mode is on, so a stack that leaves
    #: the mode off gives the functions the environment (and synthesizes the template) it did before the mode
    #: existed, and ``from_env`` reads an absent one as off.
    OPT_IN: ClassVar[frozenset[str]] = frozenset({"BATCH_MAX_INSTANCES"})
    #: Variables without a default.
    REQUIRED: ClassVar[tuple[str, ...]] = ("LEDGER_TABLE_NAME", *GitHubTarget.REQUIRED, "GITHUB_REF")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Build and validate the settings; raise :class:`ConfigurationError` naming the bad variable."""
        _require(environ, cls.REQUIRED)
        region = _region(environ)
        batch_max_instances = _batch_max_instances(environ.get("BATCH_MAX_INSTANCES", ""))
        return cls(
            ledger_table_name=environ["LEDGER_TABLE_NAME"].strip(),
            github=GitHubTarget.from_env(environ),
            github_ref=environ["GITHUB_REF"].strip(),
            aws_region=region,
            allowed_asg_names=_names(environ.get("ALLOWED_ASG_NAMES", "")),
            workflow_extra_inputs=_extra_inputs(
                environ.get("WORKFLOW_EXTRA_INPUTS", ""), batched=batch_max_instances > 0
            ),
            lease_margin_seconds=_lease_margin(environ.get("LEASE_MARGIN_SECONDS", str(cls.lease_margin_seconds))),
            lifecycle_hook_name=environ.get("LIFECYCLE_HOOK_NAME", "").strip() or cls.lifecycle_hook_name,
            run_listing_delay_seconds=_seconds_between(
                environ, "RUN_LISTING_DELAY_SECONDS", cls.run_listing_delay_seconds, LISTING_DELAY_RANGE
            ),
            mutation_interval_seconds=_seconds_between(
                environ, "GITHUB_MUTATION_INTERVAL_SECONDS", cls.mutation_interval_seconds, MUTATION_INTERVAL_RANGE
            ),
            drainer_function_name=environ.get("DRAINER_FUNCTION_NAME", "").strip(),
            hook_global_timeout_seconds=_seconds(
                environ, "HOOK_GLOBAL_TIMEOUT_SECONDS", cls.hook_global_timeout_seconds, HOOK_GLOBAL_TIMEOUT_RANGE
            ),
            batch_max_instances=batch_max_instances,
        )

    def to_environment(self) -> dict[str, str]:
        """The environment ``from_env`` reads these settings back from (AWS_REGION aside); an opt-in mode's
        variable only when the mode is on (``OPT_IN``)."""
        return _to_environment(self, self.ENVIRONMENT, opt_in=self.OPT_IN)


@dataclass(frozen=True)
class TrackerSettings:
    """The tracker's configuration: it follows dispatched runs and completes lifecycle actions."""

    ledger_table_name: str
    github: GitHubTarget
    #: Set by the Lambda runtime (AWS_REGION), never by the stack: it is not in ENVIRONMENT.
    aws_region: str
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
    #: The dispatcher function the sweep hands launches whose event never came to (``deploy_trigger.sweep``);
    #: empty = no sweep (local runs).
    dispatcher_function_name: str = ""
    #: The groups the sweep looks at: the dispatcher's allow-list; empty = every group (in lifecycle-hook mode, every
    #: group that has our hook).
    allowed_asg_names: frozenset[str] = field(default_factory=frozenset)
    #: Our launch hook, the one whose waiting instances the sweep finds.
    lifecycle_hook_name: str = DEFAULT_LIFECYCLE_HOOK_NAME
    #: The detail-type of the launch events the stack's rule delivers (its mode): the sweep looks for the instances
    #: of that mode (waiting on our hook, or in service) and sends its events in that shape.
    launch_detail_type: str = LIFECYCLE_ACTION

    ENVIRONMENT: ClassVar[Mapping[str, str]] = {
        "LEDGER_TABLE_NAME": "ledger_table_name",
        **_GITHUB_ENVIRONMENT,
        "ALERT_TOPIC_ARN": "alert_topic_arn",
        "RUN_APPEAR_TIMEOUT_SECONDS": "run_appear_timeout_seconds",
        "HEARTBEAT_INTERVAL_SECONDS": "heartbeat_interval_seconds",
        "MAX_DEPLOY_SECONDS": "max_deploy_seconds",
        "CHECK_INTERVAL_SECONDS": "check_interval_seconds",
        "DISPATCHER_FUNCTION_NAME": "dispatcher_function_name",
        "ALLOWED_ASG_NAMES": "allowed_asg_names",
        "LIFECYCLE_HOOK_NAME": "lifecycle_hook_name",
        "LAUNCH_DETAIL_TYPE": "launch_detail_type",
    }
    REQUIRED: ClassVar[tuple[str, ...]] = ("LEDGER_TABLE_NAME", *GitHubTarget.REQUIRED)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> TrackerSettings:
        _require(environ, cls.REQUIRED)
        region = _region(environ)
        heartbeat = _seconds(
            environ, "HEARTBEAT_INTERVAL_SECONDS", cls.heartbeat_interval_seconds, HEARTBEAT_INTERVAL_RANGE
        )
        max_deploy = _seconds(environ, "MAX_DEPLOY_SECONDS", cls.max_deploy_seconds, MAX_DEPLOY_RANGE)
        if heartbeat >= max_deploy:
            raise ConfigurationError("HEARTBEAT_INTERVAL_SECONDS must be shorter than MAX_DEPLOY_SECONDS")
        return cls(
            ledger_table_name=environ["LEDGER_TABLE_NAME"].strip(),
            github=GitHubTarget.from_env(environ),
            aws_region=region,
            alert_topic_arn=environ.get("ALERT_TOPIC_ARN", "").strip(),
            run_appear_timeout_seconds=_seconds(
                environ, "RUN_APPEAR_TIMEOUT_SECONDS", cls.run_appear_timeout_seconds, RUN_APPEAR_TIMEOUT_RANGE
            ),
            heartbeat_interval_seconds=heartbeat,
            max_deploy_seconds=max_deploy,
            check_interval_seconds=_seconds(
                environ, "CHECK_INTERVAL_SECONDS", cls.check_interval_seconds, CHECK_INTERVAL_RANGE
            ),
            dispatcher_function_name=environ.get("DISPATCHER_FUNCTION_NAME", "").strip(),
            allowed_asg_names=_names(environ.get("ALLOWED_ASG_NAMES", "")),
            lifecycle_hook_name=environ.get("LIFECYCLE_HOOK_NAME", "").strip() or cls.lifecycle_hook_name,
            launch_detail_type=_launch_detail_type(environ.get("LAUNCH_DETAIL_TYPE", "")),
        )

    def to_environment(self) -> dict[str, str]:
        """The environment ``from_env`` reads these settings back from (AWS_REGION aside)."""
        return _to_environment(self, self.ENVIRONMENT)


def _launch_detail_type(value: str) -> str:
    value = value.strip() or LIFECYCLE_ACTION
    if value not in (LIFECYCLE_ACTION, LAUNCH_SUCCESSFUL):
        raise ConfigurationError(
            f"LAUNCH_DETAIL_TYPE must be {LIFECYCLE_ACTION!r} or {LAUNCH_SUCCESSFUL!r}, got {value!r}"
        )
    return value


def _to_environment(
    settings: object, environment: Mapping[str, str], *, opt_in: frozenset[str] = frozenset()
) -> dict[str, str]:
    values = {name: attrgetter(attribute)(settings) for name, attribute in environment.items()}
    # An opt-in mode is off at its field's zero value (0, ""): then its variable is left out altogether.
    return {name: _as_text(value) for name, value in values.items() if value or name not in opt_in}


def _as_text(value: object) -> str:
    # The spelling from_env parses back; deterministic, so the same settings always give the same template.
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, frozenset):
        return ",".join(sorted(value))
    if isinstance(value, Mapping):
        return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))
    raise TypeError(f"no environment spelling for {value!r}")


def _require(environ: Mapping[str, str], names: tuple[str, ...]) -> None:
    missing = [name for name in names if not environ.get(name, "").strip()]
    if missing:
        raise ConfigurationError(f"missing required environment variable(s): {', '.join(missing)}")


def _names(value: str) -> frozenset[str]:
    return frozenset(name.strip() for name in value.split(",") if name.strip())


def _region(environ: Mapping[str, str]) -> str:
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise ConfigurationError("AWS_REGION is not set (the Lambda runtime sets it; set it when running locally)")
    return region


def _seconds(environ: Mapping[str, str], name: str, default: int, limits: tuple[int, int]) -> int:
    low, high = limits
    value = environ.get(name, "").strip() or str(default)
    if not value.isdigit() or not low <= int(value) <= high:
        raise ConfigurationError(f"{name} must be a whole number of seconds from {low} to {high}, got {value!r}")
    return int(value)


def _repository(value: str) -> str:
    value = value.strip()
    if not REPOSITORY_PATTERN.match(value):
        raise ConfigurationError(f"GITHUB_REPOSITORY must be 'owner/repo', got {value!r}")
    return value


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


def reserved_inputs(*, batched: bool) -> frozenset[str]:
    """The workflow inputs the dispatcher sends itself, which no extra input may set: in batch mode, a batch's."""
    return BATCH_RESERVED_INPUTS if batched else RESERVED_INPUTS


def _batch_max_instances(value: str) -> int:
    value = value.strip() or "0"
    low, high = BATCH_MAX_INSTANCES_RANGE
    if not value.isdigit() or not (int(value) == 0 or low <= int(value) <= high):
        raise ConfigurationError(
            f"BATCH_MAX_INSTANCES must be 0 (batch mode off) or a whole number of instances from {low} to {high}, "
            f"got {value!r}"
        )
    return int(value)


def _extra_inputs(value: str, *, batched: bool) -> dict[str, str]:
    if not value.strip():
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"WORKFLOW_EXTRA_INPUTS is not valid JSON: {error.msg}") from None
    if not isinstance(parsed, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in parsed.items()):
        raise ConfigurationError('WORKFLOW_EXTRA_INPUTS must be a JSON object of strings, e.g. {"environment": "prod"}')
    reserved = reserved_inputs(batched=batched)
    clash = sorted(reserved & parsed.keys())
    if clash:
        raise ConfigurationError(
            f"WORKFLOW_EXTRA_INPUTS may not override the dispatcher's own inputs: {', '.join(clash)}"
        )
    if len(parsed) + len(reserved) > MAX_WORKFLOW_INPUTS:
        raise ConfigurationError(
            f"WORKFLOW_EXTRA_INPUTS has {len(parsed)} inputs; GitHub allows {MAX_WORKFLOW_INPUTS} in all, "
            f"{len(reserved)} of which the dispatcher uses"
        )
    return parsed


def _seconds_between(environ: Mapping[str, str], name: str, default: float, limits: tuple[int, int]) -> float:
    value = environ.get(name, "").strip() or f"{default:g}"
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, got {value!r}") from None
    low, high = limits
    if not low <= seconds <= high:
        raise ConfigurationError(f"{name} must be between {low} and {high} seconds, got {value!r}")
    return seconds


def _lease_margin(value: str) -> float:
    low, high = LEASE_MARGIN_RANGE
    try:
        margin = float(value)
    except ValueError:
        raise ConfigurationError(f"LEASE_MARGIN_SECONDS must be a number of seconds, got {value!r}") from None
    if not low <= margin <= high:
        raise ConfigurationError(f"LEASE_MARGIN_SECONDS must be between {low} and {high}, got {value!r}")
    return margin
