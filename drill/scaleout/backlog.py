"""The ledger's queue as the drill watches it: how many launches wait for GitHub budget, the oldest one's wait, and
who holds a queued launch's claim.

Read the way an operator's tooling would: Queries of the tracking index's WAITING partition (the drainer's queue),
``Select=COUNT`` for its length, the head for its oldest launch. A launch a drainer has taken stays in that
partition (``Ledger.take_from_queue``) until it is recorded, so "waiting" counts it until its run exists.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from deploy_trigger.ledger.codec import decode_entry, encode
from deploy_trigger.ledger.model import Status
from deploy_trigger.ledger.schema import PARTITION_KEY, TRACKING_INDEX, TRACKING_KEY, WAITING_FOR_BUDGET

#: How often the sampler reads the queue (wall seconds): its two Queries cost moto about a tenth of a second with
#: a thousand items, which the handler's calls would otherwise have.
SAMPLE_EVERY = 1.0


@dataclass(frozen=True)
class Sample:
    """The scale-out at one moment, ``at`` wall seconds after it began."""

    at: float
    waiting: int
    #: Wall seconds the longest-waiting launch in the queue has waited since its first claim (0 when none waits).
    oldest_wait: float
    #: Runs GitHub created so far, and events in the on-failure queue so far.
    runs: int
    dead_lettered: int


class QueueWatch:
    """Reads of the ledger's queue, on a client of its own (the sampler's thread, or the drill's loop). ``calls``
    counts them as moto does, so the report can leave the drill's own reads out of the handler's."""

    def __init__(self, dynamodb: Any, table: str, clock: Callable[[], float] = time.time) -> None:
        self._dynamodb = dynamodb
        self._table = table
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._partition = {
            "TableName": table,
            "IndexName": TRACKING_INDEX,
            "KeyConditionExpression": "#tracking = :waiting",
            "ExpressionAttributeNames": {"#tracking": TRACKING_KEY},
            "ExpressionAttributeValues": {":waiting": encode(WAITING_FOR_BUDGET)},
        }

    @property
    def calls(self) -> Counter[str]:
        with self._lock:
            return Counter(self._calls)

    def waiting(self) -> int:
        count, arguments = 0, dict(self._partition)
        while True:
            page = self._query(**arguments, Select="COUNT")
            count += int(page["Count"])
            if "LastEvaluatedKey" not in page:
                return count
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def queued_instances(self) -> list[str]:
        """Every launch in the queue (waiting, or taken by a drainer and not yet recorded), in order."""
        instances, arguments = [], dict(self._partition)
        while True:
            page = self._query(**arguments, ProjectionExpression=PARTITION_KEY)
            instances += [item[PARTITION_KEY]["S"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return instances
            arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def empty(self) -> bool:
        return not self._query(**self._partition, Limit=1).get("Items")

    def oldest_wait(self) -> float:
        """How long the head of the queue has waited (it is in arrival order: the head waited longest)."""
        items = self._query(**self._partition, Limit=1).get("Items", [])
        if not items:
            return 0.0
        return max(0.0, self._clock() - decode_entry(items[0]).first_claimed_at)

    def held_by_drainer(self, instance_id: str) -> bool:
        """Whether a drainer holds the launch's claim: taken from the queue, still in it until its run is recorded
        (a dispatcher's claim, even one that took over a drainer's, is never in the queue)."""
        self._count("dynamodb:GetItem")
        item = self._dynamodb.get_item(
            TableName=self._table,
            Key={PARTITION_KEY: encode(instance_id)},
            ConsistentRead=True,
            ProjectionExpression="#status, #tracking",
            ExpressionAttributeNames={"#status": "status", "#tracking": TRACKING_KEY},
        ).get("Item", {})
        status, tracking = item.get("status", {}).get("S"), item.get(TRACKING_KEY, {}).get("S")
        return bool(status == Status.CLAIMED.value and tracking == WAITING_FOR_BUDGET)

    def _query(self, **arguments: Any) -> dict[str, Any]:
        self._count("dynamodb:Query")
        answer: dict[str, Any] = self._dynamodb.query(**arguments)
        return answer

    def _count(self, call: str) -> None:
        with self._lock:
            self._calls[call] += 1


class BacklogSampler:
    """A thread that samples the queue every ``every`` seconds while the scale-out runs; use it as a context manager.

    ``origin`` gives the ``time.monotonic()`` the scale-out began at (0 until it has: no sample is taken before);
    ``runs`` and ``dead_lettered`` count what GitHub created and what went to the on-failure queue so far."""

    def __init__(
        self,
        watch: QueueWatch,
        origin: Callable[[], float],
        runs: Callable[[], int],
        dead_lettered: Callable[[], int],
        every: float = SAMPLE_EVERY,
    ) -> None:
        self._watch = watch
        self._origin = origin
        self._runs = runs
        self._dead_lettered = dead_lettered
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, name="backlog-sampler", daemon=True)
        self._lock = threading.Lock()
        self._samples: list[Sample] = []

    def __enter__(self) -> BacklogSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sample()  # the end state, after the last run and the last dead letter

    @property
    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

    @property
    def latest(self) -> Sample | None:
        with self._lock:
            return self._samples[-1] if self._samples else None

    def sample(self) -> Sample | None:
        origin = self._origin()
        if not origin:
            return None
        at = time.monotonic() - origin
        sample = Sample(
            at=round(at, 3),
            waiting=self._watch.waiting(),
            oldest_wait=round(self._watch.oldest_wait(), 3),
            runs=self._runs(),
            dead_lettered=self._dead_lettered(),
        )
        with self._lock:
            self._samples.append(sample)
        return sample

    def _sample_until_stopped(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()
