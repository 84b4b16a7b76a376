"""A GitHub REST API double on loopback: workflow dispatch, run listing, a run's jobs, GitHub App installation tokens,
and the read-only repository endpoints a configuration check uses (repository, workflow, workflow file, branch, git
ref).

It answers like github.com where the dispatcher's correctness depends on it (status codes, error bodies,
``return_run_details`` per API version, ``created`` filtering, ``Link`` paging) and lets tests inject the faults
that make "exactly one run per instance" hard: answers lost after the run was created, slow answers, rate limits.
It serves hundreds of concurrent requests, so the scale-out drill can use it too. ``rate_limits=RateLimits()``
makes it enforce GitHub's primary and secondary rate limits as well (stand_ins/github_rate_limits.py); by default
it limits nothing.

Each run gets jobs (stand_ins/github_jobs.py): a batch run, whose inputs hold ``instances``, one matrix job per
instance named by its instance ID; any other run one job. ``set_run_status`` moves a run and its jobs along,
``set_job_status`` one instance's job (and the run as its jobs make it); ``failing_instances`` names the instances
whose jobs fail, and a run with a failed job fails.

    with GitHubDouble(repository="acme/app", workflow="deploy.yml", tokens={"ghp_test"}) as github:
        client = make_client(base_url=github.url, token="ghp_test")
        github.inject(DropAfterAccept())
        ...
        assert len(github.runs) == 1
"""

from __future__ import annotations

import json
import math
import re
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from http.client import responses
from types import TracebackType
from typing import Any, TypedDict

from deploy_trigger.workflow_contract import BATCH_RESERVED_INPUTS, BATCH_RUN_NAME, RESERVED_INPUTS, RUN_NAME
from stand_ins.github_app_auth import JwtRejected, verify_app_jwt
from stand_ins.github_dispatch_rules import (
    CURRENT_API_VERSION,
    LEGACY_API_VERSION,
    dispatch_problem,
    ghes_release,
    render_run_name,
    short_ref,
)
from stand_ins.github_faults import (
    CloseMidBody,
    Delay,
    DropAfterAccept,
    ErrorAfterAccept,
    Fault,
    GarbageAfterAccept,
    HangAfterAccept,
    HangBeforeAccept,
    RateLimited,
    Reject,
    ResetAfterReceive,
    Unauthorized,
)
from stand_ins.github_http import IncomingRequest, Reply, serve
from stand_ins.github_jobs import (
    FINISHED,
    WAITING_STATUSES,
    PlannedJob,
    StartupFailure,
    jobs_filter,
    moved,
    plan_jobs,
    run_conclusion,
    run_state,
)
from stand_ins.github_listing import (
    FILTERED_LISTING_CAP,
    LISTING_DELAY_SECONDS,
    is_filtered,
    last_page,
    link_header,
    page_window,
    run_predicate,
)
from stand_ins.github_model import GitHubApp, RecordedRequest, WorkflowJob, WorkflowRun, iso_z
from stand_ins.github_objects import minimal_repository
from stand_ins.github_rate_limits import (
    Credential,
    RateLimiter,
    RateLimits,
    Refusal,
    installation_label,
    token_label,
)
from stand_ins.github_repository import (
    DEFAULT_REPOSITORY_PERMISSIONS,
    DEFAULT_TOKEN_SCOPES,
    FINE_GRAINED_PREFIX,
    branch_answer,
    commit_sha,
    contents_answer,
    git_ref_answer,
    repository_answer,
    workflow_answer,
)
from stand_ins.github_workflow_file import render_workflow_file

__all__ = [
    "BATCH_DECLARED_INPUTS",
    "BATCH_RUN_NAME",
    "DEFAULT_DECLARED_INPUTS",
    "DEFAULT_INSTALLATION_PERMISSIONS",
    "DEFAULT_REPOSITORY_PERMISSIONS",
    "DEFAULT_RUN_NAME",
    "DEFAULT_TOKEN_SCOPES",
    "CloseMidBody",
    "Delay",
    "DropAfterAccept",
    "ErrorAfterAccept",
    "FailingInstances",
    "Fault",
    "FaultPolicy",
    "GarbageAfterAccept",
    "GitHubApp",
    "GitHubDouble",
    "HangAfterAccept",
    "HangBeforeAccept",
    "RateLimited",
    "RateLimits",
    "RecordedRequest",
    "Refusal",
    "Reject",
    "ResetAfterReceive",
    "Unauthorized",
    "WorkflowJob",
    "WorkflowRun",
]

#: The inputs the dispatcher always sends; a test adds its extras: ``DEFAULT_DECLARED_INPUTS | {"color"}``.
DEFAULT_DECLARED_INPUTS = RESERVED_INPUTS
#: The workflow's ``run-name``: it puts the dispatch id into ``display_title``, the only way to find a run again.
DEFAULT_RUN_NAME = RUN_NAME
#: A batch workflow's inputs and ``run-name``: ``GitHubDouble(declared_inputs=BATCH_DECLARED_INPUTS,
#: run_name=BATCH_RUN_NAME)`` serves the batch workflow, whose runs get one job per instance.
BATCH_DECLARED_INPUTS = BATCH_RESERVED_INPUTS
#: What an installation token may do when a test names nothing else (the dispatcher needs actions: write).
DEFAULT_INSTALLATION_PERMISSIONS: Mapping[str, str] = {"actions": "write"}
#: Consulted for each dispatch POST when no injected fault is queued, e.g. to fail a seeded share of them.
FaultPolicy = Callable[[RecordedRequest], Fault | None]
#: The instances whose deployment jobs fail: their IDs, or a test of an instance ID (e.g. a seeded share).
FailingInstances = Iterable[str] | Callable[[str], bool]

