"""Key-id formats of real IdPs (fact sheet §0), computed from a freshly generated key.

A relying party should treat ``kid`` as opaque, but some parse or log it, and a trust test that
copies a real JWKS into a fixture notices the shape; so each persona gets its IdP's format.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Callable
from typing import Any, Literal

from cryptography.hazmat.primitives import serialization

from issuer.presets.base import b64url

KidFormat = Literal["thumbprint", "spki-sha256", "hex40", "uuid", "x5t", "authelia"]
KID_FORMATS: tuple[str, ...] = ("thumbprint", "spki-sha256", "hex40", "uuid", "x5t", "authelia")


def _spki_sha256(key: Any, cert_der: bytes, alg: str) -> str:
    """Keycloak ``KeyUtils.createKeyId`` and Kubernetes ``keyIDFromPublicKey``: base64url SHA-256 of the DER SPKI."""
    der = key.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return b64url(hashlib.sha256(der).digest())


def _authelia(key: Any, cert_der: bytes, alg: str) -> str:
    """Authelia's computed ``key_id`` when none is configured: 7 hex chars of the JWK SHA-256 thumbprint, ``-``, alg."""
    raw = key.thumbprint()  # base64url of the RFC 7638 SHA-256 thumbprint
    digest = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    return f"{digest.hex()[:7]}-{alg.lower()}"


_FORMATS: dict[str, Callable[[Any, bytes, str], str]] = {
    "thumbprint": lambda key, cert_der, alg: str(key.thumbprint()),  # RFC 7638 (stsmock, GitLab's json-jwt)
    "spki-sha256": _spki_sha256,
    "hex40": lambda key, cert_der, alg: secrets.token_hex(20),  # Dex (20 random bytes), Google
    "uuid": lambda key, cert_der, alg: str(uuid.uuid4()),  # GitHub Actions (2025-26 keys)
    "x5t": lambda key, cert_der, alg: b64url(hashlib.sha1(cert_der).digest()),  # noqa: S324 - Entra: cert thumbprint
    "authelia": _authelia,
}


def make_kid(kid_format: str, key: Any, cert_der: bytes, alg: str) -> str:
    """The kid for ``key`` (a joserfc key) in ``kid_format``; ValueError for an unknown format."""
    try:
        return _FORMATS[kid_format](key, cert_der, alg)
    except KeyError:
        raise ValueError(f"unknown kid format {kid_format!r}") from None
