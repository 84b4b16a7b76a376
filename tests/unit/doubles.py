"""The unit tests' doubles: a clock the test moves, and GitHub as the dispatcher sees it."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from deploy_trigger.deadline import Deadline
from deploy_trigger.errors import OutcomeUnknown
from deploy_trigger.runs import RunRef

#: The ledger table the ``dynamodb`` fixture creates.
TABLE = "ledger"


class Clock:
    """Wall and monotonic time in one, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class SleepingClock(Clock):
    """The clock a drainer sleeps on: each sleep moves it, and is remembered."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)


@dataclass
class ScriptedGitHub:
    """GitHub as the dispatcher sees it: each dispatch takes the next scripted answer."""

    answers: list[RunRef | Exception] = field(default_factory=list)
    runs: dict[str, RunRef] = field(default_factory=dict)  # dispatch_id -> run listed by GitHub
    dispatched: list[dict[str, str]] = field(default_factory=list)
    searched: list[str] = field(default_factory=list)

    def dispatch(self, ref: str, inputs: Mapping[str, str], deadline: Deadline) -> RunRef:
        self.dispatched.append({"ref": ref, **inputs})
        answer = self.answers.pop(0) if self.answers else RunRef(run_id=len(self.dispatched), html_url="https://x/1")
        if isinstance(answer, OutcomeUnknown) or not isinstance(answer, Exception):
            # GitHub made a run: it accepted, or it did and the answer was lost.
            self.runs[inputs["dispatch_id"]] = RunRef(run_id=100 + len(self.dispatched))
        if isinstance(answer, Exception):
            raise answer
        return answer

    def find_run(self, dispatch_id: str, created_since: float, deadline: Deadline) -> RunRef | None:
        self.searched.append(dispatch_id)
        return self.runs.get(dispatch_id)
