"""Polling helpers and a clock for tests that race real processes and real time."""

import time
from collections.abc import Callable

from stand_ins.deployment import RUN_LISTING_DELAY_SECONDS
from tests.integration.conftest import Stack

#: How long after a lease a retry that must reconcile waits (the lease margin, then GitHub's listing delay):
#: what Lambda's retry, a minute later in production, always waits out.
RECONCILE_WAIT = 1.0 + RUN_LISTING_DELAY_SECONDS + 0.1


class Clock:
    """Real time plus an offset the test moves forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def wait_for_lease_expiry(stack: Stack, instance_id: str) -> float:
    """Sleep until the instance's lease has expired and GitHub could list a run made before it, as Lambda's retry
    would; returns the lease's end."""
    lease = stack.item(instance_id).lease_expires_at or 0.0
    time.sleep(max(0.0, lease - time.time()) + RUN_LISTING_DELAY_SECONDS + 0.05)
    return lease
