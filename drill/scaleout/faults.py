"""The GitHub faults a launch can meet, and the GitHub double's fault policy that applies them.

Each launch meets at most one fault, on its first dispatch POST: a retry then shows how the dispatcher recovers
from that fault alone, and the count of each fault in the report is exact. Two faults also kill the worker
process running the invocation while its POST hangs in the double (the founding incident's timeout, before or
after GitHub created the run): the policy asks the :class:`KillSwitch`, which the Lambda stand-in obeys.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from enum import StrEnum

from drill.scaleout.config import KILL_AFTER_HANG_SECONDS, DrillConfig
from stand_ins.github_double import (
    Delay,
    DropAfterAccept,
    ErrorAfterAccept,
    Fault,
    HangAfterAccept,
    HangBeforeAccept,
    RateLimited,
    RecordedRequest,
    Reject,
)

#: The pauses an injected 429 asks for, in GitHub seconds (the header says them in wall seconds, compressed): either
#: way the launch is queued, never retried by its invocation, and the drainer sends it once the pause is over.
SHORT_RETRY_AFTER = 1
LONG_RETRY_AFTER = 120
#: 5xx statuses GitHub answers after creating a run (cycled, so each appears).
SERVER_ERRORS = (502, 500, 503, 504)


class FaultKind(StrEnum):
    KILLED_BEFORE_ACCEPT = "killed_before_accept"
    KILLED_AFTER_ACCEPT = "killed_after_accept"
    ERROR_AFTER_ACCEPT = "5xx_after_accept"
    DROPPED_AFTER_ACCEPT = "dropped_after_accept"
    CLIENT_TIMEOUT = "client_timeout"
    RATE_LIMITED_SHORT = "429_short_pause"
    RATE_LIMITED_LONG = "429_long_pause"
    SLOW = "slow_github"
    REJECTED = "rejected_422"

    @property
    def description(self) -> str:
        return _DESCRIPTIONS[self]

    @property
    def kills(self) -> bool:
        return self in (FaultKind.KILLED_BEFORE_ACCEPT, FaultKind.KILLED_AFTER_ACCEPT)


_DESCRIPTIONS = {
    FaultKind.KILLED_BEFORE_ACCEPT: "invocation killed while its POST hung, before GitHub created the run",
    FaultKind.KILLED_AFTER_ACCEPT: "invocation killed while its POST hung, after GitHub created the run",
    FaultKind.ERROR_AFTER_ACCEPT: "GitHub created the run, then answered 5xx",
    FaultKind.DROPPED_AFTER_ACCEPT: "GitHub created the run, then dropped the connection",
    FaultKind.CLIENT_TIMEOUT: "GitHub answered after the client's budget (run created after it gave up)",
    FaultKind.RATE_LIMITED_SHORT: f"429, retry-after {SHORT_RETRY_AFTER} GitHub s (queued, then sent by the drainer)",
    FaultKind.RATE_LIMITED_LONG: f"429, retry-after {LONG_RETRY_AFTER} GitHub s (queued, then sent by the drainer)",
    FaultKind.SLOW: "slow GitHub, answering within the client's budget",
    FaultKind.REJECTED: "422 Unexpected inputs (a permanent rejection: no run, ledger FAILED, DLQ)",
}


def double_fault(kind: FaultKind, config: DrillConfig, sequence: int) -> Fault:
    """The GitHub double's fault for ``kind``; ``sequence`` varies the details (which 5xx)."""
    faults: dict[FaultKind, Fault] = {
        FaultKind.KILLED_BEFORE_ACCEPT: HangBeforeAccept(seconds=config.hang_seconds),
        FaultKind.KILLED_AFTER_ACCEPT: HangAfterAccept(seconds=config.hang_seconds),
        FaultKind.ERROR_AFTER_ACCEPT: ErrorAfterAccept(status=SERVER_ERRORS[sequence % len(SERVER_ERRORS)]),
        FaultKind.DROPPED_AFTER_ACCEPT: DropAfterAccept(),
        FaultKind.CLIENT_TIMEOUT: Delay(seconds=config.client_timeout_seconds),
        FaultKind.RATE_LIMITED_SHORT: RateLimited(retry_after=_wall_header(SHORT_RETRY_AFTER, config), status=429),
        FaultKind.RATE_LIMITED_LONG: RateLimited(retry_after=_wall_header(LONG_RETRY_AFTER, config), status=429),
        FaultKind.SLOW: Delay(seconds=config.slow_seconds),
        FaultKind.REJECTED: Reject(422, 'Unexpected inputs provided: ["aws_region"]'),
    }
    return faults[kind]


def _wall_header(github_seconds: float, config: DrillConfig) -> int:
    """A retry-after header for a pause in GitHub time: whole wall seconds, rounded up, at least 1 (as the double's
    own rate limits say it)."""
    return max(1, math.ceil(config.wall_seconds(github_seconds)))


class KillSwitch:
    """Instances whose running invocation must be killed, and from when (filled by request threads)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: list[tuple[float, str]] = []

    def request(self, instance_id: str, after: float) -> None:
        with self._lock:
            self._pending.append((self._clock() + after, instance_id))

    def due(self) -> list[str]:
        """The instances whose kill is due now (each returned once)."""
        now = self._clock()
        with self._lock:
            due = [instance for at, instance in self._pending if at <= now]
            self._pending = [(at, instance) for at, instance in self._pending if at > now]
        return due

    def pending(self) -> bool:
        with self._lock:
            return bool(self._pending)


class FaultInjector:
    """The double's ``fault_policy``: the planned fault for the first dispatch POST of each instance."""

    def __init__(self, planned: Mapping[str, FaultKind], config: DrillConfig, kill_switch: KillSwitch) -> None:
        self._planned = dict(planned)
        self._config = config
        self._kill_switch = kill_switch
        self._lock = threading.Lock()
        self._applied: Counter[FaultKind] = Counter()

    def __call__(self, request: RecordedRequest) -> Fault | None:
        inputs = (request.body or {}).get("inputs") or {}
        instance = inputs.get("instance_id") if isinstance(inputs, dict) else None
        if not isinstance(instance, str):
            return None
        with self._lock:
            kind = self._planned.pop(instance, None)
            if kind is None:
                return None
            self._applied[kind] += 1
            sequence = self._applied[kind]
        if kind.kills:
            self._kill_switch.request(instance, after=KILL_AFTER_HANG_SECONDS)
        return double_fault(kind, self._config, sequence)

    @property
    def applied(self) -> Counter[FaultKind]:
        with self._lock:
            return Counter(self._applied)
