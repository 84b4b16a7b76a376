"""examples/release/release.sh, the reference server-side release script, run for real against a temporary root.

The founding incident (told at the top of the README): two deploys raced on one server, the second one's cleanup
deleted the release the first was still using, the server went live with a dangling `current`, and a guard
whose exit status was swallowed could never fail. So every guard is exercised both ways (a bad release fails
it, a good one passes), and the atomic-switch check is also run against a deliberately non-atomic switch."""

import os
import re
import threading
import time
from pathlib import Path

import pytest

from tests.examples.release_harness import (
    BASH,
    EXIT_FAILURE,
    EXIT_LOCK_TIMEOUT,
    EXIT_OK,
    EXIT_REJECTED,
    EXIT_USAGE,
    SCRIPT,
    App,
    first_line,
    flock_held,
    is_locked,
    kill_group,
    parse_log,
    q,
    release,
    release_command,
    run,
    script_environment,
    start,
)


@pytest.fixture
def app(tmp_path: Path) -> App:
    root = tmp_path / "app"
    root.mkdir()
    return App(root=root, sources=tmp_path / "sources")


# ------------------------------------------------------------------------------------------ going live ---


def test_a_release_goes_live(app: App) -> None:
    result = release(app, "r1", "--verify-cmd", "test -s VERSION", "--health-cmd", "test -f app/main.txt")

    assert app.live_id() == "r1"
    assert os.readlink(app.current) == f"releases/{app.dir_of('r1').name}"
    assert not app.previous.exists()
    assert app.leftovers() == []
    messages = [line.message for line in parse_log(result.stderr)]
    assert messages[0].startswith("lock acquired; release r1")
    assert "verification passed" in messages
    assert messages[-1] == f"done: release r1 live at releases/{app.dir_of('r1').name}"
    assert result.stdout == ""


def test_the_next_release_becomes_current_and_the_old_one_previous(app: App) -> None:
    release(app, "r1")
    release(app, "r2")

    assert app.live_id() == "r2"
    assert app.live_id("previous") == "r1"
    assert app.release_ids() == ["r1", "r2"]


def test_options_can_come_from_the_environment(app: App) -> None:
    environment = script_environment(
        RELEASE_ROOT=str(app.root), RELEASE_SOURCE=str(app.source("r1")), RELEASE_VERIFY_CMD="test -s VERSION"
    )

    result = run([BASH, str(SCRIPT), "r1"], env=environment)

    assert result.returncode == EXIT_OK, result.stderr
    assert app.live_id() == "r1"
    assert "verifying" in result.stderr


def test_fetch_cmd_fills_the_new_release_directory(app: App) -> None:
    fetch = f'test -z "$(ls -A)" && cp -a {q(app.source("r1"))}/. . && test "$PWD" = "$RELEASE_DIR"'

    result = run(release_command(app, "r1", "--fetch-cmd", fetch, source=False))

    assert result.returncode == EXIT_OK, result.stderr
    assert app.live_id() == "r1"


def test_a_failed_fetch_exits_4_and_changes_nothing(app: App) -> None:
    release(app, "r1")
    before = os.readlink(app.current)
    fetch = f"cp -a {q(app.source('r2'))}/. . && exit 3"

    result = run(release_command(app, "r2", "--fetch-cmd", fetch, source=False))

    assert result.returncode == EXIT_FAILURE
    assert "fetch failed (exit 3)" in result.stderr
    assert os.readlink(app.current) == before
    assert app.release_ids() == ["r1"]
    assert app.leftovers() == []


def test_an_unexpected_failure_exits_4_not_1(app: App) -> None:
    # mkdir fails with status 1, which must not pass for "release rejected": unexpected errors map to 4.
    (app.root / "releases").write_text("a file where the releases directory belongs\n")

    result = run(release_command(app, "r1"))

    assert result.returncode == EXIT_FAILURE
    assert re.search(r"ERROR: unexpected failure \(exit 1\) at line \d+: mkdir", result.stderr)
    assert not app.current.is_symlink()


def test_a_dangling_current_is_repaired(app: App) -> None:
    # What the founding incident left behind: `current` pointing at a deleted release.
    app.current.symlink_to("releases/gone-20250101T000000Z-000001")

    result = release(app, "r1")

    assert "current is dangling" in result.stderr
    assert app.live_id() == "r1"


# ----------------------------------------------------------------------------------------- concurrency ---