FIRST_RUN_ID = 9_000_001
#: Job IDs are their own sequence on GitHub, far above run IDs.
FIRST_JOB_ID = 31_000_000_001

_DISPATCH_DOCS = "https://docs.github.com/rest/actions/workflows#create-a-workflow-dispatch-event"
_RUNS_DOCS = "https://docs.github.com/rest/actions/workflow-runs"
_JOBS_DOCS = "https://docs.github.com/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run"
_APP_DOCS = "https://docs.github.com/rest/apps/apps#create-an-installation-access-token-for-an-app"
_REPOS_DOCS = "https://docs.github.com/rest/repos/repos#get-a-repository"
_WORKFLOWS_DOCS = "https://docs.github.com/rest/actions/workflows#get-a-workflow"
_CONTENTS_DOCS = "https://docs.github.com/rest/repos/contents#get-repository-content"
_BRANCHES_DOCS = "https://docs.github.com/rest/branches/branches#get-a-branch"
_GIT_REFS_DOCS = "https://docs.github.com/rest/git/refs#get-a-reference"
_META_DOCS = "https://docs.github.com/rest/meta/meta#get-github-meta-information"
_TOKEN_ALPHABET = string.ascii_letters + string.digits

Params = dict[str, str]
Route = tuple[str, re.Pattern[str], Callable[[IncomingRequest, RecordedRequest, Params], Reply]]


def _error(status: int, message: str, docs: str, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"message": message, "documentation_url": docs}, headers or {})


class _Location(TypedDict):
    """Where the repository's objects live: what every answer about the repository builds its URLs from."""

    api_url: str
    origin: str
    full_name: str


@dataclass
class _State:
    """Everything the request threads share; only touched while holding ``GitHubDouble._lock``."""

    runs: dict[int, WorkflowRun] = field(default_factory=dict)
    #: Run ID -> its jobs, every attempt's, in creation order; replaced whole when one moves.
    jobs: dict[int, tuple[WorkflowJob, ...]] = field(default_factory=dict)
    #: Run ID -> why GitHub failed the run before making any job (a matrix it could not expand).
    startup_failures: dict[int, str] = field(default_factory=dict)
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: deque[Fault] = field(default_factory=deque)
    apps: dict[str, GitHubApp] = field(default_factory=dict)
    installation_tokens: dict[str, int] = field(default_factory=dict)
    #: Installation token -> the installation it was minted for (whose rate-limit budget it spends).
    token_installations: dict[str, str] = field(default_factory=dict)
    tokens_minted: int = 0
    next_run_id: int = FIRST_RUN_ID
    next_job_id: int = FIRST_JOB_ID


