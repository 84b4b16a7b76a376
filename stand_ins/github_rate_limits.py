"""GitHub's REST API rate limits, as the GitHub double enforces them when a test asks for it.

``GitHubDouble(rate_limits=RateLimits())`` turns them on; without it the double limits nothing. The rules are
GitHub's, from its docs ("Rate limits for the REST API", docs.github.com/rest/using-the-rest-api/
rate-limits-for-the-rest-api, and "Best practices for using the REST API"):

- **Primary**: 5,000 requests an hour per personal access token or per GitHub App installation (every token
  minted for one installation shares that budget). Every answer to an authenticated request carries
  ``x-ratelimit-limit``, ``-remaining``, ``-used``, ``-reset`` (UTC epoch seconds) and ``-resource``. Once
  remaining is 0, GitHub answers 403 with ``x-ratelimit-remaining: 0`` and no ``retry-after`` until the reset.
- **Secondary**: at most 100 concurrent requests; in general at most 80 content-generating requests a minute and
  500 an hour. Refused with 403 or 429 and a message naming a secondary rate limit, with ``retry-after`` when GitHub
  sends one; without it a client must wait at least a minute.

Where GitHub's docs say nothing, the double decides, and says so here:

- **Time.** Every window and wait is in *GitHub time*: wall time since the limiter started, times
  ``time_scale``. Every header it sends is in wall-clock terms, so an unmodified client honours it:
  ``retry-after`` is whole wall seconds, rounded up, at least 1; ``x-ratelimit-reset`` is the wall-clock epoch
  second, rounded up, at which the primary window ends.
- **Who has a budget.** Authenticated requests only: a personal token (keyed by its string, shown as
  :func:`token_label`) or an installation token (keyed by its installation). Unauthenticated requests, requests with
  a credential the double does not accept (401), and the token mint ``POST /app/installations/{id}/access_tokens``
  (authenticated by the App's JWT, not by an installation token) are not limited and carry no ``x-ratelimit-*``
  headers; so minting never spends the installation's budget.
- **Primary window.** Fixed: one hour of GitHub time from the credential's first request; the first request after
  it opens the next window. A request refused by the primary limit does not spend budget.
- **Content-creating requests** are every limited POST, PATCH, PUT and DELETE, whatever the path: the limits are
  checked before the double routes the request, as GitHub's are. Both windows slide (60 and 3,600 GitHub seconds).
  A request the content limits let through takes its place in the windows at once (so hundreds of concurrent
  requests cannot overshoot), and keeps it whatever the double answers afterwards (422, an injected fault):
  GitHub limits requests, not successes. A request refused by a secondary limit takes no place in the windows
  (GitHub does not say; a refused request created nothing) but does spend primary budget (it is a request).
- **When both content windows are full**, the refusal is named after the one with the longer wait, the minute
  window on a tie, and ``retry-after`` is that longer wait.
- **Concurrency** counts requests in flight, across all credentials, from admission until the double has its
  answer. The 101st is refused at once as a secondary limit, spends primary budget, and is told ``retry-after`` of
  60 GitHub seconds (GitHub's "wait at least a minute" when it gives no time), converted to wall seconds.
- **Order.** Primary first (an exhausted budget refuses before anything else), then concurrency, then the content
  windows. The double applies all of them before it consumes an injected fault, so a refused request leaves the
  fault queue as it was.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = [
    "CONTENT_CREATING_METHODS",
    "PRIMARY_DOCS",
    "SECONDARY_DOCS",
    "Admission",
    "Credential",
    "RateLimiter",
    "RateLimits",
    "Refusal",
    "floor_seconds",
    "installation_label",
    "token_label",
]

PRIMARY_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"
SECONDARY_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"
#: GitHub's "content-generating" requests; the double counts every limited request with one of these methods.
CONTENT_CREATING_METHODS = frozenset({"POST", "PATCH", "PUT", "DELETE"})
#: Without a ``retry-after`` header GitHub asks a client to wait at least a minute: the concurrency refusal's wait.
CONCURRENCY_WAIT = 60.0
HOUR = 3600.0
MINUTE = 60.0
#: Window edges and waits are compared at microsecond precision, so float noise never adds a wall second.
_PRECISION = 6


@dataclass(frozen=True)
class RateLimits:
    """The limits to enforce; the defaults are github.com's. Turn them on with ``GitHubDouble(rate_limits=...)``."""

    #: Every authenticated request, per credential; fixed window of one hour from the credential's first request.
    primary_per_hour: int = 5000
    #: Content-creating requests (POST/PATCH/PUT/DELETE) per credential, sliding 60 s window.
    content_per_minute: int = 80
    #: The same, sliding 3600 s window.
    content_per_hour: int = 500
    #: Requests in flight at once (all credentials).
    concurrent: int = 100
    #: GitHub seconds per wall-clock second: 60.0 makes an hour pass in one wall minute.
    time_scale: float = 1.0
    #: 403 or 429 for secondary limits (GitHub uses both).
    secondary_status: int = 403
    #: False: secondary refusals carry no retry-after (the client must then wait >= 60 s).
    send_retry_after: bool = True

    def __post_init__(self) -> None:
        counts = (self.primary_per_hour, self.content_per_minute, self.content_per_hour, self.concurrent)
        if min(counts) < 1:
            raise ValueError(f"every limit must be at least 1: {self}")
        if not self.time_scale > 0:
            raise ValueError(f"time_scale must be positive: {self.time_scale}")
        if self.secondary_status not in (403, 429):
            raise ValueError(f"secondary_status must be 403 or 429 (GitHub's two): {self.secondary_status}")


