"""Domain exceptions: what the adapters turn AWS and GitHub answers into, and what the handler maps.

Two families, because they end differently:
- :class:`RetryLater`: nothing is lost by trying again; the invocation fails so that Lambda's async
  retry (1 and 2 minutes later) runs it again, and the ledger makes the retry safe.
- :class:`PermanentFailure`: trying again cannot help; the invocation fails on every delivery so the
  event ends in the on-failure queue (the DLQ) with this message, and an alarm fires.
"""

from __future__ import annotations


class DeployTriggerError(Exception):
    """Base class; messages never contain a credential."""


class RetryLater(DeployTriggerError):
    pass


class PermanentFailure(DeployTriggerError):
    pass


class ClaimContended(RetryLater):
    """Another invocation holds a live lease on this instance; it is the one that may call GitHub."""


class RateLimited(RetryLater):
    """GitHub refused the request for rate limiting (it did not act); retry after ``retry_after`` seconds."""

    def __init__(self, retry_after: float, message: str) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OutcomeUnknown(RetryLater):
    """The dispatch may or may not have reached GitHub (5xx, timeout, lost connection).

    Never answered by re-sending: the next attempt lists the workflow's runs first (reconciliation).
    """


class OutOfTime(RetryLater):
    """Too little of the invocation is left to start a call; nothing was sent, so a retry is safe."""


class LedgerUnavailable(RetryLater):
    """DynamoDB could not be reached or refused the call; what was not written is retried from the ledger."""

    def __init__(self, message: str, *, code: str = "") -> None:
        super().__init__(message)
        #: DynamoDB's error code, when it answered (``ResourceNotFoundException``: no such table).
        self.code = code


class GitHubUnavailable(RetryLater):
    """A GitHub call failed in a way that proves no dispatch happened through it: the connection was never
    made, or a read-only call (listing runs, minting a token) failed."""


class DispatchRejected(PermanentFailure):
    """GitHub refused the dispatch for good (a 4xx other than rate limiting): it did not act."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"GitHub rejected the dispatch with HTTP {status}: {reason}")
        self.status = status


class PreviouslyRejected(PermanentFailure):
    """The ledger says GitHub rejected this launch's dispatch before; an operator must reset it."""


class MalformedEvent(DeployTriggerError, ValueError):
    """The event claims to be a launch but cannot be dispatched safely; it belongs in the DLQ."""


class LifecycleUnavailable(RetryLater):
    """Auto Scaling could not be reached or refused a lifecycle call; the tracker's next pass retries it."""


class DispatcherUnreachable(RetryLater):
    """The sweep could not hand a swept launch to the dispatcher function; its next pass sends it again."""


class CredentialsInvalid(PermanentFailure):
    """The credentials secret does not hold a usable token or GitHub App key (its value is never shown)."""
