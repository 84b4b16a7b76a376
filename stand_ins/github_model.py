"""Snapshots the GitHub double hands to tests: workflow runs, their jobs, and the requests it received.

All are frozen: the double replaces an entry when it changes, so a list a test took earlier never moves
under its feet while the server keeps answering other threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stand_ins.github_objects import node_id, simple_commit


def iso_z(moment: datetime) -> str:
    """GitHub's timestamp format: UTC, second precision, trailing ``Z``."""
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the double received it.

    Header names are lower-cased. The Authorization value keeps only its scheme (``"Bearer <redacted>"``),
    so test output and drill reports never contain a credential. ``body`` is the JSON object sent, or None.
    ``status`` is None while the request is in flight and when the double dropped the connection.
    """

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any] | None
    received_at: float
    status: int | None = None


@dataclass(frozen=True)
class WorkflowRun:
    """A workflow run the double created.

    ``inputs`` is what the dispatch sent. It exists for test assertions only: the API never returns it, because
    real runs carry no inputs and a client must reconcile through ``display_title``.
    """

    id: int
    run_number: int
    workflow_id: int
    name: str
    display_title: str
    event: str
    #: None is what GitHub's OpenAPI description allows (``status`` is nullable); a client must not read it as done.
    status: str | None
    conclusion: str | None
    created_at: datetime
    updated_at: datetime
    head_branch: str
    head_sha: str
    path: str
    html_url: str
    url: str
    run_attempt: int = 1
    inputs: dict[str, str] = field(default_factory=dict)
    #: The repository as the run embeds it (``minimal-repository``), both as ``repository`` and ``head_repository``.
    repository: dict[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        """The run as GitHub's REST API shows it: every field its OpenAPI description requires, never the inputs."""
        repo_url = self.url.rsplit("/actions/runs/", 1)[0]
        check_suite_id = self.id + 1_000_000_000
        return {
            "id": self.id,
            "node_id": node_id("WorkflowRun", self.id),
            "name": self.name,
            "display_title": self.display_title,
            "run_number": self.run_number,
            "run_attempt": self.run_attempt,
            "event": self.event,
            "status": self.status,
            "conclusion": self.conclusion,
            "workflow_id": self.workflow_id,
            "head_branch": self.head_branch,
            "head_sha": self.head_sha,
            "path": self.path,
            "url": self.url,
            "html_url": self.html_url,
            "created_at": iso_z(self.created_at),
            "updated_at": iso_z(self.updated_at),
            "run_started_at": iso_z(self.created_at),
            "check_suite_id": check_suite_id,
            "check_suite_node_id": node_id("CheckSuite", check_suite_id),
            "jobs_url": f"{self.url}/jobs",
            "logs_url": f"{self.url}/logs",
            "check_suite_url": f"{repo_url}/check-suites/{check_suite_id}",
            "artifacts_url": f"{self.url}/artifacts",
            "cancel_url": f"{self.url}/cancel",
            "rerun_url": f"{self.url}/rerun",
            "previous_attempt_url": None,
            "workflow_url": f"{repo_url}/actions/workflows/{self.workflow_id}",
            "pull_requests": [],
            "referenced_workflows": [],
            "head_commit": simple_commit(
                sha=self.head_sha, message=f"Update {self.head_branch}", timestamp=iso_z(self.created_at)
            ),
            "repository": self.repository,
            "head_repository": self.repository,
        }


@dataclass(frozen=True)
class WorkflowJob:
    """One job of a run the double created: a batch run's matrix job for one instance, or an ordinary run's one job.

    ``instance_id`` is the instance the job deploys, for test assertions only: the API shows the job's ``name``,
    which the batch workflow sets to the instance ID. ``started_at`` is never null (GitHub's OpenAPI description
    requires it): a queued job shows when it was created, as GitHub's do.
    """

    id: int
    run_id: int
    run_attempt: int
    name: str
    instance_id: str
    status: str
    conclusion: str | None
    created_at: datetime
    started_at: datetime
    completed_at: datetime | None
    workflow_name: str
    head_branch: str
    head_sha: str
    #: The run's API URL and web URL, which the job's own URLs extend.
    run_url: str
    run_html_url: str
    #: The hosted runner, once the job has one (None while it is queued).
    runner_id: int | None = None

    def to_api(self) -> dict[str, Any]:
        """The job as ``GET .../actions/runs/{run_id}/jobs`` shows it: every field its OpenAPI description requires."""
        repo_url = self.run_url.rsplit("/actions/runs/", 1)[0]
        hosted = self.runner_id is not None
        return {
            "id": self.id,
            "run_id": self.run_id,
            "run_url": self.run_url,
            "run_attempt": self.run_attempt,
            "node_id": node_id("CheckRun", self.id),
            "head_sha": self.head_sha,
            "url": f"{repo_url}/actions/jobs/{self.id}",
            "html_url": f"{self.run_html_url}/job/{self.id}",
            "status": self.status,
            "conclusion": self.conclusion,
            "created_at": iso_z(self.created_at),
            "started_at": iso_z(self.started_at),
            "completed_at": None if self.completed_at is None else iso_z(self.completed_at),
            "name": self.name,
            "steps": [],
            "check_run_url": f"{repo_url}/check-runs/{self.id}",
            "labels": ["ubuntu-latest"],
            "runner_id": self.runner_id,
            "runner_name": f"GitHub Actions {self.runner_id}" if hosted else None,
            "runner_group_id": 0 if hosted else None,
            "runner_group_name": "GitHub Actions" if hosted else None,
            "workflow_name": self.workflow_name,
            "head_branch": self.head_branch,
        }


@dataclass(frozen=True)
class GitHubApp:
    """A GitHub App installation the double can mint installation tokens for.

    A JWT is accepted when it is signed (RS256) with the key matching ``public_key_pem`` and its ``iss`` is
    ``app_id`` or, when given, ``client_id`` (GitHub accepts either).
    """

    app_id: str
    installation_id: str
    public_key_pem: bytes
    client_id: str | None = None
