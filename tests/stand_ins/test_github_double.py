"""The GitHub double behaves like the GitHub REST API where the dispatcher's correctness depends on it."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from urllib3.util import SKIP_HEADER

from deploy_trigger import workflow_contract as contract
from stand_ins.github_dispatch_rules import MAX_INPUTS, MAX_INPUTS_CHARACTERS, inputs_characters
from stand_ins.github_double import (
    DEFAULT_DECLARED_INPUTS,
    DEFAULT_RUN_NAME,
    CloseMidBody,
    Delay,
    DropAfterAccept,
    ErrorAfterAccept,
    GarbageAfterAccept,
    GitHubDouble,
    HangAfterAccept,
    HangBeforeAccept,
    RateLimited,
    RecordedRequest,
    Reject,
    ResetAfterReceive,
    Unauthorized,
)

PAT = "ghp_test"
CURRENT = "2026-03-10"
LEGACY = "2022-11-28"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


class ManualClock:
    """Run timestamps the test sets, so ``created`` filters can be checked without sleeping."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with GitHubDouble(repository="acme/app", workflow="deploy.yml", tokens={PAT}, listing_delay=0) as double:
        yield double  # listings at once: these tests are about what is listed, not when


def api_headers(version: str | None = CURRENT, token: str | None = PAT) -> dict[str, str]:
    headers = {"Accept": "application/vnd.github+json"}
    if version is not None:
        headers["X-GitHub-Api-Version"] = version
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def deploy_inputs(instance_id: str = "i-0abc", dispatch_id: str = "d-1", **extra: str) -> dict[str, str]:
    return {
        "instance_id": instance_id,
        "dispatch_id": dispatch_id,
        "asg_name": "web",
        "lifecycle_hook_name": "deploy",
        "aws_region": "eu-west-1",
        **extra,
    }


def dispatch(
    github: GitHubDouble,
    body: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    timeout: float = 10,
) -> requests.Response:
    return requests.post(
        f"{github.url}/repos/acme/app/actions/workflows/deploy.yml/dispatches",
        json={"ref": "main", "inputs": deploy_inputs()} if body is None else body,
        headers=api_headers() if headers is None else headers,
        timeout=timeout,
    )


def list_runs(github: GitHubDouble, **params: str | int) -> requests.Response:
    return requests.get(
        f"{github.url}/repos/acme/app/actions/workflows/deploy.yml/runs",
        params=params,
        headers=api_headers(),
        timeout=10,
    )


# -- dispatch -----------------------------------------------------------------------------------------------


def test_dispatch_creates_one_queued_run_titled_by_run_name(github: GitHubDouble) -> None:
    response = dispatch(github)

    assert response.status_code == 200
    [run] = github.runs
    assert run.display_title == "Deploy i-0abc (d-1)"
    assert (run.event, run.status, run.conclusion, run.head_branch) == ("workflow_dispatch", "queued", None, "main")
    assert run.path == ".github/workflows/deploy.yml"
    assert run.inputs == deploy_inputs()
    assert response.json() == {
        "workflow_run_id": run.id,
        "run_url": f"{github.url}/repos/acme/app/actions/runs/{run.id}",
        "html_url": f"{github.url}/acme/app/actions/runs/{run.id}",
    }


def test_fetched_run_has_github_timestamps_and_no_inputs(github: GitHubDouble) -> None:
    run_id = dispatch(github).json()["workflow_run_id"]

    shown = requests.get(f"{github.url}/repos/acme/app/actions/runs/{run_id}", headers=api_headers(), timeout=10)

    assert shown.status_code == 200
    assert shown.json()["display_title"] == "Deploy i-0abc (d-1)"
    assert ISO_Z.match(shown.json()["created_at"])
    assert "inputs" not in shown.json()
    missing = requests.get(f"{github.url}/repos/acme/app/actions/runs/1", headers=api_headers(), timeout=10)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("ghes_version", "version", "return_run_details", "expected_status"),
    [
        (None, CURRENT, None, 200),
        (None, CURRENT, True, 422),
        (None, CURRENT, False, 422),
        (None, LEGACY, True, 200),
        (None, LEGACY, False, 204),
        (None, LEGACY, None, 204),
        (None, None, True, 200),
        (None, None, None, 204),
        (None, "2099-01-01", None, 400),
        ("3.20", LEGACY, True, 400),
        ("3.20", LEGACY, None, 204),
        ("3.20", CURRENT, None, 400),
        ("3.21", LEGACY, True, 200),
        ("3.21", LEGACY, None, 204),
        ("3.21", CURRENT, None, 400),
    ],
)
def test_api_version_decides_how_the_dispatch_answers(
    ghes_version: str | None, version: str | None, return_run_details: bool | None, expected_status: int
) -> None:
    body: dict[str, Any] = {"ref": "main", "inputs": deploy_inputs()}
    if return_run_details is not None:
        body["return_run_details"] = return_run_details

    with GitHubDouble(tokens={PAT}, ghes_version=ghes_version) as github:
        response = dispatch(github, body, api_headers(version))

        assert response.status_code == expected_status
        assert len(github.runs) == (1 if expected_status in (200, 204) else 0)
        if expected_status == 200:
            assert response.json()["workflow_run_id"] == github.runs[0].id
        if expected_status == 204:
            assert response.content == b""
        if expected_status == 422:
            assert "return_run_details" in response.json()["message"]


