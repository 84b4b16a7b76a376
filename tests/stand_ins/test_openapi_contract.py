"""The client's and doctor's requests, and every answer the GitHub double serves, judged by GitHub's own OpenAPI
description (``@octokit/openapi``, pinned in package.json), not by our reading of the docs.

What the description cannot judge literally (statuses it is silent about, the mistyped ``created``) is handled once,
with its reason, in ``tests/stand_ins/openapi_description.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest
import requests

from deploy_trigger.deadline import Deadline
from deploy_trigger.github_auth import SecretCredentials
from deploy_trigger.github_client import GitHubClient
from deploy_trigger.settings import Settings
from deploy_trigger_cli.doctor_github import GitHubChecks
from deploy_trigger_cli.github_reader import GitHubReader
from stand_ins.github_double import (
    BATCH_DECLARED_INPUTS,
    DEFAULT_DECLARED_INPUTS,
    Delay,
    ErrorAfterAccept,
    GitHubDouble,
    HangBeforeAccept,
    RateLimited,
    RateLimits,
)
from tests.integration.keys import app_key_pair
from tests.stand_ins.openapi_description import (
    DOTCOM,
    GHES,
    GHES_RELEASE,
    UNDESCRIBED_ERROR_SCHEMA,
    Description,
    Exchange,
    answer_problems,
    described_statuses,
    load,
    request_problems,
)

PAT = "ghp_contract"
FINE_GRAINED = "github_pat_contract"
LEGACY, CURRENT = "2022-11-28", "2026-03-10"
INPUTS = {"instance_id": "i-0abc", "dispatch_id": "d" * 32, "asg_name": "web", "lifecycle_hook_name": "",
          "aws_region": "us-east-1"}  # fmt: skip
APP_ID, INSTALLATION = "4242", "77"


@pytest.fixture(scope="session")
def descriptions() -> dict[str, Description]:
    """Loaded once per session: the two documents are 13 and 11 MB."""
    return {DOTCOM: load(DOTCOM), GHES: load(GHES)}


class Recorder:
    """A requests session that keeps every request as it went on the wire, with the answer it got."""

    def __init__(self) -> None:
        self.session = requests.Session()
        self.exchanges: list[Exchange] = []
        self.session.hooks["response"].append(self._keep)

    def _keep(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        request = response.request
        body = request.body.encode() if isinstance(request.body, str) else request.body
        answer = response.json() if response.content else None
        self.exchanges.append(
            Exchange(str(request.method), str(request.url), dict(request.headers), body, response.status_code, answer)
        )


def double(ghes: bool = False, **kwargs: Any) -> GitHubDouble:
    extra: dict[str, Any] = {"ghes_version": GHES_RELEASE, "api_prefix": "/api/v3"} if ghes else {}
    return GitHubDouble(tokens={PAT, FINE_GRAINED}, listing_delay=0, tags=("v1.0.0",), **extra, **kwargs)


def client(github: GitHubDouble, version: str, recorder: Recorder, secret: str = PAT) -> GitHubClient:
    return GitHubClient(api_url=github.url, repository="acme/app", workflow="deploy.yml", api_version=version,
                        credentials=SecretCredentials("s", lambda _name, _age: secret),
                        session=recorder.session)  # fmt: skip


def run_client(github: GitHubDouble, version: str, recorder: Recorder, secret: str = PAT) -> None:
    """What the dispatcher and the tracker do with GitHub: dispatch, reconcile by listing, read the run and its jobs."""
    github_client = client(github, version, recorder, secret)
    started = time.time() - 5
    github_client.dispatch("main", INPUTS, Deadline(20))
    found = github_client.find_run(INPUTS["dispatch_id"], started, Deadline(20))
    assert found is not None
    github_client.list_runs(started, Deadline(20))
    assert github_client.get_run(github.runs[0].id, Deadline(20)) is not None
    assert github_client.list_jobs(github.runs[0].id, Deadline(20)).complete


class Secrets:
    def __init__(self, value: str) -> None:
        self.value = value

    def get_secret_value(self, SecretId: str) -> dict[str, str]:
        return {"SecretString": self.value}


def run_doctor(github: GitHubDouble, version: str, recorder: Recorder, secret: str = PAT) -> None:
    settings = Settings.from_env({
        "LEDGER_TABLE_NAME": "ledger", "GITHUB_REPOSITORY": "acme/app", "GITHUB_WORKFLOW": "deploy.yml",
        "GITHUB_CREDENTIALS_SECRET": "s", "GITHUB_REF": "v1.0.0", "GITHUB_API_URL": github.url,
        "GITHUB_API_VERSION": version, "AWS_REGION": "us-east-1",
    })  # fmt: skip
    results = GitHubChecks(settings, Secrets(secret), GitHubReader(github.url, version, recorder.session)).run()
    assert [(r.name, r.reason) for r in results if r.outcome.value != "pass"] == []


@pytest.fixture(scope="module")
def app_secret() -> tuple[str, bytes]:
    private_pem, public_pem = app_key_pair()
    secret = json.dumps({"app_id": APP_ID, "installation_id": INSTALLATION, "private_key": private_pem})
    return secret, public_pem


def problems(description: Description, exchanges: list[Exchange], prefix: str = "") -> list[str]:
    found: list[str] = []
    for exchange in exchanges:
        found += request_problems(description, exchange, prefix) + answer_problems(description, exchange, prefix)
    return found


@pytest.mark.parametrize("version", [LEGACY, CURRENT])
@pytest.mark.parametrize("who", ["client", "doctor"])
def test_requests_and_answers_on_github_com_match_the_description(
    descriptions: dict[str, Description], app_secret: tuple[str, bytes], version: str, who: str
) -> None:
    secret, public_pem = app_secret
    recorder = Recorder()
    run = run_client if who == "client" else run_doctor
    with double() as github:
        github.add_app(APP_ID, INSTALLATION, public_pem)
        run(github, version, recorder)
        run(github, version, recorder, secret)

    assert len(recorder.exchanges) >= 8
    assert problems(descriptions[DOTCOM], recorder.exchanges) == []


@pytest.mark.parametrize("who", ["client", "doctor"])
def test_requests_and_answers_on_enterprise_server_match_its_description(
    descriptions: dict[str, Description], app_secret: tuple[str, bytes], who: str
) -> None:
    secret, public_pem = app_secret
    recorder = Recorder()
    run = run_client if who == "client" else run_doctor
    with double(ghes=True) as github:
        github.add_app(APP_ID, INSTALLATION, public_pem)
        run(github, LEGACY, recorder)
        run(github, LEGACY, recorder, secret)

    found = problems(descriptions[GHES], recorder.exchanges, "/api/v3")
    # By design, not by accident: the client's first dispatch asks for return_run_details (GHES 3.21 has it), and
    # the 400 of an older server is how it learns to stop asking. Nothing else may differ.
    expected = ["POST /repos/acme/app/actions/workflows/deploy.yml/dispatches: body key 'return_run_details' is "
                "not one the operation takes"]  # fmt: skip
    assert found == (expected * 2 if who == "client" else [])


def get(github: GitHubDouble, path: str, token: str | None = PAT, version: str = LEGACY, **headers: str) -> Exchange:
    return call(github, "GET", path, token, version, None, **headers)


def call(
    github: GitHubDouble, method: str, path: str, token: str | None, version: str, body: Any, **headers: str
) -> Exchange:
    sent = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": version, "User-Agent": "contract",
            **({"Authorization": f"Bearer {token}"} if token else {}), **headers}  # fmt: skip
    answer = requests.request(method, github.url + path, headers=sent, json=body, timeout=10)
    body_back = answer.json() if answer.content else None
    return Exchange(method, github.url + path, sent, None, answer.status_code, body_back)


RUNS = "/repos/acme/app/actions/workflows/deploy.yml/runs"
DISPATCH = "/repos/acme/app/actions/workflows/deploy.yml/dispatches"


def every_answer(github: GitHubDouble, version: str) -> Iterator[tuple[Exchange, int]]:
    """Each endpoint of the double, driven into each status it can return: ``(exchange, expected status)``."""
    good = {"ref": "main", "inputs": INPUTS}
    yield call(github, "POST", DISPATCH, PAT, version, good), (204 if version == LEGACY else 200)
    if not github.ghes_version:
        yield (
            call(github, "POST", DISPATCH, PAT, version, {**good, "return_run_details": True}),
            (200 if version == LEGACY else 422),
        )
    yield call(github, "POST", DISPATCH, PAT, version, {**good, "inputs": {"color": "x"}}), 422
    yield call(github, "POST", DISPATCH, "ghp_unknown", version, good), 401
    for fault, status in [(ErrorAfterAccept(500), 500), (HangBeforeAccept(0), 502), (RateLimited(status=429), 429),
                          (RateLimited(primary=True), 403)]:  # fmt: skip
        github.inject(fault)
        yield call(github, "POST", DISPATCH, PAT, version, good), status
    run_id = github.runs[0].id
    for path in [RUNS, f"{RUNS}?event=workflow_dispatch&created=%3E%3D2026-01-01T00:00:00Z&per_page=100",
                 f"/repos/acme/app/actions/runs/{run_id}", "/repos/acme/app", "/repos/acme/app/actions/workflows/"
                 "deploy.yml", "/repos/acme/app/contents/.github/workflows/deploy.yml?ref=main",
                 "/repos/acme/app/branches/main", "/repos/acme/app/git/ref/tags/v1.0.0", "/meta"]:  # fmt: skip
        yield get(github, path, version=version), 200
    yield get(github, f"{RUNS}?created=yesterday", version=version), 422
    yield from every_jobs_answer(github, version, run_id)
    for path in ["/repos/acme/app/actions/runs/1", "/repos/acme/other", "/repos/acme/app/branches/nope",
                 "/repos/acme/app/git/ref/tags/nope", "/repos/acme/app/contents/README.md"]:  # fmt: skip
        yield get(github, path, version=version), 404
    yield get(github, "/repos/acme/app/branches/main", token=FINE_GRAINED, version=version), 403
    yield get(github, "/repos/acme/app", version="2099-01-01"), 400
    yield call(github, "POST", f"/app/installations/{INSTALLATION}/access_tokens", "not.a.jwt", version, None), 401
    yield call(github, "POST", "/app/installations/0/access_tokens", "not.a.jwt", version, None), 404


def every_jobs_answer(github: GitHubDouble, version: str, run_id: int) -> Iterator[tuple[Exchange, int]]:
    """A run's jobs listed queued, running and finished, a batch's paged with one failed, and the refusals; the
    double must declare the batch inputs besides the single ones."""
    jobs = f"/repos/acme/app/actions/runs/{run_id}/jobs"
    for status in ("queued", "in_progress", "completed"):
        if status != "queued":
            github.set_run_status(run_id, status=status, conclusion="success" if status == "completed" else None)
        yield get(github, f"{jobs}?filter=latest&per_page=100&page=1", version=version), 200
    objects = [{"instance_id": f"i-{n:017x}", "asg_name": "web", "lifecycle_hook_name": "", "aws_region": "eu-west-1"}
               for n in range(3)]  # fmt: skip
    batch = {"dispatch_id": "b" * 32, "instances": json.dumps(objects)}
    github.set_failing_instances({objects[1]["instance_id"]})
    call(github, "POST", DISPATCH, PAT, version, {"ref": "main", "inputs": batch})
    batch_run = github.runs[-1].id
    github.set_run_status(batch_run)
    for query in ("per_page=2", "per_page=2&page=2&filter=all"):
        yield get(github, f"/repos/acme/app/actions/runs/{batch_run}/jobs?{query}", version=version), 200
    yield get(github, f"{jobs}?filter=newest", version=version), 422
    yield get(github, "/repos/acme/app/actions/runs/1/jobs", version=version), 404


def judge(
    description: Description, github: GitHubDouble, version: str, answers: Iterable[tuple[Exchange, int]]
) -> tuple[list[str], set[tuple[str, int]]]:
    """Each answer's problems, and the ``(template, status)`` pairs the description does not list."""
    prefix = "/api/v3" if github.ghes_version else ""
    undescribed: set[tuple[str, int]] = set()
    found: list[str] = []
    for exchange, expected in answers:
        assert exchange.status == expected, (exchange.url, exchange.answer)
        found += answer_problems(description, exchange, prefix)
        path = exchange.url.split("?")[0][len(github.url) :]
        template, _ = description.find(exchange.method, path)
        if exchange.status not in described_statuses(description, exchange.method, template, version):
            undescribed.add((template, exchange.status))
    return found, undescribed


