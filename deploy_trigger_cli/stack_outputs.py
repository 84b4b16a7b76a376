"""Configuration from a deployed stack: the outputs of ``DescribeStacks``, by output key.

The keys are ``deploy_trigger.stack_outputs``, the names ``infra/stack.py`` exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger.settings import Settings
from deploy_trigger_cli.aws import error_code, failed
from deploy_trigger_cli.errors import ConfigError


@dataclass(frozen=True)
class StackOutputs:
    name: str
    outputs: Mapping[str, str] = field(default_factory=dict)

    def get(self, key: str) -> str | None:
        value = self.outputs.get(key, "").strip()
        return value or None


def read_stack_outputs(cloudformation: Any, stack_name: str) -> StackOutputs:
    try:
        answer = cloudformation.describe_stacks(StackName=stack_name)
    except ClientError as error:
        if error_code(error) == "ValidationError" and "does not exist" in str(error):
            raise ConfigError(
                f"stack {stack_name!r} does not exist in this account and region "
                "(check --stack / DEPLOY_TRIGGER_STACK and --region)"
            ) from None
        raise failed(f"reading the outputs of stack {stack_name!r}", error) from None
    except BotoCoreError as error:
        raise failed(f"reading the outputs of stack {stack_name!r}", error) from None
    stacks = answer.get("Stacks") or [{}]
    outputs = {str(o["OutputKey"]): str(o.get("OutputValue", "")) for o in stacks[0].get("Outputs") or []}
    return StackOutputs(stack_name, outputs)


def read_function_environment(lambda_client: Any, function_name: str) -> dict[str, str]:
    """The dispatcher's own settings, as deployed: its environment, limited to what the settings model reads.

    The stack's outputs name the table, secret, repository, workflow and ref; the rest (API URL and version,
    extra inputs, allowed groups) only the function's environment knows, and checking a GitHub Enterprise
    Server deployment against the shell's defaults would check the wrong thing.
    """
    try:
        answer = lambda_client.get_function_configuration(FunctionName=function_name)
    except (ClientError, BotoCoreError) as error:
        raise failed(f"reading the environment of function {function_name!r}", error) from None
    variables = answer.get("Environment", {}).get("Variables", {})
    return {name: str(variables[name]) for name in Settings.ENVIRONMENT if name in variables}
