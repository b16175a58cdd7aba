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
from .shared import SharedRoles, StoreKeyRepository, clock_update, feed_middleware, shared_secret
from .store import Backend, ChangeFeed, GroupCommit, StoreUnavailable, open_store

log = logging.getLogger("stsmock")

RUNTIME: web.AppKey[Runtime] = web.AppKey("stsmock.runtime")


@dataclass
class Runtime:
    """Everything one running stsmock holds; what the admin API and plugins touch."""

    config: Config
    base_url: str
    data_dir: Path
    clock: VirtualClock
    store: Backend
    audit: AuditLog
    revocations: RevocationRegistry
    admin_token: str
    admin_token_path: Path | None
    issuers: dict[str, IssuerService] = field(default_factory=dict)
    sts: Any = None
    #: One transaction per event-loop turn for the durable writes of every request.
    group_commit: GroupCommit | None = None
    #: Applies every process's changes of shared state here (see stsmock.store.feed).
    feed: ChangeFeed | None = None
    #: Runtime role changes, shared through the store (the admin API writes through it).
    roles: SharedRoles | None = None
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
    store = open_store(config.store.url, data_dir=data_dir, now=clock.now)
    feed = ChangeFeed(store)
    # A fresh single-machine start begins with the real time and the config's roles; the workers of
    # one `serve` (share_clock) and the replicas of a PostgreSQL fleet keep the shared state.
    fresh_start = not share_clock and store.kind == "sqlite"
    if fresh_start:
        store.set_meta("clock", "")
    clock.attach(lambda: store.get_meta("clock"), clock_update(store))
    feed.subscribe("clock", clock.apply_shared)
    audit = AuditLog(store, path=(data_dir / config.audit.file) if config.audit.file else None, now=clock.now)
    group_commit = GroupCommit(store)
    audit.use_group_commit(group_commit.run)
    revocation_listeners: list[Any] = []  # e.g. the upstream forwarder's MinIO revoke-tokens hook

    def _on_revoke(rec: dict[str, Any]) -> None:
        audit.record("revocation.added", severity="high", revocation=rec)
        for listener in list(revocation_listeners):
            listener(rec)

    revocations = RevocationRegistry(store, now=clock.now, on_revoke=_on_revoke)
    feed.subscribe("revocations", revocations.apply)
    if store.kind == "sqlite" or config.admin.token:
        token, token_path = datadir.admin_token(data_dir, config.admin.token)
    else:  # replicas share one generated admin token; the local file is for this host's CLI
        token = shared_secret(store, "admin-token", 32).hex()
        token_path = data_dir / "admin-token"
        datadir.write_private(token_path, (token + "\n").encode())
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
        feed=feed,
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
            key_repository=StoreKeyRepository(store, settings.name, data_dir / "keys" / settings.name),
        )
        runtime.issuers[settings.name] = service
        feed.subscribe(f"keys:{settings.name}", lambda keys, s=service: s.keys.reload())  # type: ignore[misc]
    from .sts_wiring import build_sts

    runtime.sts = build_sts(runtime)
    roles = runtime.roles = SharedRoles(store, runtime.sts.roles)
    if fresh_start:
        roles.forget_runtime_changes()
    roles.apply(None)
    feed.subscribe("roles", roles.apply)
    return runtime


#: Seconds between sweeps of expired records (codes, refresh tokens, sessions) from the store.
PURGE_INTERVAL = 60.0
#: Change-feed records kept for processes that were away; older ones make them reload everything.
KEEP_CHANGES = 10_000


async def _purge_expired(runtime: Runtime) -> None:
    """Expired records are already invisible; this keeps the database from growing forever."""
    while True:
        await asyncio.sleep(PURGE_INTERVAL)
        try:
            store = runtime.store
            with store.transaction():  # one replica sweeps at a time (an advisory lock on PostgreSQL)
                removed = 0
                if store.try_job_lock("sweep"):
                    removed = store.purge_expired()
                    store.prune_changes(KEEP_CHANGES)
        except Exception:  # a busy or read-only database must not stop the server
            log.exception("purging expired records failed")
            continue
        if removed:
            log.debug("purged %d expired records", removed)


async def _healthz(request: web.Request) -> web.Response:
    """Readiness: the store answers (and, on PostgreSQL, the change-feed listener is connected)."""
    runtime = request.app[RUNTIME]
    body: dict[str, Any] = {"status": "ok", "store": runtime.store.kind}
    if runtime.feed is not None:
        body["feed_version"] = runtime.feed.applied
    try:
        runtime.store.check()
    except StoreUnavailable as exc:
        return web.json_response({**body, "status": "unavailable", "error": str(exc)}, status=503)
    listener = runtime.extras.get("listener")
    if listener is not None and not listener.connected.is_set():
        return web.json_response(
            {**body, "status": "unavailable", "error": "change-feed listener reconnecting"}, status=503
        )
    return web.json_response(body)


async def _livez(request: web.Request) -> web.Response:
    """Liveness: the process serves; never touches the store (a store outage must not restart pods)."""
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
    middlewares: list[Any] = [error_middleware]
    if runtime.feed is not None:
        middlewares.append(feed_middleware(runtime.feed, profile=config.sts.profile))
    app = web.Application(client_max_size=config.server.max_body_bytes, middlewares=middlewares)
    app[RUNTIME] = runtime
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/livez", _livez)
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
        loop = asyncio.get_running_loop()
        purger = loop.create_task(_purge_expired(runtime))
        listen = getattr(runtime.store, "listen", None)
        feed = runtime.feed
        if listen is not None and feed is not None:  # PostgreSQL: NOTIFY wakes the feed between requests
            runtime.extras["listener"] = listen(lambda: loop.call_soon_threadsafe(feed.sync_quietly))
        yield
        listener = runtime.extras.pop("listener", None)
        if listener is not None:
            await asyncio.to_thread(listener.stop)
        purger.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await purger
        await runtime.sts.close()
        runtime.audit.close()
        runtime.store.close()

    app.cleanup_ctx.append(_cleanup)
    return app
