"""What verification is about: the trusted issuers and the verified token it yields."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any

from ..settings import TrustedIssuerSettings
from .jwks import HttpJwksSource, JwksSource


@functools.lru_cache(maxsize=1024)
def _provider_id(issuer: str) -> str:
    return re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", issuer)


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    jwks_source: JwksSource = field(compare=False)
    #: ``azp`` in ``audiences`` satisfies the audience check (MinIO/SeaweedFS; never AWS IAM).
    azp_as_audience: bool = False

    @property
    def provider_id(self) -> str:
        """The issuer without its scheme, as IAM names OIDC providers and condition keys."""
        return _provider_id(self.issuer)

    @classmethod
    def from_settings(
        cls, settings: TrustedIssuerSettings, *, timeout: float = 5.0, profile: str = "aws"
    ) -> TrustedIssuer:
        """A trusted issuer whose keys are fetched over HTTP(S), via discovery unless jwks_uri is set."""
        source = HttpJwksSource(
            settings.issuer,
            jwks_uri=settings.jwks_uri,
            ca_bundle=settings.ca_bundle,
            insecure_tls=settings.insecure_tls,
            timeout=timeout,
        )
        azp = settings.azp_as_audience if settings.azp_as_audience is not None else profile == "minio"
        return cls(settings.issuer, tuple(settings.audiences), tuple(settings.algorithms), source, azp)


@dataclass(slots=True)  # one per request: not frozen (a frozen __init__ is ~3x slower)
class VerifiedToken:
    claims: dict[str, Any]
    header: dict[str, Any]
    issuer: TrustedIssuer
    kid: str | None
    alg: str
    #: The aud (or, where allowed, azp) value that matched a configured audience, else the first aud.
    audience: str
    #: SHA-256 hex of the token: correlates audit records without storing the token.
    token_hash: str
