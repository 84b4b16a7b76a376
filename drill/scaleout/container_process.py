"""The code that runs inside a Lambda container process (and inside the zygote that forks them).

Kept apart from the parent's pool, and light to import: a container must load the handler's dependencies and
nothing of the drill's (moto, the GitHub double, the report).
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection
from typing import Any

from stand_ins.invoke import Invocation

#: Variables a developer's shell might carry that must not reach the handler: real credentials, a profile,
#: settings of another deployment.
_INHERITED_BUT_NOT_WANTED = (
    "AWS_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "ALLOWED_ASG_NAMES",
    "WORKFLOW_EXTRA_INPUTS",
    "GITHUB_API_VERSION",
)
#: What the parent sends the zygote to ask for one more container (followed by the container's pipe end).
FORK = "fork"


@dataclass(frozen=True)
class Job:
    invocation_id: int
    event: Any
    budget_seconds: float
    #: Which function of the bundle runs the event (``stand_ins.invoke.ENTRY_POINTS``): the dispatcher by default.
    entry_point: str = "handler"


@dataclass(frozen=True)
class Answer:
    invocation_id: int
    invocation: Invocation
    seconds: float
    cold: bool


@dataclass(frozen=True)
class Ready:
    pass


@dataclass(frozen=True)
class InitFailed:
    message: str


def container_main(connection: Connection, environment: Mapping[str, str], log_path: str | None) -> None:
    """A container started on its own (``spawn``): init, then one event at a time."""
    if _init(connection, environment, log_path):
        serve(connection)


def zygote_main(control: Connection, environment: Mapping[str, str], log_path: str | None) -> None:
    """Init once, then fork one container per request: each starts with the handler imported (its init phase
    done) and nothing cached (its first invocation builds clients and reads the secret: a cold start)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the containers; no zombies
    if not _init(control, environment, log_path):
        return
    while True:
        try:
            request = control.recv()
        except EOFError:
            return
        if request != FORK:
            return
        descriptor = reduction.recv_handle(control)
        pid = os.fork()
        if pid == 0:
            control.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _run_forked(Connection(descriptor))
        os.close(descriptor)
        control.send(pid)


def serve(connection: Connection) -> None:
    """Run the handler for each job until the parent says stop (or goes away)."""
    from stand_ins.invoke import invoke

    cold = True
    while True:
        try:
            job = connection.recv()
        except EOFError:
            return
        if not isinstance(job, Job):
            return
        started = time.perf_counter()
        invocation = invoke(job.event, job.budget_seconds, job.entry_point)
        connection.send(Answer(job.invocation_id, invocation, time.perf_counter() - started, cold))
        cold = False


def _run_forked(connection: Connection) -> None:
    try:
        connection.send(Ready())
        serve(connection)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)  # never return into the zygote's loop


def _init(connection: Connection, environment: Mapping[str, str], log_path: str | None) -> bool:
    """Lambda's init phase: environment, output, imports. Tells the parent whether it worked."""
    _redirect_output(log_path)
    for name in _INHERITED_BUT_NOT_WANTED:
        os.environ.pop(name, None)
    os.environ.update(environment)
    try:
        import deploy_trigger.handler  # noqa: F401
        import stand_ins.invoke  # noqa: F401
    except Exception:
        connection.send(InitFailed(traceback.format_exc()))
        return False
    connection.send(Ready())
    return True


def _redirect_output(log_path: str | None) -> None:
    """Send the handler's JSON logs (and EMF documents) to a file or nowhere, so the terminal stays the drill's."""
    target = os.open(log_path or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(target, 1)
    os.dup2(target, 2)
    os.close(target)
