"""``doctor``'s AWS checks: the ledger table's key and TTL, and the EventBridge rule that feeds the dispatcher.

The table must be keyed exactly as ``deploy_trigger.ledger`` writes it (partition key ``instance_id``, a string,
and no sort key): with any other key every conditional write fails, and no launch is ever claimed. TTL on
``expires_at`` keeps the table from growing forever (items expire 90 days after their last change).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger.ledger.schema import PARTITION_KEY, TTL_ATTRIBUTE
from deploy_trigger_cli.aws import aws_error, error_code
from deploy_trigger_cli.checks import CheckResult, failed, passed, skipped, warned

TABLE = "table"
TTL = "ttl"
RULE = "rule"
CHECKS = (TABLE, TTL, RULE)

_ACTIVE_TTL = ("ENABLED", "ENABLING")


def ledger_checks(dynamodb: Any, table_name: str) -> list[CheckResult]:
    table = _check_table(dynamodb, table_name)
    if table.outcome != "pass":
        return [table, skipped(TTL, "not checked: the table is not usable")]
    return [table, _check_ttl(dynamodb, table_name)]


def _check_table(dynamodb: Any, table_name: str) -> CheckResult:
    try:
        description = dynamodb.describe_table(TableName=table_name)["Table"]
    except (ClientError, BotoCoreError) as error:
        return _unanswered(
            TABLE,
            error,
            f"could not describe table {table_name!r}",
            missing=f"table {table_name!r} does not exist in this account and region",
            fix="check LEDGER_TABLE_NAME / --table and --region, or deploy the stack",
        )
    keys = [(k.get("AttributeName"), k.get("KeyType")) for k in description.get("KeySchema", [])]
    types = {a.get("AttributeName"): a.get("AttributeType") for a in description.get("AttributeDefinitions", [])}
    if keys != [(PARTITION_KEY, "HASH")] or types.get(PARTITION_KEY) != "S":
        shown = ", ".join(f"{name} ({kind}, {types.get(name, '?')})" for name, kind in keys) or "no key"
        return failed(
            TABLE,
            f"table {table_name!r} is keyed on {shown}; the ledger needs partition key {PARTITION_KEY} (string, "
            "HASH) and no sort key, or every claim fails",
            "point LEDGER_TABLE_NAME / --table at the stack's ledger table (a table's key cannot be changed)",
        )
    status = description.get("TableStatus", "ACTIVE")
    if status != "ACTIVE":
        return warned(TABLE, f"table {table_name!r} has the right key but is {status}", "wait until it is ACTIVE")
    return passed(TABLE, f"table {table_name!r} is keyed on {PARTITION_KEY} (string) and ACTIVE")


def _check_ttl(dynamodb: Any, table_name: str) -> CheckResult:
    try:
        description = dynamodb.describe_time_to_live(TableName=table_name).get("TimeToLiveDescription", {})
    except (ClientError, BotoCoreError) as error:
        return failed(TTL, f"could not read the TTL of {table_name!r} ({aws_error(error)})")
    status, attribute = description.get("TimeToLiveStatus", "DISABLED"), description.get("AttributeName")
    if status in _ACTIVE_TTL and attribute == TTL_ATTRIBUTE:
        return passed(
            TTL, f"TTL is {status.lower()} on {TTL_ATTRIBUTE}: entries expire 90 days after their last change"
        )
    found = f"TTL is {status}" + (f" on {attribute}" if attribute else "")
    return failed(
        TTL,
        f"{found}; the ledger writes its expiry to {TTL_ATTRIBUTE}, so entries would never expire",
        f"aws dynamodb update-time-to-live --table-name {table_name} "
        f"--time-to-live-specification Enabled=true,AttributeName={TTL_ATTRIBUTE}",
    )


def rule_check(events: Any, rule_name: str | None, function_name: str | None) -> CheckResult:
    if not rule_name or not function_name:
        return warned(
            RULE,
            "not checked: the rule and the function are not known",
            "pass --rule-name and --function-name, or --stack NAME",
        )
    try:
        rule = events.describe_rule(Name=rule_name)
        targets = events.list_targets_by_rule(Rule=rule_name).get("Targets", [])
    except (ClientError, BotoCoreError) as error:
        return _unanswered(
            RULE,
            error,
            f"could not read rule {rule_name!r}",
            missing=f"EventBridge rule {rule_name!r} does not exist in this account and region (default event bus)",
            fix="check DEPLOY_TRIGGER_RULE_NAME / --rule-name, or deploy the stack",
        )
    return _rule_verdict(rule_name, str(rule.get("State")), targets, _function_name(function_name))


def _rule_verdict(rule_name: str, state: str, targets: list[dict[str, Any]], function: str) -> CheckResult:
    matching = [target for target in targets if _function_name(str(target.get("Arn", ""))) == function]
    if not matching:
        shown = ", ".join(str(target.get("Arn")) for target in targets) or "nothing"
        return failed(
            RULE,
            f"rule {rule_name!r} targets {shown}, not function {function!r}: no launch event reaches the dispatcher",
            "add the function as the rule's target (the stack does), or check --rule-name / --function-name",
        )
    if state != "ENABLED":
        return failed(
            RULE,
            f"rule {rule_name!r} targets {function!r} but is {state}: no launch event reaches the dispatcher",
            f"aws events enable-rule --name {rule_name}",
        )
    dead_letters = (matching[0].get("DeadLetterConfig") or {}).get("Arn")
    if not dead_letters:
        return warned(
            RULE,
            f"rule {rule_name!r} (enabled) targets {function!r}, but without a dead-letter queue: an event "
            "EventBridge cannot deliver is lost",
            "give the target a DeadLetterConfig (the stack does)",
        )
    return passed(RULE, f"rule {rule_name!r} (enabled) targets {function!r}; undeliverable events go to {dead_letters}")


def _unanswered(
    check: str, error: ClientError | BotoCoreError, could_not: str, *, missing: str, fix: str
) -> CheckResult:
    """A check whose AWS call failed: the resource does not exist (``missing``, and the ``fix``), or the call
    itself failed (``could_not``, with the error)."""
    if isinstance(error, ClientError) and error_code(error) == "ResourceNotFoundException":
        return failed(check, missing, fix)
    return failed(check, f"{could_not} ({aws_error(error)})")


def _function_name(name_or_arn: str) -> str:
    """``arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]`` or a plain name -> NAME."""
    parts = name_or_arn.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[5] == "function":
        return parts[6]
    return name_or_arn
