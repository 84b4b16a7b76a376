"""Times as operators type them (``--since 2h``) and as the CLI shows them.

The ledger's own format is ``deploy_trigger.ledger.schema.iso_time``: its ``updated_at`` strings sort like the
instants they name, so ``--since`` becomes a plain string comparison in the scan's FilterExpression.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$", re.IGNORECASE)
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime) -> datetime:
    """``"2h"``, ``"30m"``, ``"7d"``... before ``now``, or an ISO 8601 time (``2026-11-23T00:00:00Z``, a date)."""
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = float(relative.group(1)), relative.group(2).lower()
        return now - timedelta(**{_UNITS[unit]: amount})
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {text!r} is neither a duration (30m, 2h, 7d, 1w) nor an ISO 8601 time (2026-11-23T00:00:00Z)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def from_epoch(seconds: float | None) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def ago(moment: datetime | None, now: datetime) -> str:
    """``"3 min ago"``, ``"in 20 s"``: how far ``moment`` is from ``now``, roughly."""
    if moment is None:
        return ""
    seconds = (now - moment).total_seconds()
    span = abs(seconds)
    if span < 90:
        amount = f"{span:.0f} s"
    elif span < 90 * 60:
        amount = f"{span / 60:.0f} min"
    elif span < 48 * 3600:
        amount = f"{span / 3600:.0f} h"
    else:
        amount = f"{span / 86400:.0f} days"
    return f"{amount} ago" if seconds >= 0 else f"in {amount}"


def shown(moment: datetime | None, now: datetime) -> str:
    """``2026-11-23 04:15:02Z (3 min ago)``."""
    if moment is None:
        return "-"
    return f"{moment.astimezone(UTC).strftime('%Y-%m-%d %H:%M:%SZ')} ({ago(moment, now)})"
