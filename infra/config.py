"""The deployment's configuration, modelled once: read from CDK context, validated, then immutable.

Every context key is declared once, on its field (name, default, parser); ``CONTEXT_KEYS``, ``REQUIRED_KEYS``
and ``from_mapping`` are derived from the fields. Every key has a default except the three that name the
user's own things (repository, workflow, credentials secret). A bad or missing value stops ``cdk synth`` with
a message that names the context key and shows an example, instead of deploying a dispatcher that fails on
its first launch. Limits and defaults that the functions enforce at cold start come from their settings
module, so the two can never disagree.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

from deploy_trigger.settings import (
    BATCH_MAX_INSTANCES_RANGE,
    HEARTBEAT_INTERVAL_RANGE,
    HOOK_GLOBAL_TIMEOUT_RANGE,
    MAX_DEPLOY_RANGE,
    MUTATION_INTERVAL_RANGE,
    REPOSITORY_PATTERN,
    RUN_APPEAR_TIMEOUT_RANGE,
    SUPPORTED_API_VERSIONS,
    GitHubTarget,
    Settings,
    TrackerSettings,
    reserved_inputs,
)
from deploy_trigger.workflow_contract import MAX_BATCH_INSTANCES, MAX_WORKFLOW_INPUTS


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
#: cannot finish before the timeout.
MIN_TIMEOUT_SECONDS = 10
MAX_TIMEOUT_SECONDS = 900
MAX_RESERVED_CONCURRENCY = 1000

_WORKFLOW_FILE = re.compile(r"^[A-Za-z0-9_.-]+\.ya?ml$")
_SECRET_NAME = re.compile(r"^[A-Za-z0-9/_+=.@-]{1,512}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

DEFAULT_TIMEOUT_SECONDS = 30
#: GitHub's secondary limit on content-creating requests is about 80 a minute and 500 an hour.
DEFAULT_RESERVED_CONCURRENCY = 5
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

_EXTRA_INPUTS_EXAMPLE = '{"environment":"production"}'
_KMS_KEY_ARN_EXAMPLE = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
_EMAIL_EXAMPLE = "oncall@example.com"
_ASG_NAMES_EXAMPLE = "web-asg,worker-asg"


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


#: Turns a raw context value into a field's value: (key, value, example for the error message) -> value.
Parser = Callable[[str, object, str], Any]


@dataclass(frozen=True)
class ContextKey:
    """How one field is read from CDK context."""

    name: str
    parse: Parser
    #: A valid value, shown in the error message when the given one is not.
    example: str


_CONTEXT_KEY = "deploy_trigger.context_key"


def context(name: str, parse: Parser, *, default: Any = dataclasses.MISSING, example: str | None = None) -> Any:
    """A field read from the context key ``name`` (absent, null or "" means the default)."""
    if example is None:
        example = _example(default)
    metadata = {_CONTEXT_KEY: ContextKey(name, parse, example)}
    if isinstance(default, Mapping):  # the one mutable default: an empty, read-only mapping
        return field(default_factory=lambda: MappingProxyType(dict(default)), metadata=metadata)
    return field(default=default, metadata=metadata)


def _example(default: object) -> str:
    if isinstance(default, Enum):
        return str(default.value)
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)


def _text(key: str, value: object, example: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # a numeric workflow ID written as a number in cdk.json
    if not isinstance(value, str):
        raise _fix(key, f"must be a string, got {value!r}", example)
    return value.strip()


def _choice(kind: type[_Choice]) -> Parser:
    def parse(key: str, value: object, example: str) -> _Choice:
        for member in kind:
            if member.value == value:
                return member
        choices = " | ".join(str(member.value) for member in kind)
        raise _fix(key, f"must be one of {choices}, got {value!r}", example)

    return parse


def _integer(key: str, value: object, example: str) -> int:
    # -c passes "45"; cdk.json passes 45. A bool is an int in Python but never a valid count here.
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise _fix(key, f"must be a whole number, got {value!r}", example)


def _seconds(key: str, value: object, example: str) -> float:
    # -c passes "1.5"; cdk.json passes 1.5 or 1. A bool is an int in Python but never a duration here.
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise _fix(key, f"must be a number of seconds, got {value!r}", example)


def _boolean(key: str, value: object, example: str) -> bool:
    # -c passes "false"; cdk.json passes false.
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    if isinstance(value, bool):
        return value
    raise _fix(key, f"must be true or false, got {value!r}", example)


def _reserved_concurrency(key: str, value: object, example: str) -> int | None:
    # A spelled-out word, because CDK context cannot tell a JSON null from a key that is not set.
    if isinstance(value, str) and value.strip().lower() in {"unreserved", "none"}:
        return None
    return _integer(key, value, example)


def _names(key: str, value: object, example: str) -> tuple[str, ...]:
    # A list from cdk.json, or "a,b" from -c; order kept, duplicates dropped.
    if isinstance(value, str):
        raw: Sequence[object] = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        raw = value
    else:
        raise _fix(key, f"must be a list or a comma-separated string, got {value!r}", example)
    if not all(isinstance(name, str) for name in raw):
        raise _fix(key, f"must contain only names, got {value!r}", example)
    return tuple(dict.fromkeys(str(name) for name in raw))


def _string_object(key: str, value: object, example: str) -> Mapping[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise _fix(key, f"is not valid JSON ({error.msg})", example) from None
    if not isinstance(value, dict):
        raise _fix(key, f"must be an object of strings, got {value!r}", example)
    return value


@dataclass(frozen=True)
class DeployTriggerConfig:
    """Everything a deployment of deploy-trigger can be told; validated when built.

    Build it directly (for the reusable construct in another CDK app) or with :meth:`from_context`.
    """

    github_repository: str = context("githubRepository", _text, example="my-org/my-app")
    github_workflow: str = context("githubWorkflow", _text, example="deploy.yml")
    github_credentials_secret: str = context("githubCredentialsSecret", _text, example="deploy-trigger/github")
    # RUF009 does not know `context` returns a dataclass field, as `field` does.
    mode: TriggerMode = context("mode", _choice(TriggerMode), default=TriggerMode.LIFECYCLE_HOOK)  # noqa: RUF009
    github_ref: str = context("githubRef", _text, default="main")
    github_credentials_kms_key_arn: str | None = context(
        "githubCredentialsKmsKeyArn", _text, default=None, example=_KMS_KEY_ARN_EXAMPLE
    )
    github_api_url: str = context("githubApiUrl", _text, default=GitHubTarget.api_url)
    github_api_version: str = context("githubApiVersion", _text, default=GitHubTarget.api_version)
    asg_names: tuple[str, ...] = context("asgNames", _names, default=(), example=_ASG_NAMES_EXAMPLE)
    workflow_extra_inputs: Mapping[str, str] = context(
        "workflowExtraInputs", _string_object, default={}, example=_EXTRA_INPUTS_EXAMPLE
    )
    dispatcher_timeout_seconds: int = context("dispatcherTimeoutSeconds", _integer, default=DEFAULT_TIMEOUT_SECONDS)
    #: None (context: "unreserved") reserves nothing: for accounts whose concurrency quota is still 10,
    #: where Lambda refuses any reservation because it keeps 10 unreserved.
    reserved_concurrency: int | None = context(
        "reservedConcurrency", _reserved_concurrency, default=DEFAULT_RESERVED_CONCURRENCY
    )
    alarm_email: str | None = context("alarmEmail", _text, default=None, example=_EMAIL_EXAMPLE)
    removal_policy: RemovalChoice = context(  # noqa: RUF009
        "removalPolicy", _choice(RemovalChoice), default=RemovalChoice.RETAIN
    )
    #: The tracker: follows each dispatched run to its end, heartbeats and completes the lifecycle action.
    tracker_enabled: bool = context("trackerEnabled", _boolean, default=True)
    run_appear_timeout_seconds: int = context(
        "runAppearTimeoutSeconds", _integer, default=TrackerSettings.run_appear_timeout_seconds
    )
    heartbeat_interval_seconds: int = context(
        "heartbeatIntervalSeconds", _integer, default=TrackerSettings.heartbeat_interval_seconds
    )
    max_deploy_seconds: int = context("maxDeploySeconds", _integer, default=TrackerSettings.max_deploy_seconds)
    #: The launch hook that ``DeployTrigger.add_launch_hook`` puts on a group (lifecycle-hook mode only); the
    #: dispatcher acts on this hook's actions only, so another hook on the same group is never deployed twice.
    lifecycle_hook_name: str = context("lifecycleHookName", _text, default=Settings.lifecycle_hook_name)
    lifecycle_hook_heartbeat_timeout_seconds: int = context(
        "lifecycleHookHeartbeatTimeoutSeconds", _integer, default=DEFAULT_HOOK_HEARTBEAT_TIMEOUT_SECONDS
    )
    lifecycle_hook_default_result: HookDefaultResult = context(  # noqa: RUF009
        "lifecycleHookDefaultResult", _choice(HookDefaultResult), default=HookDefaultResult.ABANDON
    )
    #: This many instances abandoned within 15 minutes is a crash loop: the alarm pages.
    crash_loop_abandon_threshold: int = context(
        "crashLoopAbandonThreshold", _integer, default=DEFAULT_CRASH_LOOP_ABANDON_THRESHOLD
    )
    #: The drainer's pace through the queue of launches that waited for GitHub budget: one dispatch this often.
    github_mutation_interval_seconds: float = context(
        "githubMutationIntervalSeconds", _seconds, default=Settings.mutation_interval_seconds, example="1"
    )
    #: Batch mode, opt-in: the drainer sends queued launches together, one workflow_dispatch (and one run, a matrix
    #: job per instance) for up to ``batch_max_instances`` of them. Off, the stack is exactly what it was without it.
    batch_dispatch: bool = context("batchDispatch", _boolean, default=False)
    #: The most instances in one batch; read only with ``batch_dispatch`` on, but held to its range either way.
    batch_max_instances: int = context("batchMaxInstances", _integer, default=MAX_BATCH_INSTANCES)

    def __post_init__(self) -> None:
        # Freeze the one mutable field, so a config shared between constructs cannot change under them.
        object.__setattr__(self, "workflow_extra_inputs", MappingProxyType(dict(self.workflow_extra_inputs)))
        _validate(self)

    @property
    def hook_global_timeout_seconds(self) -> int:
        """When Auto Scaling ends a lifecycle action of our hook whatever its heartbeats: min(100 x heartbeat
        timeout, 48 h). The drainer measures the queue's headroom against it."""
        return min(
            HOOK_GLOBAL_TIMEOUT_FACTOR * self.lifecycle_hook_heartbeat_timeout_seconds, HOOK_GLOBAL_TIMEOUT_RANGE[1]
        )

    @property
    def dispatch_batch_max_instances(self) -> int:
        """What the dispatcher's and the drainer's settings get (``BATCH_MAX_INSTANCES``): 0 with batch mode off."""
        return self.batch_max_instances if self.batch_dispatch else 0

    @property
    def queued_action_lifetime_seconds(self) -> int:
        """How long a queued launch's lifecycle action can last: its global timeout while the tracker heartbeats it,
        one heartbeat timeout without the tracker (nothing else heartbeats a launch that is not deploying yet)."""
        if self.tracker_enabled:
            return self.hook_global_timeout_seconds
        return self.lifecycle_hook_heartbeat_timeout_seconds

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
            **{
                name: key.parse(key.name, values[key.name], key.example)
                for name, key in _CONTEXT_FIELDS.items()
                if key.name in values
            }
        )


