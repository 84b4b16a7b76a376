"""What GitHub tells about workflow runs, as plain values the domain code can use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Dispatch IDs are uuid4 hex; the run-name contract puts one into each run's display_title.
DISPATCH_ID = re.compile(r"\b[0-9a-f]{32}\b")

#: The one run status that means "finished". GitHub's OpenAPI description lets ``status`` be null and lists
#: more unfinished statuses than any client can enumerate (``action_required``...): anything else is going.
FINISHED = "completed"


@dataclass(frozen=True)
class RunRef:
    """A workflow run, as far as GitHub told us (a 204 answer to a dispatch tells nothing)."""

    run_id: int | None = None
    html_url: str | None = None


@dataclass(frozen=True)
class WorkflowRun:
    run_id: int
    display_title: str
    #: ``""`` when GitHub showed ``null`` (its schema allows it): not finished.
    status: str
    conclusion: str | None
    html_url: str | None
    created_at: float | None
    updated_at: float | None
    #: The commit the run deploys (the API's ``head_sha``).
    head_sha: str | None = None

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
            head_sha=run.get("head_sha"),
        )

    @property
    def finished(self) -> bool:
        return self.status == FINISHED

    @property
    def succeeded(self) -> bool:
        return self.finished and self.conclusion == "success"

    def dispatch_ids(self) -> list[str]:
        return DISPATCH_ID.findall(self.display_title)

    def ref(self) -> RunRef:
        return RunRef(run_id=self.run_id, html_url=self.html_url)


@dataclass(frozen=True)
class RunListing:
    """Runs GitHub listed, and whether that was all of them.

    A filtered listing stops at 1,000 runs (10 pages of 100, then no ``next`` link) while ``total_count`` says
    how many matched (GitHub docs, "List workflow runs for a workflow"); a reader that stopped early is not
    complete either. Only a complete listing can prove that a run does not exist.
    """

    runs: list[WorkflowRun]
    complete: bool


def _epoch(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
