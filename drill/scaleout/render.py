"""The report as a person reads it: one screen, the verdict last and impossible to miss."""

from __future__ import annotations

from collections.abc import Mapping

from drill.scaleout.drain_report import GitHubDrain
from drill.scaleout.faults import FaultKind
from drill.scaleout.report import DrillReport, LifecycleSummary, Machine

#: Broken instances listed by name in the text (the JSON report lists them all).
SHOWN_INSTANCES = 20
_LABEL_WIDTH = 13


def render(report: DrillReport) -> str:
    s, t, m = report.settings, report.timing, report.machine
    delays = " and ".join(f"{d:g} s" for d in s["retry_delays"]) or "never"
    deliveries = report.deliveries
    ended = report.invocations_ended
    sections: list[tuple[str, list[str]]] = [
        (
            "Drill",
            [
                f"{report.launches} launches in {s['asgs']} ASGs, seed {s['seed']}, {s['workers']} containers, "
                f"function timeout {s['function_timeout']:g} s, LEASE_MARGIN_SECONDS {s['lease_margin']:g}, "
                f"Lambda retries after {delays}",
                _clock(s),
                f"wall time {t.wall_seconds:.1f} s: setup {t.setup_seconds:.1f} s, scale-out "
                f"{t.scale_out_seconds:.1f} s, wrap-up {t.wrap_up_seconds:.1f} s ({_machine(m)})",
            ],
        ),
        (
            "Events",
            [
                f"{_items(report.launches_by_asg)}; {_items(report.launches_by_event)}",
                f"{deliveries['total']} deliveries: {deliveries['original']} original, {deliveries['duplicate']} "
                f"duplicated later, {deliveries['concurrent']} duplicated at the same moment, "
                f"{deliveries['malformed']} malformed",
                *(
                    [
                        f"lifecycle mode: {deliveries.get('warm pool entry', 0)} warm-pool entries, "
                        f"{deliveries.get('stale', 0)} late duplicates of them after the launch into the group, "
                        f"{deliveries.get('other hook', 0)} actions of another hook on the same launches, "
                        f"{deliveries.get('lost', 0)} launches whose event never came (left to the sweep)"
                    ]
                    if report.lifecycle is not None
                    else []
                ),
            ],
        ),
        (
            "Lambda",
            [
                f"{report.invocations} invocations ({report.invocations - report.lambda_retries} deliveries + "
                f"{report.lambda_retries} retries); {report.cold_starts} cold starts in "
                f"{report.containers_started} containers",
                "ended: " + _items(ended, empty="none") + _collateral_kills(report),
            ],
        ),
        ("Faults", [_faults(report.faults_injected, report.faults_planned, report.kills_missed)]),
        (
            "Outcomes",
            [
                f"{report.runs_created} runs created by {report.dispatch_posts} dispatch POSTs",
                f"dispatched {report.results.get('dispatched', 0)}, reconciled {report.reconciled_runs} "
                f"(a retry found the run an earlier attempt created), duplicates suppressed "
                f"{report.duplicates_suppressed}, claims contended {report.claims_contended} (retried later)",
                "handler errors: " + _items(report.errors, empty="none"),
            ],
        ),
        *([("GitHub", _github(report.github_limits))] if report.github_limits is not None else []),
        ("DLQ", _dead_letters(report)),
        (
            "Latency",
            [
                f"p50 {report.latency_ms.get('p50', 0):g} ms, p99 {report.latency_ms.get('p99', 0):g} ms, "
                f"max {report.latency_ms.get('max', 0):g} ms ({report.latency_ms['count']:g} invocations that "
                "returned or raised)"
            ],
        ),
        (
            "Per launch",
            [
                "AWS: " + _items(report.aws_calls_per_launch, empty="none"),
                "GitHub: " + _items(_short_endpoints(report.github_calls_per_launch), empty="none"),
            ],
        ),
        ("Ledger", [_items(report.ledger_statuses, empty="empty")]),
        *([("Lifecycle", _lifecycle(report.lifecycle))] if report.lifecycle is not None else []),
        ("Verdict", _verdict(report)),
    ]
    lines = ["deploy-trigger scale-out drill", ""]
    for label, body in sections:
        for number, line in enumerate(body):
            lines.append(f"{label if number == 0 else '':<{_LABEL_WIDTH}}{line}")
    return "\n".join(lines)


