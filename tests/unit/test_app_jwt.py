"""The GitHub App JWT, signed with rsa (deploy_trigger/app_jwt.py) and checked with what it does not use: PyJWT and
cryptography, as the GitHub double checks it (stand_ins/github_app_auth.py)."""

import time
from functools import cache

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from deploy_trigger import app_jwt
from deploy_trigger.app_jwt import PKCS1_LABEL, PKCS8_LABEL
from deploy_trigger.errors import CredentialsInvalid
from deploy_trigger.github_auth import AppCredentials
from stand_ins.github_app_auth import verify_app_jwt
from stand_ins.github_model import GitHubApp

NOW = float(int(time.time()))  # the double's check reads the real clock too
#: GitHub hands out PKCS#1 (PEM label PKCS1_LABEL); PKCS#8 (PKCS8_LABEL) is what openssl and cryptography
#: write by default.
FORMATS = {"PKCS#1": serialization.PrivateFormat.TraditionalOpenSSL, "PKCS#8": serialization.PrivateFormat.PKCS8}


@cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key_format: str) -> str:
    return _key().private_bytes(serialization.Encoding.PEM, FORMATS[key_format], serialization.NoEncryption()).decode()


def _public_pem() -> bytes:
    return _key().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("key_format", FORMATS)
def test_the_token_is_an_rs256_jwt_pyjwt_verifies_byte_for_byte(key_format: str) -> None:
    claims = {"iat": int(NOW) - 60, "exp": int(NOW) + 540, "iss": "424242"}

    token = app_jwt.encode(claims, _pem(key_format))

    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT"}
    assert jwt.decode(token, _public_pem(), algorithms=["RS256"]) == claims
    # PKCS#1 v1.5 signatures are deterministic: the same claims signed by PyJWT with cryptography give the same token.
    assert token == jwt.encode(claims, _pem(key_format), algorithm="RS256")


@pytest.mark.parametrize("key_format", FORMATS)
def test_the_app_s_claims_are_what_github_requires(key_format: str) -> None:
    credentials = AppCredentials("424242", "31337", _pem(key_format))

    token = credentials.jwt(NOW)

    claims = jwt.decode(token, _public_pem(), algorithms=["RS256"])
    assert claims == {"iat": int(NOW) - 60, "exp": int(NOW) + 540, "iss": "424242"}  # backdated 60 s, under 10 min
    app = GitHubApp(app_id="424242", installation_id="31337", public_key_pem=_public_pem())
    assert verify_app_jwt(token, app, now=NOW)["iss"] == "424242"


def _ec_pkcs8() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, FORMATS["PKCS#8"], serialization.NoEncryption()).decode()


def _corrupted_pkcs1() -> str:
    lines = _pem("PKCS#1").splitlines()
    return "\n".join([*lines[:5], "A" * 64, *lines[6:]])


def _armour(body: bytes, label: str) -> str:
    """``body`` in PEM armour, made here rather than kept in the repository as key-like text."""
    import rsa.pem

    return rsa.pem.save_pem(body, label).decode()


def _too_short_for_sha256() -> str:
    import rsa as pure_rsa

    # 256 bits: no room for SHA-256's 51-byte DigestInfo and the padding PKCS#1 v1.5 needs.
    _, private = pure_rsa.newkeys(256)
    return private.save_pkcs1().decode()


@pytest.mark.parametrize(
    "private_key",
    [
        pytest.param(_ec_pkcs8(), id="an EC key"),
        pytest.param(_armour(b"\x00\x00\x00", PKCS1_LABEL), id="a truncated PKCS#1"),
        pytest.param(_armour(b"not a key", PKCS8_LABEL), id="not DER"),
        pytest.param("the PRIVATE KEY is elsewhere", id="no PEM at all"),
        pytest.param(_corrupted_pkcs1(), id="a corrupted key body"),
        pytest.param(_too_short_for_sha256(), id="a key too short for RS256"),
    ],
)
def test_a_key_rsa_cannot_sign_with_is_a_credentials_error_that_never_shows_the_key(private_key: str) -> None:
    with pytest.raises(CredentialsInvalid, match="not a valid RSA key") as raised:
        AppCredentials("424242", "31337", private_key).jwt(NOW)

    assert private_key.strip().splitlines()[-1] not in str(raised.value)
