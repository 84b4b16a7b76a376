"""Lambda's asynchronous invocation, played by the drill's parent process.

EventBridge hands each event to Lambda's queue; Lambda runs it in a free container under the function timeout,
and when the invocation fails (the handler raised, the process died, or the timeout hit) runs it again after the
retry delays, keeping the request ID. Once the retries are spent the event and the last error go to the
on-failure destination. Events wait in the queue while every container is busy, as they do at reserved
concurrency.

The drainer function runs beside it in a container of its own (``drill.scaleout.drainer`` says when), under its
own budget as its timeout; Lambda does not retry a scheduled run, the next one comes anyway. Once the dispatcher's
events have settled the drainer keeps running until the ledger's queue is empty, or a cap has passed.
"""

from __future__ import annotations

import heapq
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from drill.scaleout.backlog import QueueWatch
from drill.scaleout.config import DrillConfig
from drill.scaleout.container_process import Answer, Job
from drill.scaleout.containers import DISPATCHER, Container, ContainerPool
from drill.scaleout.drainer import SCHEDULED_EVENT, DrainerRun, DrainerSchedule
from drill.scaleout.faults import KillSwitch
from drill.scaleout.on_failure import OnFailureQueue
from drill.scaleout.plan import Delivery, DeliveryKind

#: How long the loop sleeps at most between looks at the clock (kills and timeouts are this precise).
TICK_SECONDS = 0.02
#: The drainer's containers, and the entry point they run.
DRAINER = "drainer"
DRAINER_ENTRY_POINT = "drainer_handler"
#: Once the events have settled, the drill looks this often (wall seconds) how long the ledger's queue still is.
QUEUE_CHECK_SECONDS = 2.0

#: Lambda's error types for invocations that ended without the handler's own answer.
KILLED = "Runtime.ExitError"
TIMED_OUT = "Sandbox.Timedout"


class EndedBy(StrEnum):
    RETURNED = "returned"
    RAISED = "raised"
    KILLED = "killed"  # the drill killed the process while its dispatch POST hung in GitHub
    TIMED_OUT = "timed_out"  # the function timeout hit (the handler should never let it)
    CRASHED = "crashed"  # the process died on its own


@dataclass(frozen=True)
class InvocationRecord:
    delivery: int
    kind: DeliveryKind
    request_id: str
    instance_id: str | None
    attempt: int
    #: Seconds since the scale-out began, and how long the invocation ran.
    started: float
    seconds: float
    ended_by: EndedBy
    #: The handler's ``result`` ("dispatched", "reconciled", "duplicate", "ignored") when it returned.
    result: str | None
    error_type: str | None
    error_message: str
    cold: bool

    @property
    def failed(self) -> bool:
        return self.error_type is not None


@dataclass(frozen=True)
class QueueStatus:
    elapsed: float
    delivered: int
    deliveries: int
    invocations: int
    in_flight: int
    queued: int
    waiting_retries: int
    dead_lettered: int
    drainer_runs: int = 0
    drainer_running: bool = False


@dataclass(frozen=True)
class _Attempt:
    delivery: Delivery
    request_id: str
    number: int


