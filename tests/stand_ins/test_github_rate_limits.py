"""The GitHub double enforces GitHub's documented rate limits when asked to, and only then.

Where time matters the limiter runs on an injected clock; over HTTP, ``time_scale`` makes GitHub's minutes and hours
pass in fractions of a wall second. No test sleeps longer than about a second.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from deploy_trigger.deadline import Deadline
from deploy_trigger.errors import RateLimited as ClientRateLimited
from deploy_trigger.github_auth import SecretCredentials
from deploy_trigger.github_client import GitHubClient
from stand_ins.github_double import Delay, ErrorAfterAccept, GitHubDouble, RateLimited, RateLimits, Reject
from stand_ins.github_rate_limits import (
    PRIMARY_DOCS,
    SECONDARY_DOCS,
    Admission,
    Credential,
    RateLimiter,
    floor_seconds,
    installation_label,
    token_label,
)
from tests.stand_ins.test_github_double import (
    PAT,
    _app_jwt,
    _mint,
    _public_pem,
    _rsa_key,
    api_headers,
    deploy_inputs,
    dispatch,
    list_runs,
)

OTHER_PAT = "ghp_other"
DISPATCH = "/repos/acme/app/actions/workflows/deploy.yml/dispatches"
ALICE = Credential("token:alice", "token alice")
BOB = Credential("token:bob", "token bob")
START = 1_800_000_000.0
RATE_LIMIT_HEADERS = {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-used", "x-ratelimit-reset",
                      "x-ratelimit-resource"}  # fmt: skip


class WallClock:
    """Wall-clock epoch seconds that only move when the test says so."""

    def __init__(self, start: float = START) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def limiter(clock: WallClock | None = None, **limits: Any) -> RateLimiter:
    return RateLimiter(RateLimits(**limits), clock=clock or WallClock())


def admit(limiter: RateLimiter, credential: Credential = ALICE, method: str = "POST") -> Admission:
    """One request that is answered at once (it does not stay in flight)."""
    with limiter.request(credential, method, DISPATCH) as admission:
        return admission


def admit_many(limiter: RateLimiter, count: int, credential: Credential = ALICE, method: str = "POST") -> list[str]:
    """The outcome of each: ``"ok"`` or the refusal's kind."""
    outcomes = []
    for _ in range(count):
        refused = admit(limiter, credential, method).refused
        outcomes.append("ok" if refused is None else refused.kind)
    return outcomes


@pytest.fixture(scope="module")
def app_key() -> rsa.RSAPrivateKey:
    return _rsa_key()


def limited(**limits: Any) -> GitHubDouble:
    return GitHubDouble(tokens={PAT, OTHER_PAT}, listing_delay=0, rate_limits=RateLimits(**limits))


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with limited() as double:
        yield double


def get_repository(github: GitHubDouble, token: str = PAT) -> requests.Response:
    return requests.get(f"{github.url}/repos/acme/app", headers=api_headers(token=token), timeout=10)


def dispatch_as(github: GitHubDouble, token: str, session: requests.Session | None = None) -> requests.Response:
    return (session or requests).post(
        github.url + DISPATCH, json={"ref": "main", "inputs": deploy_inputs()}, headers=api_headers(token=token),
        timeout=10,
    )  # fmt: skip


# -- off by default -------------------------------------------------------------------------------------------


def test_without_rate_limits_the_double_limits_nothing_and_sends_no_rate_limit_headers() -> None:
    with GitHubDouble(tokens={PAT}, listing_delay=0) as github, requests.Session() as session:
        statuses = [dispatch_as(github, PAT, session).status_code for _ in range(81)]
        answer = list_runs(github)

        assert statuses == [200] * 81
        assert len(github.runs) == 81
        assert RATE_LIMIT_HEADERS.isdisjoint(answer.headers)
        assert (github.refusals, github.content_created_at) == ([], [])


# -- primary ----------------------------------------------------------------------------------------------------


