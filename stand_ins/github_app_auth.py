"""GitHub App JWT checks for the double's ``POST /app/installations/{id}/access_tokens``.

The rules are GitHub's: RS256, signed with the app's private key, ``iss`` the app ID (string or number) or its
client ID, ``iat`` and ``exp`` present, ``exp`` in the future and at most ten minutes ahead. GitHub's own example
backdates ``iat`` by 60 s against clock drift, so a lifetime (``exp - iat``) of up to 660 s is accepted.
"""

from __future__ import annotations

from typing import Any

import jwt

from stand_ins.github_model import GitHubApp

MAX_JWT_LIFETIME_SECONDS = 600
CLOCK_DRIFT_SECONDS = 60


class JwtRejected(Exception):
    """The JWT is not acceptable; the message is the one GitHub answers with (401)."""


def verify_app_jwt(token: str, app: GitHubApp, now: float) -> dict[str, Any]:
    """Return the JWT's claims if ``app`` signed it within GitHub's limits; raise :class:`JwtRejected` otherwise."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            app.public_key_pem,
            algorithms=["RS256"],
            options={"require": ["iat", "exp", "iss"]},
            leeway=CLOCK_DRIFT_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise JwtRejected(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which "
            "the assertion expires"
        ) from None
    except jwt.PyJWTError:
        raise JwtRejected("A JSON web token could not be decoded") from None
    if str(claims["iss"]) not in {app.app_id, app.client_id}:
        raise JwtRejected("A JSON web token could not be decoded")
    expires, issued = int(claims["exp"]), int(claims["iat"])
    longest = MAX_JWT_LIFETIME_SECONDS + CLOCK_DRIFT_SECONDS
    if expires - issued > longest or expires - now > longest:
        raise JwtRejected("'Expiration time' claim ('exp') is too far in the future")
    return claims