def test_ghes_before_3_21_refuses_return_run_details_with_400_and_no_ghes_serves_2026_03_10() -> None:
    body = {"ref": "main", "inputs": deploy_inputs(), "return_run_details": True}
    with GitHubDouble(tokens={PAT}, ghes_version="3.20", api_prefix="/api/v3") as ghes:
        refused = dispatch(ghes, body, api_headers(LEGACY))
        current = dispatch(ghes, {"ref": "main", "inputs": deploy_inputs()}, api_headers(CURRENT))
        meta = requests.get(f"{ghes.url}/meta", headers={"X-GitHub-Api-Version": LEGACY}, timeout=10)

        assert (refused.status_code, refused.json()["message"]) == (400, '"return_run_details" is not a permitted key.')
        assert current.status_code == 400
        assert "X-GitHub-Api-Version" in current.json()["message"]
        assert "2026-03-10" in current.json()["message"]
        assert ghes.runs == []
        assert meta.json()["installed_version"] == "3.20"
    with GitHubDouble(tokens={PAT}) as dotcom:
        meta = requests.get(f"{dotcom.url}/meta", headers={"X-GitHub-Api-Version": CURRENT}, timeout=10)
        assert meta.status_code == 200
        assert "installed_version" not in meta.json()


def test_undeclared_input_is_rejected_and_declared_extra_accepted() -> None:
    body = {"ref": "main", "inputs": deploy_inputs(color="blue")}
    with GitHubDouble(tokens={PAT}) as github:
        rejected = dispatch(github, body)
        assert rejected.status_code == 422
        assert rejected.json()["message"] == 'Unexpected inputs provided: ["color"]'
        assert github.runs == []
    with GitHubDouble(tokens={PAT}, declared_inputs=DEFAULT_DECLARED_INPUTS | {"color"}) as github:
        assert dispatch(github, body).status_code == 200
        assert github.runs[0].inputs["color"] == "blue"


@pytest.mark.parametrize("ref", ["release", "refs/heads/release"])
def test_unknown_ref_is_rejected(github: GitHubDouble, ref: str) -> None:
    response = dispatch(github, {"ref": ref, "inputs": deploy_inputs()})

    assert response.status_code == 422
    assert response.json()["message"] == f"No ref found for: {ref}"
    assert github.runs == []


def test_full_ref_name_is_accepted(github: GitHubDouble) -> None:
    assert dispatch(github, {"ref": "refs/heads/main", "inputs": deploy_inputs()}).status_code == 200
    assert github.runs[0].head_branch == "main"


def test_non_string_input_and_more_than_25_inputs_are_rejected() -> None:
    names = {f"extra_{n}" for n in range(21)}
    with GitHubDouble(tokens={PAT}, declared_inputs=DEFAULT_DECLARED_INPUTS | names) as github:
        numeric = dispatch(github, {"ref": "main", "inputs": {**deploy_inputs(), "asg_name": 3}})
        too_many = dispatch(github, {"ref": "main", "inputs": deploy_inputs(**dict.fromkeys(names, "x"))})

        assert (numeric.status_code, too_many.status_code) == (422, 422)
        assert "25" in too_many.json()["message"]
        assert github.runs == []