def test_primary_remaining_counts_down_and_a_refusal_spends_nothing() -> None:
    limits = limiter(primary_per_hour=3)

    answered = [admit(limits, method="GET") for _ in range(3)]
    refused = [admit(limits, method="GET") for _ in range(2)]

    assert [a.headers["x-ratelimit-remaining"] for a in answered] == ["2", "1", "0"]
    assert [a.headers["x-ratelimit-used"] for a in answered] == ["1", "2", "3"]
    assert {a.headers["x-ratelimit-limit"] for a in answered} == {"3"}
    assert {a.headers["x-ratelimit-resource"] for a in answered} == {"core"}
    for admission in refused:
        assert admission.refused is not None
        assert (admission.refused.kind, admission.status) == ("primary", 403)
        assert admission.headers["x-ratelimit-remaining"] == "0"
        assert admission.headers["x-ratelimit-used"] == "3"  # the refused requests spent nothing
        assert "retry-after" not in admission.headers
        assert admission.body == {"message": admission.body["message"], "documentation_url": PRIMARY_DOCS}
        assert admission.body["message"].startswith("API rate limit exceeded for token alice.")
    assert [r.kind for r in limits.refusals] == ["primary", "primary"]


def test_the_primary_window_is_fixed_one_hour_from_the_first_request() -> None:
    clock = WallClock()
    limits = limiter(clock, primary_per_hour=2)
    first = admit(limits, method="GET")
    clock.advance(1800)
    admit(limits, method="GET")
    clock.advance(1799.5)

    still_refused = admit(limits, method="GET")
    clock.advance(0.5)
    after_reset = admit(limits, method="GET")

    assert first.headers["x-ratelimit-reset"] == str(int(START + 3600))
    assert still_refused.refused is not None
    assert still_refused.headers["x-ratelimit-reset"] == str(int(START + 3600))
    assert after_reset.refused is None
    assert after_reset.headers["x-ratelimit-remaining"] == "1"
    # The new window opens with the first request after the old one ended, not when the old one ended.
    assert after_reset.headers["x-ratelimit-reset"] == str(int(START + 7200))


def test_each_credential_has_its_own_budgets() -> None:
    limits = limiter(primary_per_hour=1, content_per_minute=1)

    assert admit_many(limits, 2, ALICE) == ["ok", "primary"]
    assert admit_many(limits, 1, BOB) == ["ok"]
    assert [r.credential for r in limits.refusals] == ["token alice"]


def test_primary_over_http_counts_down_refuses_at_zero_without_a_run_and_records_a_label() -> None:
    with limited(primary_per_hour=3) as github:
        answers = [get_repository(github), dispatch(github), list_runs(github)]
        refused = dispatch(github)
        unauthenticated = get_repository(github, token="ghp_unknown")

        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
        reset = int(answers[0].headers["x-ratelimit-reset"])
        assert abs(reset - (time.time() + 3600)) <= 5
        assert refused.status_code == 403
        assert refused.headers["x-ratelimit-remaining"] == "0"
        assert refused.headers["x-ratelimit-reset"] == str(reset)
        assert "retry-after" not in refused.headers
        assert refused.json()["documentation_url"] == PRIMARY_DOCS
        assert refused.json()["message"].startswith(f"API rate limit exceeded for {token_label(PAT)}.")
        assert len(github.runs) == 1
        # A request the double does not authenticate is not limited and says nothing about a budget.
        assert unauthenticated.status_code == 401
        assert RATE_LIMIT_HEADERS.isdisjoint(unauthenticated.headers)
        [refusal] = github.refusals
        assert (refusal.kind, refusal.method, refusal.path) == ("primary", "POST", DISPATCH)
        assert refusal.credential == token_label(PAT)
        assert PAT not in refusal.credential
        assert abs(refusal.at - time.time()) <= 5
        assert len(github.content_created_at) == 1  # the one dispatch let through


