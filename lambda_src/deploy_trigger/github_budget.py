"""The GitHub budget every container and the drainer share: one credential, one pace (the README's "Rate limits").

GitHub limits content-creating requests per credential (about 80 a minute and 500 an hour), and asks for mutating
requests one at a time, about a second apart; "continuing to make requests while you are rate limited may result in
the banning of your integration" (GitHub docs, "Rate limits for the REST API", "Best practices for using the REST
API"). So a rate limit is never answered by a retry of one's own: the launch is parked in the ledger's queue, the
pause GitHub asked for is written where everyone reads it (the budget item), and the drainer sends the queue at the
pace: each of its dispatches first takes a slot with a conditional write on the budget item (no pause on, and an
interval since the last slot), so even two drainers side by side never send faster, and a drainer that dies holds
nothing but the one launch it had taken.

A container's dispatcher reads the budget item only after it has seen a limit itself (:class:`BudgetGate`): while
GitHub accepts everything, a new launch still costs two ledger writes and one POST, and nothing else. The price is
that a container that has never been refused learns of another's pause from its own next POST's refusal (GitHub
did not act on it): at most one refused request per container per limited period.

In batch mode a dispatcher takes a slot too, but only when the budget is idle (:meth:`BudgetGate.take_slot`): a quiet
period's launch is sent at once by its own invocation, and a burst is left to the drainer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class BudgetState:
    """The shared budget item (``ledger.budget_item``) as read."""

    #: No dispatch before this (epoch seconds): the latest retry-after or x-ratelimit-reset anyone was given.
    paused_until: float = 0.0
    pause_reason: str = ""
    #: When a drainer last took a dispatch slot: the next slot is an interval later, whichever drainer takes it.
    last_dispatch_at: float = 0.0
    #: A drainer is sending the queue until then (each slot moves it on): new launches join the queue meanwhile.
    draining_until: float = 0.0
    #: The slots taken in the hour that began at ``hour_started``: what the queue's expected drain time counts
    #: against GitHub's hourly limit (``drain.HOURLY_CONTENT_LIMIT``).
    hour_started: float = 0.0
    hour_dispatches: int = 0

    def paused(self, now: float) -> bool:
        return self.paused_until > now

    def draining(self, now: float) -> bool:
        return self.draining_until > now


class SharedBudget(Protocol):
    def read(self) -> BudgetState: ...
    def pause(self, until: float, reason: str) -> None: ...
    def take_slot(
        self, now: float, interval: float, *, draining_until: float, new_hour: bool, idle_only: bool = ...
    ) -> BudgetState | None: ...
    def end_draining(self, draining_until: float, now: float) -> None: ...


#: After a dispatcher found the budget busy (a burst: someone is sending the queue), it queues its launches without
#: asking again for this long: the hot budget item is written at most once per container per interval, not once per
#: launch, and the drainer (woken, and looking again for as long) sends them.
BUSY_RECHECK_SECONDS = 10.0


class BudgetGate:
    """One container's view of the shared budget, asked before each POST of the dispatcher's fast path.

    Clear until this container is refused for a rate limit (then :meth:`limited`); from then on it reads the budget
    item before each POST, and is clear again once no pause is on and no drainer holds the queue (a backlog is
    sent in order, by the drainer, never overtaken by new launches).
    """

    def __init__(self, budget: SharedBudget, clock: Callable[[], float] = time.time, *, interval: float = 1.0) -> None:
        self._budget = budget
        self._clock = clock
        self._interval = interval
        self._limited = False
        self._busy_at = float("-inf")

    def held_until(self) -> float | None:
        """None when this launch may be sent now; else the time from which the queue may try it."""
        if not self._limited:
            return None
        now = self._clock()
        state = self._budget.read()
        if state.paused(now) or state.draining(now):
            return max(now, state.paused_until)
        self._limited = False
        return None

    def take_slot(self, sending_until: float) -> bool:
        """Batch mode: one dispatch slot for a dispatcher to send what is queued now itself, in a quiet period only: no
        pause on, no one sent within the interval, and no one is sending the queue (a drainer's batch, or another
        dispatcher's, until ``draining_until``). False in a burst: the drainer batches it, never raced for the queue."""
        now = self._clock()
        if now - self._busy_at < BUSY_RECHECK_SECONDS:
            return False
        granted = self._budget.take_slot(
            now, self._interval, draining_until=sending_until, new_hour=False, idle_only=True
        )
        if granted is None:
            self._busy_at = now
        return granted is not None

    def limited(self, until: float, reason: str) -> None:
        """GitHub refused a request until ``until``: tell everyone, and ask before every POST from now on."""
        self._limited = True
        self._budget.pause(until, reason)