def test_inputs_over_65535_characters_of_json_in_all_are_rejected() -> None:
    """Measured as the inputs object's compact JSON, escapes included: a JSON array in an input costs its quotes."""
    with GitHubDouble(tokens={PAT}, declared_inputs=DEFAULT_DECLARED_INPUTS | {"payload"}) as github:
        inputs = deploy_inputs(payload="")
        room = MAX_INPUTS_CHARACTERS - inputs_characters(inputs)
        fits = dispatch(github, {"ref": "main", "inputs": {**inputs, "payload": "x" * room}})
        over = dispatch(github, {"ref": "main", "inputs": {**inputs, "payload": "x" * (room + 1)}})
        escaped = dispatch(github, {"ref": "main", "inputs": {**inputs, "payload": '"' * (room // 2 + 1)}})

        assert (fits.status_code, over.status_code, escaped.status_code) == (200, 422, 422)
        assert "65535" in over.json()["message"]
        assert len(github.runs) == 1


def test_the_workflow_contract_states_the_limits_the_double_enforces() -> None:
    assert (contract.MAX_WORKFLOW_INPUTS, contract.MAX_INPUTS_CHARACTERS) == (MAX_INPUTS, MAX_INPUTS_CHARACTERS)


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Requires authentication"),
        ("Bearer ghp_wrong", "Bad credentials"),
        ("Basic Z2hwX3Rlc3Q=", "Bad credentials"),
    ],
)
def test_dispatch_without_valid_credentials_is_401(
    github: GitHubDouble, authorization: str | None, message: str
) -> None:
    headers = api_headers(token=None)
    if authorization is not None:
        headers["Authorization"] = authorization

    response = dispatch(github, headers=headers)

    assert response.status_code == 401
    assert response.json()["message"] == message
    assert github.runs == []


def test_token_scheme_is_accepted_like_bearer(github: GitHubDouble) -> None:
    headers = {**api_headers(token=None), "Authorization": f"token {PAT}"}
    assert dispatch(github, headers=headers).status_code == 200


def test_request_without_user_agent_is_403(github: GitHubDouble) -> None:
    # urllib3 adds its own User-Agent to a request without one unless told to skip the header.
    response = dispatch(github, headers={**api_headers(), "User-Agent": SKIP_HEADER})

    assert response.status_code == 403
    assert "User-Agent" in response.json()["message"]
    assert github.runs == []


def test_unknown_repository_workflow_or_path_is_404_and_numeric_workflow_id_works(github: GitHubDouble) -> None:
    body = {"ref": "main", "inputs": deploy_inputs()}

    def post(path: str) -> int:
        return requests.post(f"{github.url}{path}", json=body, headers=api_headers(), timeout=10).status_code

    assert post("/repos/acme/other/actions/workflows/deploy.yml/dispatches") == 404
    assert post("/repos/acme/app/actions/workflows/other.yml/dispatches") == 404
    assert post("/repos/acme/app/dispatches") == 404
    assert post(f"/repos/acme/app/actions/workflows/{github.workflow_id}/dispatches") == 200
    assert len(github.runs) == 1


def test_run_name_without_dispatch_id_or_without_run_name() -> None:
    with GitHubDouble(tokens={PAT}, run_name="Deploy ${{ inputs.instance_id }}") as github:
        dispatch(github)
        assert github.runs[0].display_title == "Deploy i-0abc"
    with GitHubDouble(tokens={PAT}, run_name=None, workflow_name="Deploy app") as github:
        dispatch(github)
        assert github.runs[0].display_title == "Deploy app"


def test_requests_are_recorded_with_the_credential_redacted(github: GitHubDouble) -> None:
    dispatch(github)
    list_runs(github)

    assert github.count("POST", "/dispatches") == 1
    assert github.count("GET", "/runs") == 1
    first = github.requests[0]
    assert first.headers["authorization"] == "Bearer <redacted>"
    assert first.body is not None
    assert first.body["inputs"]["dispatch_id"] == "d-1"
    assert first.status == 200
    assert PAT not in repr(github.requests)


def test_ghes_api_prefix_is_part_of_the_base_url() -> None:
    with GitHubDouble(tokens={PAT}, api_prefix="/api/v3") as github:
        assert github.url.endswith("/api/v3")
        assert dispatch(github).status_code == 200
        without_prefix = github.url.removesuffix("/api/v3") + "/repos/acme/app/actions/workflows/deploy.yml/runs"
        assert requests.get(without_prefix, headers=api_headers(), timeout=10).status_code == 404


# -- listing runs -------------------------------------------------------------------------------------------


def test_created_filter_selects_runs_by_second() -> None:
    clock = ManualClock(datetime(2026, 11, 20, 10, 0, 0, 400_000, tzinfo=UTC))
    with GitHubDouble(tokens={PAT}, clock=clock) as github:
        for dispatch_id in ("d-1", "d-2", "d-3"):
            dispatch(github, {"ref": "main", "inputs": deploy_inputs(dispatch_id=dispatch_id)})
            clock.advance(1)

        def titles(created: str) -> list[str]:
            response = list_runs(github, event="workflow_dispatch", created=created)
            assert response.status_code == 200
            return [run["display_title"][-4:-1] for run in response.json()["workflow_runs"]]

        assert titles(">=2026-11-20T10:00:01Z") == ["d-3", "d-2"]
        assert titles(">=2026-11-20T10:00:01+00:00") == ["d-3", "d-2"]
        assert titles(">=2026-11-20T11:00:01+01:00") == ["d-3", "d-2"]
        assert titles(">2026-11-20T10:00:01Z") == ["d-3"]
        assert titles("2026-11-20T10:00:00Z..2026-11-20T10:00:01Z") == ["d-2", "d-1"]
        assert titles("2026-11-20") == ["d-3", "d-2", "d-1"]
        assert titles(">=2026-11-21") == []
        assert list_runs(github, created=">=yesterday").status_code == 422


def test_status_and_event_filters(github: GitHubDouble) -> None:
    first = dispatch(github).json()["workflow_run_id"]
    dispatch(github)
    github.set_run_status(first, status="completed", conclusion="success")

    completed = list_runs(github, status="completed").json()
    assert [run["id"] for run in completed["workflow_runs"]] == [first]
    assert completed["workflow_runs"][0]["conclusion"] == "success"
    assert list_runs(github, status="queued").json()["total_count"] == 1
    assert list_runs(github, event="push").json()["total_count"] == 0


def test_a_run_can_be_served_with_a_null_status_and_its_head_sha(github: GitHubDouble) -> None:
    run_id = dispatch(github).json()["workflow_run_id"]
    github.set_run_status(run_id, status=None, conclusion=None)

    shown = requests.get(f"{github.url}/repos/acme/app/actions/runs/{run_id}", headers=api_headers(), timeout=10)
    [listed] = list_runs(github).json()["workflow_runs"]

    assert shown.json()["status"] is None
    assert listed["status"] is None
    assert re.fullmatch(r"[0-9a-f]{40}", shown.json()["head_sha"])
    assert list_runs(github, status="queued").json()["total_count"] == 0


def test_paging_with_link_header_returns_every_run_once_newest_first(github: GitHubDouble) -> None:
    created = [dispatch(github).json()["workflow_run_id"] for _ in range(7)]

    seen: list[int] = []
    pages = 0
    next_url: str | None = (
        f"{github.url}/repos/acme/app/actions/workflows/deploy.yml/runs?per_page=3&event=workflow_dispatch"
    )
    while next_url:
        response = requests.get(next_url, headers=api_headers(), timeout=10)
        assert response.status_code == 200
        assert response.json()["total_count"] == 7
        seen += [run["id"] for run in response.json()["workflow_runs"]]
        pages += 1
        next_url = response.links.get("next", {}).get("url")
        if next_url:
            assert next_url.startswith(github.url)
            assert response.links["last"]["url"].endswith("page=3")

    assert pages == 3
    assert seen == sorted(created, reverse=True)


def _pages(github: GitHubDouble, **params: str) -> tuple[list[int], int, int]:
    """Follow ``next`` from page 1 at 100 a page: ``(run ids seen, pages read, last total_count)``."""
    query = "&".join(f"{name}={value}" for name, value in {"per_page": "100", **params}.items())
    next_url: str | None = f"{github.url}/repos/acme/app/actions/workflows/deploy.yml/runs?{query}"
    seen: list[int] = []
    pages = total = 0
    while next_url:
        response = requests.get(next_url, headers=api_headers(), timeout=10)
        seen += [run["id"] for run in response.json()["workflow_runs"]]
        total, pages = response.json()["total_count"], pages + 1
        next_url = response.links.get("next", {}).get("url")
    return seen, pages, total


def test_filtered_listings_stop_at_1000_runs_while_total_count_tells_the_truth(github: GitHubDouble) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda _: dispatch(github), range(1001)))

    for filters in ({"event": "workflow_dispatch"}, {"status": "queued"}, {"branch": "main"},
                    {"created": ">=2000-01-01"}):  # fmt: skip
        seen, pages, total = _pages(github, **filters)
        assert (len(seen), pages, total) == (1000, 10, 1001), filters
        assert github.runs[0].id not in seen  # the oldest is out of reach
    unfiltered, pages, total = _pages(github)
    assert (len(unfiltered), pages, total) == (1001, 11, 1001)


