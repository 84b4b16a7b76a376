"""Progress while the drill runs: one line rewritten in place on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from typing import TextIO

from drill.scaleout.lambda_async import QueueStatus


@dataclass(frozen=True)
class Progress:
    """What the drill shows while it runs: the Lambda queue's state and the runs GitHub created so far."""

    queue: QueueStatus
    runs: int
    #: Launches waiting in the ledger's queue for GitHub budget (the last sample).
    waiting: int = 0

    def line(self) -> str:
        q = self.queue
        drainer = "draining" if q.drainer_running else "idle"
        return (
            f"[{q.elapsed:5.1f}s] events {q.delivered}/{q.deliveries}  invocations {q.invocations} "
            f"(running {q.in_flight}, queued {q.queued}, retries waiting {q.waiting_retries})  "
            f"runs {self.runs}  waiting for GitHub {self.waiting}  drainer {drainer} ({q.drainer_runs} runs)  "
            f"DLQ {q.dead_lettered}"
        )


class ProgressPrinter:
    def __init__(self, stream: TextIO, *, interactive: bool, every: float = 5.0) -> None:
        self._stream = stream
        self._interactive = interactive
        self._every = every
        self._last = 0.0
        self._shown = False

    def __call__(self, progress: Progress) -> None:
        if self._interactive:
            # One line rewritten in place: cut to the terminal's width, or it would wrap and scroll instead.
            width = shutil.get_terminal_size().columns - 1
            self._stream.write("\r\x1b[K" + progress.line()[:width])
            self._shown = True
        elif time.monotonic() - self._last >= self._every:
            self._last = time.monotonic()
            self._stream.write(progress.line() + "\n")
        self._stream.flush()

    def note(self, message: str) -> None:
        self.close()
        self._stream.write(message + "\n")
        self._stream.flush()

    def close(self) -> None:
        """End the line being rewritten, so what follows starts on a fresh one."""
        if self._shown:
            self._stream.write("\n")
            self._stream.flush()
            self._shown = False
