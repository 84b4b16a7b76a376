"""What GitHub tells about workflow runs, as plain values the domain code can use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Dispatch IDs are uuid4 hex; the run-name contract puts one into each run's display_title.
DISPATCH_ID = re.compile(r"\b[0-9a-f]{32}\b")

#: GitHub's run statuses that mean "not finished yet".
UNFINISHED = frozenset({"queued", "in_progress", "waiting", "requested", "pending"})


@dataclass(frozen=True)
class RunRef:
    """A workflow run, as far as GitHub told us (a 204 answer to a dispatch tells nothing)."""

    run_id: int | None = None
    html_url: str | None = None


@dataclass(frozen=True)
class WorkflowRun:
    run_id: int
    display_title: str
    status: str
    conclusion: str | None
    html_url: str | None
    created_at: float | None
    updated_at: float | None

    @classmethod
    def from_api(cls, run: dict[str, Any]) -> WorkflowRun:
        return cls(
            run_id=int(run["id"]),
            display_title=str(run.get("display_title") or ""),
            status=str(run.get("status") or ""),
            conclusion=run.get("conclusion"),
            html_url=run.get("html_url"),
            created_at=_epoch(run.get("created_at")),
            updated_at=_epoch(run.get("updated_at")),
        )

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED

    @property
    def succeeded(self) -> bool:
        return self.status == "completed" and self.conclusion == "success"

    def dispatch_ids(self) -> list[str]:
        return DISPATCH_ID.findall(self.display_title)

    def ref(self) -> RunRef:
        return RunRef(run_id=self.run_id, html_url=self.html_url)


def _epoch(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
