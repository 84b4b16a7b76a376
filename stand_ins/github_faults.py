"""Faults the GitHub double can apply to one workflow-dispatch POST.

Each one models a way the real API has failed a client that must dispatch exactly once: slow answers, answers
lost after GitHub already created the run, errors before it did, rate limits. "After accept" faults create the
run first, so a client that retries blindly will produce a duplicate the tests can count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True)
class Delay:
    """Wait, then behave normally (the run is created after the wait): a slow GitHub."""

    seconds: float


@dataclass(frozen=True)
class ErrorAfterAccept:
    """Create the run, then answer an error: the side effect happened although the client sees a failure."""

    status: int = 502


@dataclass(frozen=True)
class DropAfterAccept:
    """Create the run, then close the connection without any answer: the client sees a connection error."""


@dataclass(frozen=True)
class ResetAfterReceive:
    """Read the whole request, then reset the connection (TCP RST), after creating the run or without one.

    What a client sees when a connection dies between GitHub receiving a POST and answering it: a reset proves
    nothing about whether GitHub acted.
    """

    create_run: bool = True


@dataclass(frozen=True)
class GarbageAfterAccept:
    """Create the run, then answer bytes that are no HTTP answer, and close: a broken proxy, a cut-off status line.

    The default is a TLS alert record, what a client reads when a TLS-terminating proxy fails mid-connection.
    """

    answer: bytes = b"\x15\x03\x03\x00\x02\x02\x28"


@dataclass(frozen=True)
class CloseMidBody:
    """Create the run, send the status line, the headers and half the body, then close the connection."""


@dataclass(frozen=True)
class HangAfterAccept:
    """Create the run, then wait before answering normally: lets a drill kill the client mid-call."""

    seconds: float


@dataclass(frozen=True)
class HangBeforeAccept:
    """Wait, then answer 502 without creating a run: the client dies (or gives up) before anything happened."""

    seconds: float


@dataclass(frozen=True)
class RateLimited:
    """No run. Secondary limit by default (429 or 403 with ``retry-after``, omitted when None).

    With ``primary=True`` it is the primary limit instead: 403 with ``x-ratelimit-remaining: 0`` and
    ``x-ratelimit-reset`` set ``retry_after`` seconds ahead (60 when None), and no ``retry-after`` header,
    as GitHub does; ``status`` is then ignored.
    """

    retry_after: int | None = 1
    status: int = 429
    primary: bool = False


@dataclass(frozen=True)
class Reject:
    """No run; answer ``status`` with ``message`` (a validation error GitHub might raise)."""

    status: int = 422
    message: str = "Validation Failed"


@dataclass(frozen=True)
class Unauthorized:
    """No run; 401 Bad credentials, as when a token was revoked between two calls."""


Fault: TypeAlias = (
    Delay
    | ErrorAfterAccept
    | DropAfterAccept
    | ResetAfterReceive
    | GarbageAfterAccept
    | CloseMidBody
    | HangAfterAccept
    | HangBeforeAccept
    | RateLimited
    | Reject
    | Unauthorized
)