def test_the_filtered_listing_cap_is_configurable() -> None:
    with GitHubDouble(tokens={PAT}, filtered_listing_cap=2, listing_delay=0) as github:
        for _ in range(3):
            dispatch(github)
        answer = list_runs(github, event="workflow_dispatch", per_page=100)

        assert [run["id"] for run in answer.json()["workflow_runs"]] == [run.id for run in github.runs[:0:-1]]
        assert answer.json()["total_count"] == 3
        assert "next" not in answer.links


def test_per_page_defaults_to_30_and_is_capped_at_100(github: GitHubDouble) -> None:
    for _ in range(101):
        dispatch(github)

    assert len(list_runs(github).json()["workflow_runs"]) == 30
    assert len(list_runs(github, per_page=500).json()["workflow_runs"]) == 100
    assert list_runs(github, per_page=100, page=2).json()["workflow_runs"][0]["id"] == github.runs[0].id


# -- faults -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "runs"),
    [(Delay(0.3), 200, 1), (HangBeforeAccept(0.2), 502, 0)],
    ids=["delay: late, then the run", "hang before accept: late, a 502 and no run"],
)
def test_delay_and_hang_before_accept_answer_late_the_one_with_its_run_the_other_with_502(
    github: GitHubDouble, fault: Delay | HangBeforeAccept, status: int, runs: int
) -> None:
    github.inject(fault)

    started = time.monotonic()
    response = dispatch(github)

    assert time.monotonic() - started >= fault.seconds
    assert response.status_code == status
    assert len(github.runs) == runs


