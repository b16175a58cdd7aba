"""Web-identity token verification against trusted issuers' JWKS.

* :mod:`.checks` – :data:`CHECKS`, the named checks in order (``token-size`` … ``sub``), one function each;
* :mod:`.jwks` – key sources (in-process, HTTP(S) with discovery) and the bounded, rate-limited cache;
* :mod:`.model` – :class:`TrustedIssuer` and :class:`VerifiedToken`;
* :mod:`.verifier` – :class:`TokenVerifier`, which runs the checks.

Signatures are verified with joserfc using an explicit per-algorithm registry.
"""

from __future__ import annotations

from .checks import CHECKS, Check, TokenUnderTest
from .jwks import (
    MAX_CACHED_ISSUERS,
    MAX_JWKS_BYTES,
    HttpJwksSource,
    IdpUnreachable,
    JwksCache,
    JwksSource,
    StaticJwksSource,
)
from .model import TrustedIssuer, VerifiedToken
from .verifier import TokenVerifier

__all__ = [
    "CHECKS",
    "MAX_CACHED_ISSUERS",
    "MAX_JWKS_BYTES",
    "Check",
    "HttpJwksSource",
    "IdpUnreachable",
    "JwksCache",
    "JwksSource",
    "StaticJwksSource",
    "TokenUnderTest",
    "TokenVerifier",
    "TrustedIssuer",
    "VerifiedToken",
]
