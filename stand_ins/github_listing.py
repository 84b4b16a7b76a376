"""Filtering and paging of ``GET .../actions/workflows/{workflow}/runs`` the way GitHub does it.

The ``created`` qualifier is the one reconciliation depends on, so it follows GitHub's search syntax closely:
``>=X``, ``>X``, ``<=X``, ``<X``, ranges ``A..B`` (``*`` for an open end) and a bare ``X``. ``X`` is a date
(the whole day) or a date-time with one-second precision; without an offset it is UTC. Anything else is a
``ValueError``, so a client that builds the query wrongly (for instance a raw ``+`` in ``+00:00`` that the query
string turns into a space) fails loudly instead of silently matching nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode

from stand_ins.github_model import WorkflowRun

DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
#: A filtered listing returns at most this many runs in all: 10 pages of 100, no ``next`` after the tenth, while
#: ``total_count`` keeps the true count (GitHub docs, "List workflow runs for a workflow").
#: A run GitHub just created may take a few seconds to show in listings (a single-run read sees it at once): the
#: double waits this long, compressed like the drill's other times. A test that needs instant listings sets 0.
LISTING_DELAY_SECONDS = 1.0
FILTERED_LISTING_CAP = 1000
#: The query parameters that make a listing "filtered" and so capped.
FILTERS = frozenset({"actor", "branch", "check_suite_id", "created", "event", "head_sha", "status"})


@dataclass(frozen=True)
class _Span:
    """The half-open interval a date or a second-precision date-time stands for."""

    start: datetime
    end: datetime


def _span(text: str) -> _Span:
    try:
        if "T" not in text:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return _Span(start, start + timedelta(days=1))
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"Invalid 'created' value: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    start = moment.astimezone(UTC).replace(microsecond=0)
    return _Span(start, start + timedelta(seconds=1))


def created_predicate(expression: str) -> Callable[[datetime], bool]:
    """Turn a ``created`` qualifier into a test on a run's ``created_at``; ``ValueError`` if malformed."""
    start, end = _bounds(expression)
    return lambda moment: (start is None or moment >= start) and (end is None or moment < end)


def _bounds(expression: str) -> tuple[datetime | None, datetime | None]:
    """The half-open ``[start, end)`` a qualifier selects; None for an open end."""
    if expression.startswith(">="):
        return _span(expression[2:]).start, None
    if expression.startswith("<="):
        return None, _span(expression[2:]).end
    if expression.startswith(">"):
        return _span(expression[1:]).end, None
    if expression.startswith("<"):
        return None, _span(expression[1:]).start
    if ".." in expression:
        low, high = expression.split("..", 1)
        return (None if low == "*" else _span(low).start), (None if high == "*" else _span(high).end)
    span = _span(expression)
    return span.start, span.end


def run_predicate(query: Mapping[str, Sequence[str]]) -> Callable[[WorkflowRun], bool]:
    """The filters GitHub applies for ``event``, ``status`` (a status or a conclusion), ``branch`` and ``created``."""
    event = _first(query, "event")
    status = _first(query, "status")
    branch = _first(query, "branch")
    created_text = _first(query, "created")
    created = created_predicate(created_text) if created_text else None

    def matches(run: WorkflowRun) -> bool:
        return (
            (event is None or run.event == event)
            and (status is None or status in (run.status, run.conclusion))
            and (branch is None or run.head_branch == branch)
            and (created is None or created(run.created_at))
        )

    return matches


def page_window(query: Mapping[str, Sequence[str]]) -> tuple[int, int]:
    """``(page, per_page)`` from the query: page is 1-based, per_page defaults to 30 and is capped at 100."""
    page = max(1, _int(_first(query, "page"), 1))
    per_page = min(MAX_PER_PAGE, max(1, _int(_first(query, "per_page"), DEFAULT_PER_PAGE)))
    return page, per_page


def last_page(total: int, per_page: int) -> int:
    return max(1, math.ceil(total / per_page))


def is_filtered(query: Mapping[str, Sequence[str]]) -> bool:
    return any(query.get(name) for name in FILTERS)


def link_header(base_url: str, query: Mapping[str, Sequence[str]], page: int, last: int) -> str | None:
    """GitHub's ``Link`` header: first/prev when not on page 1, next/last when more pages follow."""
    relations: list[tuple[str, int]] = []
    if page > 1:
        relations += [("first", 1), ("prev", min(page - 1, last))]
    if page < last:
        relations += [("next", page + 1), ("last", last)]
    if not relations:
        return None
    links = []
    for relation, target in relations:
        target_query = {**query, "page": [str(target)]}
        links.append(f'<{base_url}?{urlencode(target_query, doseq=True)}>; rel="{relation}"')
    return ", ".join(links)


def _first(query: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