def test_error_after_accept_answers_502_but_the_run_exists(github: GitHubDouble) -> None:
    github.inject(ErrorAfterAccept())

    assert dispatch(github).status_code == 502
    assert len(github.runs) == 1


def test_drop_after_accept_is_a_connection_error_but_the_run_exists(github: GitHubDouble) -> None:
    github.inject(DropAfterAccept())

    with pytest.raises(requests.ConnectionError):
        dispatch(github)

    assert len(github.runs) == 1
    assert github.requests[-1].status is None


@pytest.mark.parametrize(
    ("fault", "runs", "seen_as"),
    [
        (ResetAfterReceive(create_run=False), 0, requests.ConnectionError),
        (ResetAfterReceive(create_run=True), 1, requests.ConnectionError),
        (GarbageAfterAccept(), 1, requests.ConnectionError),
        (GarbageAfterAccept(b"HTTP/1.1 2"), 1, requests.ConnectionError),
        (CloseMidBody(), 1, requests.exceptions.ChunkedEncodingError),
    ],
    ids=["reset before the run", "reset after the run", "garbage", "truncated status line", "close mid-body"],
)
def test_transport_faults_after_the_request_arrived_leave_the_client_without_an_answer(
    github: GitHubDouble, fault: ResetAfterReceive | GarbageAfterAccept | CloseMidBody, runs: int, seen_as: type
) -> None:
    github.inject(fault)

    with pytest.raises(seen_as):
        dispatch(github)

    assert len(github.runs) == runs
    assert github.requests[-1].status is None  # the double gave no whole answer
    assert dispatch(github).status_code == 200  # and the next connection works


def test_hang_after_accept_creates_the_run_before_the_client_gives_up(github: GitHubDouble) -> None:
    github.inject(HangAfterAccept(2))

    with pytest.raises(requests.ReadTimeout):
        dispatch(github, timeout=0.3)

    assert len(github.runs) == 1


def test_secondary_rate_limits_carry_retry_after_when_given(github: GitHubDouble) -> None:
    github.inject(RateLimited())
    github.inject(RateLimited(retry_after=None, status=403))

    throttled = dispatch(github)
    forbidden = dispatch(github)

    assert throttled.status_code == 429
    assert throttled.headers["retry-after"] == "1"
    assert forbidden.status_code == 403
    assert "retry-after" not in forbidden.headers
    assert "secondary rate limit" in forbidden.json()["message"]
    assert github.runs == []


def test_primary_rate_limit_says_when_the_quota_resets(github: GitHubDouble) -> None:
    github.inject(RateLimited(retry_after=30, primary=True))

    response = dispatch(github)

    assert response.status_code == 403
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert abs(int(response.headers["x-ratelimit-reset"]) - (time.time() + 30)) <= 2
    assert "retry-after" not in response.headers
    assert github.runs == []


def test_reject_and_unauthorized_create_no_run(github: GitHubDouble) -> None:
    github.inject(Reject(status=422, message="Workflow does not have 'workflow_dispatch' trigger"))
    github.inject(Unauthorized())

    rejected = dispatch(github)
    unauthorized = dispatch(github)

    assert (rejected.status_code, rejected.json()["message"]) == (
        422,
        "Workflow does not have 'workflow_dispatch' trigger",
    )
    assert (unauthorized.status_code, unauthorized.json()["message"]) == (401, "Bad credentials")
    assert github.runs == []


def test_injected_faults_apply_in_order_to_the_next_dispatches_only(github: GitHubDouble) -> None:
    github.inject(ErrorAfterAccept(status=500), times=2)
    github.inject(Reject())

    statuses = [dispatch(github).status_code for _ in range(4)]

    assert statuses == [500, 500, 422, 200]
    assert list_runs(github).status_code == 200
    assert len(github.runs) == 3


