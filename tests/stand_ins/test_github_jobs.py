"""The GitHub double's jobs: one per instance in a batch run, one for any other run, moving with their run, listed
at ``GET .../actions/runs/{run_id}/jobs`` as GitHub lists them (GitHub docs, "REST API endpoints for workflow jobs";
the matrix limit from "Actions limits")."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import yaml

from stand_ins.github_double import (
    BATCH_DECLARED_INPUTS,
    BATCH_RUN_NAME,
    GitHubDouble,
    RateLimits,
    WorkflowJob,
)
from stand_ins.github_jobs import MAX_MATRIX_JOBS

PAT = "ghp_test"
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2026-03-10",
           "Authorization": f"Bearer {PAT}"}  # fmt: skip


def instance_ids(count: int) -> list[str]:
    return [f"i-{n:017x}" for n in range(count)]


def instances_input(ids: list[str]) -> str:
    return json.dumps([{"instance_id": i, "asg_name": "web", "lifecycle_hook_name": "deploy",
                        "aws_region": "eu-west-1"} for i in ids])  # fmt: skip


def batch_double(**kwargs: Any) -> GitHubDouble:
    return GitHubDouble(tokens={PAT}, declared_inputs=BATCH_DECLARED_INPUTS, run_name=BATCH_RUN_NAME,
                        listing_delay=0, **kwargs)  # fmt: skip


@pytest.fixture
def github() -> Iterator[GitHubDouble]:
    with batch_double() as double:
        yield double


def dispatch(github: GitHubDouble, inputs: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{github.url}/repos/acme/app/actions/workflows/deploy.yml/dispatches",
        json={"ref": "main", "inputs": inputs},
        headers=HEADERS,
        timeout=10,
    )


def dispatch_batch(github: GitHubDouble, ids: list[str], dispatch_id: str = "b" * 32) -> int:
    answer = dispatch(github, {"dispatch_id": dispatch_id, "instances": instances_input(ids)})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["workflow_run_id"])


def list_jobs(github: GitHubDouble, run_id: int | str, **params: str | int) -> requests.Response:
    return requests.get(
        f"{github.url}/repos/acme/app/actions/runs/{run_id}/jobs", params=params, headers=HEADERS, timeout=10
    )


def listed(github: GitHubDouble, run_id: int) -> list[dict[str, Any]]:
    answer = list_jobs(github, run_id, per_page=100)
    assert answer.status_code == 200
    jobs: list[dict[str, Any]] = answer.json()["jobs"]
    return jobs


def states(github: GitHubDouble, run_id: int) -> dict[str, tuple[str, str | None]]:
    return {job["name"]: (job["status"], job["conclusion"]) for job in listed(github, run_id)}


# -- which jobs a run gets -----------------------------------------------------------------------------------


def test_a_batch_run_gets_one_queued_job_per_instance_named_by_its_instance_id(github: GitHubDouble) -> None:
    ids = instance_ids(3)
    run_id = dispatch_batch(github, ids)

    answer = list_jobs(github, run_id)

    assert answer.status_code == 200
    assert answer.json()["total_count"] == 3
    jobs = answer.json()["jobs"]
    assert [job["name"] for job in jobs] == ids  # matrix order
    assert len({job["id"] for job in jobs}) == 3
    assert all(job["id"] != run_id and job["run_id"] == run_id for job in jobs)
    first = jobs[0]
    assert (first["status"], first["conclusion"], first["completed_at"], first["runner_name"]) == (
        "queued", None, None, None)  # fmt: skip
    assert first["started_at"] == first["created_at"]  # never null in GitHub's description
    assert first["html_url"] == f"{github.url}/acme/app/actions/runs/{run_id}/job/{first['id']}"
    assert first["run_url"] == f"{github.url}/repos/acme/app/actions/runs/{run_id}"
    assert first["workflow_name"] == "Deploy"
    assert github.runs[0].display_title == f"Deploy batch ({'b' * 32})"


def test_an_ordinary_run_gets_one_job() -> None:
    with GitHubDouble(tokens={PAT}, listing_delay=0) as github:
        answer = dispatch(github, {"instance_id": "i-0abc", "dispatch_id": "d-1", "asg_name": "web",
                                   "lifecycle_hook_name": "deploy", "aws_region": "eu-west-1"})  # fmt: skip
        run_id = answer.json()["workflow_run_id"]

        assert [job["name"] for job in listed(github, run_id)] == ["deploy"]
        [job] = github.jobs(run_id)
        assert job.instance_id == "i-0abc"


def test_exactly_256_instances_make_256_jobs(github: GitHubDouble) -> None:
    run_id = dispatch_batch(github, instance_ids(MAX_MATRIX_JOBS))

    assert MAX_MATRIX_JOBS == 256
    assert list_jobs(github, run_id).json()["total_count"] == 256
    assert github.runs[0].status == "queued"


@pytest.mark.parametrize(
    ("instances", "reason"),
    [
        (instances_input(instance_ids(257)), "at most 256"),
        ("[{instance_id: i-1}", "not JSON"),
        ("[]", "non-empty array"),
        ('{"instance_id": "i-1"}', "non-empty array"),
        ('[{"instance_id": "i-1"}, {"asg_name": "web"}]', "instance_id"),
    ],
)
def test_a_matrix_github_cannot_expand_fails_the_run_at_once_with_no_jobs(
    github: GitHubDouble, instances: str, reason: str
) -> None:
    run_id = dispatch(github, {"dispatch_id": "b" * 32, "instances": instances}).json()["workflow_run_id"]

    [run] = github.runs
    assert (run.id, run.status, run.conclusion) == (run_id, "completed", "failure")
    assert list_jobs(github, run_id).json() == {"total_count": 0, "jobs": []}
    assert reason in github.startup_failures[run_id]
    github.set_run_status(run_id, status="completed", conclusion="success")  # no runner ever had it
    assert (github.runs[0].status, github.runs[0].conclusion) == ("completed", "failure")
    assert github.jobs(run_id) == []


def test_a_batch_over_65535_characters_of_inputs_is_refused_and_makes_no_run(github: GitHubDouble) -> None:
    objects = [{"instance_id": i, "asg_name": "a" * 200, "lifecycle_hook_name": "h" * 40, "aws_region": "eu-west-1"}
               for i in instance_ids(MAX_MATRIX_JOBS)]  # fmt: skip

    answer = dispatch(github, {"dispatch_id": "b" * 32, "instances": json.dumps(objects)})

    assert answer.status_code == 422
    assert "65535" in answer.json()["message"]
    assert github.runs == []


# -- how jobs move -------------------------------------------------------------------------------------------


def test_jobs_move_with_their_run_and_a_clean_run_succeeds(github: GitHubDouble) -> None:
    ids = instance_ids(2)
    run_id = dispatch_batch(github, ids)

    github.set_run_status(run_id, status="in_progress", conclusion=None)
    running = listed(github, run_id)
    github.set_run_status(run_id, status="completed", conclusion="success")
    done = listed(github, run_id)

    assert {(job["status"], job["conclusion"]) for job in running} == {("in_progress", None)}
    assert all(job["runner_name"] and job["completed_at"] is None for job in running)
    assert {(job["status"], job["conclusion"]) for job in done} == {("completed", "success")}
    assert all(job["completed_at"] for job in done)
    assert (github.runs[0].status, github.runs[0].conclusion) == ("completed", "success")


def test_a_failing_instance_fails_its_own_job_and_the_run_but_not_its_siblings() -> None:
    ids = instance_ids(3)
    with batch_double(failing_instances={ids[1]}) as github:
        run_id = dispatch_batch(github, ids)
        github.set_run_status(run_id, status="completed", conclusion="success")

        assert states(github, run_id) == {ids[0]: ("completed", "success"), ids[1]: ("completed", "failure"),
                                          ids[2]: ("completed", "success")}  # fmt: skip
        assert github.runs[0].conclusion == "failure"


def test_failing_instances_can_be_a_test_and_can_change_and_fail_an_ordinary_run_too() -> None:
    single = {"instance_id": "i-0bad", "dispatch_id": "d-1", "asg_name": "web", "lifecycle_hook_name": "",
              "aws_region": "eu-west-1"}  # fmt: skip
    with GitHubDouble(tokens={PAT}, listing_delay=0, failing_instances=lambda i: i.endswith("bad")) as github:
        first = dispatch(github, single).json()["workflow_run_id"]
        github.set_run_status(first)
        github.set_failing_instances(())
        second = dispatch(github, single).json()["workflow_run_id"]
        github.set_run_status(second)

        assert [(run.id, run.conclusion) for run in github.runs] == [(first, "failure"), (second, "success")]
        assert states(github, first) == {"deploy": ("completed", "failure")}


def test_jobs_end_one_by_one_and_the_run_follows_them(github: GitHubDouble) -> None:
    ids = instance_ids(3)
    github.set_failing_instances({ids[2]})
    run_id = dispatch_batch(github, ids)

    github.set_job_status(run_id, ids[0], status="in_progress")
    assert github.runs[0].status == "in_progress"
    github.set_job_status(run_id, ids[0])
    github.set_job_status(run_id, ids[1], conclusion="success")
    assert (github.runs[0].status, github.runs[0].conclusion) == ("in_progress", None)
    assert states(github, run_id)[ids[2]] == ("queued", None)
    github.set_job_status(run_id, ids[2])  # a failing instance: failure

    assert states(github, run_id) == {ids[0]: ("completed", "success"), ids[1]: ("completed", "success"),
                                      ids[2]: ("completed", "failure")}  # fmt: skip
    assert (github.runs[0].status, github.runs[0].conclusion) == ("completed", "failure")
    with pytest.raises(KeyError):
        github.set_job_status(run_id, "i-unknown")


def test_a_job_that_ended_keeps_its_end_when_the_run_is_finished(github: GitHubDouble) -> None:
    ids = instance_ids(2)
    run_id = dispatch_batch(github, ids)
    github.set_job_status(run_id, ids[0], conclusion="failure")

    github.set_run_status(run_id, status="completed", conclusion="success")

    assert states(github, run_id) == {ids[0]: ("completed", "failure"), ids[1]: ("completed", "success")}
    assert github.runs[0].conclusion == "failure"


def test_a_run_cancelled_or_with_a_null_status(github: GitHubDouble) -> None:
    run_id = dispatch_batch(github, instance_ids(2))

    github.set_run_status(run_id, status=None, conclusion=None)
    assert {status for status, _ in states(github, run_id).values()} == {"queued"}  # a job's status is never null
    github.set_run_status(run_id, status="completed", conclusion="cancelled")

    assert set(states(github, run_id).values()) == {("completed", "cancelled")}
    assert github.runs[0].conclusion == "cancelled"


# -- the listing ---------------------------------------------------------------------------------------------


def test_256_jobs_page_by_100_with_link_headers_each_once_in_matrix_order(github: GitHubDouble) -> None:
    ids = instance_ids(256)
    run_id = dispatch_batch(github, ids)

    seen: list[str] = []
    pages = 0
    next_url: str | None = f"{github.url}/repos/acme/app/actions/runs/{run_id}/jobs?per_page=100"
    while next_url:
        answer = requests.get(next_url, headers=HEADERS, timeout=10)
        assert answer.status_code == 200
        assert answer.json()["total_count"] == 256
        seen += [job["name"] for job in answer.json()["jobs"]]
        pages += 1
        next_url = answer.links.get("next", {}).get("url")
        if next_url:
            assert next_url.startswith(github.url)
            assert answer.links["last"]["url"].endswith("page=3")

    assert (pages, seen) == (3, ids)


def test_per_page_defaults_to_30_and_is_capped_at_100(github: GitHubDouble) -> None:
    run_id = dispatch_batch(github, instance_ids(150))

    assert len(list_jobs(github, run_id).json()["jobs"]) == 30
    assert len(list_jobs(github, run_id, per_page=500).json()["jobs"]) == 100
    assert list_jobs(github, run_id, per_page=100, page=3).json()["jobs"] == []


def test_filter_is_latest_or_all_and_nothing_else(github: GitHubDouble) -> None:
    run_id = dispatch_batch(github, instance_ids(2))

    latest, every = list_jobs(github, run_id, filter="latest"), list_jobs(github, run_id, filter="all")
    wrong = list_jobs(github, run_id, filter="newest")

    assert latest.json() == every.json() == list_jobs(github, run_id).json()  # one attempt: the same jobs
    assert wrong.status_code == 422
    assert "filter" in wrong.json()["message"]


def test_an_unknown_run_is_404(github: GitHubDouble) -> None:
    dispatch_batch(github, instance_ids(1))

    assert list_jobs(github, 1).status_code == 404
    assert list_jobs(github, "abc").status_code == 404
    assert requests.get(f"{github.url}/repos/acme/other/actions/runs/1/jobs", headers=HEADERS,
                        timeout=10).status_code == 404  # fmt: skip


def test_a_queued_run_lists_no_jobs_until_the_jobs_delay_or_its_start() -> None:
    with batch_double(jobs_delay=0.5) as github:
        waiting = dispatch_batch(github, instance_ids(2), "1" * 32)
        started = dispatch_batch(github, instance_ids(2), "2" * 32)
        github.set_job_status(started, instance_ids(2)[0], status="in_progress")

        assert list_jobs(github, waiting).json()["total_count"] == 0
        assert list_jobs(github, started).json()["total_count"] == 2
        assert len(github.jobs(waiting)) == 2  # they exist; GitHub just does not show them yet
        time.sleep(0.6)
        assert list_jobs(github, waiting).json()["total_count"] == 2
    with GitHubDouble(tokens={PAT}, listing_delay=0.25) as follows_listing_delay:
        assert follows_listing_delay.jobs_delay == 0.25


def test_the_listing_is_counted_and_rate_limited_like_every_get() -> None:
    with batch_double(rate_limits=RateLimits(primary_per_hour=3)) as github:
        run_id = dispatch_batch(github, instance_ids(1))
        answers = [list_jobs(github, run_id).status_code for _ in range(3)]

        assert answers == [200, 200, 403]
        assert github.count("GET", "/jobs") == 3
        assert [refusal.kind for refusal in github.refusals] == ["primary"]


def test_a_token_without_actions_read_cannot_list_jobs() -> None:
    token = "github_pat_noactions"
    with GitHubDouble(tokens={PAT, token}, token_permissions={token: {"actions": "none"}}) as github:
        answer = requests.get(f"{github.url}/repos/acme/app/actions/runs/1/jobs",
                              headers={**HEADERS, "Authorization": f"Bearer {token}"}, timeout=10)  # fmt: skip

    assert answer.status_code == 403


# -- what tests and the drill read ---------------------------------------------------------------------------


def test_jobs_by_instance_counts_every_job_made_for_an_instance_across_runs(github: GitHubDouble) -> None:
    ids = instance_ids(3)
    first = dispatch_batch(github, ids[:2], "1" * 32)
    second = dispatch_batch(github, ids[1:], "2" * 32)
    dispatch(github, {"dispatch_id": "3" * 32, "instances": "[]"})  # failed at startup: no job for anyone

    found = github.jobs_by_instance()

    assert {instance: [run for run, _ in jobs] for instance, jobs in found.items()} == {
        ids[0]: [first], ids[1]: [first, second], ids[2]: [second]}  # fmt: skip
    assert all(isinstance(job, WorkflowJob) and job.name == instance for instance, jobs in found.items()
               for _, job in jobs)  # fmt: skip


def test_the_batch_workflow_file_declares_the_matrix_the_double_runs(github: GitHubDouble) -> None:
    answer = requests.get(f"{github.url}/repos/acme/app/contents/.github/workflows/deploy.yml", headers=HEADERS,
                          timeout=10)  # fmt: skip
    workflow = yaml.safe_load(base64.b64decode(answer.json()["content"]))

    assert set(workflow[True]["workflow_dispatch"]["inputs"]) == {"dispatch_id", "instances"}
    assert workflow["run-name"] == BATCH_RUN_NAME
    job = workflow["jobs"]["deploy"]
    assert job["name"] == "${{ matrix.instance.instance_id }}"
    assert job["strategy"] == {"fail-fast": False, "matrix": {"instance": "${{ fromJSON(inputs.instances) }}"}}
