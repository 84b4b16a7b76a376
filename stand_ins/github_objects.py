"""The nested objects GitHub embeds in its answers (a user, a repository, a commit), with every field its OpenAPI
description requires, so a client that reads ``head_commit``, ``repository`` or ``owner`` meets what GitHub sends.

Values are realistic but made up: URLs follow GitHub's templates for the double's own origin, IDs and node IDs are
stable functions of the names, timestamps are fixed. Pure functions, no HTTP.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

#: When the double's repository and its owner were created, and when it was last pushed to: fixed, like a real one.
CREATED_AT = "2025-03-14T09:26:53Z"
PUSHED_AT = "2026-01-05T10:00:00Z"
#: The author of every commit the double shows (it has no commits of its own).
COMMITTER = {"name": "Deploy Bot", "email": "deploy-bot@example.com"}
BOT_LOGIN = "deploy-bot"


def stable_id(text: str) -> int:
    """A positive 32-bit ID that is the same for the same name on every run."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def node_id(kind: str, number: int) -> str:
    """GitHub's legacy global node ID shape: base64 of ``<len>:<Type><id>``."""
    return base64.b64encode(f"0{len(kind)}:{kind}{number}".encode()).decode()


def simple_user(*, api_url: str, origin: str, login: str, kind: str = "Organization") -> dict[str, Any]:
    user_id = stable_id(login)
    user = f"{api_url}/users/{login}"
    return {
        "login": login,
        "id": user_id,
        "node_id": node_id(kind, user_id),
        "avatar_url": f"{origin}/avatars/u/{user_id}?v=4",
        "gravatar_id": "",
        "url": user,
        "html_url": f"{origin}/{login}",
        "followers_url": f"{user}/followers",
        "following_url": f"{user}/following{{/other_user}}",
        "gists_url": f"{user}/gists{{/gist_id}}",
        "starred_url": f"{user}/starred{{/owner}}{{/repo}}",
        "subscriptions_url": f"{user}/subscriptions",
        "organizations_url": f"{user}/orgs",
        "repos_url": f"{user}/repos",
        "events_url": f"{user}/events{{/privacy}}",
        "received_events_url": f"{user}/received_events",
        "type": kind,
        "user_view_type": "public",
        "site_admin": False,
    }


def minimal_repository(*, api_url: str, origin: str, full_name: str, private: bool) -> dict[str, Any]:
    """The repository as a workflow run embeds it (``minimal-repository``)."""
    owner, name = full_name.split("/", 1)
    repo_id = stable_id(full_name)
    repo = f"{api_url}/repos/{full_name}"
    templated = {
        "archive_url": "{archive_format}{/ref}",
        "assignees_url": "assignees{/user}",
        "blobs_url": "git/blobs{/sha}",
        "branches_url": "branches{/branch}",
        "collaborators_url": "collaborators{/collaborator}",
        "comments_url": "comments{/number}",
        "commits_url": "commits{/sha}",
        "compare_url": "compare/{base}...{head}",
        "contents_url": "contents/{+path}",
        "git_commits_url": "git/commits{/sha}",
        "git_refs_url": "git/refs{/sha}",
        "git_tags_url": "git/tags{/sha}",
        "issue_comment_url": "issues/comments{/number}",
        "issue_events_url": "issues/events{/number}",
        "issues_url": "issues{/number}",
        "keys_url": "keys{/key_id}",
        "labels_url": "labels{/name}",
        "milestones_url": "milestones{/number}",
        "notifications_url": "notifications{?since,all,participating}",
        "pulls_url": "pulls{/number}",
        "releases_url": "releases{/id}",
        "statuses_url": "statuses/{sha}",
        "trees_url": "git/trees{/sha}",
    }
    plain = ["contributors", "deployments", "downloads", "events", "forks", "hooks", "languages", "merges",
             "stargazers", "subscribers", "subscription", "tags", "teams"]  # fmt: skip
    answer: dict[str, Any] = {
        "id": repo_id,
        "node_id": node_id("Repository", repo_id),
        "name": name,
        "full_name": full_name,
        "owner": simple_user(api_url=api_url, origin=origin, login=owner),
        "private": private,
        "html_url": f"{origin}/{full_name}",
        "description": "The application deploy-trigger deploys",
        "fork": False,
        "url": repo,
    }
    answer.update({key: f"{repo}/{suffix}" for key, suffix in templated.items()})
    answer.update({f"{key}_url": f"{repo}/{key}" for key in plain})
    return answer