@dataclass(frozen=True)
class Refusal:
    """One request a limit refused."""

    #: Wall-clock epoch seconds.
    at: float
    #: ``"primary"``, ``"secondary-minute"``, ``"secondary-hour"`` or ``"concurrent"``.
    kind: str
    method: str
    path: str
    #: A non-secret label (:func:`token_label`, :func:`installation_label`), never the token.
    credential: str


@dataclass(frozen=True)
class Credential:
    """Whose budget a request spends: ``key`` identifies it (may be a secret: never shown), ``label`` names it."""

    key: str
    label: str


def token_label(token: str) -> str:
    """How refusals and messages name a personal access token: a digest prefix, never the token."""
    return f"token {hashlib.sha256(token.encode()).hexdigest()[:8]}"


def installation_label(installation_id: str) -> str:
    """How refusals and messages name an App installation, as GitHub's own message does."""
    return f"installation ID {installation_id}"


@dataclass(frozen=True)
class Admission:
    """What the limiter decided for one request.

    ``headers`` go on the answer (the ``x-ratelimit-*`` set). When ``refused`` is not None the request must not act:
    answer ``status`` with ``body`` and ``headers`` (which then include ``retry-after`` where one is sent).
    """

    headers: dict[str, str]
    refused: Refusal | None = None
    status: int = 200
    body: dict[str, str] | None = None
    #: Whether this request holds one of the ``concurrent`` slots until it is released.
    holds_slot: bool = False


@dataclass
class _Budget:
    label: str
    #: GitHub time the primary window opened (before the first request: never, so the first one opens it).
    window_start: float = -math.inf
    used: int = 0
    #: GitHub times of the content-creating requests let through in the last hour, ascending.
    content: list[float] = field(default_factory=list)