def _events_hooks(app: App, events: Path, release_id: str) -> list[str]:
    """A fetch, verify and health check that record when they run; verification takes half a second."""
    source = app.source(release_id)
    return [
        "--fetch-cmd",
        f'echo "fetch $RELEASE_ID" >> {q(events)}; cp -a {q(source)}/. .',
        "--verify-cmd",
        f'sleep 0.5; echo "verified $RELEASE_ID" >> {q(events)}',
        "--health-cmd",
        f'echo "healthy $RELEASE_ID" >> {q(events)}',
    ]


def test_two_concurrent_releases_do_not_interleave_and_neither_deletes_the_other(app: App, tmp_path: Path) -> None:
    events = tmp_path / "events"
    first = start(release_command(app, "blue", "--keep", "1", *_events_hooks(app, events, "blue"), source=False))
    second = start(release_command(app, "green", "--keep", "1", *_events_hooks(app, events, "green"), source=False))
    outputs = {}
    for name, process in (("blue", first), ("green", second)):
        try:
            _, outputs[name] = process.communicate(timeout=30)
        finally:
            kill_group(process)

    assert first.returncode == EXIT_OK, outputs["blue"]
    assert second.returncode == EXIT_OK, outputs["green"]
    recorded = events.read_text().split()[1::2]  # the release ID of each event, in the order they happened
    winner, loser = recorded[0], recorded[-1]
    assert {winner, loser} == {"blue", "green"}
    # Mutual exclusion: all of one run's steps, then all of the other's.
    assert events.read_text().splitlines() == [
        f"fetch {winner}",
        f"verified {winner}",
        f"healthy {winner}",
        f"fetch {loser}",
        f"verified {loser}",
        f"healthy {loser}",
    ]
    # They really overlapped (the loser waited), and the loser took the lock only after the winner was done.
    assert "waiting up to 600s for the release lock" in outputs[loser]
    winner_done = first_line(outputs[winner], "done: release")
    loser_start = first_line(outputs[loser], "lock acquired")
    assert winner_done.timestamp <= loser_start.timestamp
    # Live and complete; the winner's release, live until a moment ago, survives as the rollback target
    # even with --keep 1 (the founding incident's cleanup deleted it).
    assert app.live_id() == loser
    assert app.live_id("previous") == winner
    assert sorted(app.release_ids()) == ["blue", "green"]
    assert app.leftovers() == []


def test_the_same_release_twice_at_once_deploys_once(app: App, tmp_path: Path) -> None:
    events = tmp_path / "events"
    command = release_command(app, "r1", *_events_hooks(app, events, "r1"), source=False)
    processes = [start(command), start(command)]
    outputs = []
    for process in processes:
        try:
            outputs.append(process.communicate(timeout=30)[1])
        finally:
            kill_group(process)

    assert [process.returncode for process in processes] == [EXIT_OK, EXIT_OK], outputs
    assert len(app.release_dirs()) == 1
    assert app.live_id() == "r1"
    skipped = [output for output in outputs if "release r1 is already live and verified" in output]
    assert len(skipped) == 1
    assert "fetching" not in skipped[0]
    # One fetch and one verification; the health check ran for both (the second confirms what is live).
    assert events.read_text().splitlines() == ["fetch r1", "verified r1", "healthy r1", "healthy r1"]


def test_a_repeated_release_with_a_failing_health_check_exits_1_without_switching(app: App) -> None:
    release(app, "r1")

    result = run(release_command(app, "r1", "--health-cmd", "exit 6"))

    assert result.returncode == EXIT_REJECTED
    assert "health check failed (exit 6) on the already-live release r1" in result.stderr
    assert app.live_id() == "r1"
    assert len(app.release_dirs()) == 1


# ------------------------------------------------------------------------------------------ the guards ---


@pytest.mark.parametrize(
    "verify_cmd",
    [
        "test -f must-exist",
        # Constructs that swallow a status in a plain `bash -c`; hooks run with -e and pipefail.
        "test -f must-exist | cat",
        "test -f must-exist; echo checked",
    ],
)
def test_verification_gates_the_release_and_can_both_fail_and_pass(app: App, verify_cmd: str) -> None:
    release(app, "r1")
    before = os.readlink(app.current)

    failed = run(release_command(app, "r2", "--verify-cmd", verify_cmd))

    assert failed.returncode == EXIT_REJECTED
    assert "verification failed (exit 1): release r2 rejected; current unchanged" in failed.stderr
    assert os.readlink(app.current) == before
    assert app.live_id() == "r1"
    assert app.release_ids() == ["r1"]  # the half-made directory is gone
    assert app.leftovers() == []

    app.source("r2", extra_files=("must-exist",))
    passed = run(release_command(app, "r2", "--verify-cmd", verify_cmd))

    assert passed.returncode == EXIT_OK, passed.stderr
    assert app.live_id() == "r2"


