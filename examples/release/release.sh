#!/usr/bin/env bash
# release.sh - install one release on this server, safely, even when two deploys arrive at once.
#
# The reference script behind examples/workflows/deploy.yml, which runs `/opt/app/bin/release.sh $RELEASE`
# on the instance through SSM Run Command. Written after the founding incident (docs: why.md, incident 1):
# two deploys raced on one server, the second one's cleanup deleted the release directory the first was
# still using, and the server joined the load balancer with a dangling `current` symlink while every log
# said success; and a deploy guard whose exit code was swallowed could never fail.
#
# Usage: release.sh [options] RELEASE_ID
#
#   RELEASE_ID             what to release (e.g. the commit SHA): letters, digits, '.', '_', '-';
#                          starts with a letter or digit; at most 128 characters.
#   --root DIR             application root holding releases/ and the `current` symlink   [RELEASE_ROOT, /opt/app]
#   --source DIR           fetch = copy DIR's contents into the new release               [RELEASE_SOURCE]
#   --fetch-cmd CMD        fetch = run CMD inside the new (empty) release directory        [RELEASE_FETCH_CMD]
#                          (exactly one of --source / --fetch-cmd; this is where your artifact download goes)
#   --verify-cmd CMD       run inside the new release BEFORE it goes live; non-zero exit = release rejected,
#                          `current` untouched, the new directory removed                 [RELEASE_VERIFY_CMD]
#   --reload-cmd CMD       run in the root after every switch of `current`, rollbacks included
#                          (e.g. `systemctl reload php-fpm`)                               [RELEASE_RELOAD_CMD]
#   --health-cmd CMD       run after the switch (and the reload); non-zero exit = `current` rolled back to
#                          the previous release                                           [RELEASE_HEALTH_CMD]
#   --keep N               completed releases to keep, newest first (>= 1)                [RELEASE_KEEP, 3]
#   --lock-timeout SEC     how long to wait for another run's lock                      [RELEASE_LOCK_TIMEOUT, 600]
#   -h, --help             this text
#   Command-line options win over the environment variables in brackets.
#
# Exit codes:
#   0  done: the release is live and verified (or it already was: a repeated run changes nothing)
#   1  release rejected: verification failed (nothing switched), or reload/health check failed (rolled back)
#   2  usage error (nothing touched)
#   3  lock timeout: another run held the lock longer than --lock-timeout (nothing touched)
#   4  any other failure: fetch failed, I/O error, unexpected state, interrupted
#
# Layout under the root:
#   .release.lock                exclusive lock: one run at a time (flock)
#   current -> releases/<name>   the live release; always replaced by rename(2), never missing or dangling
#   previous -> releases/<name>  the release before it: the rollback target
#   releases/<RELEASE_ID>-<UTC timestamp>-<sequence>/
#       .release-id              the RELEASE_ID
#       .verified                written once verification passed (or there was none): a complete release
#       .failed                  written when the release failed its health check and was rolled back
#       .in-use                  readers hold `flock -s` on it; cleanup never removes a release it cannot lock
#
# Hooks (fetch, verify, reload, health) run as `bash -e -o pipefail -c CMD`, their output on stderr, with
# RELEASE_ID, RELEASE_DIR (the new release, absolute), RELEASE_ROOT and PREVIOUS_RELEASE_DIR (the release
# that was live before; empty on the first deploy) in the environment. Their exit status is never ignored.
#
# Requires bash >= 4.4, GNU coreutils, util-linux flock. No network access of its own.

set -euo pipefail
# Without inherit_errexit, `set -e` is switched off inside $(...), so `x=$(a; b)` would hide a's failure.
shopt -s inherit_errexit nullglob
umask 022