def test_fault_policy_is_consulted_when_no_fault_is_queued() -> None:
    def reject_bad_instances(request: RecordedRequest) -> Reject | None:
        body = request.body or {}
        return Reject(message="policy") if body.get("inputs", {}).get("instance_id") == "i-bad" else None

    with GitHubDouble(tokens={PAT}, fault_policy=reject_bad_instances) as github:
        github.inject(ErrorAfterAccept())
        bad = {"ref": "main", "inputs": deploy_inputs(instance_id="i-bad")}

        assert dispatch(github, bad).status_code == 502
        assert dispatch(github, bad).json()["message"] == "policy"
        assert dispatch(github).status_code == 200
        assert [run.inputs["instance_id"] for run in github.runs] == ["i-bad", "i-0abc"]


# -- GitHub App installation tokens -------------------------------------------------------------------------


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _app_jwt(key: rsa.RSAPrivateKey, issuer: str | int = "123", lifetime: int = 540) -> str:
    now = int(time.time())
    claims = {"iat": now - 60, "exp": now + lifetime, "iss": issuer}
    # PyJWT's jwt.encode refuses a numeric iss, which GitHub accepts; sign the claims as raw JWS instead.
    return jwt.api_jws.encode(json.dumps(claims).encode(), key, algorithm="RS256")


def _mint(github: GitHubDouble, token: str, installation_id: str = "456") -> requests.Response:
    return requests.post(
        f"{github.url}/app/installations/{installation_id}/access_tokens",
        headers=api_headers(token=token),
        timeout=10,
    )


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return _rsa_key()


def test_app_jwt_buys_an_installation_token_until_revoked(github: GitHubDouble, app_key: rsa.RSAPrivateKey) -> None:
    github.add_app(app_id="123", installation_id="456", public_key_pem=_public_pem(app_key))

    minted = _mint(github, _app_jwt(app_key))

    assert minted.status_code == 201
    token = minted.json()["token"]
    assert token.startswith("ghs_")
    expires_at = datetime.fromisoformat(minted.json()["expires_at"])
    assert ISO_Z.match(minted.json()["expires_at"])
    assert timedelta(minutes=59) < expires_at - datetime.now(UTC) <= timedelta(minutes=61)
    assert github.tokens_minted == 1
    assert dispatch(github, headers=api_headers(token=token)).status_code == 200

    github.revoke_installation_tokens()

    assert dispatch(github, headers=api_headers(token=token)).status_code == 401
    assert len(github.runs) == 1


def test_numeric_issuer_and_shorter_token_lifetime(app_key: rsa.RSAPrivateKey) -> None:
    with GitHubDouble(tokens={PAT}, installation_token_ttl=120) as github:
        github.add_app(app_id="123", installation_id="456", public_key_pem=_public_pem(app_key))

        minted = _mint(github, _app_jwt(app_key, issuer=123))

        assert minted.status_code == 201
        expires_at = datetime.fromisoformat(minted.json()["expires_at"])
        assert timedelta(seconds=110) < expires_at - datetime.now(UTC) <= timedelta(seconds=122)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("other key", "A JSON web token could not be decoded"),
        ("other issuer", "A JSON web token could not be decoded"),
        ("pat", "A JSON web token could not be decoded"),
        ("too long", "'Expiration time' claim ('exp') is too far in the future"),
        ("expired", "'Expiration time' claim ('exp') must be a numeric value"),
    ],
)
def test_bad_app_jwt_is_401_and_mints_nothing(
    github: GitHubDouble, app_key: rsa.RSAPrivateKey, case: str, message: str
) -> None:
    github.add_app(app_id="123", installation_id="456", public_key_pem=_public_pem(app_key))
    credential = {
        "other key": lambda: _app_jwt(_rsa_key()),
        "other issuer": lambda: _app_jwt(app_key, issuer="999"),
        "pat": lambda: PAT,
        "too long": lambda: _app_jwt(app_key, lifetime=1200),
        "expired": lambda: _app_jwt(app_key, lifetime=-120),
    }[case]()

    response = _mint(github, credential)

    assert response.status_code == 401
    assert response.json()["message"].startswith(message)
    assert github.tokens_minted == 0


def test_unknown_installation_is_404(github: GitHubDouble, app_key: rsa.RSAPrivateKey) -> None:
    github.add_app(app_id="123", installation_id="456", public_key_pem=_public_pem(app_key))

    assert _mint(github, _app_jwt(app_key), installation_id="789").status_code == 404


# -- read-only repository endpoints (what a configuration check reads) -----------------------------------------


def get(github: GitHubDouble, path: str, token: str | None = PAT, **params: str) -> requests.Response:
    return requests.get(f"{github.url}{path}", params=params, headers=api_headers(token=token), timeout=10)


