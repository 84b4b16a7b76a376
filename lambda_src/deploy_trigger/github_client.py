"""The GitHub REST client: dispatch a workflow, find a run by its dispatch ID, read a run's jobs, and classify every
answer.

There is no idempotency key on ``workflow_dispatch``, so this client never re-sends a POST whose fate it
does not know. Each answer is classified (the README's "Exactly once: the rules", rule 4):

- accepted: 2xx (200 with the run's ID and URLs, or 204 from servers that do not return them);
- refused for now, GitHub did not act: 429 or a rate-limit 403 -> :class:`RateLimited` with the wait GitHub asked
  for (never waited out and re-sent here: the dispatcher queues the launch for the drainer); 401 with an App
  token -> mint a new token once and send again; 400 or 422 naming ``return_run_details`` (GitHub Enterprise
  Server before 3.21) -> send once more without it;
- refused for good, GitHub did not act: any other 4xx -> :class:`DispatchRejected`;
- never sent: the connection was never made (DNS, refused, connect timeout) -> :class:`GitHubUnavailable`;
- outcome unknown: 5xx, a read timeout, and every other transport failure (a TLS error, a reset, a broken or
  truncated answer: each can come after GitHub received the whole request) -> :class:`OutcomeUnknown`, which
  the dispatcher answers by listing runs, never by sending again.

A plain ``requests`` session with no automatic retries: a retrying HTTP client (PyGithub's default) can
itself duplicate a dispatch. Every call's timeout comes from the invocation's :class:`Deadline`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import MaxRetryError, NewConnectionError

from deploy_trigger import metric_names, observability
from deploy_trigger.deadline import Deadline
from deploy_trigger.errors import (
    CredentialsInvalid,
    DispatchRejected,
    GitHubUnavailable,
    OutcomeUnknown,
    RateLimited,
)
from deploy_trigger.github_auth import AppCredentials, SecretCredentials, TokenCache
from deploy_trigger.runs import JobListing, RunListing, RunRef, WorkflowJob, WorkflowRun

USER_AGENT = "deploy-trigger/0.1.0"
LEGACY_API_VERSION = "2022-11-28"
#: Without retry-after or x-ratelimit-reset, GitHub asks clients to wait at least a minute.
DEFAULT_RATE_LIMIT_WAIT = 60.0
#: Listing stops after this many pages (100 runs each): GitHub's own end for a filtered listing.
MAX_RUN_PAGES = 10
#: Runs are listed from this long before the first claim (and up to this long after now), for clock skew
#: between Lambda and GitHub.
CLOCK_SKEW_SECONDS = 120
#: A run's jobs are read at most this many pages (100 each): a batch's 256 matrix jobs (GitHub's cap, "Actions
#: limits") take 3, and the rest leaves room for re-runs' jobs, which ``filter=all`` lists too.
MAX_JOB_PAGES = 5
#: Reconciliation reads at most this many narrowed listings before it gives up for a later retry.
MAX_RECONCILE_LISTINGS = 16
_CONNECT_TIMEOUT_CAP = 3.05


class GitHubClient:
    def __init__(
        self,
        *,
        api_url: str,
        repository: str,
        workflow: str,
        api_version: str,
        credentials: SecretCredentials,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._api = api_url.rstrip("/")
        self._repository = repository
        self._workflow_url = f"{self._api}/repos/{repository}/actions/workflows/{workflow}"
        self._api_version = api_version
        self._credentials = credentials
        self._session = session or no_retry_session()
        self._clock = clock
        self._tokens = TokenCache()
        #: Set once a server refuses ``return_run_details`` (GitHub Enterprise Server before 3.21).
        self._omit_run_details = api_version != LEGACY_API_VERSION

    def dispatch(self, ref: str, inputs: Mapping[str, str], deadline: Deadline) -> RunRef:
        """Start one run; return what GitHub said about it. Never sends twice unless GitHub proved it did not act."""
        url = f"{self._workflow_url}/dispatches"
        refreshed = False
        while True:
            body: dict[str, Any] = {"ref": ref, "inputs": dict(inputs)}
            if not self._omit_run_details:
                body["return_run_details"] = True
            authorization, is_app = self._authorization(deadline)
            try:
                response = self._send("POST", url, deadline, authorization, json=body)
            except requests.RequestException as error:
                if _never_sent(error):
                    raise GitHubUnavailable(f"could not connect to GitHub: {type(error).__name__}") from None
                raise OutcomeUnknown(f"dispatch sent but no answer: {type(error).__name__}") from None

            status = response.status_code
            if 200 <= status < 300:
                return _run_ref(response)
            wait = self._rate_limit_wait(response)
            if wait is not None:
                # Never waited out here: a sleeping container that sends again when the window opens is one of a
                # herd. The caller shares the pause and queues the launch (``github_budget``).
                observability.count(metric_names.RATE_LIMITED)
                raise RateLimited(wait, f"GitHub rate limit (HTTP {status}); retry in {wait:.0f}s")
            if status == 401 and is_app and not refreshed:
                refreshed = True
                self._tokens.invalidate()
                continue
            message = _message(response)
            if status in (400, 422) and "return_run_details" in body and "return_run_details" in message:
                # GitHub Enterprise Server before 3.21 does not know the parameter. It refuses the unknown key with
                # 400 ("\"return_run_details\" is not a permitted key.", cli/cli#12672), a validation error like
                # 422: either way GitHub did not act, so the one resend without the key cannot duplicate a run.
                self._omit_run_details = True
                continue
            if 400 <= status < 500:
                raise DispatchRejected(status, message)
            raise OutcomeUnknown(f"dispatch answered HTTP {status}: {message}")

    def find_run(self, dispatch_id: str, created_since: float, deadline: Deadline) -> RunRef | None:
        """The run whose name carries ``dispatch_id``, or None when GitHub provably lists none.

        Lists the workflow's ``workflow_dispatch`` runs created between the first claim and now (the run can
        only have been created in that window), every status (a fresh run is ``queued``); the run-name contract
        puts the dispatch ID into each run's ``display_title``. A filtered listing stops at 1,000 runs, so
        "not found" is only concluded from complete listings: a truncated window is halved until each part is
        complete. ``created`` has one-second precision, so a window of one second that is still truncated
        cannot be narrowed: then, or after ``MAX_RECONCILE_LISTINGS`` listings, :class:`GitHubUnavailable`
        makes the event retry later rather than answer None and dispatch a second run.
        """
        windows = [(math.floor(created_since - CLOCK_SKEW_SECONDS), math.ceil(self._clock() + CLOCK_SKEW_SECONDS))]
        listings = 0
        while windows:
            low, high = windows.pop()
            if listings >= MAX_RECONCILE_LISTINGS:
                raise GitHubUnavailable(
                    f"more than {MAX_RECONCILE_LISTINGS} listings of runs to search; retrying later"
                )
            listings += 1
            listing = self._list(f"{_created(low)}..{_created(high)}", deadline, MAX_RUN_PAGES)
            for run in listing.runs:
                if dispatch_id in run.display_title:
                    return run.ref()
            if listing.complete:
                continue
            if high <= low:
                raise GitHubUnavailable("more runs created within one second than GitHub lists; retrying later")
            middle = (low + high) // 2
            windows += [(low, middle), (middle + 1, high)]
        return None

    def list_runs(self, created_since: float, deadline: Deadline, max_pages: int = MAX_RUN_PAGES) -> RunListing:
        """Every ``workflow_dispatch`` run of the workflow created since then (newest first), all statuses.

        ``complete`` is False when GitHub had more than the listing shows (its 1,000-run cap) or more than
        ``max_pages`` pages: a caller deciding "no run" must look at it.
        """
        return self._list(f">={_created(created_since - CLOCK_SKEW_SECONDS)}", deadline, max_pages)

    def _list(self, created: str, deadline: Deadline, max_pages: int) -> RunListing:
        url: str | None = f"{self._workflow_url}/runs"
        params: dict[str, Any] | None = {"event": "workflow_dispatch", "created": created, "per_page": 100}
        runs: dict[int, WorkflowRun] = {}
        pages, total = 0, 0
        while url and pages < max_pages:
            answer = self._get(url, deadline, params=params, what="listing runs")
            body = answer.json()
            for run in body.get("workflow_runs", []):
                listed = WorkflowRun.from_api(run)
                runs.setdefault(listed.run_id, listed)  # a run created meanwhile shifts the pages: keep each once
            total = int(body.get("total_count") or 0)
            pages += 1
            url, params = answer.links.get("next", {}).get("url"), None
        # GitHub ends a filtered listing after 1,000 runs without a next link; total_count still counts all.
        return RunListing(runs=list(runs.values()), complete=url is None and len(runs) >= total)

    def get_run(self, run_id: int, deadline: Deadline) -> WorkflowRun | None:
        """One run by its ID; None when GitHub does not know it (deleted, or another repository's)."""
        url = f"{self._api}/repos/{self._repository}/actions/runs/{run_id}"
        answer = self._get(url, deadline, params=None, what="reading a run", missing_ok=True)
        return WorkflowRun.from_api(answer.json()) if answer.status_code == 200 else None

    def list_jobs(self, run_id: int, deadline: Deadline, max_pages: int = MAX_JOB_PAGES) -> JobListing:
        """Every job of the run, of every attempt (``filter=all``): a re-run's new job for an instance is listed with
        the one it replaced, and :meth:`JobListing.for_instance` takes the latest, so no instance's job is missed
        whichever jobs a re-run repeated ("REST API endpoints for workflow jobs", GitHub docs).

        ``complete`` is False when the listing stopped before its last page (after ``max_pages``, or with too little
        of the deadline left for another call; the first page's call raises like any other): only a complete
        listing can show that an instance has no job. A run GitHub does not know (404, where :meth:`get_run`
        answers None) has no jobs: an empty, complete listing. A queued run may list no jobs yet, so an empty
        listing of an unfinished run proves nothing.
        """
        url: str | None = f"{self._api}/repos/{self._repository}/actions/runs/{run_id}/jobs"
        params: dict[str, Any] | None = {"filter": "all", "per_page": 100}
        jobs: dict[int, WorkflowJob] = {}
        pages, total = 0, 0
        while url and pages < max_pages and (pages == 0 or deadline.can_wait(0)):
            answer = self._get(url, deadline, params=params, what="listing jobs", missing_ok=True)
            if answer.status_code == 404:
                return JobListing(jobs=[], complete=True) if pages == 0 else JobListing(list(jobs.values()), False)
            body = answer.json()
            for job in body.get("jobs", []):
                listed = WorkflowJob.from_api(job)
                jobs.setdefault(listed.job_id, listed)  # a job made meanwhile shifts the pages: keep each once
            total = int(body.get("total_count") or 0)
            pages += 1
            url, params = answer.links.get("next", {}).get("url"), None
        return JobListing(jobs=list(jobs.values()), complete=url is None and len(jobs) >= total)

    def _get(
        self,
        url: str,
        deadline: Deadline,
        *,
        params: Mapping[str, Any] | None,
        what: str,
        missing_ok: bool = False,
    ) -> requests.Response:
        """A read-only GET: refreshes an App token once on 401, turns every failure into a retryable error."""
        refreshed = False
        while True:
            authorization, is_app = self._authorization(deadline)
            try:
                response = self._send("GET", url, deadline, authorization, params=params)
            except requests.RequestException as error:
                raise GitHubUnavailable(f"{what} failed: {type(error).__name__}") from None
            if response.status_code == 401 and is_app and not refreshed:
                refreshed = True
                self._tokens.invalidate()
                continue
            wait = self._rate_limit_wait(response)
            if wait is not None:
                observability.count(metric_names.RATE_LIMITED)
                raise RateLimited(wait, f"GitHub rate limit while {what}; retry in {wait:.0f}s")
            if response.status_code == 200 or (missing_ok and response.status_code == 404):
                return response
            raise GitHubUnavailable(f"{what} answered HTTP {response.status_code}: {_message(response)}")

    def _authorization(self, deadline: Deadline) -> tuple[str, bool]:
        credentials = self._credentials.get()
        if not isinstance(credentials, AppCredentials):
            return f"Bearer {credentials.token}", False
        token = self._tokens.valid_for(credentials, self._clock())
        if token is None:
            token = self._mint_installation_token(credentials, deadline)
        return f"Bearer {token}", True

    def _mint_installation_token(self, credentials: AppCredentials, deadline: Deadline) -> str:
        url = f"{self._api}/app/installations/{credentials.installation_id}/access_tokens"
        try:
            response = self._send("POST", url, deadline, f"Bearer {credentials.jwt(self._clock())}")
        except requests.RequestException as error:
            raise GitHubUnavailable(f"minting a GitHub App installation token failed: {type(error).__name__}") from None
        if response.status_code in (401, 403, 404):
            raise CredentialsInvalid(
                f"GitHub refused the App credentials (HTTP {response.status_code}: {_message(response)}); "
                "check app_id, installation_id and private_key in the credentials secret"
            )
        if response.status_code != 201:
            raise GitHubUnavailable(f"minting an installation token answered HTTP {response.status_code}")
        answer = response.json()
        self._tokens.store(credentials, answer["token"], answer.get("expires_at", ""))
        return str(answer["token"])

    def _send(
        self,
        method: str,
        url: str,
        deadline: Deadline,
        authorization: str,
        *,
        json: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> requests.Response:
        budget = deadline.budget()
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": self._api_version,
            "User-Agent": USER_AGENT,
            "Authorization": authorization,
        }
        timeout = (min(_CONNECT_TIMEOUT_CAP, budget), budget)
        started = time.monotonic()
        try:
            # requests' read timeout bounds each socket read; GitHub answers in one, and cuts requests at 10 s.
            return self._session.request(
                method,
                url,
                headers=headers,
                json=json,
                params=params,
                timeout=timeout,
            )
        finally:
            elapsed_ms = (time.monotonic() - started) * 1000
            observability.milliseconds(metric_names.GITHUB_LATENCY, elapsed_ms)
            observability.logger.debug("GitHub call", extra={"method": method, "path": url[len(self._api) :]})

    def _rate_limit_wait(self, response: requests.Response) -> float | None:
        """Seconds to wait when the answer is a rate limit (GitHub did not act), else None."""
        status, headers = response.status_code, response.headers
        limited = status == 429 or (
            status == 403
            and (
                "retry-after" in headers
                or headers.get("x-ratelimit-remaining") == "0"
                or "rate limit" in _message(response).lower()
            )
        )
        if not limited:
            return None
        if headers.get("retry-after", "").isdigit():
            return float(headers["retry-after"])
        reset = headers.get("x-ratelimit-reset", "")
        if reset.isdigit():
            return max(0.0, float(reset) - self._clock()) + 1
        return DEFAULT_RATE_LIMIT_WAIT


def no_retry_session() -> requests.Session:
    """A session that never retries on its own (urllib3 must never re-send a POST); the CLI reads with it too."""
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _never_sent(error: requests.RequestException) -> bool:
    """True only when no connection was made, so no byte of the request left: DNS, refused, connect timeout.

    Everything after the connection was made proves nothing: a TLS alert, a reset, or a garbled or truncated
    answer can come after GitHub received the whole request and created the run. requests' ``SSLError`` is
    raised for a TLS failure while reading the answer too, so it counts as sent.
    """
    if isinstance(error, requests.exceptions.SSLError):
        return False
    if isinstance(error, requests.ConnectTimeout):
        return True
    if isinstance(error, requests.ConnectionError) and error.args:
        cause = error.args[0]
        # urllib3's NewConnectionError (NameResolutionError is one) means the socket never connected.
        return isinstance(cause, MaxRetryError) and isinstance(cause.reason, NewConnectionError)
    return False


def _created(epoch: float) -> str:
    """A ``created`` qualifier's time: UTC, whole seconds (the filter's precision)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _run_ref(response: requests.Response) -> RunRef:
    if response.status_code == 204 or not response.content:
        return RunRef()
    try:
        answer = response.json()
    except ValueError:
        return RunRef()
    run_id = answer.get("workflow_run_id")
    return RunRef(
        run_id=int(run_id) if run_id is not None else None,
        html_url=answer.get("html_url"),
    )


def _message(response: requests.Response) -> str:
    try:
        message = response.json().get("message", "")
    except (ValueError, AttributeError):
        message = response.text
    return str(message or response.reason or "")[:300]