class GitHubDouble:
    """The GitHub API for one repository with one workflow. Use it as a context manager; see the module doc."""

    def __init__(
        self,
        *,
        repository: str = "acme/app",
        workflow: str = "deploy.yml",
        workflow_id: int = 161_335_001,
        workflow_name: str = "Deploy",
        tokens: Iterable[str] = (),
        refs: Iterable[str] = ("main",),
        declared_inputs: Iterable[str] = DEFAULT_DECLARED_INPUTS,
        run_name: str | None = DEFAULT_RUN_NAME,
        ghes_version: str | None = None,
        api_prefix: str = "",
        installation_token_ttl: float = 3600.0,
        fault_policy: FaultPolicy | None = None,
        clock: Callable[[], datetime] | None = None,
        workflow_file: str | None = None,
        workflow_state: str = "active",
        default_branch: str = "main",
        tags: Iterable[str] = (),
        private: bool = True,
        repository_permissions: Mapping[str, bool] | None = None,
        token_scopes: Mapping[str, Iterable[str]] | None = None,
        token_permissions: Mapping[str, Mapping[str, str]] | None = None,
        installation_permissions: Mapping[str, str] | None = None,
        filtered_listing_cap: int = FILTERED_LISTING_CAP,
        listing_delay: float = LISTING_DELAY_SECONDS,
        rate_limits: RateLimits | None = None,
        failing_instances: FailingInstances = (),
        jobs_delay: float | None = None,
    ) -> None:
        """Describe the repository the double serves.

        ``run_name`` is the workflow's ``run-name`` template (``${{ inputs.X }}`` is substituted; None means no
        ``run-name``, so ``display_title`` is just the workflow name). ``ghes_version`` (e.g. ``"3.20"``) makes it a
        GitHub Enterprise Server of that release: only API version 2022-11-28 is served, a 400 answers any other
        ``X-GitHub-Api-Version``, and before 3.21 ``return_run_details`` is refused with 400, not 422. ``api_prefix`` is
        ``"/api/v3"`` to mimic a GHES base URL. ``clock`` stamps the runs (tokens and JWTs use the real time,
        since clients sign with it).

        The read-only repository endpoints: ``workflow_file`` is the text served as the workflow's file (None: a
        valid workflow declaring ``declared_inputs`` with ``run_name``, i.e. exactly what the double accepts);
        ``workflow_state`` is the workflow's ``state`` (``"disabled_manually"``...); ``default_branch`` is the
        repository's; ``tags`` are tags next to the branches in ``refs`` (dispatchable too); ``private`` and
        ``repository_permissions`` are what ``GET /repos/{owner}/{repo}`` shows a personal access token.
        Tokens: a token in ``tokens`` that starts with ``github_pat_`` is fine-grained (no ``X-OAuth-Scopes``
        header), any other is classic and answered with ``X-OAuth-Scopes`` from ``token_scopes`` (default
        ``repo``). ``token_permissions`` gives a fine-grained token its repository permissions (e.g.
        ``{"actions": "none", "contents": "read"}``); the read endpoints refuse it with 403 where it lacks read
        access (the dispatch POST does not look at it). ``installation_permissions`` is what an App's installation
        token is granted (default ``actions: write``).

        ``rate_limits`` turns on GitHub's rate limits (None, the default: none at all): every authenticated answer
        then carries ``x-ratelimit-*`` headers, and requests over a limit are refused before anything else happens,
        injected faults included; see stand_ins/github_rate_limits.py for the rules and ``refusals`` and
        ``content_created_at`` for what was refused and let through.

        Jobs: ``failing_instances`` are the instances whose jobs conclude ``failure`` when their run is finished with
        ``set_run_status`` (or their job with ``set_job_status``), which fails the run too; ``set_failing_instances``
        changes them later. A queued run lists no jobs until ``jobs_delay`` seconds after its creation (None: the
        ``listing_delay``) or until one of its jobs starts. GitHub makes a run's jobs only once it has expanded the
        workflow, after the run exists; its docs do not say how soon, so the double takes the listing's delay, and a
        client must read an empty listing of a queued run as "not yet", never as "no job".
        """
        self.repository = repository
        self.workflow = workflow
        self.workflow_id = workflow_id
        self.workflow_name = workflow_name
        self.declared_inputs = frozenset(declared_inputs)
        self.run_name = run_name
        self.ghes_version = ghes_version
        self._ghes = None if ghes_version is None else ghes_release(ghes_version)
        self.api_prefix = api_prefix.rstrip("/")
        self.installation_token_ttl = installation_token_ttl
        self._pats = frozenset(tokens)
        self._branches = frozenset(short_ref(ref) for ref in refs)
        self._tags = frozenset(short_ref(tag) for tag in tags)
        self._refs = self._branches | self._tags
        self.default_branch = default_branch
        self.workflow_state = workflow_state
        self.private = private
        self.workflow_file = (
            workflow_file
            if workflow_file is not None
            else render_workflow_file(name=workflow_name, declared_inputs=self.declared_inputs, run_name=run_name)
        )
        self._repository_permissions = dict(
            DEFAULT_REPOSITORY_PERMISSIONS if repository_permissions is None else repository_permissions
        )
        self._token_scopes = {token: tuple(scopes) for token, scopes in (token_scopes or {}).items()}
        self._token_permissions = {token: dict(granted) for token, granted in (token_permissions or {}).items()}
        self._installation_permissions = dict(
            DEFAULT_INSTALLATION_PERMISSIONS if installation_permissions is None else installation_permissions
        )
        self.filtered_listing_cap = filtered_listing_cap
        self.listing_delay = listing_delay
        self.jobs_delay = listing_delay if jobs_delay is None else jobs_delay
        self._failing = _instance_test(failing_instances)
        #: Run ID -> when a run still queued starts to list its jobs.
        self._jobs_listable_at: dict[int, datetime] = {}
        #: Run ID -> when run listings start to show it (a single-run read sees it at once).
        self._listable_at: dict[int, datetime] = {}
        self._fault_policy = fault_policy
        self.rate_limits = rate_limits
        self._limiter = None if rate_limits is None else RateLimiter(rate_limits)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._state = _State()
        self._stopping = threading.Event()
        self._stop_server: Callable[[], None] | None = None
        self._origin: str | None = None
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/actions"
        repository = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        self._routes: list[Route] = [
            ("GET", re.compile(rf"^{repository}$"), self._get_repository),
            ("GET", re.compile(rf"^{repo}/workflows/(?P<workflow>[^/]+)$"), self._get_workflow),
            ("GET", re.compile(rf"^{repository}/contents/(?P<path>.+)$"), self._get_contents),
            ("GET", re.compile(rf"^{repository}/branches/(?P<branch>.+)$"), self._get_branch),
            ("GET", re.compile(rf"^{repository}/git/ref/(?P<kind>heads|tags)/(?P<ref>.+)$"), self._get_git_ref),
            ("POST", re.compile(rf"^{repo}/workflows/(?P<workflow>[^/]+)/dispatches$"), self._dispatch),
            ("GET", re.compile(rf"^{repo}/workflows/(?P<workflow>[^/]+)/runs$"), self._list_runs),
            ("GET", re.compile(rf"^{repo}/runs/(?P<run_id>[^/]+)$"), self._get_run),
            ("GET", re.compile(rf"^{repo}/runs/(?P<run_id>[^/]+)/jobs$"), self._list_jobs),
            ("POST", re.compile(r"^/app/installations/(?P<installation_id>[^/]+)/access_tokens$"), self._mint_token),
            ("GET", re.compile(r"^/meta$"), self._meta),
        ]

    # -- lifecycle ------------------------------------------------------------------------------------------

    def __enter__(self) -> GitHubDouble:
        self._stopping.clear()
        self._origin, self._stop_server = serve(self._handle)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        # Wake requests sleeping in a Delay/Hang fault first, so shutdown does not wait for them.
        self._stopping.set()
        if self._stop_server is not None:
            self._stop_server()
            self._stop_server = None

    # -- what tests read and control ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API base URL to configure the client with, e.g. ``http://127.0.0.1:PORT``."""
        return self._require_origin() + self.api_prefix

    @property
    def runs(self) -> list[WorkflowRun]:
        """Every run created so far, in creation order."""
        with self._lock:
            return list(self._state.runs.values())

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (credentials redacted)."""
        with self._lock:
            return list(self._state.requests)

    @property
    def tokens_minted(self) -> int:
        """How many installation tokens were issued: a client should reuse one until shortly before it expires."""
        with self._lock:
            return self._state.tokens_minted

    @property
    def refusals(self) -> list[Refusal]:
        """Every request a rate limit refused, in order ([] when ``rate_limits`` is off)."""
        return [] if self._limiter is None else self._limiter.refusals

    @property
    def content_created_at(self) -> list[float]:
        """Wall epoch times of the content-creating requests the rate limits let through, sorted ([] when off).

        These are what the limits' windows count: a request let through keeps its place whatever the double
        answered it afterwards (a 422, an injected fault), since GitHub limits requests, not successes.
        """
        return [] if self._limiter is None else self._limiter.content_created_at

    def count(self, method: str, path_suffix: str) -> int:
        """How many recorded requests used ``method`` on a path ending with ``path_suffix``."""
        return sum(1 for r in self.requests if r.method == method and r.path.endswith(path_suffix))

    def inject(self, fault: Fault, times: int = 1) -> None:
        """Apply ``fault`` to each of the next ``times`` dispatch POSTs (after faults injected earlier).

        A dispatch POST takes its fault before any check, so a queued fault is used up even by an invalid request;
        "after accept" faults then only act if the dispatch was valid and a run was created.
        """
        with self._lock:
            self._state.faults.extend([fault] * times)

    def set_run_status(self, run_id: int, status: str | None = "completed", conclusion: str | None = "success") -> None:
        """Move a run along, as the Actions runner would, and its unfinished jobs with it; ``KeyError`` for an unknown
        run.

        ``status=None`` serves ``"status": null``, which GitHub's OpenAPI description allows for a run (its jobs stay as
        they are: a job's status is never null). Finishing with ``success``: a failing instance's job concludes
        ``failure`` and so does the run, as does a job that already ended in failure (``set_job_status``). A run
        GitHub failed at startup (``startup_failures``) stays as it ended: no runner ever had it.
        """
        with self._lock:
            run = self._state.runs[run_id]
            if run_id in self._state.startup_failures:
                return
            now = self._now()
            jobs = tuple(
                moved(job, status or "", self._job_conclusion(job, conclusion), now) for job in self._state.jobs[run_id]
            )
            self._state.jobs[run_id] = jobs
            if status == FINISHED and conclusion == "success":
                conclusion = run_conclusion([job.conclusion for job in _latest_attempt(run, jobs)])
            self._state.runs[run_id] = replace(run, status=status, conclusion=conclusion, updated_at=now)

    def set_job_status(
        self, run_id: int, instance_id: str, status: str = "completed", conclusion: str | None = None
    ) -> None:
        """Move one instance's job of a run (a matrix's jobs start and end one by one), and the run as its jobs make
        it: in progress once one started, finished once all did. ``conclusion=None`` when finishing: ``failure`` for a
        failing instance, else ``success``. ``KeyError`` for an unknown run or an instance it has no job for.
        """
        with self._lock:
            run = self._state.runs[run_id]
            jobs = list(self._state.jobs[run_id])
            current = [n for n, job in enumerate(jobs) if job.run_attempt == run.run_attempt]
            index = next((n for n in current if jobs[n].instance_id == instance_id), None)
            if index is None:
                raise KeyError(f"run {run_id} has no job for {instance_id}")
            if status == FINISHED and conclusion is None:
                conclusion = "failure" if self._failing(instance_id) else "success"
            now = self._now()
            jobs[index] = moved(jobs[index], status, conclusion, now)
            self._state.jobs[run_id] = tuple(jobs)
            state = run_state(_latest_attempt(run, jobs))
            if state is not None:
                self._state.runs[run_id] = replace(run, status=state[0], conclusion=state[1], updated_at=now)

    def set_failing_instances(self, failing_instances: FailingInstances) -> None:
        """From now on, these instances' jobs fail when they finish (jobs that already finished keep their end)."""
        test = _instance_test(failing_instances)
        with self._lock:
            self._failing = test

    def jobs(self, run_id: int) -> list[WorkflowJob]:
        """A run's jobs, every attempt's, in creation order, whether or not GitHub lists them yet; ``KeyError`` for an
        unknown run, ``[]`` for a run GitHub failed at startup."""
        with self._lock:
            return list(self._state.jobs[run_id])

    def jobs_by_instance(self) -> dict[str, list[tuple[int, WorkflowJob]]]:
        """Instance ID -> ``(run ID, job)`` of every job made to deploy it, across all runs, in creation order.

        What a verdict of "exactly one deployment per instance" counts: an instance with two entries got two jobs.
        """
        found: dict[str, list[tuple[int, WorkflowJob]]] = {}
        with self._lock:
            for run_id, jobs in self._state.jobs.items():
                for job in jobs:
                    found.setdefault(job.instance_id, []).append((run_id, job))
        return found

    @property
    def startup_failures(self) -> dict[int, str]:
        """Run ID -> why GitHub failed that run before making any job (its matrix could not be expanded)."""
        with self._lock:
            return dict(self._state.startup_failures)

    def _job_conclusion(self, job: WorkflowJob, conclusion: str | None) -> str | None:
        """What a job concludes when its run is finished with ``conclusion``: a failing instance's fails."""
        return "failure" if conclusion == "success" and self._failing(job.instance_id) else conclusion

    def add_app(self, app_id: str, installation_id: str, public_key_pem: bytes, client_id: str | None = None) -> None:
        """Register a GitHub App installation whose JWTs may be exchanged for installation tokens."""
        with self._lock:
            self._state.apps[installation_id] = GitHubApp(app_id, installation_id, public_key_pem, client_id)

    def revoke_installation_tokens(self) -> None:
        """Invalidate every installation token issued so far: the next call using one gets 401."""
        with self._lock:
            self._state.installation_tokens.clear()
            self._state.token_installations.clear()

    # -- request handling -----------------------------------------------------------------------------------

    def _handle(self, incoming: IncomingRequest) -> Reply:
        record = incoming.record()
        with self._lock:
            index = len(self._state.requests)
            self._state.requests.append(record)
        reply = self._route_within_limits(incoming, record)
        scopes = self._oauth_scopes(incoming)
        if scopes is not None and reply.answered:
            # GitHub lists a classic token's scopes on every answer to a request it authenticated.
            reply = replace(reply, headers={**reply.headers, "x-oauth-scopes": ", ".join(scopes)})
        with self._lock:
            status = reply.status if reply.answered else None
            self._state.requests[index] = replace(record, status=status)
        return reply

    def _route_within_limits(self, incoming: IncomingRequest, record: RecordedRequest) -> Reply:
        """Route the request, after GitHub's rate limits when they are on (the limiter decides; this only wires)."""
        credential = self._limited_credential(incoming)
        if self._limiter is None or credential is None:
            return self._route(incoming, record)
        with self._limiter.request(credential, incoming.method, incoming.path) as admission:
            if admission.refused is None:
                reply = self._route(incoming, record)
            else:
                reply = Reply(admission.status, dict(admission.body or {}))
        if not reply.answered:
            return reply
        # The answer's own headers win: an injected RateLimited fault keeps saying what it says.
        return replace(reply, headers={**admission.headers, **reply.headers})

    def _limited_credential(self, incoming: IncomingRequest) -> Credential | None:
        """Whose rate-limit budget a request spends: its personal token's or its installation's.

        None for a request the double does not authenticate with a token (none, unknown, expired): those, and the
        token mint (authenticated by the App's JWT), are not rate limited.
        """
        scheme, _, secret = incoming.headers.get("authorization", "").partition(" ")
        if scheme.lower() not in ("bearer", "token"):
            return None
        if secret in self._pats:
            return Credential(f"token:{secret}", token_label(secret))
        with self._lock:
            expires_at = self._state.installation_tokens.get(secret)
            installation = self._state.token_installations.get(secret)
        if installation is None or expires_at is None or expires_at <= time.time():
            return None
        return Credential(f"installation:{installation}", installation_label(installation))

    def _route(self, incoming: IncomingRequest, record: RecordedRequest) -> Reply:
        path = incoming.path
        if self.api_prefix:
            if not path.startswith(self.api_prefix + "/"):
                return _error(404, "Not Found", "https://docs.github.com/rest")
            path = path[len(self.api_prefix) :]
        for method, pattern, handler in self._routes:
            match = pattern.match(path)
            if match and method == incoming.method:
                return handler(incoming, record, match.groupdict())
        return _error(404, "Not Found", "https://docs.github.com/rest")

    def _check_repository_request(self, incoming: IncomingRequest, params: Params, docs: str) -> Reply | None:
        """Auth, then User-Agent and API version, then the repository and workflow: GitHub's order."""
        return (
            self._check_token(incoming, docs)
            or self._check_client(incoming, docs)
            or self._check_repository(params, docs)
        )

    def _check_repository_access(
        self, incoming: IncomingRequest, params: Params, permission: str, docs: str
    ) -> Reply | None:
        """The repository request's checks, then the fine-grained token's ``permission`` on it."""
        return self._check_repository_request(incoming, params, docs) or self._check_permission(
            incoming, permission, docs
        )

    def _check_token(self, incoming: IncomingRequest, docs: str) -> Reply | None:
        header = incoming.headers.get("authorization")
        if header is None:
            return _error(401, "Requires authentication", docs)
        scheme, _, credential = header.partition(" ")
        if scheme.lower() in ("bearer", "token"):
            with self._lock:
                known = credential in self._pats
                expires_at = self._state.installation_tokens.get(credential)
            if known or (expires_at is not None and expires_at > time.time()):
                return None
        return _error(401, "Bad credentials", docs)

    def _check_client(self, incoming: IncomingRequest, docs: str) -> Reply | None:
        if not incoming.headers.get("user-agent"):
            return _error(
                403,
                "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
                "https://docs.github.com/rest/overview/resources-in-the-rest-api#user-agent-required",
            )
        version = self._api_version(incoming)
        # GitHub Enterprise Server does not serve 2026-03-10 (github/rest-api-description); any server answers an
        # unknown X-GitHub-Api-Version with 400 before looking at the request.
        supported = [LEGACY_API_VERSION] if self._ghes else [LEGACY_API_VERSION, CURRENT_API_VERSION]
        if version not in supported:
            message = (
                f"Unsupported 'X-GitHub-Api-Version' header value: API version {version!r} is not supported. "
                f"Supported versions: {', '.join(supported)}."
            )
            return _error(400, message, docs)
        return None

    def _check_repository(self, params: Params, docs: str) -> Reply | None:
        repository_matches = f"{params['owner']}/{params['repo']}".casefold() == self.repository.casefold()
        workflow = params.get("workflow")
        workflow_matches = workflow is None or workflow in (self.workflow, str(self.workflow_id))
        return None if repository_matches and workflow_matches else _error(404, "Not Found", docs)

    @staticmethod
    def _api_version(incoming: IncomingRequest) -> str:
        return incoming.headers.get("x-github-api-version", LEGACY_API_VERSION)

    # -- workflow dispatch ----------------------------------------------------------------------------------

    def _dispatch(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        fault = self._next_fault(record)
        if isinstance(fault, Delay | HangBeforeAccept):
            self._pause(fault.seconds)
        refusal = self._refuse_before_accept(fault)
        if refusal is not None:
            return refusal
        if isinstance(fault, ResetAfterReceive) and not fault.create_run:
            return Reply(0, reset_connection=True)
        reply, accepted = self._accept_dispatch(incoming, params)
        return self._after_accept(fault, reply) if accepted else reply

    def _after_accept(self, fault: Fault | None, reply: Reply) -> Reply:
        """What the client gets once the run exists: the answer, or the fault that loses it."""
        match fault:
            case ErrorAfterAccept(status=status):
                return _error(status, responses.get(status, "Server Error"), _DISPATCH_DOCS)
            case DropAfterAccept():
                return Reply(0, drop_connection=True)
            case ResetAfterReceive():
                return Reply(0, reset_connection=True)
            case GarbageAfterAccept(answer=answer):
                return Reply(0, raw_answer=answer)
            case CloseMidBody():
                payload = json.dumps(reply.body or {}).encode()
                head = (
                    f"HTTP/1.1 {reply.status} {responses.get(reply.status, '')}\r\n"
                    f"Content-Type: application/json; charset=utf-8\r\nContent-Length: {len(payload)}\r\n\r\n"
                )
                return Reply(0, raw_answer=head.encode() + payload[: len(payload) // 2])
            case HangAfterAccept(seconds=seconds):
                self._pause(seconds)
        return reply

    def _next_fault(self, record: RecordedRequest) -> Fault | None:
        with self._lock:
            if self._state.faults:
                return self._state.faults.popleft()
        return self._fault_policy(record) if self._fault_policy else None

    def _pause(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    @staticmethod
    def _refuse_before_accept(fault: Fault | None) -> Reply | None:
        match fault:
            case HangBeforeAccept():
                return _error(502, "Server Error", _DISPATCH_DOCS)
            case RateLimited(primary=True, retry_after=retry_after):
                reset = int(time.time()) + (60 if retry_after is None else retry_after)
                headers = {
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-used": "5000",
                    "x-ratelimit-reset": str(reset),
                    "x-ratelimit-resource": "core",
                }
                return _error(403, "API rate limit exceeded for installation.", _DISPATCH_DOCS, headers)
            case RateLimited(status=status, retry_after=retry_after):
                headers = {} if retry_after is None else {"retry-after": str(retry_after)}
                message = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
                return _error(status, message, _DISPATCH_DOCS, headers)
            case Reject(status=status, message=message):
                return _error(status, message, _DISPATCH_DOCS)
            case Unauthorized():
                return _error(401, "Bad credentials", _DISPATCH_DOCS)
        return None

    def _accept_dispatch(self, incoming: IncomingRequest, params: Params) -> tuple[Reply, bool]:
        """Validate and create the run; ``(reply, True)`` only when a run was created."""
        refusal = self._check_repository_request(incoming, params, _DISPATCH_DOCS)
        if refusal is not None:
            return refusal, False
        body = incoming.json_object()
        if body is None:
            return _error(400, "Problems parsing JSON", _DISPATCH_DOCS), False
        version = self._api_version(incoming)
        problem = dispatch_problem(
            body, version, ghes=self._ghes, refs=self._refs, declared_inputs=self.declared_inputs
        )
        if problem is not None:
            return _error(*problem, _DISPATCH_DOCS), False
        run = self._create_run(short_ref(body["ref"]), body.get("inputs") or {})
        details = {"workflow_run_id": run.id, "run_url": run.url, "html_url": run.html_url}
        if version == CURRENT_API_VERSION or body.get("return_run_details") is True:
            return Reply(200, details), True
        return Reply(204), True

    def _create_run(self, ref: str, inputs: dict[str, str]) -> WorkflowRun:
        """The run and its queued jobs; a run whose matrix GitHub cannot expand is created failed, with no jobs."""
        title = self.workflow_name
        if self.run_name is not None:
            title = render_run_name(self.run_name, inputs)
        try:
            planned, failure = plan_jobs(inputs), None
        except StartupFailure as error:
            planned, failure = [], str(error)
        with self._lock:
            run_id = self._state.next_run_id
            self._state.next_run_id += 1
            now = self._now()
            run = WorkflowRun(
                id=run_id,
                run_number=run_id - FIRST_RUN_ID + 1,
                workflow_id=self.workflow_id,
                name=self.workflow_name,
                display_title=title,
                event="workflow_dispatch",
                status="queued" if failure is None else FINISHED,
                conclusion=None if failure is None else "failure",
                created_at=now,
                updated_at=now,
                head_branch=ref,
                head_sha=commit_sha(ref),
                path=f".github/workflows/{self.workflow}",
                html_url=f"{self._require_origin()}/{self.repository}/actions/runs/{run_id}",
                url=f"{self.url}/repos/{self.repository}/actions/runs/{run_id}",
                inputs=dict(inputs),
                repository=self._run_repository,
            )
            self._state.runs[run_id] = run
            self._state.jobs[run_id] = self._new_jobs(run, planned)
            if failure is not None:
                self._state.startup_failures[run_id] = failure
            self._listable_at[run_id] = self._clock() + timedelta(seconds=self.listing_delay)
            self._jobs_listable_at[run_id] = self._clock() + timedelta(seconds=self.jobs_delay)
        return run

    def _new_jobs(self, run: WorkflowRun, planned: list[PlannedJob]) -> tuple[WorkflowJob, ...]:
        """The run's queued jobs, numbered from the job sequence; call holding the lock."""
        first = self._state.next_job_id
        self._state.next_job_id += len(planned)
        return tuple(
            WorkflowJob(
                id=first + n,
                run_id=run.id,
                run_attempt=run.run_attempt,
                name=job.name,
                instance_id=job.instance_id,
                status="queued",
                conclusion=None,
                created_at=run.created_at,
                started_at=run.created_at,
                completed_at=None,
                workflow_name=run.name,
                head_branch=run.head_branch,
                head_sha=run.head_sha,
                run_url=run.url,
                run_html_url=run.html_url,
            )
            for n, job in enumerate(planned)
        )

    @property
    def _run_repository(self) -> dict[str, Any]:
        return minimal_repository(**self._location(), private=self.private)

    def _location(self) -> _Location:
        return _Location(api_url=self.url, origin=self._require_origin(), full_name=self.repository)

    def _now(self) -> datetime:
        return self._clock().astimezone(UTC).replace(microsecond=0)

    # -- runs -----------------------------------------------------------------------------------------------

    def _list_runs(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        refusal = self._check_repository_access(incoming, params, "actions", _RUNS_DOCS)
        if refusal is not None:
            return refusal
        try:
            matches = run_predicate(incoming.query)
        except ValueError as error:
            return _error(422, str(error), _RUNS_DOCS)
        now = self._clock()
        with self._lock:
            listable = {run_id for run_id, at in self._listable_at.items() if at <= now}
        runs = [run for run in self.runs if matches(run) and run.id in listable]
        runs.sort(key=lambda run: (run.created_at, run.id), reverse=True)
        total = len(runs)
        if is_filtered(incoming.query):
            runs = runs[: self.filtered_listing_cap]  # the rest cannot be paged to; total_count still counts it
        page, per_page = page_window(incoming.query)
        shown = runs[(page - 1) * per_page : page * per_page]
        link = link_header(self._require_origin() + incoming.path, incoming.query, page, last_page(len(runs), per_page))
        body = {"total_count": total, "workflow_runs": [run.to_api() for run in shown]}
        return Reply(200, body, {"Link": link} if link else {})

    def _get_run(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        refusal = self._check_repository_access(incoming, params, "actions", _RUNS_DOCS)
        if refusal is not None:
            return refusal
        run_id = params["run_id"]
        with self._lock:
            run = self._state.runs.get(int(run_id)) if run_id.isdigit() else None
        return Reply(200, run.to_api()) if run else _error(404, "Not Found", _RUNS_DOCS)

    def _list_jobs(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        """``GET .../actions/runs/{run_id}/jobs``: the run's jobs, oldest first, paged like the runs listing."""
        refusal = self._check_repository_access(incoming, params, "actions", _JOBS_DOCS)
        if refusal is not None:
            return refusal
        try:
            which = jobs_filter(incoming.query)
        except ValueError as error:
            return _error(422, str(error), _JOBS_DOCS)
        run_id = params["run_id"]
        now = self._clock()
        with self._lock:
            run = self._state.runs.get(int(run_id)) if run_id.isdigit() else None
            jobs = self._state.jobs.get(run.id, ()) if run else ()
            listable_at = self._jobs_listable_at.get(run.id, now) if run else now
        if run is None:
            return _error(404, "Not Found", _JOBS_DOCS)
        listed = _listable_jobs(run, jobs, which, shown_yet=now >= listable_at)
        page, per_page = page_window(incoming.query)
        shown = listed[(page - 1) * per_page : page * per_page]
        last = last_page(len(listed), per_page)
        link = link_header(self._require_origin() + incoming.path, incoming.query, page, last)
        body = {"total_count": len(listed), "jobs": [job.to_api() for job in shown]}
        return Reply(200, body, {"Link": link} if link else {})

    def _meta(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        """``GET /meta`` needs no credentials; GitHub Enterprise Server tells its release there."""
        refusal = self._check_client(incoming, _META_DOCS)
        if refusal is not None:
            return refusal
        body: dict[str, object] = {"verifiable_password_authentication": False}
        if self.ghes_version is not None:
            body["installed_version"] = self.ghes_version
        return Reply(200, body)

    # -- the repository, read-only ---------------------------------------------------------------------------

    def _get_repository(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        refusal = self._check_repository_request(incoming, params, _REPOS_DOCS)
        if refusal is not None:
            return refusal
        # ``permissions`` describes the user behind a personal access token; an installation has no such user.
        personal = self._credential(incoming) in self._pats
        return Reply(
            200,
            repository_answer(
                **self._location(),
                default_branch=self.default_branch,
                private=self.private,
                permissions=self._repository_permissions if personal else None,
            ),
        )

    def _get_workflow(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        refusal = self._check_repository_access(incoming, params, "actions", _WORKFLOWS_DOCS)
        if refusal is not None:
            return refusal
        return Reply(
            200,
            workflow_answer(
                **self._location(),
                workflow_id=self.workflow_id,
                name=self.workflow_name,
                file_name=self.workflow,
                state=self.workflow_state,
            ),
        )

    def _get_contents(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        refusal = self._check_repository_access(incoming, params, "contents", _CONTENTS_DOCS)
        if refusal is not None:
            return refusal
        ref = short_ref((incoming.query.get("ref") or [self.default_branch])[0])
        if ref not in self._refs:
            return _error(404, f"No commit found for the ref {ref}", _CONTENTS_DOCS)
        path = params["path"].strip("/")
        if path != f".github/workflows/{self.workflow}":
            return _error(404, "Not Found", _CONTENTS_DOCS)
        return Reply(200, contents_answer(**self._location(), path=path, ref=ref, text=self.workflow_file))

    def _get_branch(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        refusal = self._check_repository_access(incoming, params, "contents", _BRANCHES_DOCS)
        if refusal is not None:
            return refusal
        if params["branch"] not in self._branches:
            return _error(404, "Branch not found", _BRANCHES_DOCS)
        return Reply(200, branch_answer(**self._location(), branch=params["branch"]))

    def _get_git_ref(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        refusal = self._check_repository_access(incoming, params, "contents", _GIT_REFS_DOCS)
        if refusal is not None:
            return refusal
        kind, name = params["kind"], params["ref"]
        if name not in (self._branches if kind == "heads" else self._tags):
            return _error(404, "Not Found", _GIT_REFS_DOCS)
        return Reply(200, git_ref_answer(api_url=self.url, full_name=self.repository, kind=kind, name=name))

    # -- what a token may do ----------------------------------------------------------------------------------

    @staticmethod
    def _credential(incoming: IncomingRequest) -> str:
        return incoming.headers.get("authorization", "").partition(" ")[2]

    def _oauth_scopes(self, incoming: IncomingRequest) -> tuple[str, ...] | None:
        """The ``X-OAuth-Scopes`` of a classic token the double accepts; None for any other credential."""
        credential = self._credential(incoming)
        if credential not in self._pats or credential.startswith(FINE_GRAINED_PREFIX):
            return None
        return self._token_scopes.get(credential, DEFAULT_TOKEN_SCOPES)

    def _check_permission(self, incoming: IncomingRequest, permission: str, docs: str) -> Reply | None:
        """403 for a fine-grained token granted neither read nor write on ``permission`` (see ``token_permissions``)."""
        granted = self._token_permissions.get(self._credential(incoming))
        if granted is None or granted.get(permission) in ("read", "write"):
            return None
        return _error(403, "Resource not accessible by personal access token", docs)

    # -- GitHub App installation tokens ---------------------------------------------------------------------

    def _mint_token(self, incoming: IncomingRequest, record: RecordedRequest, params: Params) -> Reply:
        """``POST /app/installations/{id}/access_tokens``, authenticated by the App's JWT.

        With ``rate_limits`` on, it is not rate limited at all: not content-creating, and it spends none of the
        installation's primary budget (GitHub limits JWT requests per App; the double keeps it simple).
        """
        with self._lock:
            app = self._state.apps.get(params["installation_id"])
        if app is None:
            return _error(404, "Not Found", _APP_DOCS)
        scheme, _, token = incoming.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer":
                raise JwtRejected("A JSON web token could not be decoded")
            verify_app_jwt(token, app, now=time.time())
        except JwtRejected as rejection:
            return _error(401, str(rejection), _APP_DOCS)
        refusal = self._check_client(incoming, _APP_DOCS)
        if refusal is not None:
            return refusal
        token = "ghs_" + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(36))
        # Whole seconds, so the token really dies at the ``expires_at`` the client is told.
        expires_at = math.ceil(time.time() + self.installation_token_ttl)
        with self._lock:
            self._state.installation_tokens[token] = expires_at
            self._state.token_installations[token] = params["installation_id"]
            self._state.tokens_minted += 1
        expiry = iso_z(datetime.fromtimestamp(expires_at, UTC))
        return Reply(201, {"token": token, "expires_at": expiry, "permissions": dict(self._installation_permissions)})

    def _require_origin(self) -> str:
        if self._origin is None:
            raise RuntimeError("GitHubDouble is not running: use it as a context manager")
        return self._origin


def _listable_jobs(run: WorkflowRun, jobs: Iterable[WorkflowJob], which: str, *, shown_yet: bool) -> list[WorkflowJob]:
    """The jobs a listing shows: none before ``jobs_delay`` while none has started; ``latest``: this attempt's."""
    jobs = list(jobs)
    if not shown_yet and all(job.status in WAITING_STATUSES for job in jobs):
        return []
    return jobs if which == "all" else _latest_attempt(run, jobs)


def _latest_attempt(run: WorkflowRun, jobs: Iterable[WorkflowJob]) -> list[WorkflowJob]:
    """The jobs of the run's current attempt: what decides its conclusion, and what ``filter=latest`` lists."""
    return [job for job in jobs if job.run_attempt == run.run_attempt]


def _instance_test(failing: FailingInstances) -> Callable[[str], bool]:
    """``failing_instances`` as a test of an instance ID; a lone string names one instance, not its characters."""
    if callable(failing):
        return failing
    named = frozenset([failing] if isinstance(failing, str) else failing)
    return named.__contains__