def test_repository_shows_default_branch_and_a_personal_tokens_permissions(github: GitHubDouble) -> None:
    answer = get(github, "/repos/acme/app")

    assert answer.status_code == 200
    body = answer.json()
    assert (body["full_name"], body["default_branch"], body["private"]) == ("acme/app", "main", True)
    assert body["permissions"] == {"admin": False, "maintain": False, "push": True, "triage": True, "pull": True}
    assert get(github, "/repos/acme/other").status_code == 404
    assert get(github, "/repos/acme/app", token="ghp_wrong").status_code == 401


def test_repository_visibility_branch_and_permissions_are_configurable() -> None:
    with GitHubDouble(
        tokens={PAT}, private=False, default_branch="trunk", refs=("trunk",), repository_permissions={"pull": True}
    ) as github:
        body = get(github, "/repos/acme/app").json()

    assert (body["private"], body["visibility"], body["default_branch"]) == (False, "public", "trunk")
    assert body["permissions"] == {"pull": True}


def test_installation_token_sees_the_repository_without_user_permissions(
    github: GitHubDouble, app_key: rsa.RSAPrivateKey
) -> None:
    github.add_app(app_id="123", installation_id="456", public_key_pem=_public_pem(app_key))
    token = _mint(github, _app_jwt(app_key)).json()["token"]

    answer = get(github, "/repos/acme/app", token=token)

    assert answer.status_code == 200
    assert "permissions" not in answer.json()
    assert "x-oauth-scopes" not in answer.headers


def test_installation_token_permissions_are_configurable(app_key: rsa.RSAPrivateKey) -> None:
    with GitHubDouble(tokens={PAT}, installation_permissions={"actions": "read", "metadata": "read"}) as github:
        github.add_app(app_id="123", installation_id="456", public_key_pem=_public_pem(app_key))
        minted = _mint(github, _app_jwt(app_key))

    assert minted.json()["permissions"] == {"actions": "read", "metadata": "read"}


def test_classic_tokens_get_their_scopes_in_every_answer_and_fine_grained_tokens_none() -> None:
    fine_grained = "github_pat_11ABCDEFG0123456789_abcdef"
    with GitHubDouble(tokens={PAT, "ghp_narrow", fine_grained}, token_scopes={"ghp_narrow": ["public_repo"]}) as github:
        assert get(github, "/repos/acme/app").headers["x-oauth-scopes"] == "repo"
        assert dispatch(github).headers["x-oauth-scopes"] == "repo"
        assert get(github, "/repos/acme/app", token="ghp_narrow").headers["x-oauth-scopes"] == "public_repo"
        assert "x-oauth-scopes" not in get(github, "/repos/acme/app", token=fine_grained).headers
        assert "x-oauth-scopes" not in get(github, "/repos/acme/app", token="ghp_unknown").headers


def test_workflow_is_found_by_file_name_or_id_with_its_state(github: GitHubDouble) -> None:
    by_name = get(github, "/repos/acme/app/actions/workflows/deploy.yml")
    by_id = get(github, f"/repos/acme/app/actions/workflows/{github.workflow_id}")

    assert by_name.status_code == by_id.status_code == 200
    assert by_name.json() == by_id.json()
    assert by_name.json()["path"] == ".github/workflows/deploy.yml"
    assert (by_name.json()["state"], by_name.json()["name"]) == ("active", "Deploy")
    assert get(github, "/repos/acme/app/actions/workflows/other.yml").status_code == 404
    with GitHubDouble(tokens={PAT}, workflow_state="disabled_manually") as disabled:
        assert get(disabled, "/repos/acme/app/actions/workflows/deploy.yml").json()["state"] == "disabled_manually"


def _workflow_text(answer: requests.Response) -> str:
    body = answer.json()
    assert body["encoding"] == "base64"
    assert all(len(line) <= 60 for line in body["content"].splitlines())
    return base64.b64decode(body["content"]).decode()


def test_default_workflow_file_declares_what_the_double_accepts(github: GitHubDouble) -> None:
    answer = get(github, "/repos/acme/app/contents/.github/workflows/deploy.yml", ref="main")

    assert answer.status_code == 200
    workflow = yaml.safe_load(_workflow_text(answer))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers["workflow_dispatch"]["inputs"]) == DEFAULT_DECLARED_INPUTS
    assert workflow["run-name"] == DEFAULT_RUN_NAME
    assert workflow["name"] == "Deploy"


def test_default_workflow_file_follows_declared_inputs_and_run_name() -> None:
    with GitHubDouble(tokens={PAT}, declared_inputs={"instance_id", "color"}, run_name=None) as github:
        workflow = yaml.safe_load(_workflow_text(get(github, "/repos/acme/app/contents/.github/workflows/deploy.yml")))

    assert set(workflow[True]["workflow_dispatch"]["inputs"]) == {"instance_id", "color"}
    assert "run-name" not in workflow


