"""Creates the AWS resources the dispatcher needs, on moto, from the same schema constants as the CDK table."""

from __future__ import annotations

import json
from typing import Any

from deploy_trigger.ledger.schema import TABLE_DEFINITION, TIME_TO_LIVE


def create_ledger_table(dynamodb: Any, name: str) -> None:
    """The ledger table as the stack defines it (the same definition the CDK construct builds from)."""
    dynamodb.create_table(TableName=name, **TABLE_DEFINITION)
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=dict(TIME_TO_LIVE))


def create_token_secret(secretsmanager: Any, name: str, token: str) -> str:
    return str(secretsmanager.create_secret(Name=name, SecretString=token)["ARN"])


def create_app_secret(secretsmanager: Any, name: str, app_id: str, installation_id: str, private_key_pem: str) -> str:
    value = json.dumps({"app_id": app_id, "installation_id": installation_id, "private_key": private_key_pem})
    return str(secretsmanager.create_secret(Name=name, SecretString=value)["ARN"])