readonly EXIT_OK=0 EXIT_REJECTED=1 EXIT_USAGE=2 EXIT_LOCK_TIMEOUT=3 EXIT_FAILURE=4
readonly LOCK_CONFLICT=75 # flock's exit status when -w runs out, chosen to differ from its error statuses
readonly PROG=${0##*/}

# ---------------------------------------------------------------------------------------------------------
# Status discipline (incident 1's guard could never fail). Rules followed throughout:
# - no `cmd || true` / `cmd || :`: a status is either acted upon or captured with `cmd || rc=$?` and checked;
# - `x=$(cmd)` only as a plain assignment, never `local x=$(cmd)` / `export x=$(cmd)` / `echo "$(cmd)"`:
#   in those, the status of `cmd` is replaced by the status of `local`/`export`/`echo` (always 0);
# - no pipelines, and no process substitution `<(...)` (its status is lost even with pipefail);
# - set -e is off inside a function called as `if f` or `f || ...`; the only functions called that way
#   (run_hook, remove_release) are one command long or check every step themselves.
# ---------------------------------------------------------------------------------------------------------

log() {
  local ts
  ts=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
  printf '%s %s[%d]: %s\n' "$ts" "$PROG" "$$" "$*" >&2
}

EXITING_ON_PURPOSE=0
die() { # die CODE MESSAGE...
  local code=$1
  shift
  log "ERROR: $*"
  EXITING_ON_PURPOSE=1
  exit "$code"
}

usage() {
  # The header comment above, from "Usage:" to the blank line after the exit codes.
  local line printing=0
  while IFS= read -r line; do
    [[ $line == '# Usage:'* ]] && printing=1
    [[ $line == '# Layout'* ]] && break
    if ((printing)); then
      line=${line#\#}
      printf '%s\n' "${line# }"
    fi
  done <"$0"
}

usage_error() {
  printf '%s: %s\nRun %s --help for usage.\n' "$PROG" "$*" "$PROG" >&2
  EXITING_ON_PURPOSE=1
  exit "$EXIT_USAGE"
}

# ------------------------------------------------------------------------------------------- arguments ---
ROOT=${RELEASE_ROOT:-/opt/app}
SOURCE=${RELEASE_SOURCE:-}
FETCH_CMD=${RELEASE_FETCH_CMD:-}
VERIFY_CMD=${RELEASE_VERIFY_CMD:-}
RELOAD_CMD=${RELEASE_RELOAD_CMD:-}
HEALTH_CMD=${RELEASE_HEALTH_CMD:-}
KEEP=${RELEASE_KEEP:-3}
LOCK_TIMEOUT=${RELEASE_LOCK_TIMEOUT:-600}
ID=""
declare -a POSITIONAL=()

if ((BASH_VERSINFO[0] < 4 || (BASH_VERSINFO[0] == 4 && BASH_VERSINFO[1] < 4))); then
  printf '%s: needs bash 4.4 or newer (this is %s)\n' "$PROG" "$BASH_VERSION" >&2
  exit "$EXIT_FAILURE"
fi

while (($# > 0)); do
  case $1 in
    -h | --help)
      usage
      exit "$EXIT_OK"
      ;;
    --root | --source | --fetch-cmd | --verify-cmd | --reload-cmd | --health-cmd | --keep | --lock-timeout)
      (($# >= 2)) || usage_error "$1 needs a value"
      case $1 in
        --root) ROOT=$2 ;;
        --source) SOURCE=$2 ;;
        --fetch-cmd) FETCH_CMD=$2 ;;
        --verify-cmd) VERIFY_CMD=$2 ;;
        --reload-cmd) RELOAD_CMD=$2 ;;
        --health-cmd) HEALTH_CMD=$2 ;;
        --keep) KEEP=$2 ;;
        --lock-timeout) LOCK_TIMEOUT=$2 ;;
        *) usage_error "internal: unhandled option $1" ;;
      esac
      shift 2
      ;;
    --root=* | --source=* | --fetch-cmd=* | --verify-cmd=* | --reload-cmd=* | --health-cmd=* | --keep=* | --lock-timeout=*)
      set -- "${1%%=*}" "${1#*=}" "${@:2}"
      ;;
    --)
      shift
      POSITIONAL+=("$@")
      break
      ;;
    -?*) usage_error "unknown option: $1" ;;
    *)
      POSITIONAL+=("$1")
      shift
      ;;
  esac