def test_primary_resets_over_http_after_the_scaled_hour() -> None:
    # 7,200 GitHub seconds a wall second: the hour is half a wall second.
    with limited(primary_per_hour=1, time_scale=7200) as github:
        started = time.time()
        accepted = dispatch(github)
        answered = time.time()
        refused = dispatch(github)
        time.sleep(max(0.0, answered + 0.55 - time.time()))
        again = dispatch(github)

        assert (accepted.status_code, refused.status_code, again.status_code) == (200, 403, 200)
        # The wall-clock second, rounded up, at which the half-second window that the first request opened ends.
        reset = int(accepted.headers["x-ratelimit-reset"])
        assert math.ceil(started + 0.5) <= reset <= math.ceil(answered + 0.5)
        assert len(github.runs) == 2


def test_installation_tokens_share_their_installations_budget_and_minting_spends_none(
    app_key: rsa.RSAPrivateKey,
) -> None:
    with limited(primary_per_hour=3) as github:
        github.add_app(app_id="123", installation_id="456", public_key_pem=_public_pem(app_key))
        mints = [_mint(github, _app_jwt(app_key)) for _ in range(4)]
        first, second = mints[0].json()["token"], mints[1].json()["token"]
        answers = [get_repository(github, token) for token in (first, second, first)]
        refused = get_repository(github, second)
        personal = get_repository(github, PAT)

        assert [m.status_code for m in mints] == [201] * 4
        assert all(RATE_LIMIT_HEADERS.isdisjoint(m.headers) for m in mints)
        assert [a.headers["x-ratelimit-remaining"] for a in answers] == ["2", "1", "0"]
        assert refused.status_code == 403
        assert refused.json()["message"].startswith("API rate limit exceeded for installation ID 456.")
        assert personal.headers["x-ratelimit-remaining"] == "2"
        assert [r.credential for r in github.refusals] == [installation_label("456")]


# -- secondary: content-creating requests per minute and per hour -----------------------------------------------


def test_80_content_requests_a_minute_then_refused_until_the_oldest_leaves_the_window() -> None:
    clock = WallClock()
    limits = limiter(clock)

    burst = admit_many(limits, 80)
    refused = admit(limits)
    read = admit(limits, method="GET")
    clock.advance(59.5)
    nearly = admit(limits)
    clock.advance(0.5)
    after = admit_many(limits, 81)

    assert burst == ["ok"] * 80
    assert refused.refused is not None
    assert (refused.refused.kind, refused.status) == ("secondary-minute", 403)
    assert refused.headers["retry-after"] == "60"
    assert refused.body == {"message": refused.body["message"], "documentation_url": SECONDARY_DOCS}
    assert refused.body["message"].startswith("You have exceeded a secondary rate limit. Please wait a few minutes")
    assert read.refused is None  # reads are not content-creating
    assert nearly.headers["retry-after"] == "1"  # half a second, rounded up
    assert after == ["ok"] * 80 + ["secondary-minute"]
    assert len(limits.content_created_at) == 160


def test_the_minute_window_slides() -> None:
    clock = WallClock()
    limits = limiter(clock)
    admit_many(limits, 40)
    clock.advance(30)
    admit_many(limits, 40)
    clock.advance(15)

    at_45 = admit(limits)
    clock.advance(15)
    at_60 = admit_many(limits, 41)

    assert at_45.headers["retry-after"] == "15"
    assert at_60 == ["ok"] * 40 + ["secondary-minute"]
    assert admit(limits).headers["retry-after"] == "30"


def test_500_content_requests_an_hour_then_refused_until_the_first_leave() -> None:
    clock = WallClock()
    limits = limiter(clock)
    paced = []
    for _ in range(6):
        paced += admit_many(limits, 80)
        clock.advance(60)
    paced += admit_many(limits, 20)

    refused = admit(limits)
    clock.advance(3600 - 360 - 0.5)
    nearly = admit(limits)
    clock.advance(0.5)
    after = admit_many(limits, 81)

    assert paced == ["ok"] * 500
    assert refused.refused is not None
    assert refused.refused.kind == "secondary-hour"
    assert refused.headers["retry-after"] == str(3600 - 360)
    assert nearly.headers["retry-after"] == "1"
    assert after == ["ok"] * 80 + ["secondary-minute"]  # the hour's first 80 have left it