@pytest.mark.parametrize(("variant", "version"), [(DOTCOM, LEGACY), (DOTCOM, CURRENT), (GHES, LEGACY)])
def test_every_answer_the_double_serves_matches_the_description(
    descriptions: dict[str, Description], app_secret: tuple[str, bytes], variant: str, version: str
) -> None:
    both = DEFAULT_DECLARED_INPUTS | BATCH_DECLARED_INPUTS  # single and batch dispatches, for the jobs listings
    permissions = {FINE_GRAINED: {"contents": "none"}}
    with double(ghes=variant == GHES, token_permissions=permissions, declared_inputs=both) as github:
        github.add_app(APP_ID, INSTALLATION, app_secret[1])
        found, undescribed = judge(descriptions[variant], github, version, every_answer(github, version))

    assert found == []
    # The undescribed statuses were judged by UNDESCRIBED_ERROR_SCHEMA; each is an error, never a success.
    assert undescribed
    assert all(status >= 400 for _, status in undescribed)


def every_rate_limit_answer(github: GitHubDouble, version: str, secondary: int) -> Iterator[tuple[Exchange, int]]:
    """With ``RateLimits(primary_per_hour=6, content_per_minute=1, concurrent=1)``: answers let through, then each
    refusal."""
    good = {"ref": "main", "inputs": INPUTS}
    yield call(github, "POST", DISPATCH, PAT, version, good), (204 if version == LEGACY else 200)
    yield call(github, "POST", DISPATCH, PAT, version, good), secondary  # the minute's one content request is spent
    run_id = github.runs[0].id
    for path in [RUNS, f"/repos/acme/app/actions/runs/{run_id}", "/repos/acme/app", "/repos/acme/app/branches/main"]:
        yield get(github, path, version=version), 200
    yield call(github, "POST", DISPATCH, PAT, version, good), 403  # the hour's six requests are spent
    yield get(github, RUNS, version=version), 403
    # Concurrency: a dispatch held in flight (one request at a time allowed) leaves no room for a read.
    github.inject(Delay(0.3))
    held = threading.Thread(target=call, args=(github, "POST", DISPATCH, FINE_GRAINED, version, good))
    held.start()
    deadline = time.monotonic() + 5
    while all(r.status is not None for r in github.requests) and time.monotonic() < deadline:
        time.sleep(0.01)
    yield get(github, f"/repos/acme/app/actions/runs/{run_id}", token=FINE_GRAINED, version=version), secondary
    held.join()


