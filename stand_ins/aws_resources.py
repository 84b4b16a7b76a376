"""Creates the AWS resources the dispatcher needs, on moto, from the same schema constants as the CDK table."""

from __future__ import annotations

import json
from typing import Any

from deploy_trigger.ledger import PARTITION_KEY, TRACKING_INDEX, TRACKING_KEY, TRACKING_SORT_KEY, TTL_ATTRIBUTE


def create_ledger_table(dynamodb: Any, name: str) -> None:
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": TRACKING_KEY, "AttributeType": "S"},
            {"AttributeName": TRACKING_SORT_KEY, "AttributeType": "N"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": TRACKING_INDEX,
                "KeySchema": [
                    {"AttributeName": TRACKING_KEY, "KeyType": "HASH"},
                    {"AttributeName": TRACKING_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    )


def create_token_secret(secretsmanager: Any, name: str, token: str) -> str:
    return str(secretsmanager.create_secret(Name=name, SecretString=token)["ARN"])


def create_app_secret(secretsmanager: Any, name: str, app_id: str, installation_id: str, private_key_pem: str) -> str:
    value = json.dumps({"app_id": app_id, "installation_id": installation_id, "private_key": private_key_pem})
    return str(secretsmanager.create_secret(Name=name, SecretString=value)["ARN"])
