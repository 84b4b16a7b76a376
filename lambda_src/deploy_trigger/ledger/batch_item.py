"""Batch mode's manifests: one item per batch (``schema.BATCH_KEY_PREFIX`` + its dispatch ID) in the ledger table.

A manifest is written before its batch's first POST and never changes its composition: which instances, in which
order, under which inputs. So whoever takes a batch over after a crash reconciles by the batch's dispatch ID and, if
GitHub has no run for it, re-sends exactly what was (maybe) sent before, never a different set of instances. Every
write but the first is conditional on the holder's lease, like an instance's claim (the README's rules 11 to 13).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from deploy_trigger.errors import ClaimContended
from deploy_trigger.ledger.codec import encode, encode_item, expiry
from deploy_trigger.ledger.dynamodb import ConditionFailed, call
from deploy_trigger.ledger.schema import BATCH_KEY_PREFIX, PARTITION_KEY, TTL_ATTRIBUTE, iso_time
from deploy_trigger.runs import RunRef


@dataclass(frozen=True)
class BatchManifest:
    batch_id: str
    #: The members' instance IDs, in the order of the ``instances`` input (each member's ``batch_position``).
    members: tuple[str, ...]
    #: The exact inputs of the batch's POST: a re-send after a crash sends these, never a new composition.
    inputs: Mapping[str, str]
    lease_owner: str
    lease_expires_at: float
    #: True while a POST of this batch may have reached GitHub unaccounted for: a takeover reconciles first.
    post_unconfirmed: bool
    #: When the batch was composed; no run of it can be older (the lower bound when listing runs).
    composed_at: float
    attempts: int = 1
    run_id: int | None = None
    run_url: str | None = None
    #: Set once GitHub accepted the batch's run (or reconciliation found it): its members are recorded from it.
    dispatched: bool = False
    #: Why GitHub rejected the batch for good (its members are FAILED); None unless it did.
    rejected: str | None = None
    last_error: str | None = None

    def lease_live(self, now: float) -> bool:
        return self.lease_expires_at > now

    def run(self) -> RunRef:
        return RunRef(run_id=self.run_id, html_url=self.run_url)


class BatchItems:
    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def create(self, manifest: BatchManifest, now: float) -> None:
        """Written once, before the batch's first POST (a new dispatch ID: no item can exist for it)."""
        item = {
            PARTITION_KEY: BATCH_KEY_PREFIX + manifest.batch_id,
            "batch_id": manifest.batch_id,
            "members": list(manifest.members),
            "inputs": dict(manifest.inputs),
            "lease_owner": manifest.lease_owner,
            "lease_expires_at": manifest.lease_expires_at,
            "post_unconfirmed": manifest.post_unconfirmed,
            "composed_at": manifest.composed_at,
            "attempts": manifest.attempts,
            "dispatched": False,
            "created_at": iso_time(now),
            TTL_ATTRIBUTE: expiry(now),
        }
        call(
            "create-batch",
            self._client.put_item,
            TableName=self._table,
            Item=encode_item(item),
            ConditionExpression=f"attribute_not_exists({PARTITION_KEY})",
        )

    def read(self, batch_id: str) -> BatchManifest | None:
        answer = call(
            "read-batch", self._client.get_item, TableName=self._table, Key=_key(batch_id), ConsistentRead=True
        )
        item = answer.get("Item")
        return _manifest(item) if item else None

    def take_over(self, seen: BatchManifest, owner: str, lease_until: float) -> BatchManifest:
        """Take an expired batch from the drainer that held it; :class:`ClaimContended` when another took it first."""
        try:
            self._update(
                "take-over-batch",
                seen,
                "SET lease_owner = :owner, lease_expires_at = :until ADD attempts :one",
                {":owner": encode(owner), ":until": encode(float(lease_until)), ":one": encode(1)},
            )
        except ConditionFailed:
            raise ClaimContended(f"batch {seen.batch_id}: taken over by another drainer first") from None
        return replace(seen, lease_owner=owner, lease_expires_at=lease_until, attempts=seen.attempts + 1)

    def record_run(self, held: BatchManifest, run: RunRef) -> bool:
        """GitHub accepted the batch (or reconciliation found its run); False if the lease was lost."""
        values: dict[str, Any] = {":yes": encode(True), ":no": encode(False)}
        update = "SET dispatched = :yes, post_unconfirmed = :no"
        if run.run_id is not None:
            update += ", run_id = :run_id"
            values[":run_id"] = encode(run.run_id)
        if run.html_url:
            update += ", run_url = :run_url"
            values[":run_url"] = encode(run.html_url)
        return self._held(held, update, values)

    def record_rejected(self, held: BatchManifest, reason: str) -> bool:
        """GitHub rejected the batch for good: it is never sent again, its members fail."""
        return self._held(
            held,
            "SET rejected = :reason, post_unconfirmed = :no",
            {":reason": encode(reason[:500]), ":no": encode(False)},
        )

    def record_attempt(self, held: BatchManifest, error: str, *, post_unconfirmed: bool) -> bool:
        """A POST that did not end in a run: why, and whether a POST of the batch may now be unaccounted for."""
        update = "SET post_unconfirmed = :unconfirmed, last_error = :error"
        values = {":unconfirmed": encode(post_unconfirmed), ":error": encode(error[:500])}
        return self._held(held, update, values)

    def _held(self, held: BatchManifest, update: str, values: dict[str, Any]) -> bool:
        try:
            self._update("update-batch", held, update, values)
        except ConditionFailed:
            return False
        return True

    def _update(self, doing: str, seen: BatchManifest, update: str, values: dict[str, Any]) -> None:
        """One update conditional on the lease as ``seen`` holds it."""
        call(
            doing,
            self._client.update_item,
            TableName=self._table,
            Key=_key(seen.batch_id),
            UpdateExpression=update,
            ConditionExpression="lease_owner = :seen_owner AND lease_expires_at = :seen_lease",
            ExpressionAttributeValues={
                **values,
                ":seen_owner": encode(seen.lease_owner),
                ":seen_lease": encode(float(seen.lease_expires_at)),
            },
        )


def _key(batch_id: str) -> dict[str, Any]:
    return {PARTITION_KEY: encode(BATCH_KEY_PREFIX + batch_id)}


def _manifest(item: Mapping[str, Any]) -> BatchManifest:
    def number(name: str) -> float | None:
        return float(item[name]["N"]) if name in item else None

    run_id = number("run_id")
    return BatchManifest(
        batch_id=item["batch_id"]["S"],
        members=tuple(member["S"] for member in item.get("members", {}).get("L", [])),
        inputs={key: value["S"] for key, value in item.get("inputs", {}).get("M", {}).items()},
        lease_owner=item.get("lease_owner", {}).get("S", ""),
        lease_expires_at=number("lease_expires_at") or 0.0,
        post_unconfirmed=item.get("post_unconfirmed", {}).get("BOOL", True),
        composed_at=number("composed_at") or 0.0,
        attempts=int(number("attempts") or 1),
        run_id=int(run_id) if run_id is not None else None,
        run_url=item.get("run_url", {}).get("S"),
        dispatched=item.get("dispatched", {}).get("BOOL", False),
        rejected=item.get("rejected", {}).get("S"),
        last_error=item.get("last_error", {}).get("S"),
    )
