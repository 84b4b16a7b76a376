"""One DynamoDB call of the ledger table, with DynamoDB's errors in domain terms: shared by the instances' items
(``ledger.table``) and the GitHub budget item (``ledger.budget``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from deploy_trigger.errors import LedgerUnavailable

_CONDITION_FAILED = "ConditionalCheckFailedException"


class ConditionFailed(Exception):
    """The write's condition did not hold; ``item`` is the item as it stands when the call asked for it."""

    def __init__(self, item: dict[str, Any]) -> None:
        self.item = item


def call(doing: str, operation: Callable[..., Any], **arguments: Any) -> Any:
    """One DynamoDB call; a lost condition raises :class:`ConditionFailed`, any other failure
    :class:`LedgerUnavailable` (retried from the ledger's state, like every RetryLater)."""
    try:
        return operation(**arguments)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", "Unknown"))
        if code == _CONDITION_FAILED:
            raise ConditionFailed(error.response.get("Item", {})) from None
        raise LedgerUnavailable(f"{doing} failed: {code}", code=code) from None
    except BotoCoreError as error:
        raise LedgerUnavailable(f"{doing} failed: DynamoDB unreachable ({type(error).__name__})") from None