def full_repository(*, api_url: str, origin: str, full_name: str, default_branch: str, private: bool) -> dict[str, Any]:
    """``GET /repos/{owner}/{repo}`` (``full-repository``), without the token-dependent ``permissions``."""
    host = origin.split("://", 1)[-1]
    answer = minimal_repository(api_url=api_url, origin=origin, full_name=full_name, private=private)
    answer.update(
        {
            "visibility": "private" if private else "public",
            "default_branch": default_branch,
            "clone_url": f"{origin}/{full_name}.git",
            "git_url": f"git://{host}/{full_name}.git",
            "ssh_url": f"git@{host}:{full_name}.git",
            "svn_url": f"{origin}/{full_name}",
            "mirror_url": None,
            "homepage": None,
            "language": "Python",
            "license": None,
            "archived": False,
            "disabled": False,
            "is_template": False,
            "has_issues": True,
            "has_projects": False,
            "has_wiki": False,
            "has_pages": False,
            "has_discussions": False,
            "has_downloads": True,
            "allow_forking": False,
            "web_commit_signoff_required": False,
            "topics": [],
            "forks": 0,
            "forks_count": 0,
            "open_issues": 0,
            "open_issues_count": 0,
            "stargazers_count": 0,
            "watchers": 0,
            "watchers_count": 0,
            "subscribers_count": 1,
            "network_count": 0,
            "size": 412,
            "created_at": CREATED_AT,
            "updated_at": PUSHED_AT,
            "pushed_at": PUSHED_AT,
        }
    )
    return answer


def simple_commit(*, sha: str, message: str, timestamp: str) -> dict[str, Any]:
    """A run's ``head_commit`` (``simple-commit``)."""
    return {
        "id": sha,
        "tree_id": hashlib.sha1(sha.encode(), usedforsecurity=False).hexdigest(),
        "message": message,
        "timestamp": timestamp,
        "author": dict(COMMITTER),
        "committer": dict(COMMITTER),
    }


def commit(*, api_url: str, origin: str, full_name: str, sha: str, message: str) -> dict[str, Any]:
    """A branch's ``commit`` (``commit``), authored and committed by the deploy bot's GitHub account."""
    parent = hashlib.sha1(f"parent of {sha}".encode(), usedforsecurity=False).hexdigest()
    tree = hashlib.sha1(sha.encode(), usedforsecurity=False).hexdigest()
    repo = f"{api_url}/repos/{full_name}"
    signature = {**COMMITTER, "date": PUSHED_AT}
    return {
        "sha": sha,
        "node_id": node_id("Commit", stable_id(sha)),
        "url": f"{repo}/commits/{sha}",
        "html_url": f"{origin}/{full_name}/commit/{sha}",
        "comments_url": f"{repo}/commits/{sha}/comments",
        "commit": {
            "url": f"{repo}/git/commits/{sha}",
            "author": signature,
            "committer": signature,
            "message": message,
            "comment_count": 0,
            "tree": {"sha": tree, "url": f"{repo}/git/trees/{tree}"},
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        },
        "author": simple_user(api_url=api_url, origin=origin, login=BOT_LOGIN, kind="User"),
        "committer": simple_user(api_url=api_url, origin=origin, login=BOT_LOGIN, kind="User"),
        "parents": [
            {"sha": parent, "url": f"{repo}/commits/{parent}", "html_url": f"{origin}/{full_name}/commit/{parent}"}
        ],
    }