done
((${#POSITIONAL[@]} == 1)) || usage_error "expected exactly one RELEASE_ID, got ${#POSITIONAL[@]} arguments"
ID=${POSITIONAL[0]}

[[ $ID =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]] ||
  usage_error "invalid RELEASE_ID '$ID' (letters, digits, '.', '_', '-'; starts with a letter or digit; max 128)"
if [[ ! $KEEP =~ ^[0-9]+$ ]] || ((10#$KEEP < 1)); then
  usage_error "--keep must be a whole number >= 1, not '$KEEP'"
fi
KEEP=$((10#$KEEP))
[[ $LOCK_TIMEOUT =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage_error "--lock-timeout must be seconds (e.g. 600), not '$LOCK_TIMEOUT'"
[[ -n $ROOT ]] || usage_error "--root must not be empty"
if [[ -n $SOURCE && -n $FETCH_CMD ]]; then
  usage_error "give --source or --fetch-cmd, not both"
elif [[ -z $SOURCE && -z $FETCH_CMD ]]; then
  usage_error "nothing to fetch: give --source DIR or --fetch-cmd CMD"
elif [[ -n $SOURCE && ! -d $SOURCE ]]; then
  usage_error "--source: '$SOURCE' is not a directory"
fi
if [[ -e $ROOT && ! -d $ROOT ]]; then
  usage_error "--root: '$ROOT' is not a directory"
fi

# ------------------------------------------------------------------------------------ failure handling ---
LOCK_FD=""      # the release lock's file descriptor, once open
NEW_DIR=""      # the release directory this run created (absolute), until it is live
FAILED_LINE=""  # where set -e stopped us, for the log
FAILED_CMD=""

# shellcheck disable=SC2329 # called from the traps below (shellcheck before 0.11 named this SC2317)
on_err() {
  FAILED_LINE=$1
  FAILED_CMD=$2
}

# shellcheck disable=SC2329 # called from the traps below (shellcheck before 0.11 named this SC2317)
on_exit() {
  local rc=$? removed_rc=0
  trap - EXIT ERR
  if ((rc != 0 && EXITING_ON_PURPOSE == 0)); then
    log "ERROR: unexpected failure (exit $rc) at line ${FAILED_LINE:-?}: ${FAILED_CMD:-?}"
    rc=$EXIT_FAILURE
  fi
  # A release that is not live (verification failed, fetch failed, interrupted) is removed; one that
  # `current` or `previous` points to never is (remove_release re-checks that, and the in-use lock).
  if [[ -n $NEW_DIR && -d $NEW_DIR ]]; then
    remove_release "$NEW_DIR" "unfinished release" || removed_rc=$?
    if ((removed_rc == 1)); then
      log "WARNING: could not remove unfinished ${NEW_DIR#"$ROOT"/} (the next run's cleanup will retry)"
    fi
  fi
  rm -f -- "$ROOT/.current.new.$$" "$ROOT/.previous.new.$$"
  exit "$rc"
}

trap 'on_err "$LINENO" "$BASH_COMMAND"' ERR
set -o errtrace # the ERR trap also inside functions
trap on_exit EXIT
trap 'die "$EXIT_FAILURE" "interrupted by SIGTERM"' TERM
trap 'die "$EXIT_FAILURE" "interrupted by SIGINT"' INT
trap 'die "$EXIT_FAILURE" "interrupted by SIGHUP"' HUP

if [[ -n $SOURCE ]]; then
  SOURCE=$(readlink -f -- "$SOURCE")
fi
mkdir -p -- "$ROOT/releases"
ROOT=$(readlink -f -- "$ROOT")
readonly ID KEEP LOCK_TIMEOUT SOURCE FETCH_CMD VERIFY_CMD RELOAD_CMD HEALTH_CMD ROOT
readonly RELEASES=$ROOT/releases LOCK_FILE=$ROOT/.release.lock

# ----------------------------------------------------------------------------------------------- links ---
# The release directory a link points to (absolute), or "" if the link is missing or dangling.
resolve_link() {
  local link=$1
  if [[ -L $link && -d $link ]]; then
    readlink -f -- "$link"
  fi
}

# Point $ROOT/NAME at a release directory atomically: a new symlink under a temporary name, then rename(2)
# over the old one (`mv -T`). At every instant NAME is either the old link or the new one; never
# `rm current && ln -s`, which leaves a moment with no `current` at all.
point_link() { # point_link NAME RELEASE_DIR
  local name=$1 dir=$2 tmp
  tmp="$ROOT/.$name.new.$$"
  ln -s -f -T -- "releases/${dir##*/}" "$tmp" # -f: replaces a stale temporary link, never `current`
  mv -f -T -- "$tmp" "$ROOT/$name"
}

# Run a hook command; returns its exit status (the caller captures it with `|| rc=$?` and acts on it).
# The hook does not inherit the release lock's file descriptor: a daemon it starts in the background must
# not keep holding the lock after this run has ended (the next deploy would wait for it, then time out).
run_hook() { # run_hook CWD CMD
  (cd -- "$1" && exec bash -e -o pipefail -c "$2") >&2 {LOCK_FD}>&-
}

# ---------------------------------------------------------------------------------------------- cleanup ---
# Remove a release directory, unless it is live (current/previous, resolved now) or in use (a process holds
# a shared lock on its .in-use file). Returns 0 when removed, 10 when protected, 11 when in use.
# Called as `remove_release ... || rc=$?`, so set -e is off inside: every step checks its own status.
remove_release() { # remove_release DIR WHY
  local dir=$1 why=$2 fd trash
  # -ef: same device and inode, following the link as it is on disk right now.
  if [[ $dir -ef $ROOT/current ]]; then
    log "keeping ${dir#"$ROOT"/}: current points to it"
    return 10
  elif [[ $dir -ef $ROOT/previous ]]; then
    log "keeping ${dir#"$ROOT"/}: previous points to it (the rollback target)"
    return 10
  fi
  exec {fd}>>"$dir/.in-use" || return 1
  if ! flock -x -n "$fd"; then
    exec {fd}>&-
    log "keeping ${dir#"$ROOT"/}: in use (a process holds ${dir#"$ROOT"/}/.in-use)"
    return 11
  fi
  # Rename first (one atomic step out of sight, under the lock), then delete at leisure.
  trash="$RELEASES/.trash.${dir##*/}.$$"
  mv -T -- "$dir" "$trash" || {
    exec {fd}>&-
    return 1
  }
  rm -rf -- "$trash" || {
    exec {fd}>&-
    return 1
  }
  exec {fd}>&-
  log "removed ${dir#"$ROOT"/} ($why)"
}

cleanup() {
  local dir name seq kept=0 rc
  local -a by_seq=()
  # Leftovers of runs that were killed (-9) half-way: temporary links and trash. We hold the lock, so no
  # other run is using them.
  rm -f -- "$ROOT"/.current.new.* "$ROOT"/.previous.new.*
  for dir in "$RELEASES"/.trash.*/; do
    rm -rf -- "${dir%/}"
  done
  # Our release directories, indexed by their sequence number (bash arrays iterate in index order).
  for dir in "$RELEASES"/*/; do
    dir=${dir%/}
    name=${dir##*/}
    [[ -L $dir ]] && continue
    [[ $name =~ -[0-9]{8}T[0-9]{6}Z-([0-9]+)$ ]] || continue
    seq=$((10#${BASH_REMATCH[1]}))
    by_seq[seq]=$dir
  done
  local -a seqs=("${!by_seq[@]}")
  local i
  for ((i = ${#seqs[@]} - 1; i >= 0; i--)); do
    dir=${by_seq[seqs[i]]}
    if [[ -e $dir/.verified && ! -e $dir/.failed ]] && ((kept < KEEP)); then
      kept=$((kept + 1))
      continue
    fi
    rc=0
    if [[ -e $dir/.verified && ! -e $dir/.failed ]]; then
      remove_release "$dir" "older than the $KEEP newest" || rc=$?
    else
      remove_release "$dir" "unfinished or failed release" || rc=$?
    fi
    if ((rc == 1)); then
      # The release is live and healthy; failing it now (and having the instance replaced) over disk
      # hygiene would be worse. Said loudly instead, and retried by the next run.
      log "WARNING: cleanup could not remove ${dir#"$ROOT"/}; the next run will retry"
    fi
  done
}

# -------------------------------------------------------------------------------------------- the work ---
# Fetch: fill the new, empty release directory $NEW_DIR. This is the plug-in point for real artifacts: pass
# --fetch-cmd (it runs inside $NEW_DIR; e.g. download and unpack a tarball), or replace this function. It
# must fail (non-zero) when the artifact is incomplete; the verify command is the second line of defence.
fetch() {
  local rc=0
  if [[ -n $SOURCE ]]; then
    cp -a -- "$SOURCE/." "$NEW_DIR/" {LOCK_FD}>&- || rc=$?
    ((rc == 0)) || die "$EXIT_FAILURE" "fetch failed (exit $rc): could not copy $SOURCE"
  else
    run_hook "$NEW_DIR" "$FETCH_CMD" || rc=$?
    ((rc == 0)) || die "$EXIT_FAILURE" "fetch failed (exit $rc): --fetch-cmd $FETCH_CMD"
  fi
}

main() {
  local rc=0 cur prev cur_desc live_id seq max_seq=0 dir name now holder target

  # 1. One run at a time. The lock is released when this process exits (the kernel closes the fd).
  exec {LOCK_FD}>>"$LOCK_FILE"
  flock -x -n "$LOCK_FD" || rc=$?
  if ((rc != 0)); then
    holder=""
    if [[ -s $LOCK_FILE ]]; then
      holder=$(<"$LOCK_FILE")
    fi
    log "waiting up to ${LOCK_TIMEOUT}s for the release lock $LOCK_FILE, held by another process${holder:+ (last recorded holder: $holder)}"
    rc=0
    flock -x -w "$LOCK_TIMEOUT" -E "$LOCK_CONFLICT" "$LOCK_FD" || rc=$?
    if ((rc == LOCK_CONFLICT)); then
      die "$EXIT_LOCK_TIMEOUT" "lock timeout: another run still holds $LOCK_FILE after ${LOCK_TIMEOUT}s; nothing changed"
    elif ((rc != 0)); then
      die "$EXIT_FAILURE" "flock failed on $LOCK_FILE (exit $rc)"
    fi
  fi
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  printf 'pid %d, release %s, since %s\n' "$$" "$ID" "$now" >"$LOCK_FILE"
  log "lock acquired; release $ID into $ROOT"

  # 2. Where we stand, resolved now, under the lock (never from before the wait).
  if [[ -e $ROOT/current && ! -L $ROOT/current ]]; then
    die "$EXIT_FAILURE" "$ROOT/current exists but is not a symlink; refusing to touch it"
  fi
  cur=$(resolve_link "$ROOT/current")
  prev=$(resolve_link "$ROOT/previous")
  cur_desc=nothing
  if [[ -n $cur ]]; then
    cur_desc=releases/${cur##*/}
  elif [[ -L $ROOT/current ]]; then
    target=$(readlink -- "$ROOT/current")
    log "WARNING: current is dangling (-> $target); this release will repair it"
  fi

  # 3. Already live? (a retried or duplicated deployment of the same release)
  if [[ -n $cur && -e $cur/.verified && -e $cur/.release-id ]]; then
    live_id=$(<"$cur/.release-id")
    if [[ $live_id == "$ID" ]]; then
      log "release $ID is already live and verified (current -> releases/${cur##*/}); nothing to switch"
      if [[ -n $HEALTH_CMD ]]; then
        export RELEASE_ID=$ID RELEASE_DIR=$cur RELEASE_ROOT=$ROOT PREVIOUS_RELEASE_DIR=$prev
        rc=0
        run_hook "$cur" "$HEALTH_CMD" || rc=$?
        ((rc == 0)) || die "$EXIT_REJECTED" "health check failed (exit $rc) on the already-live release $ID; not rolling back a switch this run did not make"
        log "health check passed"
      fi
      log "done: release $ID live at releases/${cur##*/} (unchanged)"
      return 0
    fi
  fi

  # 4. A new, unique directory: <id>-<UTC time>-<sequence>. The sequence (one more than any existing
  # directory's, decided under the lock) orders releases even if the clock jumps; mkdir fails on a clash.
  for dir in "$RELEASES"/*/; do
    name=${dir%/}
    if [[ $name =~ -[0-9]{8}T[0-9]{6}Z-([0-9]+)$ ]]; then
      seq=$((10#${BASH_REMATCH[1]}))
      if ((seq > max_seq)); then max_seq=$seq; fi
    fi
  done
  now=$(date -u +%Y%m%dT%H%M%SZ)
  printf -v NEW_DIR '%s/%s-%s-%06d' "$RELEASES" "$ID" "$now" "$((max_seq + 1))"
  mkdir -- "$NEW_DIR"
  export RELEASE_ID=$ID RELEASE_DIR=$NEW_DIR RELEASE_ROOT=$ROOT PREVIOUS_RELEASE_DIR=$cur

  log "fetching $ID into releases/${NEW_DIR##*/}"
  fetch
  # Our bookkeeping files, whatever the artifact brought along.
  rm -f -- "$NEW_DIR/.verified" "$NEW_DIR/.failed" "$NEW_DIR/.in-use"
  : >>"$NEW_DIR/.in-use"
  printf '%s\n' "$ID" >"$NEW_DIR/.release-id"

  # 5. Verify before anything is switched.
  if [[ -n $VERIFY_CMD ]]; then
    log "verifying releases/${NEW_DIR##*/}: $VERIFY_CMD"
    rc=0
    run_hook "$NEW_DIR" "$VERIFY_CMD" || rc=$?
    if ((rc != 0)); then
      die "$EXIT_REJECTED" "verification failed (exit $rc): release $ID rejected; current unchanged (-> $cur_desc)"
    fi
    log "verification passed"
  else
    log "no --verify-cmd: release $ID is not verified beyond its fetch"
  fi
  now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  printf '%s verify-cmd: %s\n' "$now" "${VERIFY_CMD:-(none)}" >"$NEW_DIR/.verified"

  # 6. Switch: previous first (it then equals current for a moment, both valid), then current.
  if [[ -n $cur ]]; then
    point_link previous "$cur"
  fi
  point_link current "$NEW_DIR"
  dir=$NEW_DIR
  NEW_DIR="" # live now: from here on, never removed by this run
  log "switched current -> releases/${dir##*/} (was $cur_desc)"

  # 7. Reload and health check; on failure, switch back.
  rc=0
  if [[ -n $RELOAD_CMD ]]; then
    log "reloading: $RELOAD_CMD"
    run_hook "$ROOT" "$RELOAD_CMD" || rc=$?
    ((rc == 0)) || log "reload failed (exit $rc)"
  fi
  if ((rc == 0)) && [[ -n $HEALTH_CMD ]]; then
    log "health check: $HEALTH_CMD"
    run_hook "$dir" "$HEALTH_CMD" || rc=$?
    ((rc == 0)) || log "health check failed (exit $rc)"
  fi
  if ((rc != 0)); then
    date -u +%Y-%m-%dT%H:%M:%SZ >"$dir/.failed"
    if [[ -n $cur ]]; then
      point_link current "$cur"
      if [[ -n $prev ]]; then
        point_link previous "$prev"
      else
        rm -f -- "$ROOT/previous"
      fi
      log "rolled back: current -> $cur_desc"
    else
      # First release on this server: there is nothing to go back to; restore "no current".
      rm -f -- "$ROOT/current"
      log "rolled back: no previous release, current removed"
    fi
    if [[ -n $RELOAD_CMD ]]; then
      rc=0
      run_hook "$ROOT" "$RELOAD_CMD" || rc=$?
      ((rc == 0)) || log "ERROR: reload after the rollback failed too (exit $rc)"
    fi
    die "$EXIT_REJECTED" "release $ID failed after the switch and was rolled back; releases/${dir##*/} kept for inspection (marked .failed)"
  fi
  if [[ -z $HEALTH_CMD ]]; then
    log "no --health-cmd: release $ID is live without a health check"
  fi

  # 8. Cleanup, under the same lock, with current/previous resolved afresh inside remove_release.
  cleanup
  log "done: release $ID live at releases/${dir##*/}"
}

main
exit "$EXIT_OK"
