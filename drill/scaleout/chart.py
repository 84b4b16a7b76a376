"""The drill's chart: launches waiting for GitHub budget, runs created and events in the DLQ over time, with the
floor GitHub's limits set on the drain marked. One HTML file with an inline SVG: no script, nothing fetched, so it
opens anywhere, offline, as it was written.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from drill.scaleout.report import DrillReport

WIDTH, HEIGHT = 960, 440
LEFT, RIGHT, TOP, BOTTOM = 64, 24, 24, 56
#: The series: the sample's field, its label, its colour.
SERIES = (
    ("waiting", "launches waiting (the ledger's queue)", "#d95f02"),
    ("runs", "dispatched (runs created, cumulative)", "#1b9e77"),
    ("dead_lettered", "in the DLQ", "#7570b3"),
)


def chart_html(report: DrillReport) -> str:
    """The whole HTML document for ``report`` (a note instead of a chart when nothing was sampled)."""
    drain = report.github_limits
    title = f"deploy-trigger scale-out drill: {report.launches} launches"
    if drain is None or not drain.samples:
        return _page(title, "<p>No samples: the drill recorded no backlog.</p>")
    scale = drain.time_scale
    samples = drain.samples
    end = max(
        samples[-1]["at"],
        drain.floor_github_seconds / scale,
        (drain.drain_wall_seconds or 0.0),
    )
    top = max([report.launches] + [max(s[name] for s in samples) for name, _, _ in SERIES])
    x = _axis(0.0, end * 1.02, LEFT, WIDTH - RIGHT)
    y = _axis(0.0, top * 1.05, HEIGHT - BOTTOM, TOP)
    parts = [_grid(x, y, end, top, scale)]
    for name, label, colour in SERIES:
        points = " ".join(f"{x(s['at']):.1f},{y(s[name]):.1f}" for s in samples)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"><title>'
                     f"{escape(label)}</title></polyline>")  # fmt: skip
    marks = [
        (drain.floor_github_seconds / scale, f"floor {drain.floor_github_seconds:g} GitHub s (limits + 1 s pace)"),
        (drain.limits_floor_github_seconds / scale, f"limits alone {drain.limits_floor_github_seconds:g} GitHub s"),
    ]
    if drain.drain_wall_seconds is not None:
        left = f", {drain.still_queued} still queued" if drain.still_queued else ""
        marks.append((drain.drain_wall_seconds, f"last run created {drain.drain_github_seconds:g} GitHub s{left}"))
    for number, (at, label) in enumerate(marks):
        colour = "#333" if number < 2 else "#1b9e77"
        dash = ' stroke-dasharray="6 4"' if number < 2 else ""
        parts.append(
            f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="{colour}"{dash}/>'
            f'<text x="{x(at) + 4:.1f}" y="{TOP + 14 + 14 * number}" font-size="12" fill="{colour}">'
            f"{escape(label)}</text>"
        )
    parts.append(_legend())
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">{"".join(parts)}</svg>'
    )
    summary = escape(report.verdict.summary)
    caption = (
        f"<p>GitHub's clock runs x{scale:g} (an hour in {3600 / scale:g} wall seconds). Drain "
        f"{drain.drain_github_seconds} GitHub s against a floor of {drain.floor_github_seconds:g} "
        f"({drain.ratio_to_floor}x); at most {drain.peak_waiting} launches waiting; refusals "
        f"{escape(', '.join(f'{k} {v}' for k, v in drain.refusals.items()) or 'none')}.</p><p>{summary}</p>"
    )
    return _page(title, svg + caption)


def _axis(low: float, high: float, start: float, stop: float) -> _Scale:
    return _Scale(low, high or 1.0, start, stop)


class _Scale:
    """A linear map from data values to pixels."""

    def __init__(self, low: float, high: float, start: float, stop: float) -> None:
        self._low, self._span = low, (high - low) or 1.0
        self._start, self._stop = start, stop

    def __call__(self, value: float) -> float:
        return self._start + (value - self._low) / self._span * (self._stop - self._start)


def _grid(x: _Scale, y: _Scale, end: float, top: float, scale: float) -> str:
    """Axes with ticks: GitHub minutes (and wall seconds) across, launches up."""
    parts = [
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{HEIGHT - BOTTOM}" y2="{HEIGHT - BOTTOM}" stroke="#999"/>',
        f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#999"/>',
    ]
    minutes = end * scale / 60
    for tick in _ticks(minutes):
        at = tick * 60 / scale
        parts.append(
            f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{TOP}" y2="{HEIGHT - BOTTOM}" stroke="#eee"/>'
            f'<text x="{x(at):.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="11" text-anchor="middle">{tick:g}</text>'
            f'<text x="{x(at):.1f}" y="{HEIGHT - BOTTOM + 30}" font-size="10" fill="#888" text-anchor="middle">'
            f"{at:.0f} s</text>"
        )
    for tick in _ticks(top):
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#eee"/>'
            f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" font-size="11" text-anchor="end">{tick:g}</text>'
        )
    parts.append(
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 8}" font-size="12" text-anchor="middle">'
        "GitHub minutes since the first launch event (wall seconds below)</text>"
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" font-size="12" text-anchor="middle" '
        f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">launches</text>'
    )
    return "".join(parts)


def _ticks(high: float, count: int = 8) -> Sequence[float]:
    """Round tick values from 0 to ``high``: steps of 1, 2 or 5 times a power of ten."""
    if high <= 0:
        return [0.0]
    raw = high / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [i * step for i in range(int(high / step) + 1)]


def _legend() -> str:
    parts = []
    for number, (_, label, colour) in enumerate(SERIES):
        top = TOP + 60 + 18 * number
        parts.append(
            f'<rect x="{WIDTH - RIGHT - 290}" y="{top - 9}" width="14" height="4" fill="{colour}"/>'
            f'<text x="{WIDTH - RIGHT - 270}" y="{top - 4}" font-size="12">{escape(label)}</text>'
        )
    return "".join(parts)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head>"
        f'<body style="font-family: sans-serif; max-width: {WIDTH + 40}px">'
        f"<h1 style='font-size: 18px'>{escape(title)}</h1>{body}</body></html>\n"
    )
