"""The drill's verdict: did every launch get exactly one workflow run, and does the ledger agree?

Counted where it matters: runs per ``instance_id`` input in the GitHub double (what GitHub would have started),
not the handler's own claims. A launch GitHub rejected for good (422) legitimately has no run; it counts as
handled only when the ledger says FAILED and its event is in the dead-letter queue, where an operator sees it.
A launch GitHub's rate limits held back waits in the ledger's queue until the drainer sends it: one still queued
at the end is a launch never deployed, and one in the DLQ is a rate limit that reached it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from deploy_trigger.ledger.model import LedgerEntry, Status
from deploy_trigger.lifecycle import LifecycleResult
from drill.scaleout.faults import FaultKind
from drill.scaleout.lifecycle import SUCCESS, LifecycleObserved
from drill.scaleout.on_failure import DeadLetter
from drill.scaleout.plan import Plan
from drill.scaleout.stand_ins import DEFAULT_RESULT


@dataclass(frozen=True)
class Verdict:
    ok: bool
    launches: int
    #: Launches that should have a run and have none (an instance never deployed).
    zero_runs: list[str] = field(default_factory=list)
    #: Launches with more than one run: instance ID -> runs (two deployments racing on one server).
    multiple_runs: dict[str, int] = field(default_factory=dict)
    #: Runs for an instance ID no valid launch carried (a malformed event that was dispatched anyway).
    unexpected_runs: dict[str, int] = field(default_factory=dict)
    #: Event IDs of malformed events that did not end in the dead-letter queue.
    malformed_not_dead_lettered: list[str] = field(default_factory=list)
    #: Launches GitHub rejected that ended as they should: no run, ledger FAILED, event in the DLQ.
    rejected_accounted: list[str] = field(default_factory=list)
    rejected_unaccounted: list[str] = field(default_factory=list)
    #: Instance ID -> how the ledger disagrees with GitHub (status not DISPATCHED, or another run ID).
    ledger_disagreements: dict[str, str] = field(default_factory=dict)
    #: Dead-lettered events that are neither malformed nor a launch GitHub rejected: "error: message" by event ID.
    #: A failure that only the DLQ shows is a launch an operator must redrive by hand.
    unexpected_dead_letters: dict[str, str] = field(default_factory=dict)
    #: Launches whose event never came: how many; and those the sweep did not hand over exactly once.
    lost_events: int = 0
    lost_not_swept_once: dict[str, int] = field(default_factory=dict)
    #: Launches still in the ledger's queue (WAITING, or taken by a drainer and never recorded) at the end.
    still_queued: list[str] = field(default_factory=list)
    #: Lifecycle mode only: how the tracker closed the loop.
    lifecycle: LifecycleVerdict | None = None

    @property
    def summary(self) -> str:
        if self.ok:
            deployed = self.launches - len(self.rejected_accounted)
            text = f"OK: each of the {deployed} deployable launches got exactly one run"
            if self.rejected_accounted:
                text += f"; {len(self.rejected_accounted)} rejected by GitHub are FAILED in the ledger and in the DLQ"
            if self.lifecycle is not None:
                text += (
                    f"; each of the {self.lifecycle.hooked} lifecycle actions was completed once, CONTINUE for the "
                    "runs that succeeded and ABANDON for the ones that failed, one alert per failure; each of the "
                    f"{self.lifecycle.warm_pool_entries} warm-pool entries was continued once and never deployed; "
                    f"each of the {self.lost_events} launches whose event never came was found by the sweep"
                )
            return text
        problems = [
            (len(self.zero_runs), "launches with no run"),
            (len(self.multiple_runs), "launches with more than one run"),
            (len(self.unexpected_runs), "runs for instances that never launched"),
            (len(self.malformed_not_dead_lettered), "malformed events missing from the DLQ"),
            (len(self.rejected_unaccounted), "rejected launches not FAILED+DLQ"),
            (len(self.ledger_disagreements), "ledger items that disagree with GitHub"),
            (len(self.unexpected_dead_letters), "dead-lettered events that are neither malformed nor rejected"),
            (len(self.lost_not_swept_once), "lost launch events the sweep did not find exactly once"),
            (len(self.still_queued), "launches still queued for GitHub budget"),
            *(self.lifecycle.problems() if self.lifecycle is not None else []),
        ]
        return "BROKEN: " + ", ".join(f"{count} {what}" for count, what in problems if count)


@dataclass(frozen=True)
class LifecycleVerdict:
    """Lifecycle mode: each deployable lifecycle-hook launch's action completed exactly once by the tracker, with
    the result its run called for; each ledger item finished as its run did; one alert per failed deployment."""

    ok: bool
    #: Lifecycle-hook launches that should have been completed (GitHub-rejected launches have no run to follow).
    hooked: int
    #: Instance -> how often the tracker completed its action (anything but exactly once).
    not_completed_once: dict[str, int] = field(default_factory=dict)
    #: Instance -> "run success, instance ABANDON" and the like: the instance's fate contradicts its run.
    wrong_result: dict[str, str] = field(default_factory=dict)
    #: Instance -> how its final ledger item disagrees with its run.
    ledger_disagreements: dict[str, str] = field(default_factory=dict)
    #: Instance -> "2 alerts for a failed deployment" and the like.
    alert_mismatches: dict[str, str] = field(default_factory=dict)
    #: Warm-pool entries (continued by the dispatcher, exactly once, never deployed).
    warm_pool_entries: int = 0
    #: Instance -> how its warm-pool entry's action ended, when that was not one CONTINUE.
    warm_pool_not_continued_once: dict[str, str] = field(default_factory=dict)
    #: Lifecycle actions that ended by a timeout (heartbeat or global) rather than by the tracker: instances lost
    #: to waiting, whatever their run did.
    timed_out: list[str] = field(default_factory=list)

    def problems(self) -> list[tuple[int, str]]:
        return [
            (len(self.not_completed_once), "lifecycle actions not completed exactly once by the tracker"),
            (len(self.wrong_result), "instances whose fate contradicts their run"),
            (len(self.ledger_disagreements), "ledger items that did not finish as their run"),
            (len(self.alert_mismatches), "deployments without exactly the alerts they call for"),
            (len(self.warm_pool_not_continued_once), "warm-pool entries not continued exactly once"),
            (len(self.timed_out), "lifecycle actions that timed out"),
        ]


def judge_lifecycle(
    observed: LifecycleObserved, deployable: Iterable[str], runs: Mapping[str, list[int]]
) -> LifecycleVerdict:
    """``deployable``: launches that should have exactly one run; ``runs``: instance -> its run IDs."""
    deployable = set(deployable)
    hooked = sorted(observed.hooked & deployable)
    not_once = {
        i: observed.completed_by_tracker.get(i, 0) for i in hooked if observed.completed_by_tracker.get(i, 0) != 1
    }
    wrong: dict[str, str] = {}
    for instance in hooked:
        conclusion = observed.conclusions.get(instance)
        expected = "CONTINUE" if conclusion == SUCCESS else DEFAULT_RESULT.value
        fates = observed.fates.get(instance, [])
        if fates != [expected]:
            how = ", then ".join(fates) or "still pending"
            timed_out = " (heartbeat timeout: the default result)" if instance in observed.timed_out else ""
            wrong[instance] = f"run {conclusion or 'missing'}, action {how}{timed_out}"
    ledger: dict[str, str] = {}
    alerts: dict[str, str] = {}
    for instance in sorted(deployable):
        conclusion, run_ids = observed.conclusions.get(instance), runs.get(instance, [])
        if conclusion is None or len(run_ids) != 1:
            continue  # no run or several: the run verdict already reports it
        expected_status = Status.SUCCEEDED if conclusion == SUCCESS else Status.DEPLOY_FAILED
        item = observed.ledger.get(instance)
        if item is None:
            ledger[instance] = "no ledger item"
        elif item.status != expected_status:
            ledger[instance] = f"ledger status {item.status}, run {run_ids[0]} ended {conclusion}"
        elif item.run_id != run_ids[0]:
            ledger[instance] = f"ledger run_id {item.run_id}, GitHub's run is {run_ids[0]}"
        expected_alerts, sent = (0 if conclusion == SUCCESS else 1), observed.alerts.get(instance, 0)
        if sent != expected_alerts:
            alerts[instance] = f"{sent} alerts for a deployment that ended {conclusion}"
    warm = {
        instance: ", then ".join(fates) or "still pending"
        for instance, fates in observed.warm_pool_fates.items()
        if fates != [LifecycleResult.CONTINUE.value]
    }
    expired = sorted(set(observed.timed_out))
    return LifecycleVerdict(
        ok=not (not_once or wrong or ledger or alerts or warm or expired),
        hooked=len(hooked),
        not_completed_once=not_once,
        wrong_result=wrong,
        ledger_disagreements=ledger,
        alert_mismatches=alerts,
        warm_pool_entries=len(observed.warm_pool_fates),
        warm_pool_not_continued_once=warm,
        timed_out=expired,
    )


def judge(
    plan: Plan,
    runs: Iterable[tuple[str, int]],
    ledger: Mapping[str, LedgerEntry],
    dead_letters: Iterable[DeadLetter],
    lifecycle: LifecycleObserved | None = None,
    *,
    swept: Iterable[str] = (),
    still_queued: Iterable[str] = (),
) -> Verdict:
    """``runs`` is (instance_id input, run ID) for every run GitHub created; ``still_queued``, the launches in the
    ledger's queue at the end."""
    run_ids: dict[str, list[int]] = {}
    for instance, run_id in runs:
        run_ids.setdefault(instance, []).append(run_id)
    letters = list(dead_letters)
    dead_lettered_instances = {letter.instance_id for letter in letters}
    dead_lettered_events = {letter.event_id for letter in letters}
    launched = {launch.instance_id for launch in plan.launches}
    rejected = {launch.instance_id for launch in plan.launches if launch.fault is FaultKind.REJECTED}

    counts = Counter({instance: len(ids) for instance, ids in run_ids.items()})
    zero_runs = sorted(i for i in launched - rejected if counts[i] == 0)
    multiple_runs = {i: counts[i] for i in sorted(launched) if counts[i] > 1}
    unexpected_runs = {i: n for i, n in sorted(counts.items()) if i not in launched}
    malformed_missing = sorted(d.event_id for d in plan.malformed if d.event_id not in dead_lettered_events)
    malformed_events = {d.event_id for d in plan.malformed}
    swept_once = Counter(swept)
    lost_not_swept_once = {
        str(d.instance_id): swept_once[str(d.instance_id)] for d in plan.lost if swept_once[str(d.instance_id)] != 1
    }
    unexpected_letters = {
        str(letter.event_id): f"{letter.error_type}: {letter.error_message}"[:200]
        for letter in letters
        if letter.event_id not in malformed_events and letter.instance_id not in rejected
    }

    accounted: list[str] = []
    unaccounted: list[str] = []
    for instance in sorted(rejected):
        item = ledger.get(instance)
        handled = counts[instance] == 0 and item is not None and item.status is Status.FAILED
        (accounted if handled and instance in dead_lettered_instances else unaccounted).append(instance)

    disagreements: dict[str, str] = {}
    for instance in sorted(launched - rejected):
        if counts[instance] != 1:
            continue  # already a broken invariant; the ledger cannot be right about it either
        item, run_id = ledger.get(instance), run_ids[instance][0]
        if item is None:
            disagreements[instance] = "no ledger item"
        elif item.status is not Status.DISPATCHED:
            disagreements[instance] = f"ledger status {item.status}, GitHub has run {run_id}"
        elif item.run_id != run_id:
            disagreements[instance] = f"ledger run_id {item.run_id}, GitHub's run is {run_id}"

    queued = sorted(still_queued)
    closed = judge_lifecycle(lifecycle, launched - rejected, run_ids) if lifecycle is not None else None
    ok = not (
        zero_runs
        or multiple_runs
        or unexpected_runs
        or malformed_missing
        or unaccounted
        or disagreements
        or unexpected_letters
        or lost_not_swept_once
        or queued
    )
    ok = ok and (closed is None or closed.ok)
    return Verdict(
        ok=ok,
        launches=len(launched),
        zero_runs=zero_runs,
        multiple_runs=multiple_runs,
        unexpected_runs=unexpected_runs,
        malformed_not_dead_lettered=malformed_missing,
        rejected_accounted=accounted,
        rejected_unaccounted=unaccounted,
        ledger_disagreements=disagreements,
        unexpected_dead_letters=unexpected_letters,
        lost_not_swept_once=lost_not_swept_once,
        lost_events=len(plan.lost),
        still_queued=queued,
        lifecycle=closed,
    )
