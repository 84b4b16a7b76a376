"""GitHub credentials from Secrets Manager: a personal access token or a GitHub App installation.

The secret holds either the token itself (plain string, or JSON ``{"token": "..."}``) or App credentials
(JSON ``{"app_id", "installation_id", "private_key"}``). The secret is read with the container's Secrets Manager
client (:class:`SecretReader`) and cached for :data:`SECRET_MAX_AGE_SECONDS`, so a warm container does not read it
per event; an App's
installation token is cached until shortly before it expires. No token or key ever reaches a log line or
an exception message: errors name the secret, never its content.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deploy_trigger.errors import CredentialsInvalid

SECRET_MAX_AGE_SECONDS = 300
#: An installation token is replaced this long before GitHub says it expires (they last one hour).
TOKEN_REFRESH_MARGIN_SECONDS = 300
#: GitHub accepts App JWTs at most 10 minutes long; iat is backdated for clock drift, as GitHub advises.
_JWT_BACKDATE_SECONDS = 60
_JWT_LIFETIME_SECONDS = 540


@dataclass(frozen=True, repr=False)
class PersonalAccessToken:
    token: str

    def __repr__(self) -> str:
        return "PersonalAccessToken(<redacted>)"


@dataclass(frozen=True, repr=False)
class AppCredentials:
    app_id: str
    installation_id: str
    private_key: str

    def __repr__(self) -> str:
        return f"AppCredentials(app_id={self.app_id!r}, installation_id={self.installation_id!r}, <key redacted>)"

    def jwt(self, now: float) -> str:
        """The RS256 JWT that authenticates the App when it asks for an installation token."""
        from deploy_trigger import app_jwt  # deferred: only App credentials sign

        payload = {
            "iat": int(now) - _JWT_BACKDATE_SECONDS,
            "exp": int(now) + _JWT_LIFETIME_SECONDS,
            "iss": self.app_id,
        }
        try:
            return app_jwt.encode(payload, self.private_key)
        except app_jwt.InvalidKey:
            raise CredentialsInvalid(
                "the GitHub App private_key in the credentials secret is not a valid RSA key"
            ) from None


Credentials = PersonalAccessToken | AppCredentials


def parse_credentials(secret_value: str, secret_name: str) -> Credentials:
    """Read the secret's value; the error message names the secret and the expected shapes, never the value."""
    value = secret_value.strip()
    try:
        parsed: Any = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    if isinstance(parsed, str) and parsed.strip():
        return PersonalAccessToken(parsed.strip())
    if isinstance(parsed, dict):
        token = parsed.get("token")
        if isinstance(token, str) and token.strip():
            return PersonalAccessToken(token.strip())
        app_id, installation_id, key = (parsed.get(k) for k in ("app_id", "installation_id", "private_key"))
        if app_id and installation_id and isinstance(key, str) and "PRIVATE KEY" in key:
            return AppCredentials(str(app_id), str(installation_id), key)
    raise CredentialsInvalid(
        f'secret {secret_name!r} must hold a token (plain, or JSON {{"token": ...}}) or GitHub App credentials '
        '(JSON {"app_id", "installation_id", "private_key"})'
    )


@dataclass
class InstallationToken:
    token: str
    expires_at: float

    def fresh(self, now: float) -> bool:
        return now < self.expires_at - TOKEN_REFRESH_MARGIN_SECONDS


class SecretCredentials:
    """Reads and caches the credentials secret lazily: duplicate events never pay for it."""

    def __init__(self, secret_name: str, read_secret: Callable[[str, int], str] | None = None) -> None:
        self.secret_name = secret_name
        self._read_secret = read_secret or SecretReader(_default_secretsmanager_client)

    def get(self) -> Credentials:
        return parse_credentials(self._read_secret(self.secret_name, SECRET_MAX_AGE_SECONDS), self.secret_name)


class SecretReader:
    """Reads a secret with a Secrets Manager client built on first use, and keeps its value ``max_age`` seconds.

    Powertools Parameters did this before, but its provider builds a session of its own, and a session's first
    client loads botocore's endpoint and service data again: that client took 34 ms of a cold container's first
    answer, where one more client of the session the ledger's client already loaded takes 4 ms (bench/cold_path.py).
    """

    def __init__(self, client_source: Callable[[], Any], clock: Callable[[], float] = time.monotonic) -> None:
        self._client_source = client_source
        self._clock = clock
        self._values: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()  # the tracker's threads share one reader

    def __call__(self, secret_name: str, max_age: int) -> str:
        now = self._clock()
        with self._lock:
            cached = self._values.get(secret_name)
        if cached is not None and now - cached[0] < max_age:
            return cached[1]
        value = self._client_source().get_secret_value(SecretId=secret_name).get("SecretString")
        if not isinstance(value, str):
            raise CredentialsInvalid(f"secret {secret_name!r} must be a SecretString")
        with self._lock:
            self._values[secret_name] = (now, value)
        return value


def _default_secretsmanager_client() -> Any:
    import botocore.session  # deferred: the client is built on the first read, not when this module is imported

    return botocore.session.get_session().create_client("secretsmanager")


@dataclass
class TokenCache:
    """The installation token for the current App credentials, shared by the threads of one container."""

    token: InstallationToken | None = None
    owner: AppCredentials | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def valid_for(self, credentials: AppCredentials, now: float) -> str | None:
        with self.lock:
            if self.token and self.owner == credentials and self.token.fresh(now):
                return self.token.token
            return None

    def store(self, credentials: AppCredentials, token: str, expires_at: str) -> None:
        with self.lock:
            self.owner = credentials
            self.token = InstallationToken(token, _epoch(expires_at))

    def invalidate(self) -> None:
        with self.lock:
            self.token = None


def _epoch(iso: str) -> float:
    try:
        return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        # An unreadable expiry is treated as "expires soon": the token is used once and then replaced.
        return time.time() + TOKEN_REFRESH_MARGIN_SECONDS