#: Field name -> its context key, in declaration order.
_CONTEXT_FIELDS: Mapping[str, ContextKey] = MappingProxyType(
    {f.name: f.metadata[_CONTEXT_KEY] for f in dataclasses.fields(DeployTriggerConfig)}
)
#: Every context key the app reads (cdk.json documents the ones with defaults).
CONTEXT_KEYS = tuple(key.name for key in _CONTEXT_FIELDS.values())
#: Context keys that have no default, with an example for the error message.
REQUIRED_KEYS: Mapping[str, str] = MappingProxyType(
    {
        key.name: key.example
        for f in dataclasses.fields(DeployTriggerConfig)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        for key in [f.metadata[_CONTEXT_KEY]]
    }
)


def _validate(config: DeployTriggerConfig) -> None:
    if not REPOSITORY_PATTERN.match(config.github_repository):
        raise _fix(
            "githubRepository", f"must be owner/repo, got {config.github_repository!r}", _example_of("githubRepository")
        )
    if not (_WORKFLOW_FILE.match(config.github_workflow) or config.github_workflow.isdigit()):
        raise _fix(
            "githubWorkflow",
            f"must be the workflow's file name (not a path) or its numeric ID, got {config.github_workflow!r}",
            _example_of("githubWorkflow"),
        )
    if not config.github_ref or any(c.isspace() for c in config.github_ref):
        raise _fix("githubRef", f"must be a branch or tag name, got {config.github_ref!r}", _example_of("githubRef"))
    secret = config.github_credentials_secret
    if not (_SECRET_ARN.match(secret) if secret.startswith("arn:") else _SECRET_NAME.match(secret)):
        raise _fix(
            "githubCredentialsSecret",
            f"must be a Secrets Manager secret name or ARN, got {secret!r}",
            _example_of("githubCredentialsSecret"),
        )
    key_arn = config.github_credentials_kms_key_arn
    if key_arn is not None and not _KMS_KEY_ARN.match(key_arn):
        raise _fix(
            "githubCredentialsKmsKeyArn",
            f"must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; an alias cannot be granted), got {key_arn!r}",
            _example_of("githubCredentialsKmsKeyArn"),
        )
    # https only: the dispatcher sends a bearer token to this URL.
    if not re.match(r"^https://[^/\s]+(/\S*)?$", config.github_api_url):
        raise _fix(
            "githubApiUrl",
            f"must be an https URL (GitHub Enterprise Server: https://HOST/api/v3), got {config.github_api_url!r}",
            _example_of("githubApiUrl"),
        )
    if config.github_api_version not in SUPPORTED_API_VERSIONS:
        raise _fix(
            "githubApiVersion",
            f"must be one of {', '.join(SUPPORTED_API_VERSIONS)}, got {config.github_api_version!r}",
            _example_of("githubApiVersion"),
        )
    _validate_asg_names(config.asg_names)
    _validate_batch(config)
    _validate_extra_inputs(config.workflow_extra_inputs, batched=config.batch_dispatch)
    timeout = config.dispatcher_timeout_seconds
    if not MIN_TIMEOUT_SECONDS <= timeout <= MAX_TIMEOUT_SECONDS:
        raise _fix(
            "dispatcherTimeoutSeconds",
            f"must be between {MIN_TIMEOUT_SECONDS} and {MAX_TIMEOUT_SECONDS} seconds, got {timeout}: a shorter "
            "timeout can kill the dispatcher after GitHub accepted a dispatch but before the ledger records it",
            _example_of("dispatcherTimeoutSeconds"),
        )
    concurrency = config.reserved_concurrency
    if concurrency is not None and not 1 <= concurrency <= MAX_RESERVED_CONCURRENCY:
        raise _fix(
            "reservedConcurrency",
            f'must be between 1 and {MAX_RESERVED_CONCURRENCY}, or "unreserved", got {concurrency} '
            "(0 would stop the dispatcher altogether)",
            _example_of("reservedConcurrency"),
        )
    if config.alarm_email is not None and not _EMAIL.match(config.alarm_email):
        raise _fix("alarmEmail", f"must be an email address, got {config.alarm_email!r}", _example_of("alarmEmail"))
    _validate_tracker(config)
    _validate_lifecycle_hook(config)
    low, high = MUTATION_INTERVAL_RANGE
    if not low <= config.github_mutation_interval_seconds <= high:
        raise _fix(
            "githubMutationIntervalSeconds",
            f"must be between {low} and {high} seconds, got {config.github_mutation_interval_seconds:g}",
            _example_of("githubMutationIntervalSeconds"),
        )


