"""Runs examples/release/release.sh against a temporary application root, and holds flock(1) locks the way a
second deploy or a long-running app process would. Needs bash, coreutils and util-linux flock; nothing else."""

import fcntl
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "release" / "release.sh"
BASH = shutil.which("bash") or "/bin/bash"
FLOCK = shutil.which("flock") or "/usr/bin/flock"

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_LOCK_TIMEOUT, EXIT_FAILURE = 0, 1, 2, 3, 4

LOG_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) release\.sh\[(?P<pid>\d+)\]: (?P<msg>.*)$")
RELEASE_NAME = re.compile(r"^(?P<id>.+)-\d{8}T\d{6}Z-(?P<seq>\d{6,})$")

# The environment the script may read; cleared so that the machine running the tests cannot configure it.
SCRIPT_VARIABLES = (
    "RELEASE_ROOT",
    "RELEASE_SOURCE",
    "RELEASE_FETCH_CMD",
    "RELEASE_VERIFY_CMD",
    "RELEASE_RELOAD_CMD",
    "RELEASE_HEALTH_CMD",
    "RELEASE_KEEP",
    "RELEASE_LOCK_TIMEOUT",
)


def script_environment(**extra: str) -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items() if key not in SCRIPT_VARIABLES}
    environment.update(extra)
    return environment


@dataclass(frozen=True)
class LogLine:
    timestamp: str  # ISO 8601 UTC with milliseconds: sorts as text
    message: str


def parse_log(stderr: str) -> list[LogLine]:
    """The script's own log lines (hook output, also on stderr, is skipped)."""
    lines = []
    for raw in stderr.splitlines():
        match = LOG_LINE.match(raw)
        if match:
            lines.append(LogLine(match["ts"], match["msg"]))
    return lines


def first_line(stderr: str, starting: str) -> LogLine:
    for line in parse_log(stderr):
        if line.message.startswith(starting):
            return line
    raise AssertionError(f"no log line starting {starting!r} in:\n{stderr}")


@dataclass
class App:
    """An application root (what /opt/app is on a server) plus a place for release sources."""

    root: Path
    sources: Path

    @property
    def current(self) -> Path:
        return self.root / "current"

    @property
    def previous(self) -> Path:
        return self.root / "previous"

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    def source(self, release_id: str, *, extra_files: tuple[str, ...] = ()) -> Path:
        """A build of `release_id`: VERSION names it; a few more files make 'complete' checkable."""
        source = self.sources / release_id
        if not source.exists():
            (source / "app").mkdir(parents=True)
            (source / "VERSION").write_text(f"{release_id}\n")
            (source / "app" / "main.txt").write_text(f"code of {release_id}\n")
            (source / "app" / "config.txt").write_text(f"config of {release_id}\n")
        for name in extra_files:
            (source / name).write_text("present\n")
        return source

    def release_dirs(self) -> list[Path]:
        """Release directories, oldest first (by the sequence number in their name)."""
        if not self.releases.is_dir():
            return []
        found = [path for path in self.releases.iterdir() if RELEASE_NAME.match(path.name)]
        return sorted(found, key=lambda path: int(RELEASE_NAME.match(path.name)["seq"]))  # type: ignore[index]

    def release_ids(self) -> list[str]:
        return [RELEASE_NAME.match(path.name)["id"] for path in self.release_dirs()]  # type: ignore[index]

    def dir_of(self, release_id: str) -> Path:
        matches = [path for path in self.release_dirs() if RELEASE_NAME.match(path.name)["id"] == release_id]  # type: ignore[index]
        assert len(matches) == 1, f"expected one directory for {release_id}, found {matches}"
        return matches[0]

    def live_id(self, link: str = "current") -> str:
        """The release a link points to, checked complete: the link is relative, into releases/, not dangling,
        and the directory holds every file of its build."""
        path = self.root / link
        target = os.readlink(path)
        assert target.startswith("releases/"), target
        directory = self.root / target
        release_id = (directory / "VERSION").read_text().strip()
        assert (directory / ".release-id").read_text().strip() == release_id
        assert (directory / ".verified").is_file()
        assert (directory / "app" / "main.txt").read_text() == f"code of {release_id}\n"
        assert (directory / "app" / "config.txt").read_text() == f"config of {release_id}\n"
        return release_id

    def leftovers(self) -> list[str]:
        """Temporary links and trash a run must not leave behind."""
        names = [path.name for path in self.root.glob(".*.new.*")]
        if self.releases.is_dir():
            names += [path.name for path in self.releases.glob(".trash.*")]
        return names


def release_command(app: App, release_id: str, *options: str, source: bool = True) -> list[str]:
    command = [BASH, str(SCRIPT), "--root", str(app.root)]
    if source:
        command += ["--source", str(app.source(release_id))]
    return [*command, *options, release_id]


def run(
    command: list[str], *, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argument list
        command,
        env=env or script_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - fixed argument list
        command,
        env=script_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # so a test can kill the run with everything it started
    )


def release(app: App, release_id: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Run one release and insist that it succeeded."""
    result = run(release_command(app, release_id, *options))
    assert result.returncode == EXIT_OK, result.stderr
    return result


def q(path: Path | str) -> str:
    """A path quoted for a hook command line."""
    return shlex.quote(str(path))


def is_locked(path: Path) -> bool:
    """Whether some process holds a flock(2) lock on `path` that conflicts with an exclusive one."""
    with path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


def kill_group(process: subprocess.Popen[str]) -> None:
    """End a process started with start_new_session=True, and everything it started (by its group id)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


@contextmanager
def flock_held(path: Path, *, shared: bool) -> Iterator[None]:
    """`flock -s|-x PATH sleep ...` in the background, as an app process or another deploy would hold it;
    yields once the lock is really held, and ends the holder (by its process group) on exit."""
    holder = subprocess.Popen(  # noqa: S603 - fixed argument list
        [FLOCK, "-s" if shared else "-x", str(path), "sleep", "10"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
    )
    try:
        deadline = time.monotonic() + 5
        while not (path.exists() and is_locked(path)):
            assert holder.poll() is None, f"flock exited early with {holder.returncode}"
            assert time.monotonic() < deadline, f"flock never took {path}"
            time.sleep(0.01)
        yield
    finally:
        kill_group(holder)
