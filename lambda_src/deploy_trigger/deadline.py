"""The invocation's time budget: every outbound call is bounded by what is left of it.

The founding incident was a Lambda killed by its own timeout in the middle of a call to GitHub. Here the
platform never gets the chance: before each call the caller asks the deadline for a budget, which keeps
a reserve for the ledger write that must follow, and refuses to start a call that could not finish.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from deploy_trigger.errors import OutOfTime

#: Seconds kept back after an outbound call: enough to record its result in the ledger and flush logs.
RESERVE_SECONDS = 3.0
#: A call with less than this to spend is not started at all (it would only time out).
MIN_CALL_SECONDS = 1.0


class LambdaContextLike(Protocol):
    def get_remaining_time_in_millis(self) -> int: ...


class Deadline:
    def __init__(
        self,
        remaining_seconds: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._ends_at = monotonic() + remaining_seconds

    @classmethod
    def from_context(cls, context: LambdaContextLike) -> Deadline:
        return cls(context.get_remaining_time_in_millis() / 1000)

    def remaining(self) -> float:
        return max(0.0, self._ends_at - self._monotonic())

    def within(self, seconds: float) -> Deadline:
        """A deadline at most ``seconds`` away and never past this one, on the same clocks."""
        return Deadline(min(self.remaining(), seconds), monotonic=self._monotonic, wall_clock=self._wall_clock)

    def wall_clock_end(self) -> float:
        """The deadline as epoch seconds, for the ledger lease that other invocations read."""
        return self._wall_clock() + self.remaining()

    def budget(self, reserve: float = RESERVE_SECONDS) -> float:
        """Seconds the next call may take, or :class:`OutOfTime` when it should not be started."""
        available = self.remaining() - reserve
        if available < MIN_CALL_SECONDS:
            raise OutOfTime(f"{self.remaining():.1f}s left in the invocation, not enough to start a call")
        return available

    def can_wait(self, seconds: float, reserve: float = RESERVE_SECONDS) -> bool:
        """Whether waiting ``seconds`` still leaves time for one more call afterwards."""
        return seconds + MIN_CALL_SECONDS <= self.remaining() - reserve