class LambdaAsyncQueue:
    def __init__(
        self,
        pool: ContainerPool,
        config: DrillConfig,
        destination: OnFailureQueue,
        kill_switch: KillSwitch,
        clock: Callable[[], float] = time.monotonic,
        *,
        drainer: DrainerSchedule | None = None,
        watch: QueueWatch | None = None,
        drain_cap: float = 0.0,
    ) -> None:
        """``drainer`` runs the drainer function too (in the pool's DRAINER container); ``watch`` reads the ledger's
        queue (how long it is, who holds a launch); ``drain_cap``: once the events have settled, the drain stops when
        the queue has not got shorter for this many seconds."""
        self._pool = pool
        self._timeout = config.function_timeout
        self._retry_delays = config.retry_delays
        self._destination = destination
        self._kill_switch = kill_switch
        self._clock = clock
        self._queue: list[tuple[float, int, _Attempt]] = []
        self._sequence = 0
        self._attempts: dict[int, _Attempt] = {}
        self._records: list[InvocationRecord] = []
        self._origin = 0.0
        self._delivered = 0
        self._dead_lettered = 0
        self.missed_kills = 0
        self._drainer = drainer
        self._watch = watch
        self._drain_cap = drain_cap
        self._drainer_jobs: dict[int, str] = {}
        #: When the events had all settled (nothing queued, no dispatcher running), and whether the drain then ended
        #: by the cap rather than by an empty queue.
        self._settled_at: float | None = None
        self._queue_checked_at = float("-inf")
        self._progress_at = 0.0
        self._waiting = 2**63
        self._queue_empty = False
        self._drain_over = False
        self.drain_capped = False
        #: Epoch seconds of the scale-out's start (what the GitHub double's run times are compared with).
        self.origin_epoch = 0.0

    def run(
        self,
        deliveries: Iterable[Delivery],
        on_status: Callable[[QueueStatus], None] | None = None,
        status_every: float = 0.2,
    ) -> list[InvocationRecord]:
        """Deliver every event, run every invocation and retry to its end; return what each invocation did."""
        planned = list(deliveries)
        now = self._clock()
        if not self._origin:  # a second run (after the sweep) keeps the scale-out's clock
            self._origin, self.origin_epoch = now, time.time()
        for delivery in planned:
            self._push(now + delivery.offset, _Attempt(delivery, str(uuid.uuid4()), 1))
        self._settled_at, self._queue_empty, self._drain_over = None, False, False
        last_status = 0.0
        while self._work_left(now):
            self._obey_kill_switch(now)
            self._enforce_timeout(now)
            self._start_due(now)
            self._start_drainer(now)
            for container, answer in self._pool.receive(self._wait_for(now)):
                self._finish(container, answer)
            if on_status is not None and self._clock() - last_status >= status_every:
                last_status = self._clock()
                on_status(self.status(len(planned)))
            now = self._clock()
        self.missed_kills += len(self._kill_switch.due())
        if on_status is not None:
            on_status(self.status(len(planned)))
        return list(self._records)

    def status(self, planned: int) -> QueueStatus:
        now = self._clock()
        return QueueStatus(
            elapsed=now - self._origin,
            delivered=self._delivered,
            deliveries=planned,
            invocations=len(self._records),
            in_flight=len(self._pool.busy()),
            queued=sum(1 for due, _, attempt in self._queue if due <= now),
            waiting_retries=sum(1 for due, _, attempt in self._queue if attempt.number > 1 and due > now),
            dead_lettered=self._dead_lettered,
            drainer_runs=len(self.drainer_runs),
            drainer_running=bool(self._pool.busy(DRAINER)),
        )

    @property
    def dead_lettered(self) -> int:
        return self._dead_lettered

    @property
    def origin(self) -> float:
        """The clock's reading when the scale-out began (0 before it has)."""
        return self._origin

    @property
    def drainer_runs(self) -> list[DrainerRun]:
        return list(self._drainer.runs) if self._drainer is not None else []

    def _work_left(self, now: float) -> bool:
        """Events to deliver or retry, an invocation running, or (with a drainer) launches still queued and the
        queue still getting shorter (at the latest ``drain_cap`` seconds apart)."""
        if self._queue or self._pool.busy(DISPATCHER):
            return True
        if self._settled_at is None:
            self._settled_at = self._progress_at = now
        if not self._drain_over and self._drainer is not None and self._drainer.enabled and self._watch is not None:
            if now - self._queue_checked_at >= QUEUE_CHECK_SECONDS:
                self._queue_checked_at = now
                waiting = self._watch.waiting()
                if waiting < self._waiting:
                    self._progress_at = now
                self._waiting, self._queue_empty = waiting, waiting == 0
            if self._queue_empty:
                self._drain_over = True
            elif now - self._progress_at > self._drain_cap:
                self._drain_over = self.drain_capped = True
        else:
            self._drain_over = True
        return bool(self._pool.busy(DRAINER)) or not self._drain_over

    # -- the queue ------------------------------------------------------------------------------------------

    def _push(self, due: float, attempt: _Attempt) -> None:
        self._sequence += 1
        heapq.heappush(self._queue, (due, self._sequence, attempt))

    def _start_due(self, now: float) -> None:
        while self._queue and self._queue[0][0] <= now:
            container = self._pool.idle(DISPATCHER)
            if container is None:
                return  # every container is busy: the event waits, as it does at reserved concurrency
            _, invocation_id, attempt = heapq.heappop(self._queue)
            if attempt.number == 1:
                self._delivered += 1
            self._attempts[invocation_id] = attempt
            container.start(Job(invocation_id, attempt.delivery.event, self._timeout), now)

    def _start_drainer(self, now: float) -> None:
        if self._drainer is None or self._drain_over:
            return
        trigger = self._drainer.due(now)
        container = self._pool.idle(DRAINER) if trigger is not None else None
        if trigger is None or container is None:
            return
        self._sequence += 1
        self._drainer_jobs[self._sequence] = trigger
        container.start(Job(self._sequence, SCHEDULED_EVENT, self._drainer.budget, DRAINER_ENTRY_POINT), now)
        self._drainer.started(now)

    def _wait_for(self, now: float) -> float:
        if self._queue and self._pool.idle(DISPATCHER) is not None:
            return min(TICK_SECONDS, max(0.0, self._queue[0][0] - now))
        return TICK_SECONDS

    # -- ends of invocations --------------------------------------------------------------------------------

    def _obey_kill_switch(self, now: float) -> None:
        # The double cannot tell which process sent the hanging POST. When the ledger says a drainer holds the
        # launch's claim (taken from the queue), the drainer sent it and dies. Otherwise every container running an
        # event of that instance dies: the POST's sender for sure, and rarely a duplicate of the same event still
        # starting up (it would have lost the claim anyway; it is retried like any failed invocation).
        for instance in self._kill_switch.due():
            drainers = self._pool.busy(DRAINER)
            if drainers and self._watch is not None and self._watch.held_by_drainer(instance):
                victims = drainers
            else:
                victims = [
                    c for c in self._pool.busy(DISPATCHER) if self._running_attempt(c).delivery.instance_id == instance
                ]
            if not victims:
                self.missed_kills += 1
            for container in victims:
                message = f"RequestId: {self._request_id(container)} Error: Runtime exited with error: signal: killed"
                self._end_abruptly(container, now, EndedBy.KILLED, KILLED, message)

    def _enforce_timeout(self, now: float) -> None:
        for container in self._pool.busy():
            running = container.running
            timeout = running.job.budget_seconds if running is not None else self._timeout
            if running is not None and now - running.started > timeout:
                message = f"RequestId: {self._request_id(container)} Error: Task timed out after {timeout:.2f} seconds"
                self._end_abruptly(container, now, EndedBy.TIMED_OUT, TIMED_OUT, message)

    def _end_abruptly(self, container: Container, now: float, ended_by: EndedBy, error: str, message: str) -> None:
        running = container.running
        assert running is not None  # noqa: S101 - only busy containers are ended
        container.kill()
        self._pool.replace(container)
        if container.function == DRAINER:
            self._record_drainer(
                running.job.invocation_id, started=running.started, ended=now, ended_by=ended_by, report=None,
                error_type=error, message=message,
            )  # fmt: skip
            return
        attempt = self._attempts.pop(running.job.invocation_id)
        self._record(
            attempt,
            started=running.started,
            seconds=now - running.started,
            ended_by=ended_by,
            result=None,
            error_type=error,
            message=message,
            cold=False,
        )

    def _finish(self, container: Container, answer: Answer | None) -> None:
        running = container.running
        if container.function == DRAINER:
            self._finish_drainer(container, answer)
            return
        if answer is None:  # the process died on its own
            self._pool.replace(container)
            if running is not None:
                attempt = self._attempts.pop(running.job.invocation_id)
                self._record(
                    attempt,
                    started=running.started,
                    seconds=self._clock() - running.started,
                    ended_by=EndedBy.CRASHED,
                    result=None,
                    error_type=KILLED,
                    message=f"RequestId: {attempt.request_id} Error: Runtime exited without providing a reason",
                    cold=False,
                )
            return
        container.running = None
        attempt = self._attempts.pop(answer.invocation_id)
        started = running.started if running is not None else self._clock() - answer.seconds
        outcome = answer.invocation
        result = outcome.result.get("result") if outcome.result is not None else None
        if result == "queued" and self._drainer is not None:
            self._drainer.wake()  # what the dispatcher does when DRAINER_FUNCTION_NAME is set
        ended_by = EndedBy.RAISED if outcome.error is not None else EndedBy.RETURNED
        self._record(
            attempt,
            started=started,
            seconds=answer.seconds,
            ended_by=ended_by,
            result=str(result) if result is not None else None,
            error_type=outcome.error,
            message=outcome.message,
            cold=answer.cold,
        )

    def _record(
        self,
        attempt: _Attempt,
        *,
        started: float,
        seconds: float,
        ended_by: EndedBy,
        result: str | None,
        error_type: str | None,
        message: str,
        cold: bool,
    ) -> None:
        delivery = attempt.delivery
        self._records.append(
            InvocationRecord(
                delivery=delivery.number,
                kind=delivery.kind,
                request_id=attempt.request_id,
                instance_id=delivery.instance_id,
                attempt=attempt.number,
                started=round(started - self._origin, 3),
                seconds=seconds,
                ended_by=ended_by,
                result=result,
                error_type=error_type,
                error_message=message,
                cold=cold,
            )
        )
        if error_type is None:
            return
        if attempt.number <= len(self._retry_delays):
            retry = _Attempt(delivery, attempt.request_id, attempt.number + 1)
            self._push(self._clock() + self._retry_delays[attempt.number - 1], retry)
        else:
            self._destination.send(delivery.event, attempt.request_id, attempt.number, error_type, message)
            self._dead_lettered += 1

    def _finish_drainer(self, container: Container, answer: Answer | None) -> None:
        running = container.running
        if answer is None:  # the process died on its own
            self._pool.replace(container)
            if running is not None:
                message = "Error: Runtime exited without providing a reason"
                job = running.job.invocation_id
                self._record_drainer(
                    job, started=running.started, ended=self._clock(), ended_by=EndedBy.CRASHED, report=None,
                    error_type=KILLED, message=message,
                )  # fmt: skip
            return
        container.running = None
        started = running.started if running is not None else self._clock() - answer.seconds
        outcome = answer.invocation
        ended_by = EndedBy.RAISED if outcome.error is not None else EndedBy.RETURNED
        self._record_drainer(
            answer.invocation_id, started=started, ended=started + answer.seconds, ended_by=ended_by,
            report=outcome.result, error_type=outcome.error, message=outcome.message,
        )  # fmt: skip

    def _record_drainer(
        self,
        invocation_id: int,
        *,
        started: float,
        ended: float,
        ended_by: EndedBy,
        report: dict[str, object] | None,
        error_type: str | None,
        message: str,
    ) -> None:
        assert self._drainer is not None  # noqa: S101 - only the drainer's container runs drainer jobs
        self._drainer.record(
            DrainerRun(
                started=round(started - self._origin, 3),
                seconds=round(ended - started, 3),
                ended_by=ended_by.value,
                report=dict(report) if report is not None else None,
                error_type=error_type,
                error_message=message,
                trigger=self._drainer_jobs.pop(invocation_id, "schedule"),
            )
        )

    def _request_id(self, container: Container) -> str:
        if container.function == DRAINER:
            return f"drainer-{container.running.job.invocation_id if container.running else 0}"
        return self._running_attempt(container).request_id

    def _running_attempt(self, container: Container) -> _Attempt:
        running = container.running
        assert running is not None  # noqa: S101 - callers pass busy containers
        return self._attempts[running.job.invocation_id]
