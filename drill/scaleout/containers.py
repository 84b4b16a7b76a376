"""Lambda containers as worker processes: each runs the real handler for one event at a time and stays warm.

A container has the handler imported before it takes work (Lambda's init phase) and keeps the handler's
caches between events (clients, the secret), as a warm Lambda container does. One that is killed is gone: the
pool replaces it with a fresh process, whose first invocation is a cold start again.

A pool may also hold containers of the bundle's other functions (the drainer's, with reserved concurrency 1): each
container belongs to one function, as Lambda's execution environments do, and only takes that function's jobs.

On Linux containers are forked from a zygote: a spawned process that did the init phase once. A replacement then
costs a fork instead of a fresh interpreter importing boto3 (about half a second of CPU, which on a small machine
the running containers would miss). Elsewhere each container is spawned. Nothing is forked from the parent
itself: it runs moto's client and the GitHub double in threads, and forking a threaded process is unsafe.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Mapping
from multiprocessing import reduction
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Protocol

from drill.scaleout.container_process import (
    FORK,
    Answer,
    InitFailed,
    Job,
    Ready,
    container_main,
    zygote_main,
)

_STARTUP_SECONDS = 60.0
_STOP_SECONDS = 2.0
#: The function a container runs unless the pool is told otherwise.
DISPATCHER = "dispatcher"


class ContainerError(RuntimeError):
    """A container could not start (its init phase failed); the message carries its traceback."""


class _Process(Protocol):
    def kill(self) -> None: ...
    def join(self, timeout: float) -> None: ...


class _Spawned:
    def __init__(self, process: BaseProcess) -> None:
        self._process = process

    def kill(self) -> None:
        self._process.kill()
        self._process.join(timeout=5)

    def join(self, timeout: float) -> None:
        self._process.join(timeout=timeout)
        if self._process.is_alive():
            self.kill()


class _Forked:
    """A container forked by the zygote: not our child, so it is watched by pid (the zygote reaps it)."""

    def __init__(self, pid: int) -> None:
        self._pid = pid

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._pid, signal.SIGKILL)

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(self._pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        self.kill()


class Container:
    def __init__(self, connection: Connection, process: _Process, name: str, function: str = DISPATCHER) -> None:
        self.connection = connection
        self._process = process
        self.name = name
        self.function = function
        self.ready = False
        self.running: Running | None = None

    def start(self, job: Job, now: float) -> None:
        self.connection.send(job)
        self.running = Running(job, now)

    def kill(self) -> None:
        """End the process at once, like Lambda ending a timed-out or crashed invocation's environment."""
        self._process.kill()
        self.connection.close()

    def ask_to_stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.send(None)  # the container's loop ends when it reads this

    def join(self) -> None:
        """Wait briefly for a container asked to stop; kill it if it does not."""
        self._process.join(_STOP_SECONDS)
        self.connection.close()


class Running:
    """What a busy container is doing, and since when (the parent's clock: Lambda's timeout starts here)."""

    def __init__(self, job: Job, started: float) -> None:
        self.job = job
        self.started = started


class _Zygote:
    def __init__(self, environment: Mapping[str, str], log_path: str | None) -> None:
        context = multiprocessing.get_context("spawn")
        self._control, child = context.Pipe()
        self._process = context.Process(
            target=zygote_main, args=(child, dict(environment), log_path), name="lambda-zygote", daemon=True
        )
        self._process.start()
        child.close()
        _expect_ready(self._control)

    def start(self, name: str, function: str) -> Container:
        ours, theirs = multiprocessing.Pipe()
        self._control.send(FORK)
        reduction.send_handle(self._control, theirs.fileno(), self._process.pid or 0)
        theirs.close()
        pid = self._control.recv()
        return Container(ours, _Forked(int(pid)), name, function)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._control.send(None)
        _Spawned(self._process).join(_STOP_SECONDS)
        self._control.close()


