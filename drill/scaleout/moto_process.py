"""moto server in a process of its own.

moto spends tens of milliseconds of CPU on each of the ledger's conditional UpdateItem calls (its expression
validator), one request at a time. In the drill's parent process it would share the GIL with the GitHub double
and the Lambda stand-in, and every thread switch would stall all three; in its own process it has a core to
itself and the parent stays responsive. It is the same :class:`SerializedMotoServer`, reached over a pipe.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections import Counter
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import TracebackType

_STARTUP_SECONDS = 60.0


def _serve(connection: Connection) -> None:
    from stand_ins.moto_server import SerializedMotoServer

    with SerializedMotoServer() as server:
        connection.send(server.url)
        while True:
            try:
                command = connection.recv()
            except EOFError:
                return
            if command == "calls":
                connection.send(dict(server.calls))
            elif command == "reset_calls":
                server.reset_calls()
                connection.send(None)
            else:
                return


class MotoProcess:
    """Use it as a context manager; ``url`` is the endpoint, ``calls`` counts the calls as moto_server does."""

    def __init__(self) -> None:
        self._connection: Connection | None = None
        self._process: BaseProcess | None = None
        self._url: str | None = None

    def __enter__(self) -> MotoProcess:
        context = multiprocessing.get_context("spawn")
        self._connection, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child,), name="moto-server", daemon=True)
        self._process.start()
        child.close()
        if not self._connection.poll(_STARTUP_SECONDS):
            raise RuntimeError(f"moto server did not start within {_STARTUP_SECONDS:g} s")
        self._url = str(self._connection.recv())
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if self._connection is not None:
            with contextlib.suppress(OSError):
                self._connection.send("stop")
            self._connection.close()
        if self._process is not None:
            self._process.join(timeout=10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join(timeout=5)

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("MotoProcess is not running: use it as a context manager")
        return self._url

    @property
    def calls(self) -> Counter[str]:
        """The calls served so far, keyed ``"service:Operation"``."""
        return Counter(self._ask("calls"))

    def reset_calls(self) -> None:
        self._ask("reset_calls")

    def _ask(self, command: str) -> dict[str, int]:
        if self._connection is None:
            raise RuntimeError("MotoProcess is not running: use it as a context manager")
        self._connection.send(command)
        answer = self._connection.recv()
        return answer if isinstance(answer, dict) else {}