def _validate_tracker(config: DeployTriggerConfig) -> None:
    _in_range("runAppearTimeoutSeconds", config.run_appear_timeout_seconds, RUN_APPEAR_TIMEOUT_RANGE)
    _in_range("heartbeatIntervalSeconds", config.heartbeat_interval_seconds, HEARTBEAT_INTERVAL_RANGE)
    _in_range("maxDeploySeconds", config.max_deploy_seconds, MAX_DEPLOY_RANGE)
    if config.heartbeat_interval_seconds >= config.max_deploy_seconds:
        raise _fix(
            "heartbeatIntervalSeconds",
            f"must be shorter than maxDeploySeconds ({config.max_deploy_seconds}), got "
            f"{config.heartbeat_interval_seconds}: a deploy is declared stuck before its first heartbeat is due",
            _example_of("heartbeatIntervalSeconds"),
        )
    threshold = config.crash_loop_abandon_threshold
    if threshold < 1:
        raise _fix(
            "crashLoopAbandonThreshold",
            f"must be at least 1 (abandoned instances within 15 minutes), got {threshold}",
            _example_of("crashLoopAbandonThreshold"),
        )


def _validate_lifecycle_hook(config: DeployTriggerConfig) -> None:
    timeout = config.lifecycle_hook_heartbeat_timeout_seconds
    _in_range("lifecycleHookHeartbeatTimeoutSeconds", timeout, HOOK_HEARTBEAT_TIMEOUT_RANGE)
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
    global_timeout = config.hook_global_timeout_seconds
    if config.max_deploy_seconds > global_timeout:
        raise _fix(
            "maxDeploySeconds",
            f"must be at most {global_timeout} seconds, got {config.max_deploy_seconds}: Auto Scaling ends a "
            f"lifecycle action after {HOOK_GLOBAL_TIMEOUT_FACTOR} x lifecycleHookHeartbeatTimeoutSeconds "
            f"({timeout}) whatever the heartbeats, so the tracker could no longer decide the instance's fate",
            _example_of("maxDeploySeconds"),
        )