class _Spawner:
    def __init__(self, environment: Mapping[str, str], log_path: str | None) -> None:
        self._context = multiprocessing.get_context("spawn")
        self._environment = dict(environment)
        self._log_path = log_path

    def start(self, name: str, function: str) -> Container:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(
            target=container_main, args=(theirs, self._environment, self._log_path), name=name, daemon=True
        )
        process.start()
        theirs.close()
        return Container(ours, _Spawned(process), name, function)

    def close(self) -> None:
        pass


class ContainerPool:
    """A fixed number of containers (Lambda's reserved concurrency); use it as a context manager.

    ``size`` containers run the dispatcher; ``others`` adds containers of other functions (function -> count), e.g.
    ``{"drainer": 1}``. All share the one environment and init phase: the functions are one bundle."""

    def __init__(
        self,
        size: int,
        environment: Mapping[str, str],
        log_path: str | None = None,
        *,
        others: Mapping[str, int] | None = None,
    ) -> None:
        self._sizes = {DISPATCHER: size, **(others or {})}
        self._environment = dict(environment)
        self._log_path = log_path
        self._starter: _Zygote | _Spawner | None = None
        self._containers: list[Container] = []
        self._started = 0

    def __enter__(self) -> ContainerPool:
        # macOS frameworks are not fork-safe (Python itself defaults to spawn there), so only Linux forks.
        forking = sys.platform == "linux"
        self._starter = (_Zygote if forking else _Spawner)(self._environment, self._log_path)
        self._containers = [self._new(function) for function, count in self._sizes.items() for _ in range(count)]
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if exc_type is not None:  # interrupted (Ctrl-C) or failed: do not wait for invocations to finish
            for container in self._containers:
                container.kill()
        else:
            for container in self._containers:
                container.ask_to_stop()
            for container in self._containers:
                container.join()
        self._containers = []
        if self._starter is not None:
            self._starter.close()
            self._starter = None

    @property
    def cold_containers_started(self) -> int:
        return self._started

    def idle(self, function: str = DISPATCHER) -> Container | None:
        return next((c for c in self._containers if c.function == function and c.ready and c.running is None), None)

    def busy(self, function: str | None = None) -> list[Container]:
        """Busy containers of ``function``, or of every function (None)."""
        return [c for c in self._containers if c.running is not None and function in (None, c.function)]

    def wait_ready(self, timeout: float = _STARTUP_SECONDS) -> None:
        """Block until every container finished its init phase."""
        deadline = time.monotonic() + timeout
        while not all(c.ready for c in self._containers):
            if time.monotonic() > deadline:
                raise ContainerError(f"containers not ready after {timeout:g} s")
            self.receive(0.05)

    def replace(self, container: Container) -> None:
        """Drop a killed container and start a fresh (cold) one in its place."""
        self._containers.remove(container)
        self._containers.append(self._new(container.function))

    def receive(self, timeout: float) -> list[tuple[Container, Answer | None]]:
        """Answers from busy containers within ``timeout``; ``None`` for one whose process died."""
        listening = {c.connection: c for c in self._containers if not c.ready or c.running is not None}
        if not listening:
            time.sleep(timeout)
            return []
        answers: list[tuple[Container, Answer | None]] = []
        for connection in wait(list(listening), timeout):
            container = listening[connection]  # type: ignore[index]
            try:
                message = container.connection.recv()
            except (EOFError, OSError):
                answers.append((container, None))
                continue
            if isinstance(message, Ready):
                container.ready = True
            elif isinstance(message, InitFailed):
                raise ContainerError(f"a Lambda container failed to start:\n{message.message}")
            elif isinstance(message, Answer):
                answers.append((container, message))
        return answers

    def _new(self, function: str) -> Container:
        if self._starter is None:
            raise RuntimeError("ContainerPool is not running: use it as a context manager")
        self._started += 1
        return self._starter.start(f"{function}-container-{self._started}", function)


def _expect_ready(connection: Connection) -> None:
    if not connection.poll(_STARTUP_SECONDS):
        raise ContainerError(f"the Lambda container zygote did not start within {_STARTUP_SECONDS:g} s")
    message = connection.recv()
    if isinstance(message, InitFailed):
        raise ContainerError(f"the Lambda container zygote failed to start:\n{message.message}")