@pytest.mark.parametrize(
    ("variant", "version", "secondary"), [(DOTCOM, LEGACY, 403), (DOTCOM, CURRENT, 429), (GHES, LEGACY, 403)]
)
def test_every_rate_limit_answer_matches_the_description(
    descriptions: dict[str, Description], variant: str, version: str, secondary: int
) -> None:
    limits = RateLimits(primary_per_hour=6, content_per_minute=1, concurrent=1, secondary_status=secondary)
    with double(ghes=variant == GHES, rate_limits=limits) as github:
        found, undescribed = judge(descriptions[variant], github, version,
                                   every_rate_limit_answer(github, version, secondary))  # fmt: skip
        kinds = [refusal.kind for refusal in github.refusals]

    assert kinds == ["secondary-minute", "primary", "primary", "concurrent"]
    assert found == []
    # The refusals are statuses the description does not list for these operations: judged as GitHub's errors.
    assert {status for _, status in undescribed} == {403, secondary}


def test_a_run_missing_a_required_field_fails_the_check(descriptions: dict[str, Description]) -> None:
    with double() as github:
        exchange = call(github, "POST", DISPATCH, PAT, CURRENT, {"ref": "main", "inputs": INPUTS})
        run = get(github, f"/repos/acme/app/actions/runs/{github.runs[0].id}")
    assert exchange.status == 200
    broken = dict(run.answer)
    del broken["head_commit"]

    found = answer_problems(descriptions[DOTCOM], Exchange(**{**run.__dict__, "answer": broken}))

    assert answer_problems(descriptions[DOTCOM], run) == []
    assert found == [f"GET /repos/acme/app/actions/runs/{github.runs[0].id} -> 200: <root>: 'head_commit' is a "
                     "required property"]  # fmt: skip