class RateLimiter:
    """GitHub's primary and secondary limits for any number of credentials; thread-safe.

    ``clock`` returns wall-clock epoch seconds (``time.time`` unless a test injects one); GitHub time starts at 0 when
    the limiter is made. Use :meth:`request` around the handling of each limited request.
    """

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self._clock = clock
        self._origin = clock()
        self._lock = threading.Lock()
        self._budgets: dict[str, _Budget] = {}
        self._in_flight = 0
        self._refusals: list[Refusal] = []
        self._created_at: list[float] = []

    # -- what tests read ----------------------------------------------------------------------------------------

    @property
    def refusals(self) -> list[Refusal]:
        """Every refusal so far, in the order the limiter made them."""
        with self._lock:
            return list(self._refusals)

    @property
    def content_created_at(self) -> list[float]:
        """Wall epoch times of the content-creating requests the limits let through (what the windows count), sorted."""
        with self._lock:
            return sorted(self._created_at)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    # -- deciding ---------------------------------------------------------------------------------------------

    @contextmanager
    def request(self, credential: Credential, method: str, path: str) -> Iterator[Admission]:
        """Admit one request for as long as the block runs: it is in flight (for the concurrency limit) until then."""
        admission = self.admit(credential, method, path)
        try:
            yield admission
        finally:
            if admission.holds_slot:
                self.release()

    def admit(self, credential: Credential, method: str, path: str) -> Admission:
        """Decide one request; an admission that ``holds_slot`` must be given back with :meth:`release`."""
        limits = self.limits
        with self._lock:
            wall = self._clock()
            now = self._github_time(wall)
            budget = self._budgets.setdefault(credential.key, _Budget(credential.label))
            if now >= budget.window_start + HOUR:
                budget.window_start, budget.used = now, 0
            if budget.used >= limits.primary_per_hour:
                return self._refuse_primary(Refusal(wall, "primary", method, path, budget.label), budget)
            budget.used += 1
            headers = self._primary_headers(budget)
            if self._in_flight >= limits.concurrent:
                refusal = Refusal(wall, "concurrent", method, path, budget.label)
                return self._refuse_secondary(refusal, CONCURRENCY_WAIT, headers)
            if method.upper() in CONTENT_CREATING_METHODS:
                del budget.content[: bisect.bisect_right(budget.content, now - HOUR)]
                kind, wait = self._content_wait(budget.content, now)
                if kind is not None:
                    return self._refuse_secondary(Refusal(wall, kind, method, path, budget.label), wait, headers)
                bisect.insort(budget.content, now)
                self._created_at.append(wall)
            self._in_flight += 1
            return Admission(headers=headers, holds_slot=True)

    def release(self) -> None:
        """One admitted request is no longer in flight."""
        with self._lock:
            self._in_flight -= 1

    def _content_wait(self, content: list[float], now: float) -> tuple[str | None, float]:
        """The content window that refuses a request now and how long until it would not, or ``(None, 0)``."""
        refusing: tuple[str | None, float] = (None, 0.0)
        for kind, window, limit in (
            ("secondary-minute", MINUTE, self.limits.content_per_minute),
            ("secondary-hour", HOUR, self.limits.content_per_hour),
        ):
            inside = len(content) - bisect.bisect_right(content, now - window)
            if inside >= limit:
                # When the request ``limit`` places from the newest leaves the window, it holds limit - 1.
                wait = content[len(content) - limit] + window - now
                if refusing[0] is None or wait > refusing[1]:
                    refusing = (kind, wait)
        return refusing

    def _refuse_primary(self, refusal: Refusal, budget: _Budget) -> Admission:
        self._refusals.append(refusal)
        message = (
            f"API rate limit exceeded for {budget.label}. If you reach out to GitHub Support for help, please include "
            f"the request ID {self._request_id()}."
        )
        body = {"message": message, "documentation_url": PRIMARY_DOCS}
        return Admission(headers=self._primary_headers(budget), refused=refusal, status=403, body=body)

    def _refuse_secondary(self, refusal: Refusal, wait: float, headers: dict[str, str]) -> Admission:
        """``wait``: GitHub seconds until the request would be let through."""
        self._refusals.append(refusal)
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach "
            f"out to GitHub Support for help, please include the request ID {self._request_id()}."
        )
        body = {"message": message, "documentation_url": SECONDARY_DOCS}
        if self.limits.send_retry_after:
            headers = {**headers, "retry-after": str(self._wall_seconds(wait))}
        return Admission(headers=headers, refused=refusal, status=self.limits.secondary_status, body=body)

    def _request_id(self) -> str:
        """Shaped like GitHub's ``x-github-request-id``; unique within this limiter."""
        return f"D0B1:{len(self._refusals):04X}:{int(self._origin):08X}"

    def _primary_headers(self, budget: _Budget) -> dict[str, str]:
        limit = self.limits.primary_per_hour
        reset = self._origin + (budget.window_start + HOUR) / self.limits.time_scale
        return {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(limit - budget.used),
            "x-ratelimit-used": str(budget.used),
            "x-ratelimit-reset": str(math.ceil(round(reset, _PRECISION))),
            "x-ratelimit-resource": "core",
        }

    # -- GitHub time ----------------------------------------------------------------------------------------

    def _github_time(self, wall: float) -> float:
        return round((wall - self._origin) * self.limits.time_scale, _PRECISION)

    def _wall_seconds(self, github_seconds: float) -> int:
        """A wait in GitHub seconds as the whole wall seconds a client is told: rounded up, at least 1."""
        return max(1, math.ceil(round(github_seconds / self.limits.time_scale, _PRECISION)))


def floor_seconds(launches: int, limits: RateLimits, min_interval: float = 0.0) -> float:
    """The earliest GitHub time (seconds from the first request) by which ``launches`` content-creating requests can
    all have been let through: the floor GitHub's limits set on a drill's drain time.

    Simulates the sliding minute and hour windows, each request as early as they (and ``min_interval`` after the
    one before) allow, which no schedule beats. The primary limit is simulated too (it only binds when it is below
    ``content_per_hour``); other requests a client makes, e.g. reads, are not counted. 0 for 80 launches with the
    defaults (all at once), 60 for 81, 3960 for 1000 (500 by 360 s, then the next 500 an hour later each).
    """
    times: list[float] = []
    window_start, used = 0.0, 0
    for index in range(launches):
        at = times[-1] + min_interval if times else 0.0
        if index >= limits.content_per_minute:
            at = max(at, times[index - limits.content_per_minute] + MINUTE)
        if index >= limits.content_per_hour:
            at = max(at, times[index - limits.content_per_hour] + HOUR)
        if at >= window_start + HOUR or not times:
            window_start, used = at, 0
        elif used >= limits.primary_per_hour:
            at = window_start = window_start + HOUR
            used = 0
        used += 1
        times.append(at)
    return times[-1] if times else 0.0