def test_when_both_windows_are_full_the_longer_wait_names_the_refusal() -> None:
    clock = WallClock()
    limits = limiter(clock, content_per_minute=2, content_per_hour=2)
    admit_many(limits, 2)
    clock.advance(1)

    refused = admit(limits)

    assert refused.refused is not None
    assert refused.refused.kind == "secondary-hour"
    assert refused.headers["retry-after"] == "3599"


def test_a_refused_content_request_takes_no_place_in_the_windows_but_spends_primary_budget() -> None:
    clock = WallClock()
    limits = limiter(clock)
    admit_many(limits, 80)
    clock.advance(30)
    refused = admit_many(limits, 10)
    clock.advance(30)

    after = admit_many(limits, 81)

    assert refused == ["secondary-minute"] * 10
    # Had the ten refusals at 30 s taken places, only 70 would pass at 60 s.
    assert after == ["ok"] * 80 + ["secondary-minute"]
    assert admit(limits, method="GET").headers["x-ratelimit-used"] == str(80 + 10 + 81 + 1)
    assert len(limits.content_created_at) == 160


def test_the_81st_dispatch_in_a_minute_is_refused_over_http_without_a_run(github: GitHubDouble) -> None:
    with requests.Session() as session:
        statuses = [dispatch_as(github, PAT, session).status_code for _ in range(80)]
        refused = dispatch_as(github, PAT, session)
        other = dispatch_as(github, OTHER_PAT, session)
        read = list_runs(github)

    assert statuses == [200] * 80
    assert refused.status_code == 403
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["x-ratelimit-remaining"] == "4919"  # a refused request is still a request
    assert refused.json()["documentation_url"] == SECONDARY_DOCS
    assert "secondary rate limit" in refused.json()["message"]
    assert (other.status_code, read.status_code) == (200, 200)
    assert len(github.runs) == 81
    assert [(r.kind, r.method, r.credential) for r in github.refusals] == [("secondary-minute", "POST",
                                                                             token_label(PAT))]  # fmt: skip
    created = github.content_created_at
    assert len(created) == 81
    assert created == sorted(created)


def test_501_dispatches_in_an_hour_over_http_the_last_refused() -> None:
    with limited(content_per_minute=1000) as github, requests.Session() as session:
        statuses = [dispatch_as(github, PAT, session).status_code for _ in range(500)]
        refused = dispatch_as(github, PAT, session)

        assert statuses == [200] * 500
        assert refused.status_code == 403
        assert int(refused.headers["retry-after"]) >= 3600 - 60
        assert [r.kind for r in github.refusals] == ["secondary-hour"]
        assert len(github.runs) == 500


def test_hundreds_of_concurrent_dispatches_let_exactly_the_limit_through(github: GitHubDouble) -> None:
    start = threading.Barrier(50)

    def one(n: int) -> int:
        if n < 50:
            start.wait()
        return dispatch(github, {"ref": "main", "inputs": deploy_inputs(dispatch_id=f"d-{n}")}).status_code

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = list(pool.map(one, range(200)))

    assert sorted(statuses) == [200] * 80 + [403] * 120
    assert len(github.runs) == 80
    assert len(github.content_created_at) == 80
    assert {r.kind for r in github.refusals} == {"secondary-minute"}
    assert len(github.refusals) == 120


# -- secondary: concurrency -------------------------------------------------------------------------------------


