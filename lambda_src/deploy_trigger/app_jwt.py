"""The GitHub App's JWT: RS256 (RFC 7518, section 3.3: RSASSA-PKCS1-v1_5 with SHA-256) over the compact JWS of
RFC 7515, signed with the pure-Python ``rsa`` package.

PyJWT needs ``cryptography`` for RS256, and ``cryptography`` was 14 MB of the Lambda's 22 MB bundle, for one
signature an hour at most (an installation token lasts one hour). ``rsa`` is 0.1 MB (with ``pyasn1``, which it
reads keys with, 0.5 MB), signs with RSA blinding, and does exactly PKCS#1 v1.5 signatures, which is all RS256 is;
the rest of a JWT is two base64url-encoded JSON objects. The GitHub double checks these tokens with PyJWT and
``cryptography`` (stand_ins/github_app_auth.py), a signer this module does not share.

GitHub hands out App private keys as PKCS#1 PEM (PEM label ``RSA PRIVATE KEY``); PKCS#8 (label ``PRIVATE KEY``, what
``openssl pkcs8 -topk8`` or ``cryptography`` write) is unwrapped to the same key.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from typing import Any

#: RFC 8017, appendix A.1: the AlgorithmIdentifier of an RSA key in a PKCS#8 PrivateKeyInfo.
RSA_ENCRYPTION_OID = "1.2.840.113549.1.1.1"
_HEADER = {"alg": "RS256", "typ": "JWT"}


class InvalidKey(ValueError):
    """The PEM is not an RSA private key (the message never includes the key)."""


def encode(claims: Mapping[str, Any], private_key_pem: str) -> str:
    """The compact JWS ``header.claims.signature`` of ``claims``, signed RS256 with the key."""
    import rsa  # deferred: only App credentials sign, about once an hour

    key = load_private_key(private_key_pem)
    signing_input = f"{_segment(_json(_HEADER))}.{_segment(_json(claims))}".encode("ascii")
    try:
        signature = rsa.sign(signing_input, key, "SHA-256")
    except OverflowError:  # a key too short to hold a SHA-256 DigestInfo
        raise InvalidKey("the RSA key is too short for RS256") from None
    return f"{signing_input.decode('ascii')}.{_segment(signature)}"


#: The PEM labels (RFC 7468) of an RSA private key as GitHub issues it (PKCS#1) and re-encoded as PKCS#8.
PKCS1_LABEL = "RSA PRIVATE KEY"
PKCS8_LABEL = "PRIVATE KEY"


def _armoured(data: bytes, label: str) -> bool:
    return f"-----BEGIN {label}-----".encode("ascii") in data


def load_private_key(pem: str) -> Any:
    """An ``rsa.PrivateKey`` from PKCS#1 or PKCS#8 PEM; :class:`InvalidKey` for anything else."""
    import rsa
    import rsa.pem
    from pyasn1.codec.der import decoder
    from pyasn1.error import PyAsn1Error

    data = pem.strip().encode("ascii", "replace")
    try:
        if _armoured(data, PKCS1_LABEL):
            key = rsa.PrivateKey.load_pkcs1(data, format="PEM")
        elif _armoured(data, PKCS8_LABEL):
            # PrivateKeyInfo ::= SEQUENCE { version, AlgorithmIdentifier, OCTET STRING (the PKCS#1 key), ... }
            # (RFC 5208, section 5).
            info, _ = decoder.decode(rsa.pem.load_pem(data, PKCS8_LABEL))
            if str(info[1][0]) != RSA_ENCRYPTION_OID:
                raise InvalidKey("the PKCS#8 key is not an RSA key")
            key = rsa.PrivateKey.load_pkcs1(bytes(info[2]), format="DER")
        else:
            raise InvalidKey(f"expected a PEM '{PKCS1_LABEL}' (PKCS#1) or '{PKCS8_LABEL}' (PKCS#8)")
    except InvalidKey:
        raise
    except (ValueError, TypeError, IndexError, KeyError, PyAsn1Error):
        raise InvalidKey("the PEM does not hold a readable RSA private key") from None
    if not _consistent(key):
        raise InvalidKey("the RSA private key's numbers do not belong together")
    return key


def _consistent(key: Any) -> bool:
    """rsa signs with whatever numbers the key holds (cryptography checks them on load): a damaged key would sign
    tokens GitHub refuses, so its parts are checked against each other (RFC 8017, section 3.2), a few
    multiplications once per signature."""
    p, q = key.p, key.q
    return bool(
        p * q == key.n
        and key.e * key.d % math.lcm(p - 1, q - 1) == 1
        and key.exp1 == key.d % (p - 1)
        and key.exp2 == key.d % (q - 1)
        and key.coef * q % p == 1
    )


def _json(value: Mapping[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _segment(data: bytes) -> str:
    """base64url without padding (RFC 7515, section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")
