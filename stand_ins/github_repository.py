"""Read-only repository answers of the GitHub double: the repository, a workflow, a file, a branch, a git ref.

These are what a configuration check (``deploy-trigger doctor``) reads before any dispatch happens. Bodies carry
the fields GitHub documents for each endpoint that a client is likely to read; pure functions, no HTTP.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from stand_ins.github_objects import commit, full_repository, node_id, stable_id

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
    answer = full_repository(
        api_url=api_url, origin=origin, full_name=full_name, default_branch=default_branch, private=private
    )
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


def contents_answer(*, api_url: str, origin: str, full_name: str, path: str, ref: str, text: str) -> dict[str, Any]:
    raw = text.encode()
    encoded = base64.b64encode(raw).decode()
    wrapped = "\n".join(encoded[i : i + _BASE64_LINE] for i in range(0, len(encoded), _BASE64_LINE)) + "\n"
    sha = hashlib.sha1(raw, usedforsecurity=False).hexdigest()
    url = f"{api_url}/repos/{full_name}/contents/{path}?ref={ref}"
    git_url = f"{api_url}/repos/{full_name}/git/blobs/{sha}"
    html_url = f"{origin}/{full_name}/blob/{ref}/{path}"
    return {
        "type": "file",
        "encoding": "base64",
        "size": len(raw),
        "name": path.rsplit("/", 1)[-1],
        "path": path,
        "content": wrapped,
        "sha": sha,
        "url": url,
        "git_url": git_url,
        "html_url": html_url,
        "download_url": f"{origin}/{full_name}/raw/{ref}/{path}",
        "_links": {"self": url, "git": git_url, "html": html_url},
    }


def branch_answer(*, api_url: str, origin: str, full_name: str, branch: str) -> dict[str, Any]:
    """``GET .../branches/{branch}`` (``branch-with-protection``) for an unprotected branch."""
    sha = commit_sha(branch)
    url = f"{api_url}/repos/{full_name}/branches/{branch}"
    return {
        "name": branch,
        "commit": commit(api_url=api_url, origin=origin, full_name=full_name, sha=sha, message=f"Update {branch}"),
        "_links": {"self": url, "html": f"{origin}/{full_name}/tree/{branch}"},
        "protected": False,
        "protection": {
            "enabled": False,
            "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []},
        },
        "protection_url": f"{url}/protection",
    }


def git_ref_answer(*, api_url: str, full_name: str, kind: str, name: str) -> dict[str, Any]:
    """``kind`` is ``heads`` or ``tags``."""
    sha = commit_sha(name)
    return {
        "ref": f"refs/{kind}/{name}",
        "node_id": node_id("Ref", stable_id(f"{full_name}:refs/{kind}/{name}")),
        "url": f"{api_url}/repos/{full_name}/git/refs/{kind}/{name}",
        "object": {"sha": sha, "type": "commit", "url": f"{api_url}/repos/{full_name}/git/commits/{sha}"},
    }
