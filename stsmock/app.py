"""The composition root: build the aiohttp application from a config.

It wires the store, the clock, the audit log and the revocation registry into
the two planes, mounts the issuers (``default`` at the base URL, others under
``/issuers/{name}``), the STS front end, the admin API and the ops endpoints.
``create_app`` is the public embedding API.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from issuer.endpoints import add_issuer_routes
from issuer.service import IssuerService
from stsproxy.settings import StsSettings

from . import datadir
from .audit import AuditLog
from .clock import VirtualClock
from .config import Config, expand_placeholders
from .middleware import error_middleware
from .revocations import RevocationRegistry
from .store import GroupCommit, Store

log = logging.getLogger("stsmock")

RUNTIME: web.AppKey[Runtime] = web.AppKey("stsmock.runtime")


@dataclass
class Runtime:
    """Everything one running stsmock holds; what the admin API and plugins touch."""

    config: Config
    base_url: str
    data_dir: Path
    clock: VirtualClock
    store: Store
    audit: AuditLog
    revocations: RevocationRegistry
    admin_token: str
    admin_token_path: Path | None
    issuers: dict[str, IssuerService] = field(default_factory=dict)
    sts: Any = None
    #: One transaction per event-loop turn for the durable writes of every request.
    group_commit: GroupCommit | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def extension(self, key: str, factory: Any) -> Any:
        """The runtime's single instance of a feature engine, created on first use."""
        engine = self.extras.get(key)
        if engine is None:
            engine = self.extras[key] = factory(self)
        return engine

    def issuer_url(self, name: str) -> str:
        return self.base_url if name == "default" else f"{self.base_url}/issuers/{name}"

    def issuer_urls(self) -> dict[str, str]:
        return {name: self.issuer_url(name) for name in self.issuers} or {
            i.name: self.issuer_url(i.name) for i in self.config.issuers
        }

    def expanded_sts_settings(self) -> StsSettings:
        """STS settings with {issuer:NAME}/{provider:NAME} placeholders resolved."""
        raw = self.config.sts.model_dump(mode="json")
        urls = {i.name: self.issuer_url(i.name) for i in self.config.issuers}
        return StsSettings.model_validate(expand_placeholders(raw, urls))


def build_runtime(
    config: Config, *, data_dir: Path, base_url: str, clock: VirtualClock | None = None, share_clock: bool = False
) -> Runtime:
    """Build every collaborator. ``share_clock`` publishes the virtual clock through the store (workers)."""
    data_dir = datadir.prepare(data_dir)
    clock = clock or VirtualClock()
    store = Store(data_dir / "state.db", now=clock.now)
    if share_clock:
        clock.share(lambda: store.get_meta("clock"), lambda value: store.set_meta("clock", value))
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
    revocation_listeners: list[Any] = []  # e.g. the upstream forwarder's MinIO revoke-tokens hook

    def _on_revoke(rec: dict[str, Any]) -> None:
        audit.record("revocation.added", severity="high", revocation=rec)
        for listener in list(revocation_listeners):
            listener(rec)

    revocations = RevocationRegistry(store, now=clock.now, on_revoke=_on_revoke)
    token, token_path = datadir.admin_token(data_dir, config.admin.token)
    runtime = Runtime(
        config=config,
        base_url=base_url.rstrip("/"),
        data_dir=data_dir,
        clock=clock,
        store=store,
        audit=audit,
        revocations=revocations,
        admin_token=token,
        admin_token_path=token_path,
        group_commit=group_commit,
        extras={"revocation_listeners": revocation_listeners},
    )
    for settings in config.issuers:
        service = IssuerService(
            settings,
            issuer_url=runtime.issuer_url(settings.name),
            data_dir=data_dir,
            clock=clock,
            store=store,
            audit=audit,
            revocations=revocations,
        )
        runtime.issuers[settings.name] = service
    from .sts_wiring import build_sts

    runtime.sts = build_sts(runtime)
    return runtime


#: Seconds between sweeps of expired records (codes, refresh tokens, sessions) from the store.
PURGE_INTERVAL = 60.0


async def _purge_expired(runtime: Runtime) -> None:
    """Expired records are already invisible; this keeps the database from growing forever."""
    while True:
        await asyncio.sleep(PURGE_INTERVAL)
        try:
            removed = runtime.store.purge_expired()
            removed += runtime.audit.prune()
        except Exception:  # a busy or read-only database must not stop the server
            log.exception("purging expired records failed")
            continue
        if removed:
            log.debug("purged %d expired records", removed)


async def _healthz(request: web.Request) -> web.Response:
    """Healthy only when the store takes a write: a read-only state.db must not look fine until the first 500."""
    from .health import store_problem

    runtime = request.app[RUNTIME]
    problem = store_problem(runtime.store, runtime.data_dir, runtime.config.server.min_free_bytes)
    if problem is not None:
        return web.json_response({"status": "unhealthy", "error": problem}, status=503)
    return web.json_response({"status": "ok"})


def create_app(
    config: Config,
    *,
    data_dir: Path,
    base_url: str,
    clock: VirtualClock | None = None,
) -> web.Application:
    """Build the whole application. ``base_url`` is the public issuer base URL."""
    runtime = build_runtime(config, data_dir=data_dir, base_url=base_url, clock=clock)
    return app_for_runtime(runtime)


def app_for_runtime(runtime: Runtime) -> web.Application:
    config = runtime.config
    from .connections import body_timeout_middleware

    app = web.Application(
        client_max_size=config.server.max_body_bytes,
        middlewares=[
            error_middleware,
            body_timeout_middleware(config.server.body_timeout, config.server.max_body_bytes),
        ],
    )
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", _healthz)
    from .admin import add_admin_routes

    add_admin_routes(app, runtime)
    for name, service in runtime.issuers.items():
        add_issuer_routes(app, service, "" if name == "default" else f"/issuers/{name}")
    # feature routes (each feature module exposes install(app, runtime)); keep before the STS catch-all
    from . import breakglass, console, faults, metrics, openapi, s3, simulate

    for feature in (faults, breakglass, simulate, metrics, openapi, console, s3):
        feature.install(app, runtime)
    from stsproxy.web import add_sts_routes

    add_sts_routes(app, runtime.sts)

    async def _cleanup(app: web.Application) -> Any:
        purger = asyncio.get_running_loop().create_task(_purge_expired(runtime))
        yield
        purger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purger
        await runtime.sts.close()
        runtime.audit.close()
        runtime.store.close()

    app.cleanup_ctx.append(_cleanup)
    return app
