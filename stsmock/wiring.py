"""Build one stsmock: every collaborator, in one explicit order, each handed what it needs.

The order is the dependency order: data dir → clock → store → audit (+ group commit) → metrics →
revocations → admin token → issuers → STS settings and roles → feature engines (faults,
break-glass) → upstream forwarder → STS → simulator (over the STS's plane). Nothing is rewired
after it is built.

The built-in issuers are trusted by the STS exactly like external ones — through a JWKS
document — only the transport differs: their JWKS is handed over in-process.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from issuer.service import IssuerService
from issuer.settings import IssuerSettings
from stsproxy.credentials import SessionTokenCodec
from stsproxy.roles import RoleRegistry
from stsproxy.service import StsExtensions, StsService
from stsproxy.settings import BrokerSettings, StsSettings
from stsproxy.upstream import UpstreamForwarder
from stsproxy.verify import StaticJwksSource, TokenVerifier, TrustedIssuer

from . import datadir, faults
from .audit import AuditLog
from .breakglass import BreakGlass
from .clock import VirtualClock
from .config import Config, expand_placeholders
from .delivery.install import delivery_engine, delivery_ports
from .delivery.shared import SharedBindings
from .metrics import Metrics
from .revocations import RevocationRegistry
from .runtime import RevocationListener, Runtime, issuer_url
from .shared import SharedRoles, StoreKeyRepository, clock_update, shared_secret
from .simulate import Simulator
from .store import Backend, ChangeFeed, GroupCommit, open_store

BUILTIN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA")


def build_runtime(
    config: Config, *, data_dir: Path, base_url: str, clock: VirtualClock | None = None, share_clock: bool = False
) -> Runtime:
    """Build every collaborator. ``share_clock`` publishes the virtual clock through the store (workers)."""
    base_url = base_url.rstrip("/")
    data_dir = datadir.prepare(data_dir)
    clock = clock or VirtualClock()
    store = open_store(config.store.url, data_dir=data_dir, now=clock.now)
    feed = ChangeFeed(store)  # applies every other process's changes here (see store/feed.py)
    # A fresh single-machine start begins with the real time and the config's roles; the workers of
    # one `serve` (share_clock) and the replicas of a PostgreSQL fleet keep the shared state.
    fresh_start = not share_clock and store.kind == "sqlite"
    if fresh_start:
        store.set_meta("clock", "")
    clock.attach(lambda: store.get_meta("clock"), clock_update(store))
    feed.subscribe("clock", clock.apply_shared)
    audit = AuditLog(
        store,
        path=(data_dir / config.audit.file) if config.audit.file else None,
        now=clock.now,
        max_bytes=config.audit.file_max_bytes,
        backups=config.audit.file_backups,
        max_age_seconds=config.audit.max_age_seconds,
        max_records=config.audit.max_records,
    )
    group_commit = GroupCommit(store)
    audit.use_group_commit(group_commit.run)
    metrics = Metrics(issuers=frozenset(i.name for i in config.issuers))
    audit.subscribe(metrics.on_audit)
    listeners: list[RevocationListener] = []
    revocations = RevocationRegistry(store, now=clock.now, on_revoke=_announce_revocation(audit, listeners))
    feed.subscribe("revocations", revocations.apply)
    configured_token = config.admin.token or os.environ.get("STSMOCK_ADMIN_TOKEN")  # env: e.g. a k8s Secret
    if store.kind == "sqlite" or configured_token:
        admin_token, admin_token_path = datadir.admin_token(data_dir, configured_token)
    else:  # replicas share one generated admin token; the local file is for this host's CLI
        admin_token, admin_token_path = shared_secret(store, "admin-token", 32).hex(), data_dir / "admin-token"
        datadir.write_private(admin_token_path, (admin_token + "\n").encode())
    issuers = {
        settings.name: IssuerService(
            settings,
            issuer_url=issuer_url(base_url, settings.name, settings),
            data_dir=data_dir,
            clock=clock,
            store=store,
            audit=audit,
            revocations=revocations,
            key_repository=StoreKeyRepository(store, settings.name, data_dir / "keys" / settings.name),
        )
        for settings in config.issuers
    }
    for name, service in issuers.items():
        feed.subscribe(f"keys:{name}", lambda keys, s=service: s.keys.reload())  # type: ignore[misc]
    settings = sts_settings(config, base_url)
    roles = RoleRegistry(settings)
    shared_roles = SharedRoles(store, roles)
    if fresh_start:
        shared_roles.forget_runtime_changes()
    shared_roles.apply(None)
    feed.subscribe("roles", shared_roles.apply)
    fault_engine = faults.FaultEngine(store, now=clock.now, audit=audit)
    feed.subscribe(faults.TOPIC, fault_engine.apply)
    breakglass = BreakGlass(store, now=clock.now, audit=audit, roles=roles)
    upstream = upstream_forwarder(settings, issuers, clock=clock, audit=audit)
    if upstream is not None:  # best-effort upstream revocation (MinIO revoke-tokens)
        listeners.append(upstream.on_revoke)
    verifier = TokenVerifier(trusted_issuers(issuers, base_url, settings), settings.validation, clock=clock)
    for service in issuers.values():
        url = service.issuer_url
        service.keys.on_change.append(lambda url=url: verifier.invalidate(url))  # type: ignore[misc]
    sts = StsService(
        settings,
        verifier=verifier,
        codec=SessionTokenCodec(session_token_key(store, data_dir)),
        clock=clock,
        store=store,
        audit=audit,
        revocations=revocations,
        roles=roles,
        extensions=StsExtensions(
            fault=faults.sts_hook(fault_engine),
            break_glass=breakglass.check,
            break_glass_used=breakglass.used,
            upstream=upstream,
            observe=metrics.on_decision,
            commit=group_commit.run,
        ),
    )
    delivery = delivery_engine(
        config.delivery,
        delivery_ports(
            issuers=issuers,
            issuer_url=lambda name: issuer_url(base_url, name),
            sts=sts,
            clock=clock,
            audit=audit,
            account_id=config.sts.account_id,
            region=config.sts.region,
            sync_state=feed.sync,
        ),
        data_dir=data_dir,
    )
    feed.subscribe("revocations", lambda keys: delivery.forget_credentials())
    feed.subscribe("roles", delivery.forget_credentials)
    bindings = SharedBindings(delivery, store, feed)
    bindings.load()
    return Runtime(
        config=config,
        base_url=base_url,
        data_dir=data_dir,
        clock=clock,
        store=store,
        audit=audit,
        revocations=revocations,
        admin_token=admin_token,
        admin_token_path=admin_token_path,
        issuers=issuers,
        sts=sts,
        group_commit=group_commit,
        faults=fault_engine,
        breakglass=breakglass,
        metrics=metrics,
        delivery=delivery,
        bindings=bindings,
        simulator=Simulator(
            sts.plane,
            issuer_urls={name: service.issuer_url for name, service in issuers.items()},
            break_glass=breakglass,
        ),
        revocation_listeners=listeners,
        feed=feed,
        roles=shared_roles,
    )


def session_token_key(store: Backend, data_dir: Path) -> bytes:
    """The key sealing session tokens: per data dir on SQLite; shared by every replica on PostgreSQL."""
    if store.kind == "sqlite":
        return datadir.secret_key(data_dir, "session-token.key")
    return shared_secret(store, "session-token.key", 32)


def _announce_revocation(audit: AuditLog, listeners: list[RevocationListener]) -> Callable[[dict[str, Any]], None]:
    """Every new revocation is audited, then handed to each listener (e.g. MinIO revoke-tokens)."""

    def on_revoke(record: dict[str, Any]) -> None:
        audit.record("revocation.added", severity="high", revocation=record)
        for listener in list(listeners):
            listener(record)

    return on_revoke


def sts_settings(config: Config, base_url: str) -> StsSettings:
    """STS settings with ``{issuer:NAME}`` / ``{provider:NAME}`` placeholders resolved.

    Dumped and validated again through the config's own validator: StsSettings' own would be
    built for this one call (~7 ms of start-up).
    """
    raw = config.model_dump(mode="json", include={"sts"})["sts"]
    urls = {i.name: issuer_url(base_url, i.name, i) for i in config.issuers}
    return type(config).model_validate({"sts": expand_placeholders(raw, urls)}).sts


def builtin_audiences(settings: IssuerSettings) -> tuple[str, ...]:
    """IAM's ClientIDList for a built-in issuer: every client id and client audience."""
    out: list[str] = []
    for client in settings.clients:
        out.append(client.client_id)
        audience = client.audience
        out.extend([audience] if isinstance(audience, str) else audience or [])
    return tuple(dict.fromkeys(out))


