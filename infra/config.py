"""The deployment's configuration, modelled once: read from CDK context, validated, then immutable.

Every key has a documented default except the three that name the user's own things (repository,
workflow, credentials secret). A bad or missing value stops ``cdk synth`` with a message that names the
context key and shows an example, instead of deploying a dispatcher that fails on its first launch.
Limits that the Lambda enforces at cold start (API versions, reserved workflow inputs) are imported from
its settings module so the two can never disagree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Protocol, TypeVar

from deploy_trigger.settings import REPOSITORY_PATTERN, SUPPORTED_API_VERSIONS
from deploy_trigger.workflow_contract import MAX_WORKFLOW_INPUTS, RESERVED_INPUTS


class ConfigurationError(ValueError):
    """A context value is missing or invalid; the message names the key and shows a valid example."""


class TriggerMode(Enum):
    """Which Auto Scaling event starts a deployment."""

    #: The ASG has a launch lifecycle hook: the instance waits in Pending:Wait until the deployment ends.
    LIFECYCLE_HOOK = "lifecycle-hook"
    #: No hook: the instance is already InService when the deployment starts.
    LAUNCH_SUCCESSFUL = "launch-successful"

    @property
    def detail_type(self) -> str:
        return _DETAIL_TYPES[self]


_DETAIL_TYPES = {
    TriggerMode.LIFECYCLE_HOOK: "EC2 Instance-launch Lifecycle Action",
    TriggerMode.LAUNCH_SUCCESSFUL: "EC2 Instance Launch Successful",
}


class RemovalChoice(Enum):
    """What `cdk destroy` does with the stateful resources (ledger, dead-letter queues, logs, key)."""

    RETAIN = "retain"
    DESTROY = "destroy"


class HookDefaultResult(Enum):
    """What Auto Scaling does with a launching instance when its lifecycle hook times out."""

    #: Terminate and replace it: an instance whose deployment nobody confirmed never takes traffic.
    ABANDON = "ABANDON"
    #: Let it into service anyway (only for groups where an undeployed instance is harmless).
    CONTINUE = "CONTINUE"


_Choice = TypeVar("_Choice", TriggerMode, RemovalChoice, HookDefaultResult)


class ContextReader(Protocol):
    """What ``from_context`` needs of a construct node (``constructs.Node`` satisfies it)."""

    def try_get_context(self, key: str) -> object: ...


#: Lambda limits: 900 s is the service maximum; below 10 s a cold start plus one slow GitHub answer
#: cannot finish (the founding incident was a 3 s timeout that killed the function after GitHub acted).
MIN_TIMEOUT_SECONDS = 10
MAX_TIMEOUT_SECONDS = 900
MAX_RESERVED_CONCURRENCY = 1000

_WORKFLOW_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.ya?ml$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

DEFAULT_GITHUB_REF = "main"
DEFAULT_GITHUB_API_URL = "https://api.github.com"
DEFAULT_GITHUB_API_VERSION = SUPPORTED_API_VERSIONS[0]
DEFAULT_TIMEOUT_SECONDS = 30
#: GitHub's secondary limit on content-creating requests is about 80 a minute and 500 an hour.
DEFAULT_RESERVED_CONCURRENCY = 5

#: The tracker's limits, the same ones ``TrackerSettings.from_env`` enforces at cold start (tests/infra
#: checks both agree at the boundaries), so a value the tracker would refuse never deploys.
RUN_APPEAR_TIMEOUT_RANGE = (60, 24 * 3600)
HEARTBEAT_INTERVAL_RANGE = (30, 3600)
MAX_DEPLOY_RANGE = (60, 48 * 3600)
DEFAULT_RUN_APPEAR_TIMEOUT_SECONDS = 600
DEFAULT_HEARTBEAT_INTERVAL_SECONDS = 300
DEFAULT_MAX_DEPLOY_SECONDS = 3600
#: Auto Scaling's limits on a lifecycle hook's heartbeat timeout; the default leaves the tracker 10 minutes
#: of slack over its 5-minute heartbeat (AWS's own default, 3600 s, would hold a broken launch for an hour).
HOOK_HEARTBEAT_TIMEOUT_RANGE = (30, 7200)
DEFAULT_HOOK_HEARTBEAT_TIMEOUT_SECONDS = 900
#: Auto Scaling ends a lifecycle action after min(100 x heartbeat timeout, 48 h) whatever the heartbeats.
HOOK_GLOBAL_TIMEOUT_FACTOR = 100
#: How late a heartbeat can land after it is due: the tracker checks an entry again 60 s after the last
#: check, and the schedule that starts the pass fires once a minute.
HEARTBEAT_LANDING_MARGIN_SECONDS = 120
DEFAULT_CRASH_LOOP_ABANDON_THRESHOLD = 3

#: Context keys that have no default, with an example for the error message.
REQUIRED_KEYS: Mapping[str, str] = MappingProxyType(
    {
        "githubRepository": "my-org/my-app",
        "githubWorkflow": "deploy.yml",
        "githubCredentialsSecret": "deploy-trigger/github",
    }
)


def _fix(key: str, problem: str, example: str) -> ConfigurationError:
    # The cdk.json snippet shows the JSON type the key takes there: numbers, lists and objects unquoted.
    as_json: object = example
    if example.isdigit():
        as_json = int(example)
    elif example in {"true", "false"}:
        as_json = example == "true"
    elif example.startswith("{"):
        as_json = json.loads(example)
    elif key == "asgNames":
        as_json = example.split(",")
    return ConfigurationError(
        f"context key '{key}' {problem}. Example: `cdk synth -c {key}={example}`, "
        f'or in cdk.json: "context": {{"{key}": {json.dumps(as_json)}}}'
    )


@dataclass(frozen=True)
class DeployTriggerConfig:
    """Everything a deployment of deploy-trigger can be told; validated when built.

    Build it directly (for the reusable construct in another CDK app) or with :meth:`from_context`.
    """

    github_repository: str
    github_workflow: str
    github_credentials_secret: str
    mode: TriggerMode = TriggerMode.LIFECYCLE_HOOK
    github_ref: str = DEFAULT_GITHUB_REF
    github_credentials_kms_key_arn: str | None = None
    github_api_url: str = DEFAULT_GITHUB_API_URL
    github_api_version: str = DEFAULT_GITHUB_API_VERSION
    asg_names: tuple[str, ...] = ()
    workflow_extra_inputs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    dispatcher_timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    #: None (context: "unreserved") reserves nothing: for accounts whose concurrency quota is still 10,
    #: where Lambda refuses any reservation because it keeps 10 unreserved.
    reserved_concurrency: int | None = DEFAULT_RESERVED_CONCURRENCY
    alarm_email: str | None = None
    removal_policy: RemovalChoice = RemovalChoice.RETAIN
    #: The tracker: follows each dispatched run to its end, heartbeats and completes the lifecycle action.
    tracker_enabled: bool = True
    run_appear_timeout_seconds: int = DEFAULT_RUN_APPEAR_TIMEOUT_SECONDS
    heartbeat_interval_seconds: int = DEFAULT_HEARTBEAT_INTERVAL_SECONDS
    max_deploy_seconds: int = DEFAULT_MAX_DEPLOY_SECONDS
    #: The launch hook that ``DeployTrigger.add_launch_hook`` puts on a group (lifecycle-hook mode only).
    lifecycle_hook_heartbeat_timeout_seconds: int = DEFAULT_HOOK_HEARTBEAT_TIMEOUT_SECONDS
    lifecycle_hook_default_result: HookDefaultResult = HookDefaultResult.ABANDON
    #: This many instances abandoned within 15 minutes is a crash loop: the alarm pages.
    crash_loop_abandon_threshold: int = DEFAULT_CRASH_LOOP_ABANDON_THRESHOLD

    def __post_init__(self) -> None:
        # Freeze the one mutable field, so a config shared between constructs cannot change under them.
        object.__setattr__(self, "workflow_extra_inputs", MappingProxyType(dict(self.workflow_extra_inputs)))
        _validate(self)

    @classmethod
    def from_context(cls, node: ContextReader) -> DeployTriggerConfig:
        """Read every key from CDK context (cdk.json "context" or ``-c key=value``)."""
        return cls.from_mapping({key: node.try_get_context(key) for key in CONTEXT_KEYS})

    @classmethod
    def from_mapping(cls, context: Mapping[str, object]) -> DeployTriggerConfig:
        """Parse raw context values: ``-c`` passes strings, cdk.json passes JSON types; both are accepted."""
        values = {key: value for key, value in context.items() if value is not None and value != ""}
        missing = [key for key in REQUIRED_KEYS if key not in values]
        if missing:
            raise ConfigurationError(
                f"missing required context key(s): {', '.join(missing)}. Pass them on the command line, e.g. "
                f"`cdk synth {' '.join(f'-c {key}={REQUIRED_KEYS[key]}' for key in missing)}`, or add them to the "
                f'"context" object of cdk.json: {json.dumps({key: REQUIRED_KEYS[key] for key in missing})}'
            )
        return cls(
            github_repository=_text(values, "githubRepository"),
            github_workflow=_text(values, "githubWorkflow"),
            github_credentials_secret=_text(values, "githubCredentialsSecret"),
            mode=_choice(values, "mode", TriggerMode, TriggerMode.LIFECYCLE_HOOK),
            github_ref=_text(values, "githubRef", default=DEFAULT_GITHUB_REF),
            github_credentials_kms_key_arn=_optional_text(values, "githubCredentialsKmsKeyArn"),
            github_api_url=_text(values, "githubApiUrl", default=DEFAULT_GITHUB_API_URL),
            github_api_version=_text(values, "githubApiVersion", default=DEFAULT_GITHUB_API_VERSION),
            asg_names=_names(values.get("asgNames", ())),
            workflow_extra_inputs=_string_object(values.get("workflowExtraInputs", {})),
            dispatcher_timeout_seconds=_integer(values, "dispatcherTimeoutSeconds", default=DEFAULT_TIMEOUT_SECONDS),
            reserved_concurrency=_reserved_concurrency(values.get("reservedConcurrency", DEFAULT_RESERVED_CONCURRENCY)),
            alarm_email=_optional_text(values, "alarmEmail"),
            removal_policy=_choice(values, "removalPolicy", RemovalChoice, RemovalChoice.RETAIN),
            tracker_enabled=_boolean(values, "trackerEnabled", default=True),
            run_appear_timeout_seconds=_integer(
                values, "runAppearTimeoutSeconds", default=DEFAULT_RUN_APPEAR_TIMEOUT_SECONDS
            ),
            heartbeat_interval_seconds=_integer(
                values, "heartbeatIntervalSeconds", default=DEFAULT_HEARTBEAT_INTERVAL_SECONDS
            ),
            max_deploy_seconds=_integer(values, "maxDeploySeconds", default=DEFAULT_MAX_DEPLOY_SECONDS),
            lifecycle_hook_heartbeat_timeout_seconds=_integer(
                values, "lifecycleHookHeartbeatTimeoutSeconds", default=DEFAULT_HOOK_HEARTBEAT_TIMEOUT_SECONDS
            ),
            lifecycle_hook_default_result=_choice(
                values, "lifecycleHookDefaultResult", HookDefaultResult, HookDefaultResult.ABANDON
            ),
            crash_loop_abandon_threshold=_integer(
                values, "crashLoopAbandonThreshold", default=DEFAULT_CRASH_LOOP_ABANDON_THRESHOLD
            ),
        )


#: Every context key the app reads (cdk.json documents the ones with defaults).
CONTEXT_KEYS = (
    "mode",
    "githubRepository",
    "githubWorkflow",
    "githubRef",
    "githubCredentialsSecret",
    "githubCredentialsKmsKeyArn",
    "githubApiUrl",
    "githubApiVersion",
    "asgNames",
    "workflowExtraInputs",
    "dispatcherTimeoutSeconds",
    "reservedConcurrency",
    "alarmEmail",
    "removalPolicy",
    "trackerEnabled",
    "runAppearTimeoutSeconds",
    "heartbeatIntervalSeconds",
    "maxDeploySeconds",
    "lifecycleHookHeartbeatTimeoutSeconds",
    "lifecycleHookDefaultResult",
    "crashLoopAbandonThreshold",
)


def _validate(config: DeployTriggerConfig) -> None:
    if not REPOSITORY_PATTERN.match(config.github_repository):
        raise _fix("githubRepository", f"must be owner/repo, got {config.github_repository!r}", "my-org/my-app")
    if not (_WORKFLOW_FILE.match(config.github_workflow) or config.github_workflow.isdigit()):
        raise _fix(
            "githubWorkflow",
            f"must be the workflow's file name (not a path) or its numeric ID, got {config.github_workflow!r}",
            "deploy.yml",
        )
    if not config.github_ref or any(c.isspace() for c in config.github_ref):
        raise _fix("githubRef", f"must be a branch or tag name, got {config.github_ref!r}", "main")
    secret = config.github_credentials_secret
    if not (_SECRET_ARN.match(secret) if secret.startswith("arn:") else _SECRET_NAME.match(secret)):
        raise _fix(
            "githubCredentialsSecret",
            f"must be a Secrets Manager secret name or ARN, got {secret!r}",
            "deploy-trigger/github",
        )
    key_arn = config.github_credentials_kms_key_arn
    if key_arn is not None and not _KMS_KEY_ARN.match(key_arn):
        raise _fix(
            "githubCredentialsKmsKeyArn",
            f"must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; an alias cannot be granted), got {key_arn!r}",
            "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
    # https only: the dispatcher sends a bearer token to this URL.
    if not re.match(r"^https://[^/\s]+(/\S*)?$", config.github_api_url):
        raise _fix(
            "githubApiUrl",
            f"must be an https URL (GitHub Enterprise Server: https://HOST/api/v3), got {config.github_api_url!r}",
            "https://api.github.com",
        )
    if config.github_api_version not in SUPPORTED_API_VERSIONS:
        raise _fix(
            "githubApiVersion",
            f"must be one of {', '.join(SUPPORTED_API_VERSIONS)}, got {config.github_api_version!r}",
            SUPPORTED_API_VERSIONS[0],
        )
    _validate_asg_names(config.asg_names)
    _validate_extra_inputs(config.workflow_extra_inputs)
    timeout = config.dispatcher_timeout_seconds
    if not MIN_TIMEOUT_SECONDS <= timeout <= MAX_TIMEOUT_SECONDS:
        raise _fix(
            "dispatcherTimeoutSeconds",
            f"must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS} seconds, got {timeout}: a shorter "
            "timeout can kill the dispatcher after GitHub accepted a dispatch but before the ledger records it",
            "30",
        )
    concurrency = config.reserved_concurrency
    if concurrency is not None and not 1 <= concurrency <= MAX_RESERVED_CONCURRENCY:
        raise _fix(
            "reservedConcurrency",
            f'must be between 1 and {MAX_RESERVED_CONCURRENCY}, or "unreserved", got {concurrency} '
            "(0 would stop the dispatcher altogether)",
            "5",
        )
    if config.alarm_email is not None and not _EMAIL.match(config.alarm_email):
        raise _fix("alarmEmail", f"must be an email address, got {config.alarm_email!r}", "oncall@example.com")
    _validate_tracker(config)
    _validate_lifecycle_hook(config)


def _validate_tracker(config: DeployTriggerConfig) -> None:
    _in_range("runAppearTimeoutSeconds", config.run_appear_timeout_seconds, RUN_APPEAR_TIMEOUT_RANGE, "600")
    _in_range("heartbeatIntervalSeconds", config.heartbeat_interval_seconds, HEARTBEAT_INTERVAL_RANGE, "300")
    _in_range("maxDeploySeconds", config.max_deploy_seconds, MAX_DEPLOY_RANGE, "3600")
    if config.heartbeat_interval_seconds >= config.max_deploy_seconds:
        raise _fix(
            "heartbeatIntervalSeconds",
            f"must be shorter than maxDeploySeconds ({config.max_deploy_seconds}), got "
            f"{config.heartbeat_interval_seconds}: a deploy is declared stuck before its first heartbeat is due",
            "300",
        )
    threshold = config.crash_loop_abandon_threshold
    if threshold < 1:
        raise _fix(
            "crashLoopAbandonThreshold",
            f"must be at least 1 (abandoned instances within 15 minutes), got {threshold}",
            str(DEFAULT_CRASH_LOOP_ABANDON_THRESHOLD),
        )


def _validate_lifecycle_hook(config: DeployTriggerConfig) -> None:
    timeout = config.lifecycle_hook_heartbeat_timeout_seconds
    _in_range(
        "lifecycleHookHeartbeatTimeoutSeconds",
        timeout,
        HOOK_HEARTBEAT_TIMEOUT_RANGE,
        str(DEFAULT_HOOK_HEARTBEAT_TIMEOUT_SECONDS),
    )
    # The relations below only matter where the tracker keeps a hook's action alive; in launch-successful
    # mode there is no hook, and without the tracker only the workflow itself completes the action.
    if config.mode is not TriggerMode.LIFECYCLE_HOOK or not config.tracker_enabled:
        return
    for key, interval, what in (
        ("heartbeatIntervalSeconds", config.heartbeat_interval_seconds, "between two heartbeats"),
        ("runAppearTimeoutSeconds", config.run_appear_timeout_seconds, "before a run appears (no heartbeat then)"),
    ):
        minimum = interval + HEARTBEAT_LANDING_MARGIN_SECONDS
        if timeout <= minimum:
            raise _fix(
                "lifecycleHookHeartbeatTimeoutSeconds",
                f"must be more than {key} + {HEARTBEAT_LANDING_MARGIN_SECONDS} = {minimum} seconds, got {timeout}: "
                f"the tracker may wait up to {key} {what} plus {HEARTBEAT_LANDING_MARGIN_SECONDS} s of scheduling, "
                "and a hook that times out first applies its default result to an instance still deploying",
                str(max(DEFAULT_HOOK_HEARTBEAT_TIMEOUT_SECONDS, minimum + 60)),
            )
    global_timeout = min(HOOK_GLOBAL_TIMEOUT_FACTOR * timeout, MAX_DEPLOY_RANGE[1])
    if config.max_deploy_seconds > global_timeout:
        raise _fix(
            "maxDeploySeconds",
            f"must be at most {global_timeout} seconds, got {config.max_deploy_seconds}: Auto Scaling ends a "
            f"lifecycle action after {HOOK_GLOBAL_TIMEOUT_FACTOR} x lifecycleHookHeartbeatTimeoutSeconds "
            f"({timeout}) whatever the heartbeats, so the tracker could no longer decide the instance's fate",
            str(DEFAULT_MAX_DEPLOY_SECONDS),
        )


def _in_range(key: str, value: int, limits: tuple[int, int], example: str) -> None:
    low, high = limits
    if not low <= value <= high:
        raise _fix(key, f"must be between {low} and {high} seconds, got {value}", example)


def _validate_asg_names(names: Sequence[str]) -> None:
    for name in names:
        # The dispatcher receives the list comma-joined (ALLOWED_ASG_NAMES), so a comma cannot survive.
        if not name or len(name) > 255 or "," in name or name != name.strip():
            raise _fix(
                "asgNames",
                f"must be Auto Scaling group names (1-255 characters, no commas or surrounding spaces), got {name!r}",
                "web-asg,worker-asg",
            )


def _validate_extra_inputs(inputs: Mapping[str, str]) -> None:
    example = '{"environment":"production"}'
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
        raise _fix("workflowExtraInputs", "must be an object whose values are strings", example)
    clash = sorted(RESERVED_INPUTS & inputs.keys())
    if clash:
        raise _fix("workflowExtraInputs", f"may not set the dispatcher's own inputs: {', '.join(clash)}", example)
    allowed = MAX_WORKFLOW_INPUTS - len(RESERVED_INPUTS)
    if len(inputs) > allowed:
        raise _fix(
            "workflowExtraInputs",
            f"has {len(inputs)} inputs; GitHub accepts {MAX_WORKFLOW_INPUTS}, {len(RESERVED_INPUTS)} of which "
            f"the dispatcher sends, so at most {allowed} remain",
            example,
        )


def _text(values: Mapping[str, object], key: str, default: str | None = None) -> str:
    value = values.get(key, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a numeric workflow ID written as a number in cdk.json
    if not isinstance(value, str):
        raise _fix(key, f"must be a string, got {value!r}", REQUIRED_KEYS.get(key, str(default)))
    return value.strip()


def _optional_text(values: Mapping[str, object], key: str) -> str | None:
    return _text(values, key) if key in values else None


def _choice(values: Mapping[str, object], key: str, kind: type[_Choice], default: _Choice) -> _Choice:
    value = values.get(key, default.value)
    for member in kind:
        if member.value == value:
            return member
    choices = " | ".join(str(member.value) for member in kind)
    raise _fix(key, f"must be one of {choices}, got {value!r}", str(default.value))


def _integer(values: Mapping[str, object], key: str, default: int) -> int:
    value = values.get(key, default)
    # -c passes "45"; cdk.json passes 45. A bool is an int in Python but never a valid count here.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _fix(key, f"must be a whole number, got {value!r}", str(default))


def _boolean(values: Mapping[str, object], key: str, default: bool) -> bool:
    value = values.get(key, default)
    # -c passes "false"; cdk.json passes false.
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    if isinstance(value, bool):
        return value
    raise _fix(key, f"must be true or false, got {value!r}", str(default).lower())


def _reserved_concurrency(value: object) -> int | None:
    # A spelled-out word, because CDK context cannot tell a JSON null from a key that is not set.
    if isinstance(value, str) and value.strip().lower() in {"unreserved", "none"}:
        return None
    return _integer({"reservedConcurrency": value}, "reservedConcurrency", default=DEFAULT_RESERVED_CONCURRENCY)


def _names(value: object) -> tuple[str, ...]:
    # A list from cdk.json, or "a,b" from -c; order kept, duplicates dropped.
    if isinstance(value, str):
        raw: Sequence[object] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        raw = value
    else:
        raise _fix("asgNames", f"must be a list or a comma-separated string, got {value!r}", "web-asg,worker-asg")
    if not all(isinstance(name, str) for name in raw):
        raise _fix("asgNames", f"must contain only names, got {value!r}", "web-asg,worker-asg")
    return tuple(dict.fromkeys(str(name) for name in raw))


def _string_object(value: object) -> Mapping[str, str]:
    example = '{"environment":"production"}'
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise _fix("workflowExtraInputs", f"is not valid JSON ({error.msg})", example) from None
    if not isinstance(value, dict):
        raise _fix("workflowExtraInputs", f"must be an object of strings, got {value!r}", example)
    return value
