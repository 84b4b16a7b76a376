"""Polling helpers for tests that race real processes and real time."""

import time
from collections.abc import Callable

from tests.integration.conftest import Stack


def wait_until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def wait_for_lease_expiry(stack: Stack, instance_id: str) -> float:
    """Sleep until the instance's lease has expired, as Lambda's retry would; returns the lease's end."""
    lease = stack.item(instance_id).lease_expires_at or 0.0
    time.sleep(max(0.0, lease - time.time()) + 0.05)
    return lease
