"""What GitHub tells about workflow runs, as plain values the domain code can use."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: Dispatch IDs are uuid4 hex; the run-name contract puts one into each run's display_title.
DISPATCH_ID = re.compile(r"\b[0-9a-f]{32}\b")

#: An EC2 instance ID inside a longer text (a job's name); ``events.INSTANCE_ID`` matches a whole ID.
INSTANCE_ID_IN_TEXT = re.compile(r"\bi-[0-9a-f]{8,17}\b")

#: The one run status that means "finished". GitHub's OpenAPI description lets ``status`` be null and lists
#: more unfinished statuses than any client can enumerate (``action_required``...): anything else is going.
FINISHED = "completed"


@dataclass(frozen=True)
class RunRef:
    """A workflow run, as far as GitHub told us (a 204 answer to a dispatch tells nothing)."""

    run_id: int | None = None
    html_url: str | None = None


class _Finishes:
    """A run or a job: finished only when its status says ``completed``, and then succeeded or not."""

    status: str
    conclusion: str | None

    @property
    def finished(self) -> bool:
        return self.status == FINISHED

    @property
    def succeeded(self) -> bool:
        return self.finished and self.conclusion == "success"


@dataclass(frozen=True)
class WorkflowRun(_Finishes):
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


@dataclass(frozen=True)
class WorkflowJob(_Finishes):
    """One job of a run (``GET .../actions/runs/{run_id}/jobs``): in batch mode, one instance's deployment."""

    job_id: int
    name: str
    #: ``""`` when GitHub showed ``null``: not finished.
    status: str
    conclusion: str | None
    html_url: str | None = None
    started_at: float | None = None
    completed_at: float | None = None

    @classmethod
    def from_api(cls, job: dict[str, Any]) -> WorkflowJob:
        return cls(
            job_id=int(job["id"]),
            name=str(job.get("name") or ""),
            status=str(job.get("status") or ""),
            conclusion=job.get("conclusion"),
            html_url=job.get("html_url"),
            started_at=_epoch(job.get("started_at")),
            completed_at=_epoch(job.get("completed_at")),
        )

    def instance_ids(self) -> list[str]:
        """The instance IDs in the job's name: the batch workflow names each matrix job by its instance."""
        return INSTANCE_ID_IN_TEXT.findall(self.name)


@dataclass(frozen=True)
class JobListing:
    """A run's jobs as GitHub listed them, and whether that was all of them (every page read)."""

    jobs: list[WorkflowJob]
    complete: bool

    def for_instance(self, instance_id: str) -> WorkflowJob | None:
        """The instance's job; of several (a re-run's attempts listed with ``filter=all``), the latest."""
        mine = [job for job in self.jobs if instance_id in job.instance_ids()]
        return max(mine, key=lambda job: job.job_id) if mine else None


def _epoch(value: object) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