def test_a_failing_health_check_rolls_back_and_can_pass_too(app: App, tmp_path: Path) -> None:
    reloads = tmp_path / "reloads"
    hooks = ["--reload-cmd", f"readlink current >> {q(reloads)}", "--health-cmd", "test -f healthy"]
    app.source("r1", extra_files=("healthy",))
    app.source("r2", extra_files=("healthy",))
    release(app, "r1", *hooks)
    release(app, "r2", *hooks)
    reloads.unlink()

    failed = run(release_command(app, "r3", *hooks))

    assert failed.returncode == EXIT_REJECTED
    assert "health check failed (exit 1)" in failed.stderr
    assert app.live_id() == "r2"
    assert app.live_id("previous") == "r1"
    r3 = app.dir_of("r3")
    assert (r3 / ".failed").is_file()  # kept for inspection
    # The app was reloaded onto r3, then back onto r2.
    assert reloads.read_text().split() == [f"releases/{r3.name}", f"releases/{app.dir_of('r2').name}"]

    app.source("r3", extra_files=("healthy",))
    passed = run(release_command(app, "r3", *hooks))

    assert passed.returncode == EXIT_OK, passed.stderr
    assert app.live_id() == "r3"
    assert app.live_id("previous") == "r2"
    assert not r3.exists()  # the failed attempt was cleaned up; the new r3 is another directory
    assert app.release_ids() == ["r1", "r2", "r3"]


def test_a_failing_reload_counts_as_a_failed_health_check(app: App) -> None:
    release(app, "r1")

    result = run(release_command(app, "r2", "--reload-cmd", "! grep -qx r2 current/VERSION"))

    assert result.returncode == EXIT_REJECTED
    assert "reload failed" in result.stderr
    assert app.live_id() == "r1"


def test_a_failing_first_release_leaves_no_current(app: App) -> None:
    result = run(release_command(app, "r1", "--health-cmd", "exit 1"))

    assert result.returncode == EXIT_REJECTED
    assert "no previous release, current removed" in result.stderr
    assert not app.current.is_symlink()
    assert not app.previous.is_symlink()


# --------------------------------------------------------------------------------------------- cleanup ---


def test_cleanup_keeps_the_newest_and_skips_a_release_in_use(app: App) -> None:
    release(app, "r1")
    in_use = app.dir_of("r1") / ".in-use"
    with flock_held(in_use, shared=True):  # an app process still running r1
        for release_id in ("r2", "r3", "r4"):
            release(app, release_id, "--keep", "2")
        result = release(app, "r5", "--keep", "2")

        assert app.release_ids() == ["r1", "r4", "r5"]
        assert app.live_id() == "r5"
        assert app.live_id("previous") == "r4"
        assert f"keeping releases/{app.dir_of('r1').name}: in use" in result.stderr
        assert is_locked(in_use)  # cleanup did not disturb the reader's lock

    # The reader is gone: the next cleanup removes r1 (so it was the lock that protected it).
    release(app, "r6", "--keep", "2")

    assert app.release_ids() == ["r5", "r6"]
    assert app.leftovers() == []


def test_cleanup_never_removes_current_or_previous_even_when_they_are_old(app: App) -> None:
    for release_id in ("r1", "r2", "r3"):
        release(app, release_id)
    # An operator rolled back by hand to r1 (atomically, as the script does).
    (app.root / "tmp-link").symlink_to(f"releases/{app.dir_of('r1').name}")
    (app.root / "tmp-link").replace(app.current)

    result = release(app, "r4", "--keep", "1")

    assert app.live_id() == "r4"
    assert app.live_id("previous") == "r1"
    assert app.release_ids() == ["r1", "r4"]
    assert "previous points to it" in result.stderr


def test_a_release_that_current_points_to_is_never_removed(app: App) -> None:
    # Resolved afresh when it matters: here a (misbehaving) verify hook points `current` at the release it
    # is rejecting. The rejected release is discarded, unless current points to it: then it stays.
    release(app, "r1")
    hijack = 'ln -s "releases/${RELEASE_DIR##*/}" ../../hijack && mv -T ../../hijack ../../current && exit 1'

    result = run(release_command(app, "r2", "--verify-cmd", hijack))

    assert result.returncode == EXIT_REJECTED
    assert app.release_ids() == ["r1", "r2"]
    assert os.readlink(app.current) == f"releases/{app.dir_of('r2').name}"
    assert (app.current / "VERSION").read_text() == "r2\n"
    assert "current points to it" in result.stderr


