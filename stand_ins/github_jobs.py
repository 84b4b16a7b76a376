"""The jobs GitHub makes of a workflow run, how they move, and what they make of their run: pure functions, no HTTP.

A batch run (its dispatch inputs hold ``instances``, a JSON array of objects) gets one matrix job per instance,
named by the instance's ``instance_id``: the batch workflow sets ``name: ${{ matrix.instance.instance_id }}`` on
its matrix job. Any other run gets one job, ``deploy``, for its ``instance_id`` input.

GitHub's rules ("Actions limits" and "Running variations of jobs in a workflow", GitHub docs): a matrix generates
at most 256 jobs per workflow run. A run whose matrix cannot be expanded (more than 256 combinations, ``fromJSON``
of text that is no JSON, an empty vector) fails before any job exists: completed, conclusion failure, no jobs.
A run's conclusion is failure when one of its jobs failed, whatever its siblings did.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from stand_ins.github_model import WorkflowJob

#: A matrix generates at most 256 jobs per workflow run (GitHub docs, "Actions limits").
MAX_MATRIX_JOBS = 256
#: The input that makes a run a batch, and the one job of any other run (the default workflow file's job ID).
BATCH_INPUT = "instances"
SINGLE_JOB_NAME = "deploy"
FINISHED = "completed"
#: The statuses of a job that has not started, as GitHub's OpenAPI description lists them.
WAITING_STATUSES = frozenset({"queued", "waiting", "requested", "pending"})
JOB_STATUSES = WAITING_STATUSES | {"in_progress", FINISHED}
#: Conclusions that fail a run; a cancelled job cancels it unless another failed; anything else (skipped...) passes.
FAILING_CONCLUSIONS = frozenset({"failure", "timed_out", "startup_failure"})
#: ``filter`` of ``GET .../runs/{run_id}/jobs``: the latest attempt's jobs (the default), or every attempt's.
JOB_FILTERS = ("latest", "all")


class StartupFailure(ValueError):
    """GitHub fails the run before it makes any job; the message says why (the API shows no reason)."""


@dataclass(frozen=True)
class PlannedJob:
    name: str
    instance_id: str


def plan_jobs(inputs: Mapping[str, str]) -> list[PlannedJob]:
    """The jobs a run of these dispatch inputs gets, in matrix order; :class:`StartupFailure` when it gets none."""
    if BATCH_INPUT not in inputs:
        return [PlannedJob(SINGLE_JOB_NAME, inputs.get("instance_id", ""))]
    return [PlannedJob(instance_id, instance_id) for instance_id in _batch_instance_ids(inputs[BATCH_INPUT])]


def _batch_instance_ids(text: str) -> list[str]:
    try:
        instances = json.loads(text)
    except ValueError:
        raise StartupFailure("fromJSON: the 'instances' input is not JSON") from None
    if not isinstance(instances, list) or not instances:
        raise StartupFailure("the matrix vector 'instance' is not a non-empty array")
    if len(instances) > MAX_MATRIX_JOBS:
        raise StartupFailure(f"the matrix has {len(instances)} combinations; GitHub runs at most {MAX_MATRIX_JOBS}")
    ids = [instance.get("instance_id") if isinstance(instance, dict) else None for instance in instances]
    named = [instance_id for instance_id in ids if isinstance(instance_id, str) and instance_id]
    if len(named) != len(ids):
        # The double's simplification: GitHub would run a job under a name of its own making, which no batch
        # tracker could match to an instance. The dispatcher never sends such a batch; a test that does sees it fail.
        raise StartupFailure("an instance without a string 'instance_id' to name its job by")
    return named


def moved(job: WorkflowJob, status: str, conclusion: str | None, at: datetime) -> WorkflowJob:
    """The job moved to ``status`` as the runner would move it; a finished job stays as it ended (GitHub never
    reopens one; a re-run makes new jobs), and a status no job has (``action_required``, null) leaves it."""
    if job.status == FINISHED or status not in JOB_STATUSES:
        return job
    if status in WAITING_STATUSES:
        return replace(job, status=status)
    started = job if job.runner_id is not None else replace(job, started_at=at, runner_id=job.id % 1000 + 1)
    if status == "in_progress":
        return replace(started, status=status)
    return replace(started, status=FINISHED, conclusion=conclusion, completed_at=at)


def run_state(jobs: Sequence[WorkflowJob]) -> tuple[str, str | None] | None:
    """The run's ``(status, conclusion)`` as its jobs make it; None while no job has started (the run stays put)."""
    if all(job.status in WAITING_STATUSES for job in jobs):
        return None
    if any(job.status != FINISHED for job in jobs):
        return "in_progress", None
    return FINISHED, run_conclusion([job.conclusion for job in jobs])


def run_conclusion(conclusions: Sequence[str | None]) -> str:
    """Failure if any job failed, else cancelled if any was, else success (a skipped job does not fail its run)."""
    if any(conclusion in FAILING_CONCLUSIONS for conclusion in conclusions):
        return "failure"
    if "cancelled" in conclusions:
        return "cancelled"
    return "success"


def jobs_filter(query: Mapping[str, Sequence[str]]) -> str:
    """The listing's ``filter`` (``latest`` when absent); ``ValueError`` for any other value, so a client that
    builds the query wrongly fails loudly instead of reading a listing it did not ask for."""
    values = query.get("filter")
    chosen = values[0] if values else "latest"
    if chosen not in JOB_FILTERS:
        raise ValueError(f"Invalid value for 'filter': {chosen!r} (one of {', '.join(JOB_FILTERS)})")
    return chosen