def test_a_queued_jobs_null_conclusion_passes_the_check_and_an_unknown_conclusion_fails_it(
    descriptions: dict[str, Description],
) -> None:
    with double() as github:
        call(github, "POST", DISPATCH, PAT, CURRENT, {"ref": "main", "inputs": INPUTS})
        listing = get(github, f"/repos/acme/app/actions/runs/{github.runs[0].id}/jobs")
    [job] = listing.answer["jobs"]
    wrong = {**listing.answer, "jobs": [{**job, "conclusion": "done"}]}

    found = answer_problems(descriptions[DOTCOM], Exchange(**{**listing.__dict__, "answer": wrong}))

    assert job["conclusion"] is None
    assert answer_problems(descriptions[DOTCOM], listing) == []
    assert len(found) == 1
    assert "jobs/0/conclusion: 'done' is not one of" in found[0]


def test_an_undescribed_error_status_is_judged_as_a_github_error(descriptions: dict[str, Description]) -> None:
    """A 422 the dispatch operation does not list must still look like GitHub's error bodies."""
    exchange = Exchange("POST", "http://x" + DISPATCH, {}, None, 422, {"message": 42})

    assert UNDESCRIBED_ERROR_SCHEMA == "basic-error"
    assert answer_problems(descriptions[DOTCOM], exchange) == [f"POST {DISPATCH} -> 422: message: 42 is not of type "
                                                                "'string'"]  # fmt: skip


