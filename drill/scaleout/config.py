"""What one drill run is told: its size, its fault mix, and the compressed clock it keeps.

Production's timing relation is kept, only scaled down: Lambda retries a failed asynchronous invocation 1 and
2 minutes later, and the function's timeout (30 s) plus the ledger's lease margin (5 s) is shorter than the
first retry delay. So when a retry arrives, the lease of the attempt it retries has always expired and the retry
takes the claim over (reconciling first) instead of bouncing off it. The drill checks the same relation for its
compressed numbers before it starts.

GitHub's own clock is compressed apart, by ``github_time_scale`` (S): the GitHub double's rate-limit windows run S
times faster than the wall clock (at 40, GitHub's hour passes in 90 wall seconds), and every setting measured in
GitHub's time is divided by S the same way: the drainer's pace (GitHub's one second between mutations), the pauses
an injected rate limit asks for, and in lifecycle mode the hooks' heartbeat timeout and the tracker's intervals. So
a 1,000-launch scale-out, which GitHub's hourly limit stretches over more than an hour, drains in minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from deploy_trigger.deadline import MIN_CALL_SECONDS, RESERVE_SECONDS
from deploy_trigger.drain import LAUNCH_SECONDS
from deploy_trigger.settings import HOOK_GLOBAL_TIMEOUT_RANGE, MUTATION_INTERVAL_RANGE
from stand_ins.deployment import RUN_LISTING_DELAY_SECONDS
from stand_ins.github_double import DEFAULT_RUN_NAME
from stand_ins.github_rate_limits import RateLimits

#: Lambda retries a failed asynchronous invocation at most twice.
MAX_LAMBDA_RETRIES = 2
#: LEASE_MARGIN_SECONDS in the drill (production: 5); the dispatcher accepts 1 to 10.
DRILL_LEASE_MARGIN_SECONDS = 1.0
#: A killed invocation is killed this long after its dispatch POST started hanging in the GitHub double, so the
#: POST has certainly arrived (and, for "after accept", the run certainly exists) when the process dies.
KILL_AFTER_HANG_SECONDS = 0.2
#: GitHub asks for mutating requests at least a second apart (GitHub seconds): the drainer's pace in production.
GITHUB_MUTATION_INTERVAL = 1.0
#: Auto Scaling ends a lifecycle action at min(100 x heartbeat timeout, 48 h) whatever its heartbeats: production's
#: 900 s hook gives 90,000 s (GitHub seconds in the drill, like the hooks' other timeouts).
HOOK_HEARTBEAT_TIMEOUT = 900.0
HOOK_GLOBAL_TIMEOUT = min(100 * HOOK_HEARTBEAT_TIMEOUT, 48 * 3600.0)


#: The command-line flag of each fault rate (named here so that error messages and --help agree).
RATE_FLAGS = {
    "duplicate": "--duplicate-rate",
    "concurrent_share": "--concurrent-share",
    "kill": "--kill-rate",
    "error_after_accept": "--error-rate",
    "drop_after_accept": "--drop-rate",
    "client_timeout": "--timeout-rate",
    "rate_limited": "--rate-limit-rate",
    "slow": "--slow-rate",
    "malformed": "--malformed-rate",
    "rejected": "--reject-rate",
}
#: A drainer run must have time for one launch (drain.LAUNCH_SECONDS) and a call after any wait.
_SHORTEST_DRAINER_BUDGET = LAUNCH_SECONDS + MIN_CALL_SECONDS + 1.0


class ConfigError(ValueError):
    """A drill setting is out of range; the message names the flag and the rule."""


@dataclass(frozen=True)
class FaultRates:
    """Shares of launches (or of duplicates, for ``concurrent_share``) that meet each fault.

    Each launch meets at most one GitHub fault, on its first dispatch POST, so the fault shares add up to at
    most 1. The counts are exact (share x launches, rounded), spread over the launches by the seed.
    """

    #: Launches whose event EventBridge delivers a second time.
    duplicate: float = 0.30
    #: Of those duplicates, the share delivered at the same moment as the original (a concurrent race).
    concurrent_share: float = 1 / 3
    #: Invocations killed while their POST hangs in GitHub: half before GitHub accepted, half after.
    kill: float = 0.05
    #: GitHub creates the run, then answers 5xx.
    error_after_accept: float = 0.02
    #: GitHub creates the run, then drops the connection without an answer.
    drop_after_accept: float = 0.01
    #: GitHub answers after the client's budget ran out (it creates the run after the client gave up).
    client_timeout: float = 0.01
    #: An injected 429 with retry-after (half 1 GitHub second, half two minutes): the launch is queued, and the
    #: drainer sends it after the pause.
    rate_limited: float = 0.02
    #: GitHub answers a bit within the client's budget.
    slow: float = 0.02
    #: Extra events that claim to be launches but have no or a bad EC2InstanceId (share of launches).
    malformed: float = 0.01
    #: GitHub rejects the dispatch for good (422): the instance legitimately gets no run (ledger FAILED, DLQ).
    rejected: float = 0.0

    def github_faults(self) -> dict[str, float]:
        """The per-launch GitHub fault shares, by field name."""
        return {
            name: getattr(self, name)
            for name in ("kill", "error_after_accept", "drop_after_accept", "client_timeout", "rate_limited", "slow")
        } | {"rejected": self.rejected}


@dataclass(frozen=True)
class DrillConfig:
    """One drill run. Every field has a default that fits a 2-core laptop; see ``python -m drill --help``."""

    launches: int = 300
    asgs: int = 3
    seed: int = 1
    #: Worker processes: each is one warm Lambda container (reserved concurrency, in Lambda's terms).
    workers: int = 8
    #: The function timeout the invocations run under (seconds); production: 30.
    #: 8 s leaves a cold container (clients built, secret read, claim written) time to start its POST even when
    #: all containers start cold at once on a small machine; the handler keeps 3 s of it for the ledger.
    function_timeout: float = 8.0
    #: Lambda's async retry delays, compressed (production: 60 and 120); one value per retry, at most two.
    retry_delays: tuple[float, ...] = (12.0, 24.0)
    #: EventBridge delivers the launches over this many seconds (an ASG scales out in a few waves).
    burst_seconds: float = 8.0
    #: Share of launches announced by "EC2 Instance Launch Successful" instead of a lifecycle action.
    launch_successful_share: float = 0.1
    faults: FaultRates = field(default_factory=FaultRates)
    #: The workflow's run-name served by the GitHub double. None removes the dispatch ID from run titles, which
    #: makes reconciliation blind: the drill must then catch duplicate runs (the check that can fail).
    run_name: str | None = DEFAULT_RUN_NAME
    #: Where the handler's own JSON logs go (None: discarded, so the terminal shows the drill's output).
    handler_logs: str | None = None
    lease_margin: float = DRILL_LEASE_MARGIN_SECONDS
    #: Lifecycle mode: after the scale-out every run ends and the tracker completes each lifecycle action.
    lifecycle: bool = False
    #: In lifecycle mode, the share of launches whose workflow run concludes "failure" (exact, drawn by the seed).
    deploy_failure_rate: float = 0.05
    #: In lifecycle mode, the share of lifecycle actions whose heartbeat timeout passes before the tracker's first
    #: pass: the group applies the hook's default result (ABANDON) itself. Proves the verdict can fail.
    lifecycle_expire_rate: float = 0.0
    #: In lifecycle mode, the share of hook launches that first enter the warm pool (their pool entry is continued
    #: by the dispatcher, and a late duplicate of it arrives after the launch into the group: it must be stale).
    warm_pool_share: float = 0.1
    #: In lifecycle mode, the share of hook launches whose event never arrives (Auto Scaling's events are best
    #: effort): the tracker's sweep must find each waiting instance and have it dispatched once.
    lost_event_share: float = 0.03
    #: The GitHub double enforces GitHub's documented rate limits (5,000 requests an hour, 80 content-creating
    #: requests a minute and 500 an hour, 100 concurrent), in GitHub time.
    github_limits: bool = True
    #: The limits it enforces: github.com's unless a test asks for others (their clock is ``github_time_scale``).
    github_rate_limits: RateLimits = field(default_factory=RateLimits)
    #: GitHub seconds per wall second (see the module doc): 40 makes GitHub's hour 90 wall seconds.
    github_time_scale: float = 40.0
    #: Each drainer invocation runs under this budget (wall seconds; production: the function's 15 minutes). A run
    #: sleeps out a pause that fits in it; a killed run holds nothing but the launch it had taken.
    drainer_budget: float = 120.0
    #: Tests only: False runs no drainer, so queued launches stay queued (the verdict must say so).
    drainer: bool = True

    # -- timings derived from the function timeout ----------------------------------------------------------

    @property
    def client_budget(self) -> float:
        """The most any one GitHub call may take: the handler keeps RESERVE_SECONDS for the ledger write."""
        return self.function_timeout - RESERVE_SECONDS

    @property
    def slow_seconds(self) -> float:
        """A slow GitHub: well within the client's budget, even for a cold container."""
        return round(self.client_budget * 0.5, 2)

    @property
    def client_timeout_seconds(self) -> float:
        """GitHub answers (and creates the run) after the client's read timeout has fired."""
        return round(self.client_budget + 1.0, 2)

    @property
    def hang_seconds(self) -> float:
        """How long a POST hangs before the worker running it is killed: longer than the whole invocation."""
        return self.function_timeout + 4.0

    # -- GitHub's compressed clock -------------------------------------------------------------------------

    def github_seconds(self, wall_seconds: float) -> float:
        """A wall-clock duration in GitHub's time."""
        return wall_seconds * self.github_time_scale

    def wall_seconds(self, github_seconds: float) -> float:
        """A duration in GitHub's time on the wall clock."""
        return github_seconds / self.github_time_scale

    @property
    def limits(self) -> RateLimits:
        """GitHub's limits on the drill's GitHub clock, whether the double enforces them or not (the floor's)."""
        return replace(self.github_rate_limits, time_scale=self.github_time_scale)

    @property
    def rate_limits(self) -> RateLimits | None:
        """What the GitHub double enforces: :attr:`limits`, or nothing (None)."""
        return self.limits if self.github_limits else None

    @property
    def mutation_interval(self) -> float:
        """GITHUB_MUTATION_INTERVAL_SECONDS for the drainer: GitHub's one second, compressed."""
        return self.wall_seconds(GITHUB_MUTATION_INTERVAL)

    def validate(self) -> None:
        """Raise :class:`ConfigError` for the first setting that would make the drill meaningless."""
        _at_least("--launches", self.launches, 1)
        _at_least("--asgs", self.asgs, 1)
        _at_least("--workers", self.workers, 1)
        shortest = RESERVE_SECONDS + MIN_CALL_SECONDS + 1.0
        if self.function_timeout < shortest:
            raise ConfigError(
                f"--function-timeout must be at least {shortest:g} s: the handler keeps {RESERVE_SECONDS:g} s for "
                f"its ledger write and starts no GitHub call with less than {MIN_CALL_SECONDS:g} s to spend"
            )
        if len(self.retry_delays) > MAX_LAMBDA_RETRIES:
            raise ConfigError(f"--retry-delays takes at most {MAX_LAMBDA_RETRIES} values: Lambda retries twice")
        floor = self.function_timeout + self.lease_margin + RUN_LISTING_DELAY_SECONDS
        for delay in self.retry_delays:
            if delay <= floor:
                raise ConfigError(
                    f"--retry-delays: {delay:g} s is not longer than --function-timeout + LEASE_MARGIN_SECONDS + "
                    f"RUN_LISTING_DELAY_SECONDS ({self.function_timeout:g} + {self.lease_margin:g} + "
                    f"{RUN_LISTING_DELAY_SECONDS:g} = {floor:g} s). In production the first retry (60 s) comes after "
                    "timeout + margin + listing delay (30 + 5 + 10 s), so a retry never finds the attempt it retries "
                    "still in the way (its lease live, or its run not yet listed); keep that relation"
                )
        if self.github_time_scale <= 0:
            raise ConfigError("--github-time-scale must be positive")
        low, high = MUTATION_INTERVAL_RANGE
        if not low <= self.mutation_interval <= high:
            raise ConfigError(
                f"--github-time-scale {self.github_time_scale:g} makes GITHUB_MUTATION_INTERVAL_SECONDS "
                f"{self.mutation_interval:g} s, outside the {low}-{high} s the drainer accepts"
            )
        low, high = HOOK_GLOBAL_TIMEOUT_RANGE
        if not low <= self.wall_seconds(HOOK_GLOBAL_TIMEOUT) <= high:
            raise ConfigError(
                f"--github-time-scale {self.github_time_scale:g} compresses the hooks' global timeout "
                f"({HOOK_GLOBAL_TIMEOUT:g} s) below the {low} s HOOK_GLOBAL_TIMEOUT_SECONDS accepts"
            )
        if self.drainer_budget < _SHORTEST_DRAINER_BUDGET:
            raise ConfigError(
                f"--drainer-budget must be at least {_SHORTEST_DRAINER_BUDGET:g} s: a drainer run keeps "
                f"{LAUNCH_SECONDS:g} s for each launch it takes"
            )
        if self.burst_seconds < 0:
            raise ConfigError("--burst-seconds must not be negative")
        for item in fields(self.faults):
            _share(RATE_FLAGS[item.name], getattr(self.faults, item.name))
        _share("--launch-successful-share", self.launch_successful_share)
        _share("--deploy-failure-rate", self.deploy_failure_rate)
        _share("--lifecycle-expire-rate", self.lifecycle_expire_rate)
        _share("--warm-pool-share", self.warm_pool_share)
        _share("--lost-event-share", self.lost_event_share)
        total = sum(self.faults.github_faults().values())
        if total > 1:
            raise ConfigError(f"the GitHub fault rates add up to {total:g}; each launch meets at most one fault")


def _at_least(flag: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"{flag} must be at least {minimum}, got {value}")


def _share(flag: str, value: float) -> None:
    if not 0 <= value <= 1:
        raise ConfigError(f"{flag} must be between 0 and 1, got {value:g}")
