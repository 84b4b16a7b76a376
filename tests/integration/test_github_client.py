"""The GitHub client's classification of transport failures, against the GitHub double over real sockets.

Only a failure to connect proves a POST never reached GitHub; anything after the connection was made (a TLS
alert, a reset, a broken answer) can come after GitHub received the whole request and created the run.
"""

import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from deploy_trigger.deadline import Deadline
from deploy_trigger.errors import GitHubUnavailable, OutcomeUnknown, RetryLater
from deploy_trigger.github_auth import SecretCredentials
from deploy_trigger.github_client import GitHubClient
from stand_ins.deployment import REPOSITORY, TOKEN, WORKFLOW
from stand_ins.github_double import GitHubDouble
from tests.integration.conftest import Stack

INPUTS = {"instance_id": "i-0abc", "dispatch_id": "0" * 32, "asg_name": "web", "lifecycle_hook_name": "deploy",
          "aws_region": "us-east-1"}  # fmt: skip


class TlsAlertAfterSending(HTTPAdapter):
    """Sends the request for real, then fails the way a TLS alert read with the answer does."""

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        super().send(request, *args, **kwargs)
        raise requests.exceptions.SSLError("[SSL: TLSV1_ALERT_INTERNAL_ERROR] tlsv1 alert internal error")


def client(stack: Stack, api_url: str, session: requests.Session | None = None) -> GitHubClient:
    return GitHubClient(api_url=api_url, repository="acme/app", workflow="deploy.yml", api_version="2026-03-10",
                        credentials=SecretCredentials(stack.secret), session=session)  # fmt: skip


def test_a_tls_error_after_the_request_was_sent_is_an_unknown_outcome(stack: Stack, github: GitHubDouble) -> None:
    session = requests.Session()
    session.mount("http://", TlsAlertAfterSending(max_retries=0))

    with pytest.raises(OutcomeUnknown):
        client(stack, github.url, session).dispatch("main", INPUTS, Deadline(20))

    assert len(github.runs) == 1  # why it must not count as "never sent"


def test_a_refused_connection_proves_nothing_was_sent(stack: Stack) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again before the call: nothing listens there

    with pytest.raises(GitHubUnavailable, match="could not connect"):
        client(stack, f"http://127.0.0.1:{port}").dispatch("main", INPUTS, Deadline(20))


class StepClock:
    """Stamps each run this many seconds after the previous one, ending near the real time."""

    def __init__(self, runs: int, step: float) -> None:
        self.now = datetime.now(UTC) - timedelta(seconds=runs * step + 5)
        self.step = step

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=self.step)
        return self.now


def post(github: GitHubDouble, dispatch_id: str) -> None:
    answer = requests.post(
        f"{github.url}/repos/acme/app/actions/workflows/deploy.yml/dispatches",
        json={"ref": "main", "inputs": {**INPUTS, "dispatch_id": dispatch_id}},
        headers={"Authorization": f"Bearer {TOKEN}", "X-GitHub-Api-Version": "2026-03-10", "User-Agent": "test"},
        timeout=10,
    )
    assert answer.status_code == 200


def capped_double(clock: Callable[[], datetime] | None = None) -> GitHubDouble:
    """GitHub with a cap of 3 runs per filtered listing instead of 1,000: the same truncation, fewer runs."""
    return GitHubDouble(
        repository=REPOSITORY, workflow=WORKFLOW, tokens={TOKEN}, filtered_listing_cap=3, clock=clock, listing_delay=0
    )  # listed at once: these tests are about what a capped listing shows, not when


def test_a_truncated_listing_says_so_and_a_complete_one_too(stack: Stack) -> None:
    with capped_double() as github:
        for n in range(3):
            post(github, f"{n:032x}")
        assert client(stack, github.url).list_runs(time.time() - 60, Deadline(20)).complete is True
        post(github, f"{3:032x}")

        listing = client(stack, github.url).list_runs(time.time() - 60, Deadline(20))

    assert listing.complete is False
    assert len(listing.runs) == 3


def test_reconciliation_narrows_the_window_until_it_sees_every_run(stack: Stack) -> None:
    wanted = "a" * 32
    with capped_double(StepClock(runs=8, step=5)) as github:
        post(github, wanted)  # the oldest: a first listing of the newest three misses it
        for n in range(7):
            post(github, f"{n:032x}")

        found = client(stack, github.url).find_run(wanted, time.time() - 120, Deadline(20))
        missing = client(stack, github.url).find_run("b" * 32, time.time() - 120, Deadline(20))

        assert found is not None
        assert found.run_id == github.runs[0].id
        assert missing is None  # only after every narrowed listing was complete
        listings = [r for r in github.requests if r.path.endswith("/runs")]
        assert all(".." in r.query["created"][0] for r in listings)


def test_reconciliation_that_cannot_see_every_run_fails_for_a_retry_rather_than_answer_none(stack: Stack) -> None:
    with capped_double() as github:
        for n in range(5):  # all within a second or two: no window of whole seconds holds three or fewer
            post(github, f"{n:032x}")

        with pytest.raises(RetryLater):
            client(stack, github.url).find_run("b" * 32, time.time() - 60, Deadline(20))
