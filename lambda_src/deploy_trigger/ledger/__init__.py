"""The ledger: one DynamoDB item per instance, the record that makes each dispatch happen once.

- ``model``: the statuses and their meanings, the entry, the state rules with their conditions (no botocore);
- ``schema``: the table's key, index, TTL and time format, and the one table definition (no botocore);
- ``codec``: the one translation between items and entries (no botocore);
- ``update``: a small builder for a conditional UpdateItem;
- ``table``: :class:`~deploy_trigger.ledger.table.Ledger`, the transitions on DynamoDB.

Importing this package (or ``model``, ``schema``, ``codec``) loads no botocore; ``table`` does.
"""

from deploy_trigger.ledger.model import SETTLED, TRACKED, Claimed, Existing, HistoryEvent, LedgerEntry, Status

__all__ = ["SETTLED", "TRACKED", "Claimed", "Existing", "HistoryEvent", "LedgerEntry", "Status"]
