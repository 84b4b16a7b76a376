"""Read-only repository answers of the GitHub double: the repository, a workflow, a file, a branch, a git ref.

These are what a configuration check (``deploy-trigger doctor``) reads before any dispatch happens. Bodies carry
the fields GitHub documents for each endpoint that a client is likely to read; pure functions, no HTTP.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

#: What ``GET /repos/{owner}/{repo}`` shows a user token whose owner may push (GitHub's ``permissions`` object).
DEFAULT_REPOSITORY_PERMISSIONS: Mapping[str, bool] = {
    "admin": False,
    "maintain": False,
    "push": True,
    "triage": True,
    "pull": True,
}
#: Scopes a classic token has when a test names none: ``repo`` is what workflow_dispatch requires.
DEFAULT_TOKEN_SCOPES = ("repo",)
#: Fine-grained personal access tokens carry this prefix; GitHub sends them no ``X-OAuth-Scopes`` header.
FINE_GRAINED_PREFIX = "github_pat_"
#: GitHub wraps base64 file content at 60 characters per line.
_BASE64_LINE = 60


def commit_sha(ref: str) -> str:
    """A stable, commit-shaped SHA for a ref (the double has no commits; the runs use the same value)."""
    return hashlib.sha256(ref.encode()).hexdigest()[:40]


def repository_answer(
    *,
    api_url: str,
    origin: str,
    full_name: str,
    default_branch: str,
    private: bool,
    permissions: Mapping[str, bool] | None,
) -> dict[str, Any]:
    owner, name = full_name.split("/", 1)
    answer: dict[str, Any] = {
        "id": int(hashlib.sha256(full_name.encode()).hexdigest()[:8], 16),
        "name": name,
        "full_name": full_name,
        "owner": {"login": owner},
        "private": private,
        "visibility": "private" if private else "public",
        "default_branch": default_branch,
        "html_url": f"{origin}/{full_name}",
        "url": f"{api_url}/repos/{full_name}",
    }
    if permissions is not None:
        answer["permissions"] = dict(permissions)
    return answer


def workflow_answer(
    *, api_url: str, origin: str, full_name: str, workflow_id: int, name: str, file_name: str, state: str
) -> dict[str, Any]:
    path = f".github/workflows/{file_name}"
    return {
        "id": workflow_id,
        "node_id": f"W_{workflow_id}",
        "name": name,
        "path": path,
        "state": state,
        "created_at": "2026-01-05T10:00:00.000Z",
        "updated_at": "2026-01-05T10:00:00.000Z",
        "url": f"{api_url}/repos/{full_name}/actions/workflows/{workflow_id}",
        "html_url": f"{origin}/{full_name}/blob/HEAD/{path}",
        "badge_url": f"{origin}/{full_name}/workflows/{name}/badge.svg",
    }


def contents_answer(*, api_url: str, full_name: str, path: str, ref: str, text: str) -> dict[str, Any]:
    raw = text.encode()
    encoded = base64.b64encode(raw).decode()
    wrapped = "\n".join(encoded[i : i + _BASE64_LINE] for i in range(0, len(encoded), _BASE64_LINE)) + "\n"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(raw),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": wrapped,
        "sha": hashlib.sha1(raw, usedforsecurity=False).hexdigest(),
        "url": f"{api_url}/repos/{full_name}/contents/{path}?ref={ref}",
    }


def branch_answer(*, api_url: str, full_name: str, branch: str) -> dict[str, Any]:
    sha = commit_sha(branch)
    return {
        "name": branch,
        "commit": {"sha": sha, "url": f"{api_url}/repos/{full_name}/commits/{sha}"},
        "protected": False,
    }


def git_ref_answer(*, api_url: str, full_name: str, kind: str, name: str) -> dict[str, Any]:
    """``kind`` is ``heads`` or ``tags``."""
    sha = commit_sha(name)
    return {
        "ref": f"refs/{kind}/{name}",
        "url": f"{api_url}/repos/{full_name}/git/refs/{kind}/{name}",
        "object": {"sha": sha, "type": "commit", "url": f"{api_url}/repos/{full_name}/git/commits/{sha}"},
    }
