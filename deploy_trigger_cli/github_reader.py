"""Read-only GitHub calls for ``doctor``: what the repository, the workflow and the token look like.

The same headers as the dispatcher's client (API version from the settings, a User-Agent, a Bearer token) so
GitHub judges these requests as it judges the dispatcher's. No POST other than minting an App installation token,
no retries, short timeouts: a check that hangs helps no one. The token goes into the Authorization header only,
never into a message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from deploy_trigger.github_client import no_retry_session

USER_AGENT = "deploy-trigger-cli/0.1.0"
_TIMEOUT = (3.05, 15.0)


class GitHubUnreachable(Exception):
    """No answer at all (connection refused, DNS, TLS, timeout); the message names the API URL, not the token."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str:
        if isinstance(self.body, Mapping):
            return str(self.body.get("message") or "")[:300]
        return ""

    @property
    def summary(self) -> str:
        """``HTTP 404: Not Found``, for a reason line."""
        return f"HTTP {self.status}" + (f": {self.message}" if self.message else "")


class GitHubReader:
    def __init__(self, api_url: str, api_version: str, session: requests.Session | None = None) -> None:
        self.api_url = api_url.rstrip("/")
        self._api_version = api_version
        self._session = session or no_retry_session()

    def close(self) -> None:
        self._session.close()

    def get(self, path: str, token: str | None, params: Mapping[str, str | int] | None = None) -> Answer:
        """``token=None`` sends no credentials (``GET /meta`` needs none)."""
        return self._call("GET", path, token, params)

    def post(self, path: str, token: str) -> Answer:
        return self._call("POST", path, token, None)

    def _call(self, method: str, path: str, token: str | None, params: Mapping[str, str | int] | None) -> Answer:
        headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": self._api_version,
            "User-Agent": USER_AGENT,
        }
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            response = self._session.request(
                method, f"{self.api_url}{path}", headers=headers, params=params, timeout=_TIMEOUT
            )
        except requests.RequestException as error:
            raise GitHubUnreachable(f"could not reach GitHub at {self.api_url} ({type(error).__name__})") from None
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        return Answer(response.status_code, body, response.headers)