def test_workflow_file_is_served_as_given_on_every_known_ref_and_404_elsewhere() -> None:
    text = "name: Deploy\non: push\n"
    with GitHubDouble(tokens={PAT}, workflow_file=text, refs=("main", "release"), tags=("v1",)) as github:
        path = "/repos/acme/app/contents/.github/workflows/deploy.yml"
        assert _workflow_text(get(github, path)) == text  # no ref: the default branch
        assert _workflow_text(get(github, path, ref="refs/heads/release")) == text
        assert _workflow_text(get(github, path, ref="v1")) == text
        assert get(github, path, ref="nope").status_code == 404
        assert get(github, "/repos/acme/app/contents/.github/workflows/other.yml").status_code == 404
        assert get(github, "/repos/acme/other/contents/.github/workflows/deploy.yml").status_code == 404


def test_branches_and_git_refs_come_from_refs_and_tags() -> None:
    with GitHubDouble(tokens={PAT}, refs=("main", "feature/x"), tags=("v1",)) as github:
        branch = get(github, "/repos/acme/app/branches/feature/x")
        assert branch.status_code == 200
        assert branch.json()["name"] == "feature/x"
        assert len(branch.json()["commit"]["sha"]) == 40
        assert get(github, "/repos/acme/app/branches/v1").status_code == 404
        assert get(github, "/repos/acme/app/branches/nope").status_code == 404
        tag = get(github, "/repos/acme/app/git/ref/tags/v1")
        assert tag.status_code == 200
        assert tag.json()["ref"] == "refs/tags/v1"
        assert get(github, "/repos/acme/app/git/ref/heads/main").json()["ref"] == "refs/heads/main"
        assert get(github, "/repos/acme/app/git/ref/tags/main").status_code == 404
        # A tag is a ref a dispatch may name, too.
        assert dispatch(github, {"ref": "v1", "inputs": deploy_inputs()}).status_code == 200


def test_fine_grained_token_without_read_access_is_refused_by_the_read_endpoints() -> None:
    actions_only = "github_pat_actionsOnly"
    contents_only = "github_pat_contentsOnly"
    with GitHubDouble(
        tokens={actions_only, contents_only},
        token_permissions={actions_only: {"actions": "write"}, contents_only: {"contents": "read"}},
    ) as github:
        workflow = "/repos/acme/app/actions/workflows/deploy.yml"
        file = "/repos/acme/app/contents/.github/workflows/deploy.yml"
        assert get(github, workflow, token=actions_only).status_code == 200
        assert get(github, f"{workflow}/runs", token=actions_only).status_code == 200
        assert get(github, file, token=actions_only).status_code == 403
        assert get(github, "/repos/acme/app/branches/main", token=actions_only).status_code == 403
        refused = get(github, f"{workflow}/runs", token=contents_only)
        assert refused.status_code == 403
        assert refused.json()["message"] == "Resource not accessible by personal access token"
        assert get(github, workflow, token=contents_only).status_code == 403
        assert get(github, file, token=contents_only).status_code == 200
        assert get(github, "/repos/acme/app", token=contents_only).status_code == 200


# -- load ---------------------------------------------------------------------------------------------------


def test_200_concurrent_dispatches_create_200_distinct_runs(github: GitHubDouble) -> None:
    start = threading.Barrier(100)

    def one(n: int) -> int:
        if n < 100:
            start.wait()
        response = dispatch(github, {"ref": "main", "inputs": deploy_inputs(dispatch_id=f"d-{n}")})
        assert response.status_code == 200
        return int(response.json()["workflow_run_id"])

    with ThreadPoolExecutor(max_workers=100) as pool:
        run_ids = list(pool.map(one, range(200)))

    assert len(set(run_ids)) == 200
    assert sorted(run_ids) == [run.id for run in github.runs]
    assert sorted(run.inputs["dispatch_id"] for run in github.runs) == sorted(f"d-{n}" for n in range(200))


def test_a_new_run_is_listed_only_after_the_listing_delay_but_read_by_id_at_once() -> None:
    with GitHubDouble(repository="acme/app", workflow="deploy.yml", tokens={PAT}, listing_delay=0.5) as double:
        run_id = dispatch(double).json()["workflow_run_id"]
        listed_at_once = list_runs(double, event="workflow_dispatch").json()["total_count"]
        read_at_once = requests.get(
            f"{double.url}/repos/acme/app/actions/runs/{run_id}", headers=api_headers(), timeout=10
        ).status_code
        time.sleep(0.6)

        assert (listed_at_once, read_at_once) == (0, 200)
        assert [run["id"] for run in list_runs(double, event="workflow_dispatch").json()["workflow_runs"]] == [run_id]
