"""The one translation between a ledger item (DynamoDB's attribute values) and a :class:`LedgerEntry`.

Every reader decodes with :func:`decode_entry`: the dispatcher and tracker, the operator CLI, the drill's
report and the tests. A fresh claim is spelled once, in :func:`new_claim`, used both as the first claim's
PutItem and as the re-claim's SET list. Import-free (no botocore) like the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from deploy_trigger.events import InstanceLaunch
from deploy_trigger.ledger.model import HistoryEvent, LedgerEntry, Status
from deploy_trigger.ledger.schema import (
    PARTITION_KEY,
    RETENTION_SECONDS,
    TRACKING_KEY,
    TRACKING_SORT_KEY,
    TTL_ATTRIBUTE,
    WAITING_FOR_BUDGET,
    iso_time,
    parse_iso_time,
)

#: Longest history detail kept: a GitHub error body can be long, and an item has a size limit (400 KB).
MAX_DETAIL_LENGTH = 500

#: What belongs to one launch of an instance: a new launch's claim starts without it (the history stays).
PER_LAUNCH_ATTRIBUTES = (
    "launch_time",
    "lease_owner",
    "lease_expires_at",
    "run_id",
    "run_url",
    "dispatched_at",
    "last_error",
    "failure_reason",
    TRACKING_KEY,
    TRACKING_SORT_KEY,
    "run_status",
    "conclusion",
    "head_sha",
    "deploy_outcome",
    "lifecycle_intent",
    "lifecycle_result",
    "last_heartbeat_at",
    "finished_at",
    "lifecycle_hook_name",
    "lifecycle_action_token",
    "region",
    "batch_id",
    "batch_position",
)


class UnreadableItem(ValueError):
    """The item is not a ledger entry this code can read (no status it knows, or no key)."""


def encode(value: object) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value (str, bool, int, float, list and mapping of those)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": str(round(value, 3))}
    if isinstance(value, Mapping):
        return {"M": {str(key): encode(item) for key, item in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [encode(item) for item in value]}
    raise TypeError(f"cannot store a {type(value).__name__} in the ledger")


def encode_item(attributes: Mapping[str, object]) -> dict[str, Any]:
    return {name: encode(value) for name, value in attributes.items()}


def history_event(now: float, event: str, detail: str) -> dict[str, str]:
    return {"at": iso_time(now), "event": event, "detail": detail[:MAX_DETAIL_LENGTH]}


def expiry(now: float) -> int:
    """The TTL for an item whose story was last written at ``now``."""
    return int(now) + RETENTION_SECONDS


def new_claim(
    launch: InstanceLaunch, dispatch_id: str, owner: str, lease_until: float, now: float, *, queued: bool = False
) -> dict[str, object]:
    """The attributes of a fresh claim of ``launch`` (all but ``created_at`` and the history, which the
    first claim sets and a re-claim keeps). ``queued`` (batch mode): the claim parks the launch in the queue at
    once, for the drainer to send in a batch; no POST of its own can happen, so nothing is unconfirmed."""
    attributes: dict[str, object] = {
        "status": Status.CLAIMED.value,
        "launch_key": launch.launch_key,
        "dispatch_id": dispatch_id,
        "attempts": 1,
        "lease_owner": owner,
        "lease_expires_at": lease_until,
        "post_unconfirmed": True,
        "first_claimed_at": now,
        "asg_name": launch.asg_name,
        "event_id": launch.event_id,
        "detail_type": launch.detail_type,
        TTL_ATTRIBUTE: expiry(now),
    }
    if launch.time is not None:
        attributes["launch_time"] = launch.time
    if launch.region:
        attributes["region"] = launch.region  # the drainer sends a parked launch's inputs from the item alone
    if queued and not launch.into_warm_pool:
        attributes |= {
            "status": Status.WAITING.value,
            "post_unconfirmed": False,
            "attempts": 0,
            TRACKING_KEY: WAITING_FOR_BUDGET,
            TRACKING_SORT_KEY: now,
        }
        del attributes["lease_owner"], attributes["lease_expires_at"]
    if launch.into_warm_pool:
        # Nothing is dispatched for a warm-pool entry: no lease, no POST that could be unconfirmed.
        attributes |= {"status": Status.WARMED.value, "post_unconfirmed": False, "attempts": 0}
        del attributes["lease_owner"], attributes["lease_expires_at"]
    if launch.lifecycle_hook_name:
        attributes["lifecycle_hook_name"] = launch.lifecycle_hook_name
        # A swept launch has no token: the tracker then completes and heartbeats the hook's action by instance ID.
        if launch.lifecycle_action_token:
            attributes["lifecycle_action_token"] = launch.lifecycle_action_token
    return attributes


def decode_entry(item: Mapping[str, Any]) -> LedgerEntry:
    """The entry an item holds; raises :class:`UnreadableItem` for one that is not a ledger entry."""
    values = {name: _plain(value) for name, value in item.items()}
    instance_id = values.get(PARTITION_KEY)
    try:
        status = Status(str(values.get("status")))
    except ValueError:
        raise UnreadableItem(
            f"item {instance_id!r} has status {values.get('status')!r}, not one of this version's"
        ) from None
    if not isinstance(instance_id, str):
        raise UnreadableItem("item has no instance_id")

    def text(name: str) -> str | None:
        value = values.get(name)
        return str(value) if value is not None else None

    def number(name: str) -> float | None:
        value = values.get(name)
        return float(value) if isinstance(value, int | float) else None

    run_id = number("run_id")
    return LedgerEntry(
        instance_id=instance_id,
        status=status,
        launch_key=text("launch_key") or "",
        dispatch_id=text("dispatch_id") or "",
        attempts=int(number("attempts") or 0),
        lease_owner=text("lease_owner"),
        lease_expires_at=number("lease_expires_at"),
        post_unconfirmed=values.get("post_unconfirmed") is True,
        first_claimed_at=number("first_claimed_at") or 0.0,
        launch_time=number("launch_time"),
        asg_name=text("asg_name") or "",
        region=text("region"),
        event_id=text("event_id"),
        detail_type=text("detail_type"),
        lifecycle_hook_name=text("lifecycle_hook_name"),
        lifecycle_action_token=text("lifecycle_action_token"),
        run_id=int(run_id) if run_id is not None else None,
        run_url=text("run_url"),
        run_status=text("run_status"),
        conclusion=text("conclusion"),
        head_sha=text("head_sha"),
        deploy_outcome=text("deploy_outcome"),
        last_error=text("last_error"),
        failure_reason=text("failure_reason"),
        last_heartbeat_at=number("last_heartbeat_at"),
        next_check_at=number(TRACKING_SORT_KEY),
        tracking=text(TRACKING_KEY),
        lifecycle_intent=text("lifecycle_intent"),
        lifecycle_result=text("lifecycle_result"),
        batch_id=text("batch_id"),
        batch_position=int(position) if (position := number("batch_position")) is not None else None,
        created_at=parse_iso_time(text("created_at")),
        updated_at=parse_iso_time(text("updated_at")),
        dispatched_at=parse_iso_time(text("dispatched_at")),
        finished_at=parse_iso_time(text("finished_at")),
        expires_at=number(TTL_ATTRIBUTE),
        history=tuple(
            HistoryEvent(
                at=parse_iso_time(str(event.get("at", ""))),
                event=str(event.get("event", "")),
                detail=str(event.get("detail", "")),
            )
            for event in values.get("history") or []
            if isinstance(event, Mapping)
        ),
    )


def _plain(value: Mapping[str, Any]) -> Any:
    """An attribute value as plain Python: S -> str, N -> int or float, BOOL, L -> list, M -> dict."""
    if "S" in value:
        return str(value["S"])
    if "N" in value:
        number = str(value["N"])
        return float(number) if any(char in number for char in ".eE") else int(number)
    if "BOOL" in value:
        return bool(value["BOOL"])
    if "L" in value:
        return [_plain(item) for item in value["L"]]
    if "M" in value:
        return {key: _plain(item) for key, item in value["M"].items()}
    return None
