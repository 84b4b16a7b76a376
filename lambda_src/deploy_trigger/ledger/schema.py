"""The ledger table's schema: its key, its tracking index, its TTL and its time format.

Import-free, so the CDK construct, the operator CLI and the local stand-ins read the same definition
without loading botocore. :data:`TABLE_DEFINITION` is in CreateTable's shape: the stand-ins create their
table from it, the CDK construct builds the real one from it, and an infra test compares the synthesized
``AWS::DynamoDB::Table`` with it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

PARTITION_KEY: Final = "instance_id"
TTL_ATTRIBUTE: Final = "expires_at"
#: A sparse index of the deployments still being followed: only items with ``tracking`` are in it, so the
#: tracker queries what is unfinished and due, never scans the table.
TRACKING_INDEX: Final = "open-deployments"
TRACKING_KEY: Final = "tracking"
TRACKING_SORT_KEY: Final = "next_check_at"
#: The index's two partitions. OPEN: dispatched, the tracker follows the run. UNCONFIRMED: released after an
#: outcome-unknown attempt; a retry should reconcile it within minutes, and one still there
#: ``UNRESOLVED_AFTER_SECONDS`` later is counted by the tracker (metric UnresolvedOutcomes, alarmed).
OPEN_DEPLOYMENTS: Final = "OPEN"
UNCONFIRMED_OUTCOMES: Final = "UNCONFIRMED"
UNRESOLVED_AFTER_SECONDS: Final = 15 * 60
#: The third partition is the queue of launches waiting for GitHub budget (status WAITING, or taken from the queue
#: by a drainer): sorted by when each may be tried (a parked launch's not-before time; a drainer's claim, its lease
#: end plus the run-listing delay), so the drainer reads the queue in order with one Query and a killed drainer's
#: launch comes due again by itself.
WAITING_FOR_BUDGET: Final = "WAITING"
#: Items expire this long after the last write that refreshes the TTL (a claim, or the end of a launch's story).
RETENTION_SECONDS: Final = 90 * 24 * 3600
#: The one item that is not an instance's: since when the launch-successful sweep looks for lost launches
#: (``Ledger.sweep_since``). No instance ID can take its key (they all begin ``i-``), it has no TTL (it must last
#: as long as the table) and it is never in the tracking index; every reader that scans the table keeps only
#: :data:`INSTANCE_ITEMS` and so never hands it to the codec.
SWEEP_SINCE_KEY: Final = "#sweep-since"
SWEEP_SINCE_ATTRIBUTE: Final = "sweep_since"
#: The other item that is not an instance's: the GitHub budget every container and drainer shares
#: (``ledger.budget``): when GitHub next accepts a dispatch, and which drainer holds the queue. Same rules as
#: :data:`SWEEP_SINCE_KEY` (no TTL, never in the index, kept out of scans by :data:`INSTANCE_ITEMS`).
BUDGET_KEY: Final = "#github-budget"
#: Batch mode's items that are not an instance's: one manifest per batch (``ledger.batch_item``), keyed by this
#: prefix and the batch's dispatch ID: which instances the batch's run deploys, in order, and how its POST went.
#: Same rules as the two above (never in the index, kept out of scans by :data:`INSTANCE_ITEMS`), but with a TTL.
BATCH_KEY_PREFIX: Final = "#batch#"
#: A Scan's FilterExpression (with its value) that keeps the instances' items: every one but those above.
INSTANCE_ITEMS: Final = f"begins_with({PARTITION_KEY}, :instance_item)"
INSTANCE_ITEMS_VALUES: Final[MappingProxyType[str, Any]] = MappingProxyType({":instance_item": {"S": "i-"}})

TABLE_DEFINITION: Final[MappingProxyType[str, Any]] = MappingProxyType(
    {
        "KeySchema": [{"AttributeName": PARTITION_KEY, "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": "S"},
            {"AttributeName": TRACKING_KEY, "AttributeType": "S"},
            {"AttributeName": TRACKING_SORT_KEY, "AttributeType": "N"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": TRACKING_INDEX,
                "KeySchema": [
                    {"AttributeName": TRACKING_KEY, "KeyType": "HASH"},
                    {"AttributeName": TRACKING_SORT_KEY, "KeyType": "RANGE"},
                ],
                # ALL: the tracker decides from the whole item (dispatch ID, run, hook, timestamps); a
                # KEYS_ONLY index would cost a GetItem per entry.
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        # On demand: launches come in bursts (scale-out) and then nothing for hours.
        "BillingMode": "PAY_PER_REQUEST",
    }
)
TIME_TO_LIVE: Final[MappingProxyType[str, Any]] = MappingProxyType({"Enabled": True, "AttributeName": TTL_ATTRIBUTE})


def iso_time(epoch: float) -> str:
    """The ledger's time format, e.g. ``2026-11-23T04:15:00.000Z``: strings of it sort like the instants."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso_time(text: str | None) -> datetime | None:
    """A time the ledger wrote (or an ISO 8601 time without a zone, taken as UTC); None if it is not one."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
