"""Runs the real Lambda handler the way Lambda does: one event, one context with a deadline, optionally in a
separate process that can be killed mid-call (what happens to a function that reaches its timeout)."""

from __future__ import annotations

import multiprocessing
import os
import traceback
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from typing import Any

from deploy_trigger_cli.local_lambda import LocalLambdaContext


@dataclass(frozen=True)
class Invocation:
    """How one invocation ended: ``result`` when the handler returned, ``error`` (the exception's type) when
    it raised, neither when the process was killed."""

    result: dict[str, Any] | None = None
    error: str | None = None
    message: str = ""

    @property
    def failed(self) -> bool:
        return self.error is not None


#: The Lambda entry points of ``deploy_trigger.handler`` one invocation may run: the dispatcher's, the drainer's and
#: the tracker's functions share one package, as they do in the deployed bundle.
ENTRY_POINTS = ("handler", "drainer_handler", "tracker_handler")


def invoke(event: Any, budget_seconds: float = 30.0, entry_point: str = "handler") -> Invocation:
    """Run one entry point (the dispatcher's unless told) in this process (a warm container: caches persist
    between calls)."""
    from deploy_trigger import handler as entry_points

    if entry_point not in ENTRY_POINTS:
        raise ValueError(f"no Lambda entry point {entry_point!r}; one of {', '.join(ENTRY_POINTS)}")
    function = getattr(entry_points, entry_point)
    try:
        return Invocation(result=function(event, LocalLambdaContext(budget_seconds=budget_seconds)))
    except Exception as error:  # the handler's way of failing an invocation
        return Invocation(error=type(error).__name__, message=str(error))


def _child(event: Any, budget_seconds: float, environment: dict[str, str], answers: Queue[Invocation]) -> None:
    os.environ.clear()
    os.environ.update(environment)
    try:
        answers.put(invoke(event, budget_seconds))
    except BaseException:  # report anything, even a crash outside the handler
        answers.put(Invocation(error="crash", message=traceback.format_exc()))


class ChildInvocation:
    """The handler in its own process (a cold container); ``kill()`` ends it like a Lambda timeout does."""

    def __init__(self, event: Any, budget_seconds: float = 30.0) -> None:
        context = multiprocessing.get_context("spawn")
        self._answers: Queue[Invocation] = context.Queue()
        self._process: BaseProcess = context.Process(
            target=_child, args=(event, budget_seconds, dict(os.environ), self._answers), daemon=True
        )
        self._process.start()

    def kill(self) -> None:
        self._process.kill()
        self._process.join()

    def wait(self, timeout: float = 60.0) -> Invocation:
        """The invocation's end; an empty Invocation if the process died without answering."""
        try:
            answer = self._answers.get(timeout=timeout)
        except Exception:
            answer = Invocation()
        self._process.join(timeout=5)
        return answer