@pytest.mark.parametrize(
    ("url", "headers", "body", "says"),
    [
        (f"{RUNS}?created=2026-01-01T00:00:00Z+00:00", {}, None, "created '2026-01-01T00:00:00Z 00:00'"),
        (f"{RUNS}?per_page=many", {}, None, "query per_page: <root>: 'many' is not of type 'integer'"),
        (f"{RUNS}?inputs=x", {}, None, "query parameter 'inputs' is not one"),
        (DISPATCH, {"X-GitHub-Api-Version": CURRENT}, {"ref": "main", "return_run_details": True}, "run_details"),
        (DISPATCH, {}, {"inputs": {}}, "'ref' is a required property"),
        (DISPATCH, {"X-GitHub-Api-Version": "2099-01-01"}, {"ref": "main"}, "API version 2099-01-01"),
        ("/repos/acme/app/actions/runs/abc", {}, None, "path run_id: <root>: 'abc' is not of type 'integer'"),
    ],
)
def test_a_request_github_would_refuse_fails_the_check(
    descriptions: dict[str, Description], url: str, headers: dict[str, str], body: Any, says: str
) -> None:
    sent = {"Accept": "application/vnd.github+json", "User-Agent": "c", "X-GitHub-Api-Version": LEGACY, **headers}
    method = "GET" if body is None else "POST"
    raw = None if body is None else json.dumps(body).encode()

    found = request_problems(descriptions[DOTCOM], Exchange(method, "http://x" + url, sent, raw, 200, None))

    assert len(found) == 1
    assert says in found[0]