def _clock(settings: Mapping[str, object]) -> str:
    scale = float(str(settings["github_time_scale"]))
    limits = "on (github.com's)" if settings["github_limits"] else "off (--no-github-limits)"
    drainer = f"drainer runs of {float(str(settings['drainer_budget'])):g} s" if settings["drainer"] else "no drainer"
    return (
        f"GitHub's limits {limits}; GitHub's clock x{scale:g} (an hour in {3600 / scale:g} s, the drainer's one "
        f"second between dispatches {1 / scale:g} s); {drainer}"
    )


def _github(drain: GitHubDrain) -> list[str]:
    def both(github_seconds: float | None) -> str:
        if github_seconds is None:
            return "none"
        return f"{github_seconds:g} GitHub s ({github_seconds / drain.time_scale:.1f} s wall)"

    def ratio(value: float | None) -> str:
        return f"{value:g}x" if value is not None else "n/a"

    credentials = "; ".join(
        f"{label}: {c.requests} requests, at most {c.peak_per_github_hour} in a GitHub hour "
        f"(primary limit {c.primary_limit:,})"
        for label, c in drain.requests_per_credential.items()
    )
    d = drain.drainer
    refused = _items(drain.refusals, empty="none")
    return [
        f"drain {both(drain.drain_github_seconds)}, first launch event to last run created; floor "
        f"{both(drain.floor_github_seconds)} with GitHub's second between mutations ({ratio(drain.ratio_to_floor)}), "
        f"{both(drain.limits_floor_github_seconds)} by the limits alone ({ratio(drain.ratio_to_limits_floor)})",
        f"backlog: at most {drain.peak_waiting} launches waiting (at {drain.peak_waiting_at_github_seconds:g} GitHub "
        f"s), the oldest wait {both(drain.oldest_wait_github_seconds)}; {drain.still_queued} still queued at the end"
        + (" (the drain stopped at its cap)" if drain.drain_capped else ""),
        f"refused by GitHub's limits: {refused}; {drain.refusals_after_pause_known} of them sent while a pause "
        "GitHub had announced was still on",
        f"requests per credential: {credentials}",
        f"drainer: {d.invocations} invocations ({_items(d.triggers, empty='none')}), ended "
        f"{_items(d.ended, empty='none')}; " + _items(d.counts, empty="sent nothing"),
    ]


def _collateral_kills(report: DrillReport) -> str:
    planned = sum(report.faults_injected.get(kind.value, 0) for kind in FaultKind if kind.kills)
    extra = report.invocations_ended.get("killed", 0) - planned
    if extra <= 0:
        return ""
    return f" ({extra} of the kills hit a duplicate of the same event that was still running)"


def _machine(machine: Machine) -> str:
    load = machine.load_average_at_start
    busy = f", load average {load:g} at start" if load is not None else ""
    return f"{machine.cpus} CPUs{busy}"


def _items(counts: Mapping[str, float], empty: str = "") -> str:
    return ", ".join(f"{name} {value:g}" for name, value in counts.items()) or empty


def _faults(injected: Mapping[str, int], planned: Mapping[str, int], missed_kills: int) -> str:
    if not planned:
        return "none"
    parts = [
        f"{FaultKind(name).value} {count}" + ("" if count == planned[name] else f" of {planned[name]} planned")
        for name, count in injected.items()
    ]
    text = ", ".join(parts)
    return text + (f"; {missed_kills} kills found no running invocation" if missed_kills else "")


