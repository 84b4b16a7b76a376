"""How the scale-out went against GitHub's limits: the drain time next to the floor the limits set, the backlog, the
refusals (and how many came after a pause was already known: the herd), the drainer's runs, and the requests per
credential against the primary limit.

Times are measured on the wall clock and shown in GitHub's time too (wall x ``github_time_scale``), since the floor
and the limits are GitHub's.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from drill.scaleout.backlog import Sample
from drill.scaleout.config import DrillConfig
from drill.scaleout.drainer import DrainerRun
from stand_ins.deployment import TOKEN
from stand_ins.github_model import RecordedRequest, WorkflowRun
from stand_ins.github_rate_limits import CONCURRENCY_WAIT, RateLimits, Refusal, floor_seconds, token_label

_HOUR, _MINUTE = 3600.0, 60.0


@dataclass(frozen=True)
class DrainerSummary:
    """The drainer's invocations: how many, why they started, how they ended, and what they did in all."""

    invocations: int
    triggers: dict[str, int]
    ended: dict[str, int]
    #: The drainer's own counts, summed over its runs (Dispatched, Drained, Requeued, RateLimitWaits, ...).
    counts: dict[str, int]
    seconds: float


@dataclass(frozen=True)
class Credential:
    """One credential's requests against GitHub's primary limit (per GitHub hour)."""

    requests: int
    #: The most requests in any one hour of GitHub time (a sliding window; GitHub's own window is fixed).
    peak_per_github_hour: int
    primary_limit: int


