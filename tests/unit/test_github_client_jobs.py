"""The GitHub client reads a run's jobs, every page of them, against the GitHub double on loopback: what the batch
tracker follows each instance by (one matrix job per instance, named by its instance ID)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from deploy_trigger.deadline import MIN_CALL_SECONDS, RESERVE_SECONDS, Deadline
from deploy_trigger.errors import GitHubUnavailable, RateLimited
from deploy_trigger.github_auth import SecretCredentials
from deploy_trigger.github_client import MAX_JOB_PAGES, GitHubClient
from stand_ins.github_double import BATCH_DECLARED_INPUTS, BATCH_RUN_NAME, GitHubDouble, RateLimits

PAT = "ghp_jobs"
JOBS = "/jobs"


def instance_ids(count: int) -> list[str]:
    return [f"i-{n:017x}" for n in range(count)]


def batch_inputs(ids: list[str]) -> dict[str, str]:
    instances = [{"instance_id": i, "asg_name": "web", "lifecycle_hook_name": "deploy", "aws_region": "eu-west-1"}
                 for i in ids]  # fmt: skip
    return {"dispatch_id": "b" * 32, "instances": json.dumps(instances)}


def batch_double(**kwargs: Any) -> GitHubDouble:
    return GitHubDouble(tokens={PAT}, declared_inputs=BATCH_DECLARED_INPUTS, run_name=BATCH_RUN_NAME,
                        listing_delay=0, **kwargs)  # fmt: skip


def client(api_url: str, token: str = PAT, session: requests.Session | None = None) -> GitHubClient:
    return GitHubClient(api_url=api_url, repository="acme/app", workflow="deploy.yml", api_version="2026-03-10",
                        credentials=SecretCredentials("s", lambda _name, _age: token), session=session)  # fmt: skip


def dispatch_batch(github: GitHubDouble, ids: list[str]) -> int:
    run = client(github.url).dispatch("main", batch_inputs(ids), Deadline(20))
    assert run.run_id is not None
    return run.run_id


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with batch_double() as double:
        yield double


def test_256_jobs_are_read_in_three_pages_of_100_and_each_instance_has_its_own(github: GitHubDouble) -> None:
    ids = instance_ids(256)
    run_id = dispatch_batch(github, ids)
    github.set_run_status(run_id, status="in_progress", conclusion=None)

    listing = client(github.url).list_jobs(run_id, Deadline(20))

    assert listing.complete is True
    assert len(listing.jobs) == 256
    found = [listing.for_instance(i) for i in ids]
    assert [job.name if job else None for job in found] == ids
    assert {(job.status, job.conclusion) for job in listing.jobs} == {("in_progress", None)}
    reads = [r for r in github.requests if r.path.endswith(JOBS)]
    assert len(reads) == 3
    assert reads[0].query == {"filter": ["all"], "per_page": ["100"]}  # then the next links, which keep both


def test_a_failing_instances_job_fails_while_its_siblings_succeed() -> None:
    ids = instance_ids(3)
    with batch_double(failing_instances={ids[1]}) as github:
        run_id = dispatch_batch(github, ids)
        github.set_run_status(run_id)

        listing = client(github.url).list_jobs(run_id, Deadline(20))

    jobs = {i: listing.for_instance(i) for i in ids}
    assert {i: (job.finished, job.succeeded, job.conclusion) for i, job in jobs.items() if job} == {
        ids[0]: (True, True, "success"), ids[1]: (True, False, "failure"), ids[2]: (True, True, "success")}  # fmt: skip
    assert all(job and job.html_url and job.completed_at and job.started_at for job in jobs.values())


def test_a_rate_limit_on_the_listing_is_rate_limited_with_the_wait() -> None:
    # One request for the dispatch, one for the first page; the second page is over the hour's budget.
    with batch_double(rate_limits=RateLimits(primary_per_hour=2)) as github:
        run_id = dispatch_batch(github, instance_ids(150))

        with pytest.raises(RateLimited) as limited:
            client(github.url).list_jobs(run_id, Deadline(20))

        assert [refusal.kind for refusal in github.refusals] == ["primary"]
    assert 3500 < limited.value.retry_after <= 3602  # until the hour's window resets (x-ratelimit-reset), plus 1 s


def test_a_listing_cut_at_its_page_cap_is_not_complete(github: GitHubDouble) -> None:
    run_id = dispatch_batch(github, instance_ids(256))

    listing = client(github.url).list_jobs(run_id, Deadline(20), max_pages=2)

    assert MAX_JOB_PAGES * 100 >= 256 * 1.5  # room for re-runs' jobs beside a full batch
    assert (len(listing.jobs), listing.complete) == (200, False)
    assert listing.for_instance(instance_ids(256)[-1]) is None  # not on the pages read: unknown, not absent


class SteppingClock:
    """A monotonic clock each answer moves on by ``step`` seconds: the deadline runs out between pages."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        return self.now

    def on_answer(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.now += self.step


def test_a_listing_stops_for_the_deadline_with_what_it_read_and_says_it_is_not_complete(github: GitHubDouble) -> None:
    run_id = dispatch_batch(github, instance_ids(256))
    clock = SteppingClock(step=1.0)
    session = requests.Session()
    session.hooks["response"].append(clock.on_answer)
    deadline = Deadline(RESERVE_SECONDS + MIN_CALL_SECONDS + 0.5, monotonic=clock)  # time for one call only

    listing = client(github.url, session=session).list_jobs(run_id, deadline)

    assert (len(listing.jobs), listing.complete) == (100, False)
    assert github.count("GET", JOBS) == 1


def test_an_unknown_run_has_no_jobs_like_get_run_answers_none(github: GitHubDouble) -> None:
    listing = client(github.url).list_jobs(1, Deadline(20))

    assert (listing.jobs, listing.complete) == ([], True)
    assert client(github.url).get_run(1, Deadline(20)) is None


def test_a_queued_run_may_list_no_jobs_yet() -> None:
    with batch_double(jobs_delay=30) as github:
        run_id = dispatch_batch(github, instance_ids(2))

        listing = client(github.url).list_jobs(run_id, Deadline(20))

    assert (listing.jobs, listing.complete) == ([], True)  # complete, yet it proves nothing of a queued run


def test_refused_credentials_and_no_connection_are_github_unavailable(github: GitHubDouble) -> None:
    run_id = dispatch_batch(github, instance_ids(1))
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again before the call: nothing listens there

    with pytest.raises(GitHubUnavailable, match="HTTP 401"):
        client(github.url, token="ghp_revoked").list_jobs(run_id, Deadline(20))
    with pytest.raises(GitHubUnavailable, match="listing jobs failed"):
        client(f"http://127.0.0.1:{port}").list_jobs(run_id, Deadline(20))