def _dead_letters(report: DrillReport) -> list[str]:
    if not report.dead_letters:
        return ["empty"]
    lines = [f"{len(report.dead_letters)} events: " + _items(report.dead_letters_by_error)]
    examples: dict[str, str] = {}
    for letter in report.dead_letters:
        examples.setdefault(letter["error_type"], letter["error_message"])
    lines += [f"  {error}: {message[:110]}" for error, message in examples.items()]
    return lines


def _lifecycle(summary: LifecycleSummary) -> list[str]:
    timed_out = f", {summary.timed_out} timed out first (default result ABANDON)" if summary.timed_out else ""
    pending = f", {summary.still_pending} still pending" if summary.still_pending else ""
    return [
        f"{summary.hooked_launches} lifecycle-hook launches: {summary.in_service} went InService (CONTINUE), "
        f"{summary.replaced} replaced (ABANDON){timed_out}{pending}; {summary.already_ended} completions "
        "answered 'no active lifecycle action' (completed elsewhere or already ended)",
        f"runs ended: {summary.runs_succeeded} success, {summary.runs_failed} failure; "
        f"{summary.plain_recorded} of {summary.plain_launches} plain-mode launches with recorded outcome; "
        f"{summary.alerts} alerts sent",
        f"{summary.passes} tracker passes in {summary.seconds:.1f} s; ledger now "
        + _items(summary.ledger_statuses, empty="empty"),
        "their calls: GitHub "
        + _items(_short_endpoints(summary.github_calls), empty="none")
        + "; AWS "
        + _items(summary.aws_calls, empty="none"),
    ]


def _short_endpoints(counts: Mapping[str, float]) -> dict[str, float]:
    return {name.replace("/repos/{owner}/{repo}/actions", "…"): value for name, value in counts.items()}


def _verdict(report: DrillReport) -> list[str]:
    verdict = report.verdict
    lines = [verdict.summary]
    if report.deliveries["malformed"] and not verdict.malformed_not_dead_lettered:
        lines[0] += f"; the {report.deliveries['malformed']} malformed events are in the DLQ, none dispatched"
    listed: list[tuple[str, list[str]]] = [
        ("no run", verdict.zero_runs),
        ("more than one run", [f"{i} ({n} runs)" for i, n in verdict.multiple_runs.items()]),
        ("runs for instances that never launched", [f"{i!r} ({n})" for i, n in verdict.unexpected_runs.items()]),
        ("malformed events not in the DLQ", verdict.malformed_not_dead_lettered),
        ("rejected but not FAILED+DLQ", verdict.rejected_unaccounted),
        ("ledger disagrees", [f"{i}: {why}" for i, why in verdict.ledger_disagreements.items()]),
        ("unexpected in the DLQ", [f"{i}: {why}" for i, why in verdict.unexpected_dead_letters.items()]),
        ("lost event not swept once", [f"{i} ({n}x)" for i, n in verdict.lost_not_swept_once.items()]),
        ("still queued for GitHub budget", verdict.still_queued),
    ]
    if verdict.lifecycle is not None:
        closed = verdict.lifecycle
        listed += [
            ("lifecycle action not completed once", [f"{i} ({n}x)" for i, n in closed.not_completed_once.items()]),
            ("fate contradicts run", [f"{i}: {why}" for i, why in closed.wrong_result.items()]),
            ("ledger did not finish as its run", [f"{i}: {why}" for i, why in closed.ledger_disagreements.items()]),
            (
                "warm-pool entry not continued once",
                [f"{i}: {h}" for i, h in closed.warm_pool_not_continued_once.items()],
            ),
            ("alerts", [f"{i}: {why}" for i, why in closed.alert_mismatches.items()]),
            ("lifecycle action timed out", closed.timed_out),
        ]
    for what, instances in listed:
        if instances:
            shown = ", ".join(instances[:SHOWN_INSTANCES])
            more = f" and {len(instances) - SHOWN_INSTANCES} more" if len(instances) > SHOWN_INSTANCES else ""
            lines.append(f"{what}: {shown}{more}")
    return lines


def _listed(problems: dict[str, str]) -> list[str]:
    return [f"{instance}: {why}" for instance, why in problems.items()]