def test_more_requests_in_flight_than_allowed_are_refused_across_credentials() -> None:
    limits = limiter(concurrent=2)

    with limits.request(ALICE, "GET", "/a") as first, limits.request(BOB, "GET", "/b") as second:
        third = admit(limits, ALICE, "GET")
        assert limits.in_flight == 2
    fourth = admit(limits, BOB, "GET")

    assert (first.refused, second.refused) == (None, None)
    assert third.refused is not None
    assert (third.refused.kind, third.status) == ("concurrent", 403)
    assert third.headers["retry-after"] == "60"
    assert third.headers["x-ratelimit-used"] == "2"  # alice's second request, refused, still spent
    assert fourth.refused is None
    assert limits.in_flight == 0


def test_concurrency_over_http_while_dispatches_are_held_in_flight() -> None:
    with limited(concurrent=2, time_scale=60) as github:
        github.inject(Delay(0.4), times=2)
        with ThreadPoolExecutor(max_workers=2) as pool:
            held = [pool.submit(dispatch, github) for _ in range(2)]
            deadline = time.monotonic() + 5
            while sum(r.status is None for r in github.requests) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            refused = get_repository(github)
            statuses = [future.result().status_code for future in held]
        after = get_repository(github)

        assert refused.status_code == 403
        assert refused.headers["retry-after"] == "1"  # 60 GitHub seconds at 60x
        assert "secondary rate limit" in refused.json()["message"]
        assert statuses == [200, 200]
        assert after.status_code == 200
        assert [(r.kind, r.method) for r in github.refusals] == [("concurrent", "GET")]


# -- time scale, status and retry-after -------------------------------------------------------------------------


def test_time_scale_turns_waits_and_the_reset_into_wall_seconds() -> None:
    clock = WallClock()
    limits = limiter(clock, content_per_minute=1, time_scale=60)
    first = admit(limits)
    clock.advance(0.5)  # 30 GitHub seconds

    refused = admit(limits)
    clock.advance(0.5)
    after = admit(limits)

    assert first.headers["x-ratelimit-reset"] == str(int(START + 60))  # the hour is a wall minute
    assert refused.headers["retry-after"] == "1"  # 30 GitHub seconds are half a wall second, rounded up
    assert after.refused is None
    slow = limiter(WallClock(), time_scale=2)
    admit_many(slow, 80)
    assert admit(slow).headers["retry-after"] == "30"


def test_a_real_client_reads_the_wall_clock_wait_at_time_scale() -> None:
    """The dispatcher's own client, unmodified: refused, it reports the wall-clock retry-after (1 s, not GitHub's 60),
    and once that has passed the dispatch goes through."""
    with limited(content_per_minute=2, time_scale=60) as github:
        credentials = SecretCredentials("s", lambda _name, _age: PAT)
        client = GitHubClient(
            api_url=github.url, repository="acme/app", workflow="deploy.yml", api_version="2026-03-10",
            credentials=credentials,
        )  # fmt: skip
        for n in range(2):
            client.dispatch("main", deploy_inputs(dispatch_id=f"d-{n}"), Deadline(20))
        with pytest.raises(ClientRateLimited) as refused:
            client.dispatch("main", deploy_inputs(dispatch_id="d-2"), Deadline(20))
        time.sleep(refused.value.retry_after)
        client.dispatch("main", deploy_inputs(dispatch_id="d-2"), Deadline(20))

        assert refused.value.retry_after == 1
        assert len(github.runs) == 3
        assert [r.kind for r in github.refusals] == ["secondary-minute"]


def test_secondary_refusals_can_be_429_and_carry_no_retry_after() -> None:
    with limited(content_per_minute=1, secondary_status=429, send_retry_after=False) as github:
        dispatch(github)
        refused = dispatch(github)

        assert refused.status_code == 429
        assert "retry-after" not in refused.headers
        assert refused.headers["x-ratelimit-remaining"] == "4998"
        assert "secondary rate limit" in refused.json()["message"]
        assert len(github.runs) == 1