def test_cleanup_removes_what_a_killed_run_left_behind(app: App) -> None:
    release(app, "r1")
    killed = start(release_command(app, "r2", "--verify-cmd", "sleep 20"))
    try:
        deadline = time.monotonic() + 10
        while not any(path.name.startswith("r2-") for path in app.releases.iterdir()):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.2)
    finally:
        kill_group(killed)  # SIGKILL: no trap runs, the half-made r2 stays

    assert app.release_ids() == ["r1", "r2"]
    assert app.live_id() == "r1"

    result = release(app, "r3")

    assert app.release_ids() == ["r1", "r3"]
    assert re.search(r"removed releases/r2-\S+ \(unfinished or failed release\)", result.stderr)


# ----------------------------------------------------------------------------------- atomic switching ---


def _switch_under_a_reader(app: App, script: Path) -> tuple[int, list[str]]:
    """Make releases back to back while a thread resolves `current` and reads through it; returns the
    number of checks and the failures seen."""
    ids = [f"r{number}" for number in range(1, 6)]
    for release_id in ids:
        app.source(release_id)
    first = run([BASH, str(script), "--root", str(app.root), "--source", str(app.source("r1")), "r1"])
    assert first.returncode == EXIT_OK, first.stderr
    stop = threading.Event()
    failures: list[str] = []
    checks = 0

    def reader() -> None:
        nonlocal checks
        while not stop.is_set() or checks < 300:
            checks += 1
            try:
                target = os.readlink(app.current)  # `current` exists and is a symlink...
                version = (app.current / "VERSION").read_text().strip()  # ...to a release that exists
            except OSError as error:
                failures.append(repr(error))
                continue
            if not target.startswith("releases/") or version not in ids:
                failures.append(f"{target} -> {version!r}")
            time.sleep(0.0002)  # thousands of checks a second, without starving the runs of the CPU

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for release_id in ids[1:]:
            source = str(app.source(release_id))
            result = run([BASH, str(script), "--root", str(app.root), "--source", source, "--keep", "1", release_id])
            assert result.returncode == EXIT_OK, result.stderr
    finally:
        stop.set()
        thread.join(timeout=30)
    assert app.live_id() == ids[-1]
    return checks, failures


def test_current_is_never_missing_or_dangling_during_switches(app: App) -> None:
    checks, failures = _switch_under_a_reader(app, SCRIPT)

    assert checks >= 300
    assert failures == []


def test_the_reader_does_catch_a_non_atomic_switch(app: App, tmp_path: Path) -> None:
    # The same script with `rm current && ln -s` in place of the rename: the check above must see it.
    atomic = 'mv -f -T -- "$tmp" "$ROOT/$name"'
    source = SCRIPT.read_text()
    assert source.count(atomic) == 1
    broken = tmp_path / "release-broken.sh"
    broken.write_text(source.replace(atomic, 'rm -f -- "$ROOT/$name"; sleep 0.05; ' + atomic))

    checks, failures = _switch_under_a_reader(app, broken)

    assert checks >= 300
    assert failures
    assert any("FileNotFoundError" in failure for failure in failures)


# -------------------------------------------------------------------------------------------- locking ---


def test_lock_timeout_exits_3_and_the_lock_can_be_taken_once_free(app: App) -> None:
    release(app, "r1")
    with flock_held(app.root / ".release.lock", shared=False):  # another deploy that does not end
        started = time.monotonic()
        result = run(release_command(app, "r2", "--lock-timeout", "1"))
        elapsed = time.monotonic() - started

        assert result.returncode == EXIT_LOCK_TIMEOUT
        assert "waiting up to 1s for the release lock" in result.stderr
        assert "lock timeout" in result.stderr
        assert 1 <= elapsed < 10
        assert app.live_id() == "r1"
        assert app.release_ids() == ["r1"]

    result = run(release_command(app, "r2", "--lock-timeout", "1"))

    assert result.returncode == EXIT_OK, result.stderr
    assert "waiting" not in result.stderr
    assert app.live_id() == "r2"


def test_a_daemon_started_by_a_hook_does_not_keep_the_lock(app: App, tmp_path: Path) -> None:
    pid_file = tmp_path / "daemon.pid"
    daemon = f"sleep 10 </dev/null >/dev/null 2>&1 & echo $! > {q(pid_file)}"
    try:
        release(app, "r1", "--health-cmd", daemon)
        assert pid_file.read_text().strip()

        result = run(release_command(app, "r2", "--lock-timeout", "1"))

        assert result.returncode == EXIT_OK, result.stderr
        assert not is_locked(app.root / ".release.lock")
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), 9)


# --------------------------------------------------------------------------------------- usage errors ---


