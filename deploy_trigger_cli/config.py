"""Where each setting comes from: a flag, else the stack's output (``--stack``), else the environment variable.

The environment variables are the dispatcher Lambda's own (``deploy_trigger.settings.Settings.ENVIRONMENT``),
so a shell configured like the function, or the local stand-ins' environment, works as is. Flags win because
they are the most deliberate; ``--stack`` beats the environment because naming a stack on the command line
means "that deployment", whatever the shell happens to export. Settings the Lambda does not read (its own
function name, the rule, the queues) have ``DEPLOY_TRIGGER_*`` variables of their own.

A missing setting is a :class:`ConfigError` that names all three ways to give it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from deploy_trigger import stack_outputs as keys
from deploy_trigger.settings import ConfigurationError, Settings
from deploy_trigger_cli.errors import ConfigError
from deploy_trigger_cli.stack_outputs import StackOutputs

STACK_ENV = "DEPLOY_TRIGGER_STACK"
DLQ_URLS_ENV = "DEPLOY_TRIGGER_DLQ_URLS"
ALLOWED_ASG_NAMES_ENV = "ALLOWED_ASG_NAMES"


@dataclass(frozen=True)
class Setting:
    flag: str
    env: str
    output: str
    describes: str
    metavar: str = "NAME"


TABLE = Setting("--table", "LEDGER_TABLE_NAME", keys.LEDGER_TABLE_NAME, "ledger table")
FUNCTION_NAME = Setting(
    "--function-name", "DEPLOY_TRIGGER_FUNCTION_NAME", keys.DISPATCHER_FUNCTION_NAME, "dispatcher function"
)
RULE_NAME = Setting("--rule-name", "DEPLOY_TRIGGER_RULE_NAME", keys.EVENT_RULE_NAME, "EventBridge rule")
SECRET = Setting(
    "--secret", "GITHUB_CREDENTIALS_SECRET", keys.CREDENTIALS_SECRET_ARN, "GitHub credentials secret", "NAME_OR_ARN"
)
REPOSITORY = Setting("--repository", "GITHUB_REPOSITORY", keys.GITHUB_REPOSITORY, "GitHub repository", "OWNER/REPO")
WORKFLOW = Setting("--workflow", "GITHUB_WORKFLOW", keys.GITHUB_WORKFLOW, "GitHub workflow", "FILE_OR_ID")
REF = Setting("--ref", "GITHUB_REF", keys.GITHUB_REF, "Git ref to dispatch", "REF")

#: The settings the Lambda itself reads, which the CLI can also take from flags or the stack.
LAMBDA_SETTINGS = (TABLE, SECRET, REPOSITORY, WORKFLOW, REF)
ALL_SETTINGS = (TABLE, FUNCTION_NAME, RULE_NAME, SECRET, REPOSITORY, WORKFLOW, REF)


@dataclass(frozen=True)
class DeadLetterQueue:
    url: str
    #: What the queue holds, in words: "delivery DLQ", "on-failure queue", or the queue's name.
    label: str


class Config:
    def __init__(
        self,
        *,
        flags: Mapping[Setting, str | None],
        dlq_urls: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
        stack: StackOutputs | None = None,
        region: str | None = None,
        function_environment: Callable[[], Mapping[str, str]] | None = None,
    ) -> None:
        self._flags = {setting: value.strip() for setting, value in flags.items() if value and value.strip()}
        self._dlq_urls = [url.strip() for url in dlq_urls if url.strip()]
        self._environ = dict(os.environ if environ is None else environ)
        self._stack = stack
        self.region = region
        #: With --stack: the deployed dispatcher's environment, read only by the commands that need it.
        self._function_environment = function_environment

    def value(self, setting: Setting) -> str | None:
        if setting in self._flags:
            return self._flags[setting]
        from_stack = self._stack.get(setting.output) if self._stack else None
        return from_stack or self._environ.get(setting.env, "").strip() or None

    def require(self, setting: Setting) -> str:
        value = self.value(setting)
        if value is None:
            raise ConfigError(f"no {setting.describes}: {self._ways(setting)}")
        return value

    def dead_letter_queues(self) -> list[DeadLetterQueue]:
        """The queues to read: every ``--dlq-url``, else the stack's two, else ``DEPLOY_TRIGGER_DLQ_URLS``."""
        labels = {}
        if self._stack:
            labels = {
                url: label
                for key, label in ((keys.DELIVERY_DLQ_URL, "delivery DLQ"), (keys.FAILURE_DLQ_URL, "on-failure queue"))
                if (url := self._stack.get(key))
            }
        urls = self._dlq_urls or list(labels) or [u.strip() for u in self._environ.get(DLQ_URLS_ENV, "").split(",")]
        queues = [DeadLetterQueue(url, labels.get(url) or url.rstrip("/").rsplit("/", 1)[-1]) for url in urls if url]
        if not queues:
            raise ConfigError(
                f"no dead-letter queue: pass --dlq-url URL (repeatable), set {DLQ_URLS_ENV} (comma-separated), "
                f"or use --stack NAME (outputs {keys.DELIVERY_DLQ_URL} and {keys.FAILURE_DLQ_URL})"
            )
        return list({queue.url: queue for queue in queues}.values())

    def lambda_environment(self) -> dict[str, str]:
        """The environment the dispatcher runs with: this shell's, then (with --stack) the deployed function's
        own, then the settings resolved from flags and outputs."""
        environment = dict(self._environ)
        if self._function_environment is not None:
            environment.update(self._function_environment())
        for setting in LAMBDA_SETTINGS:
            value = self.value(setting)
            if value is not None:
                environment[setting.env] = value
        if self.region and not (environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION")):
            environment["AWS_REGION"] = self.region
        return environment

    def allowed_asg_names(self) -> list[str]:
        """The dispatcher's ALLOWED_ASG_NAMES (with --stack, the deployed function's), sorted; [] for "any"."""
        listed = self.lambda_environment().get(ALLOWED_ASG_NAMES_ENV, "")
        return sorted({name.strip() for name in listed.split(",") if name.strip()})

    def settings(self) -> Settings:
        """The full dispatcher settings, validated by the Lambda's own model; the error names flags too."""
        missing = [setting for setting in LAMBDA_SETTINGS if self.value(setting) is None]
        if missing:
            needed = "; ".join(f"{s.describes} ({s.flag} or {s.env})" for s in missing)
            raise ConfigError(f"incomplete configuration, missing: {needed}; or use --stack NAME")
        try:
            return Settings.from_env(self.lambda_environment())
        except ConfigurationError as error:
            message = str(error)
            flags = [s.flag for s in LAMBDA_SETTINGS if re.search(rf"\b{s.env}\b", message)]
            if "AWS_REGION" in message:
                flags.append("--region")
            hint = f" (flag: {', '.join(flags)})" if flags else ""
            raise ConfigError(f"{message}{hint}") from None

    def _ways(self, setting: Setting) -> str:
        ways = f"pass {setting.flag}, set {setting.env}, or use --stack NAME (output {setting.output})"
        if self._stack is not None:
            ways += f"; stack {self._stack.name!r} has no output {setting.output}"
        return ways
