"""Wire the STS plane: trusted issuers (built-in and external), codec, extensions.

The built-in issuers are trusted exactly like external ones — through a JWKS
document — only the transport differs: their JWKS is handed over in-process
instead of fetched over HTTP.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from issuer.settings import IssuerSettings
from stsproxy.credentials import SessionTokenCodec
from stsproxy.service import StsExtensions, StsService
from stsproxy.settings import BrokerSettings, StsSettings
from stsproxy.upstream import UpstreamForwarder
from stsproxy.verify import StaticJwksSource, TokenVerifier, TrustedIssuer

from . import breakglass as _breakglass
from . import datadir
from . import faults as _faults

if TYPE_CHECKING:
    from .app import Runtime

BUILTIN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


def builtin_audiences(settings: IssuerSettings) -> tuple[str, ...]:
    """IAM's ClientIDList for a built-in issuer: every client id and client audience."""
    out: list[str] = []
    for client in settings.clients:
        out.append(client.client_id)
        audience = client.audience
        out.extend([audience] if isinstance(audience, str) else audience or [])
    return tuple(dict.fromkeys(out))


def trusted_issuers(runtime: Runtime, settings: StsSettings) -> list[TrustedIssuer]:
    out: list[TrustedIssuer] = []
    for name, service in runtime.issuers.items():
        out.append(
            TrustedIssuer(
                issuer=runtime.issuer_url(name),
                audiences=builtin_audiences(service.settings),
                algorithms=tuple(service.settings.algorithms) or BUILTIN_ALGORITHMS,
                jwks_source=StaticJwksSource(service.jwks),
            )
        )
    timeout = settings.validation.fetch_timeout_seconds
    for external in settings.trusted_issuers:
        out.append(TrustedIssuer.from_settings(external, timeout=timeout))
    return out


def upstream_forwarder(runtime: Runtime, settings: StsSettings) -> UpstreamForwarder | None:
    """The upstream forwarder, only when upstreams are configured; broker tokens come from built-in issuers."""
    if not settings.upstreams:
        return None

    def mint_broker_token(broker: BrokerSettings, claims: dict[str, Any], role: Any) -> str:
        issuer = runtime.issuers.get(broker.issuer)
        if issuer is None:
            raise KeyError(f"broker issuer {broker.issuer!r} is not a built-in issuer")
        return str(issuer.mint(claims, ttl=broker.ttl_seconds, client_id=broker.audience))

    forwarder = UpstreamForwarder(
        {u.name: u for u in settings.upstreams},
        mint_broker_token=mint_broker_token,
        clock=runtime.clock,
        audit=runtime.audit,
    )
    # best-effort upstream revocation (MinIO revoke-tokens) when a sub/access_key revocation is added
    runtime.extras.setdefault("revocation_listeners", []).append(forwarder.on_revoke)
    return forwarder


def build_sts(runtime: Runtime) -> StsService:
    settings = runtime.expanded_sts_settings()
    verifier = TokenVerifier(trusted_issuers(runtime, settings), settings.validation, clock=runtime.clock)
    for name, service in runtime.issuers.items():
        url = runtime.issuer_url(name)
        service.keys.on_change.append(lambda url=url: verifier.invalidate(url))  # type: ignore[misc]
    if runtime.store.kind == "sqlite":
        session_key = datadir.secret_key(runtime.data_dir, "session-token.key")
    else:  # every replica must open every replica's session tokens
        from .shared import shared_secret

        session_key = shared_secret(runtime.store, "session-token.key", 32)
    codec = SessionTokenCodec(session_key)
    return StsService(
        settings,
        verifier=verifier,
        codec=codec,
        clock=runtime.clock,
        store=runtime.store,
        audit=runtime.audit,
        revocations=runtime.revocations,
        extensions=StsExtensions(
            fault=_faults.sts_hook(runtime),
            break_glass=_breakglass.engine_for(runtime).check,
            break_glass_used=_breakglass.engine_for(runtime).used,
            upstream=upstream_forwarder(runtime, settings),
            commit=runtime.group_commit.run if runtime.group_commit is not None else None,
        ),
    )