@dataclass(frozen=True)
class GitHubDrain:
    """The scale-out against GitHub's limits; GitHub seconds = wall seconds x ``time_scale``."""

    limits_enforced: bool
    time_scale: float
    #: From the first launch event to the last run created (None when no run was created).
    drain_github_seconds: float | None
    drain_wall_seconds: float | None
    #: The earliest the deployable launches' dispatches could all be through: GitHub's limits and the one-second
    #: spacing GitHub asks for between mutations, and the limits alone.
    floor_github_seconds: float
    limits_floor_github_seconds: float
    ratio_to_floor: float | None
    ratio_to_limits_floor: float | None
    #: The most launches waiting in the ledger's queue at once, when (GitHub seconds), and the longest wait seen.
    peak_waiting: int
    peak_waiting_at_github_seconds: float
    oldest_wait_github_seconds: float
    #: Launches still queued when the drill ended, and whether the drain stopped at its cap.
    still_queued: int
    drain_capped: bool
    #: Requests GitHub's limits refused, by kind ("secondary-minute", "secondary-hour", "primary", "concurrent").
    refusals: dict[str, int]
    #: Of those, the ones sent while a pause GitHub had already announced (to anyone) was still on: the herd.
    refusals_after_pause_known: int
    requests_per_credential: dict[str, Credential]
    drainer: DrainerSummary
    #: The backlog sampled during the run, for the chart and scripts: (wall seconds since the first event, waiting,
    #: oldest wait in wall seconds, runs created so far, events in the DLQ so far).
    samples: list[dict[str, float]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_drain(
    config: DrillConfig,
    *,
    deployable: int,
    runs: Sequence[WorkflowRun],
    requests: Sequence[RecordedRequest],
    refusals: Sequence[Refusal],
    content_created_at: Sequence[float],
    samples: Sequence[Sample],
    drainer_runs: Sequence[DrainerRun],
    origin_epoch: float,
    still_queued: int,
    drain_capped: bool,
) -> GitHubDrain:
    limits = config.limits
    last_run = max((run.created_at.timestamp() for run in runs), default=None)
    drain_wall = round(last_run - origin_epoch, 2) if last_run is not None else None
    drain = round(config.github_seconds(drain_wall), 1) if drain_wall is not None else None
    floor = floor_seconds(deployable, limits, min_interval=1.0)
    limits_floor = floor_seconds(deployable, limits, min_interval=0.0)
    peak = max(samples, key=lambda sample: sample.waiting, default=None)
    return GitHubDrain(
        limits_enforced=config.rate_limits is not None,
        time_scale=config.github_time_scale,
        drain_github_seconds=drain,
        drain_wall_seconds=drain_wall,
        floor_github_seconds=round(floor, 1),
        limits_floor_github_seconds=round(limits_floor, 1),
        ratio_to_floor=_ratio(drain, floor),
        ratio_to_limits_floor=_ratio(drain, limits_floor),
        peak_waiting=peak.waiting if peak is not None else 0,
        peak_waiting_at_github_seconds=round(config.github_seconds(peak.at), 1) if peak is not None else 0.0,
        oldest_wait_github_seconds=round(config.github_seconds(max((s.oldest_wait for s in samples), default=0)), 1),
        still_queued=still_queued,
        drain_capped=drain_capped,
        refusals=dict(Counter(refusal.kind for refusal in refusals).most_common()),
        refusals_after_pause_known=refused_after_pause_known(refusals, content_created_at, limits),
        requests_per_credential=_per_credential(requests, limits),
        drainer=_drainer(drainer_runs),
        samples=[asdict(sample) for sample in samples],
    )


def refused_after_pause_known(
    refusals: Iterable[Refusal], content_created_at: Sequence[float], limits: RateLimits
) -> int:
    """Refusals of requests sent while an earlier refusal's pause was still on.

    Each refusal told its sender how long to wait (retry-after, or the primary window's reset), and the dispatcher
    shares that pause with everyone through the budget item; a request refused before that pause ended was sent by
    someone who did not honour it (or had not read it yet). The pause is recomputed the way the GitHub double
    computes it: from the content-creating requests it had let through, in GitHub time.
    """
    created = sorted(content_created_at)
    known_until = -math.inf
    herd = 0
    for refusal in sorted(refusals, key=lambda r: r.at):
        if refusal.at < known_until:
            herd += 1
        known_until = max(known_until, refusal.at + _pause(refusal, created, limits))
    return herd


def _pause(refusal: Refusal, created: Sequence[float], limits: RateLimits) -> float:
    """Wall seconds the refusal asked its sender to wait (as whole seconds, at least one, like the header)."""
    scale = limits.time_scale
    if refusal.kind in ("secondary-minute", "secondary-hour"):
        window, limit = (
            (_MINUTE, limits.content_per_minute)
            if refusal.kind == "secondary-minute"
            else (_HOUR, limits.content_per_hour)
        )
        before = created[: bisect.bisect_right(created, refusal.at)]
        wait = before[-limit] + window / scale - refusal.at if len(before) >= limit else 0.0
    elif refusal.kind == "concurrent":
        wait = CONCURRENCY_WAIT / scale
    else:  # primary: until the credential's hour is over; at most an hour
        wait = _HOUR / scale
    return max(1.0, math.ceil(wait))


def _per_credential(requests: Sequence[RecordedRequest], limits: RateLimits) -> dict[str, Credential]:
    """The drill's one credential (the token every container and the drainer use): its requests, and the most in
    one GitHub hour. Requests without a token are not GitHub's to count (none are made)."""
    times = sorted(r.received_at for r in requests if r.headers.get("authorization"))
    window = _HOUR / limits.time_scale
    peak, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        peak = max(peak, end - start + 1)
    return {token_label(TOKEN): Credential(len(times), peak, limits.primary_per_hour)}


#: The fields of the drainer's report that are not counts.
_REPORT_FIELDS = frozenset(
    {"waiting", "oldest_wait_seconds", "expected_drain_seconds", "hook_headroom_seconds", "paused_until"}
)


def _drainer(runs: Sequence[DrainerRun]) -> DrainerSummary:
    counts: Counter[str] = Counter()
    for run in runs:
        for name, value in (run.report or {}).items():
            if name not in _REPORT_FIELDS and isinstance(value, int):
                counts[name] += value
    return DrainerSummary(
        invocations=len(runs),
        triggers=dict(Counter(run.trigger for run in runs).most_common()),
        ended=dict(Counter(run.ended_by for run in runs).most_common()),
        counts=dict(counts.most_common()),
        seconds=round(sum(run.seconds for run in runs), 1),
    )


def _ratio(value: float | None, floor: float) -> float | None:
    return round(value / floor, 2) if value is not None and floor > 0 else None
