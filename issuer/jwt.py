"""Sign and verify this issuer's JWTs (thin wrapper over joserfc).

Verification is deliberately strict: the ``kid`` must name a published key and
the header ``alg`` must equal that key's algorithm (no alg confusion).
"""

from __future__ import annotations

import base64
import binascii
import warnings
from typing import Any

from joserfc import jwt as jose_jwt
from joserfc.errors import JoseError

from boundedjson import JsonLimitError, loads_bounded
from issuer.keys import KeyManager

MAX_TOKEN_LENGTH = 16_384


def sign(keys: KeyManager, claims: dict[str, Any], *, alg: str, typ: str | None = "JWT") -> str:
    """Compact JWS; ``typ`` None writes no typ header (Dex); the key manager may add ``x5t``."""
    kid, key = keys.signing_key(alg)
    header = {"alg": alg, "typ": typ, "kid": kid} if typ else {"alg": alg, "kid": kid}
    header.update(keys.header_extras(kid))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # joserfc flags EdDSA as deprecated (RFC 9864); we still serve it
        return jose_jwt.encode(header, claims, key, algorithms=[alg], default_type=None)


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims without checking anything (routing decisions only)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise ValueError("not a compact JWS")
    head, body, _ = token.split(".")
    try:
        header = loads_bounded(_unb64(head), max_bytes=MAX_TOKEN_LENGTH, what="JWT header")
        claims = loads_bounded(_unb64(body), max_bytes=MAX_TOKEN_LENGTH, what="JWT payload")
    except JsonLimitError as exc:
        raise ValueError(f"malformed JWT: {exc}") from exc
    except (ValueError, binascii.Error) as exc:
        raise ValueError("malformed JWT") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("malformed JWT")
    return header, claims


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verify(
    keys: KeyManager, token: str, *, now: float, check_exp: bool = True, leeway: int = 0, typ: str | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify signature (and expiry unless ``check_exp`` is False); raise ValueError(reason)."""
    header, _ = unverified(token)
    kid = header.get("kid")
    found = keys.verification_key(kid) if isinstance(kid, str) else None
    if found is None:
        raise ValueError("unknown or unpublished kid")
    alg, key = found
    if header.get("alg") != alg:
        raise ValueError("alg does not match the key")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            decoded = jose_jwt.decode(token, key, algorithms=[alg])
    except (JoseError, ValueError, TypeError) as exc:
        raise ValueError("bad signature") from exc
    claims = decoded.claims
    if typ is not None and str(header.get("typ", "")).lower() not in (typ, f"application/{typ}"):
        raise ValueError(f"typ is not {typ}")
    if check_exp:
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp + leeway <= now:
            raise ValueError("token expired")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf - leeway > now:
            raise ValueError("token not yet valid")
    return dict(decoded.header), dict(claims)