@pytest.mark.parametrize(
    "limits",
    [{"secondary_status": 500}, {"primary_per_hour": 0}, {"content_per_minute": 0}, {"concurrent": 0},
     {"time_scale": 0}],
)  # fmt: skip
def test_rate_limits_refuse_values_github_never_has(limits: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        RateLimits(**limits)


# -- limits and injected faults ---------------------------------------------------------------------------------


def test_limits_apply_before_an_injected_fault_is_consumed() -> None:
    with limited(content_per_minute=1) as github:
        dispatch_as(github, PAT)
        github.inject(Reject(message="from the fault"))
        refused = dispatch_as(github, PAT)
        faulted = dispatch_as(github, OTHER_PAT)

        assert refused.status_code == 403
        assert "secondary rate limit" in refused.json()["message"]
        assert (faulted.status_code, faulted.json()["message"]) == (422, "from the fault")
        assert len(github.runs) == 1


def test_the_injected_rate_limited_fault_keeps_working_with_limits_on(github: GitHubDouble) -> None:
    github.inject(RateLimited(retry_after=30, primary=True))
    github.inject(RateLimited())
    github.inject(ErrorAfterAccept())

    primary, secondary, error = dispatch(github), dispatch(github), dispatch(github)

    assert (primary.status_code, primary.headers["x-ratelimit-remaining"]) == (403, "0")
    assert abs(int(primary.headers["x-ratelimit-reset"]) - (time.time() + 30)) <= 2
    assert (secondary.status_code, secondary.headers["retry-after"]) == (429, "1")
    assert error.status_code == 502
    assert error.headers["x-ratelimit-remaining"] == "4997"
    assert github.refusals == []  # the faults answered, not the limits
    assert len(github.runs) == 1


# -- the floor GitHub's limits set -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("launches", "limits", "min_interval", "floor"),
    [
        (0, RateLimits(), 0.0, 0.0),
        (1, RateLimits(), 0.0, 0.0),
        (80, RateLimits(), 0.0, 0.0),
        (81, RateLimits(), 0.0, 60.0),
        (161, RateLimits(), 0.0, 120.0),
        (500, RateLimits(), 0.0, 360.0),  # six full minutes of 80, then 20
        (501, RateLimits(), 0.0, 3600.0),
        (581, RateLimits(), 0.0, 3660.0),
        (1000, RateLimits(), 0.0, 3960.0),
        (1001, RateLimits(), 0.0, 7200.0),
        (80, RateLimits(), 1.0, 79.0),
        (500, RateLimits(), 1.0, 499.0),  # a second apart, the minute window never fills
        (1000, RateLimits(), 1.0, 4099.0),
        (100, RateLimits(), 0.5, 69.5),  # the 81st waits until 60 s for the first to leave the minute
        (10, RateLimits(primary_per_hour=3, content_per_hour=1000), 0.0, 10800.0),
    ],
)
def test_floor_seconds(launches: int, limits: RateLimits, min_interval: float, floor: float) -> None:
    assert floor_seconds(launches, limits, min_interval) == pytest.approx(floor)


@pytest.mark.parametrize("limits", [RateLimits(), RateLimits(content_per_minute=7, content_per_hour=30)])
def test_the_floor_schedule_passes_the_limiter_and_nothing_earlier_does(limits: RateLimits) -> None:
    """The two implementations agree: requests sent at the floor's times are all let through, and the last one sent
    a little earlier is refused."""
    launches = 620 if limits.content_per_hour == 500 else 75
    schedule = [floor_seconds(n, limits) for n in range(1, launches + 1)]
    clock = WallClock()
    limits_at_floor = RateLimiter(limits, clock=clock)
    outcomes = []
    for at in schedule:
        clock.now = START + at
        outcomes.append(admit(limits_at_floor).refused)
    early_clock = WallClock()
    early = RateLimiter(limits, clock=early_clock)
    for at in schedule[:-1]:
        early_clock.now = START + at
        admit(early)
    early_clock.now = START + schedule[-1] - 0.5

    assert outcomes == [None] * launches
    assert schedule[-1] > 0
    assert admit(early).refused is not None