def trusted_issuers(issuers: Mapping[str, IssuerService], base_url: str, settings: StsSettings) -> list[TrustedIssuer]:
    """The built-in issuers (JWKS in-process), then the configured external ones."""
    out = [
        TrustedIssuer(
            issuer=service.issuer_url,
            audiences=builtin_audiences(service.settings),
            algorithms=tuple(service.settings.algorithms) or BUILTIN_ALGORITHMS,
            jwks_source=StaticJwksSource(service.jwks),
            azp_as_audience=settings.profile == "minio",
        )
        for service in issuers.values()
    ]
    timeout = settings.validation.fetch_timeout_seconds
    out.extend(
        TrustedIssuer.from_settings(external, timeout=timeout, profile=settings.profile)
        for external in settings.trusted_issuers
    )
    return out


def upstream_forwarder(
    settings: StsSettings, issuers: Mapping[str, IssuerService], *, clock: VirtualClock, audit: AuditLog
) -> UpstreamForwarder | None:
    """The upstream forwarder, only when upstreams are configured; broker tokens come from built-in issuers."""
    if not settings.upstreams:
        return None

    def mint_broker_token(broker: BrokerSettings, claims: dict[str, Any], role: object) -> str:
        issuer = issuers.get(broker.issuer)
        if issuer is None:
            raise KeyError(f"broker issuer {broker.issuer!r} is not a built-in issuer")
        return str(issuer.mint(claims, ttl=broker.ttl_seconds, client_id=broker.audience))

    return UpstreamForwarder(
        {u.name: u for u in settings.upstreams}, mint_broker_token=mint_broker_token, clock=clock, audit=audit
    )