def _in_range(key: str, value: int, limits: tuple[int, int]) -> None:
    low, high = limits
    if not low <= value <= high:
        raise _fix(key, f"must be between {low} and {high} seconds, got {value}", _example_of(key))


def _example_of(key: str) -> str:
    return next(context_key.example for context_key in _CONTEXT_FIELDS.values() if context_key.name == key)


def _validate_asg_names(names: Sequence[str]) -> None:
    for name in names:
        # The dispatcher receives the list comma-joined (ALLOWED_ASG_NAMES), so a comma cannot survive.
        if not name or len(name) > 255 or "," in name or name != name.strip():
            raise _fix(
                "asgNames",
                f"must be Auto Scaling group names (1-255 characters, no commas or surrounding spaces), got {name!r}",
                _ASG_NAMES_EXAMPLE,
            )


def _validate_batch(config: DeployTriggerConfig) -> None:
    low, high = BATCH_MAX_INSTANCES_RANGE
    if not low <= config.batch_max_instances <= high:
        raise _fix(
            "batchMaxInstances",
            f"must be between {low} and {high} instances, got {config.batch_max_instances}: GitHub runs at most "
            f"{MAX_BATCH_INSTANCES} jobs of one matrix, and a batch of one is no batch (leave batchDispatch off)",
            _example_of("batchMaxInstances"),
        )


def _validate_extra_inputs(inputs: Mapping[str, str], *, batched: bool) -> None:
    example = _EXTRA_INPUTS_EXAMPLE
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
        raise _fix("workflowExtraInputs", "must be an object whose values are strings", example)
    # In batch mode the workflow takes a batch's inputs (dispatch_id, instances), the instances' own fields inside.
    reserved = reserved_inputs(batched=batched)
    mode = " in batch mode" if batched else ""
    clash = sorted(reserved & inputs.keys())
    if clash:
        raise _fix("workflowExtraInputs", f"may not set the dispatcher's own inputs{mode}: {', '.join(clash)}", example)
    allowed = MAX_WORKFLOW_INPUTS - len(reserved)
    if len(inputs) > allowed:
        raise _fix(
            "workflowExtraInputs",
            f"has {len(inputs)} inputs; GitHub accepts {MAX_WORKFLOW_INPUTS}, {len(reserved)} of which "
            f"the dispatcher sends{mode}, so at most {allowed} remain",
            example,
        )