@pytest.mark.parametrize(
    "arguments",
    [
        [],
        ["r1", "r2"],
        ["--bogus", "r1"],
        ["--keep", "0", "r1"],
        ["--keep", "three", "r1"],
        ["--lock-timeout", "soon", "r1"],
        ["--verify-cmd"],
        ["../escape"],
        [".hidden"],
        ["with space"],
        ["x" * 129],
        ["--source", "/nonexistent/dir", "r1"],
        ["--fetch-cmd", "true", "r1"],  # with --source too: one fetch method only
    ],
    ids=lambda arguments: " ".join(arguments)[:30] or "no arguments",
)
def test_usage_errors_exit_2_and_touch_nothing(tmp_path: Path, arguments: list[str]) -> None:
    root = tmp_path / "app"
    source = tmp_path / "source"
    source.mkdir()
    source_option = [] if "--source" in arguments else ["--source", str(source)]

    result = run([BASH, str(SCRIPT), "--root", str(root), *source_option, *arguments])

    assert result.returncode == EXIT_USAGE
    assert "Run release.sh --help for usage." in result.stderr
    assert not root.exists()


def test_nothing_to_fetch_is_a_usage_error(tmp_path: Path) -> None:
    result = run([BASH, str(SCRIPT), "--root", str(tmp_path / "app"), "r1"])

    assert result.returncode == EXIT_USAGE
    assert "nothing to fetch" in result.stderr


def test_help_documents_the_options_and_exit_codes() -> None:
    result = run([BASH, str(SCRIPT), "--help"])

    assert result.returncode == EXIT_OK
    assert result.stdout.startswith("Usage: release.sh [options] RELEASE_ID")
    for option in ("--root", "--source", "--fetch-cmd", "--verify-cmd", "--health-cmd", "--keep", "--lock-timeout"):
        assert option in result.stdout
    for code in ("0  done", "1  release rejected", "2  usage error", "3  lock timeout", "4  any other failure"):
        assert code in result.stdout


# ---------------------------------------------------------------------------------- status discipline ---


def _code_lines(script: str) -> list[str]:
    """The script without comments (a `#` at the start of a line or after a space)."""
    return [re.sub(r"(^|\s)#.*$", "", line) for line in script.splitlines()]


def _or_true(line: str) -> bool:
    return bool(re.search(r"\|\|\s*(true|:)\s*($|[;)])", line))


def _substitution_outside_plain_assignment(line: str) -> bool:
    # `x=$(cmd)` keeps cmd's status (set -e sees it); `local x=$(cmd)`, `echo "$(cmd)"`, `[[ $(cmd) ]]` do not.
    substitutions = re.findall(r"\$\((?!\()", line)
    return bool(substitutions) and not (len(substitutions) == 1 and re.match(r"^\s*\w+=\$\((?!\()", line))


def _process_substitution(line: str) -> bool:
    return bool(re.search(r"[<>]\(", line))


SWALLOWING = {
    "cmd || true": _or_true,
    "$(...) outside a plain assignment": _substitution_outside_plain_assignment,
    "process substitution": _process_substitution,
}


@pytest.mark.parametrize("construct", SWALLOWING)
def test_the_script_has_no_status_swallowing_construct(construct: str) -> None:
    offending = [line for line in _code_lines(SCRIPT.read_text()) if SWALLOWING[construct](line)]

    assert offending == []


@pytest.mark.parametrize(
    ("construct", "line", "swallows"),
    [
        ("cmd || true", "php artisan tinker --execute 'exit(1)' || true", True),
        ("cmd || true", "verify || :", True),
        ("cmd || true", "verify || rc=$?", False),
        ("$(...) outside a plain assignment", '  local id="$(cat .release-id)"', True),
        ("$(...) outside a plain assignment", 'log "now $(date)"', True),
        ("$(...) outside a plain assignment", "if [[ $(cat .verified) ]]; then", True),
        ("$(...) outside a plain assignment", "  id=$(cat .release-id)", False),
        ("$(...) outside a plain assignment", "  next=$((seq + 1))", False),
        ("process substitution", "done < <(ls releases)", True),
        ("process substitution", "((seq < max))", False),
    ],
)
def test_the_status_discipline_check_tells_swallowing_from_safe(construct: str, line: str, swallows: bool) -> None:
    assert SWALLOWING[construct](_code_lines(line)[0]) is swallows


def test_the_script_is_bash_with_strict_mode() -> None:
    source = SCRIPT.read_text()

    assert source.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in source
    assert "shopt -s inherit_errexit" in source
    assert os.access(SCRIPT, os.X_OK)
    syntax = run([BASH, "-n", str(SCRIPT)])
    assert syntax.returncode == 0, syntax.stderr
