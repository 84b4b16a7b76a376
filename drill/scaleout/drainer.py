"""The drainer function in the drill: when an invocation starts, and what each one did.

In production the drainer runs every minute on a schedule (reserved concurrency 1), and a dispatcher that queued a
launch wakes it (``DRAINER_FUNCTION_NAME``). The drill has no Lambda API to wake it through, so that variable stays
unset and this schedule stands in for both: a run starts whenever the drainer's container is idle and either a
dispatcher answered "queued" since the last run started (the wake-up it would have sent) or the schedule's minute
has come, compressed like GitHub's clock. Overlapping runs would be safe anyway: each dispatch takes a slot on the
budget item, whichever run sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from drill.scaleout.config import DrillConfig

#: The schedule's period in production (GitHub seconds in the drill, so compressed like GitHub's clock).
SCHEDULE_SECONDS = 60.0
#: A dispatcher wakes the drainer at most every 10 s per container; the drill starts a woken run at most this often
#: (wall seconds), so that a burst of parks does not start a run per park.
WAKE_GAP_SECONDS = 0.5
#: What the schedule rule sends the drainer (it reads the queue, not the event).
SCHEDULED_EVENT: dict[str, Any] = {
    "version": "0",
    "source": "aws.events",
    "detail-type": "Scheduled Event",
    "detail": {},
}


@dataclass(frozen=True)
class DrainerRun:
    """One drainer invocation: when it started (seconds since the scale-out began), how it ended, what it said."""

    started: float
    seconds: float
    #: ``lambda_async.EndedBy``: returned, raised, killed, timed_out, crashed.
    ended_by: str
    #: The drainer's report (``DrainReport.as_dict``) when it returned.
    report: dict[str, Any] | None
    error_type: str | None
    error_message: str
    #: Why it was started: "schedule" or "wake-up".
    trigger: str


class DrainerSchedule:
    """Decides when the drainer's one container starts a run; the Lambda stand-in asks it on every tick."""

    def __init__(self, config: DrillConfig) -> None:
        self.enabled = config.drainer
        self.budget = config.drainer_budget
        self.period = config.wall_seconds(SCHEDULE_SECONDS)
        self._next_scheduled = float("-inf")
        self._last_started = float("-inf")
        self._woken = False
        self.runs: list[DrainerRun] = []

    def wake(self) -> None:
        """A dispatcher queued a launch (it would have invoked the drainer asynchronously)."""
        self._woken = True

    def due(self, now: float) -> str | None:
        """The trigger of a run that should start now, or None."""
        if not self.enabled:
            return None
        if self._woken and now - self._last_started >= WAKE_GAP_SECONDS:
            return "wake-up"
        return "schedule" if now >= self._next_scheduled else None

    def started(self, now: float) -> None:
        self._woken = False
        self._last_started = now
        # A tick that comes while a run is going finds the function at its reserved concurrency: Lambda retries
        # it, so it starts as soon as the run ends. Here: the next run may start from one period on.
        self._next_scheduled = now + self.period

    def record(self, run: DrainerRun) -> None:
        self.runs.append(run)
