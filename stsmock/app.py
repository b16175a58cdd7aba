"""The aiohttp application: routes, one explicit middleware list, a cleanup context per background task.

``create_app(config, data_dir=..., base_url=...)`` is the public embedding API; ``wiring.py``
builds the collaborators, this module only mounts them: the issuers (``default`` at the base URL,
others under ``/issuers/{name}``), the admin API, ``/metrics``, the console
and, last, the STS (its POST catch-all must come after every other route).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from aiohttp import web

from issuer.endpoints import add_issuer_routes
from stsproxy.web import add_sts_routes

from . import admin, console, faults
from .clock import VirtualClock
from .config import Config, TokenFileSettings
from .connections import body_timeout_middleware
from .delivery.install import listeners_context
from .health import store_problem
from .metrics import REGISTRY
from .middleware import error_middleware
from .runtime import RUNTIME, Runtime
from .shared import feed_middleware
from .store import StoreUnavailable
from .token_file import TokenFileWriter
from .wiring import build_runtime

__all__ = ["RUNTIME", "Runtime", "app_for_runtime", "build_runtime", "create_app"]

log = logging.getLogger("stsmock")

#: Seconds between sweeps of expired records (codes, refresh tokens, sessions) from the store.
PURGE_INTERVAL = 60.0
#: Change-feed records kept for processes that were away; older ones make them reload everything.
KEEP_CHANGES = 10_000

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def create_app(
    config: Config,
    *,
    data_dir: Path,
    base_url: str,
    clock: VirtualClock | None = None,
) -> web.Application:
    """Build the whole application. ``base_url`` is the public issuer base URL."""
    return app_for_runtime(build_runtime(config, data_dir=data_dir, base_url=base_url, clock=clock))


def app_for_runtime(
    runtime: Runtime, *, token_files: Sequence[TokenFileSettings] = (), delivery_listeners: bool = True
) -> web.Application:
    """Mount ``runtime``; ``token_files`` are kept fresh while the app runs (``serve`` passes them).

    ``delivery_listeners``: bind the credential-delivery listeners (container endpoint, IMDS) here;
    ``serve --workers`` runs them in one process only.
    """
    issuer_settings = [service.settings for service in runtime.issuers.values()]
    app = web.Application(
        client_max_size=runtime.config.server.max_body_bytes,
        middlewares=[
            runtime.metrics.middleware(),  # outermost: admin 401s and error-middleware 500s are counted too
            error_middleware,  # no stack trace reaches a client
            # every acknowledged change of shared state is applied before the request; 503 if unknowable
            feed_middleware(runtime.feed, profile=runtime.config.sts.profile),
            admin.auth_middleware(runtime.admin_token),  # /admin/* needs the bearer token
            # every body read within server.body_timeout (cached: handlers and the fault matcher read it again)
            body_timeout_middleware(runtime.config.server.body_timeout, runtime.config.server.max_body_bytes),
            faults.make_middleware(runtime.faults, issuer_settings),  # /token and /jwks fault rules
        ],
    )
    app[RUNTIME] = runtime
    app[REGISTRY] = runtime.metrics.registry
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/livez", _livez)
    app.router.add_get("/metrics", runtime.metrics.serve)
    admin.add_routes(app)
    for service in runtime.issuers.values():
        add_issuer_routes(app, service, service.settings.mount_path)  # a preset's layout, or /issuers/NAME
    console.add_routes(app)
    add_sts_routes(app, runtime.sts)  # the POST catch-all: keep last
    writers = [
        TokenFileWriter.from_settings(runtime.issuers, spec, now=runtime.clock.now, sync=runtime.feed.sync_quietly)
        for spec in token_files
    ]
    app.cleanup_ctx.extend(
        [
            _closing(runtime),
            _listening(runtime),
            _purging(runtime),
            _token_files(writers),
            _webhooks(runtime),
            listeners_context(runtime.delivery, runtime.bindings, enabled=delivery_listeners),
        ]
    )
    return app


async def _healthz(request: web.Request) -> web.Response:
    """Readiness: the store takes a write (and is reachable), the data dir's disk is not nearly full,
    and on PostgreSQL the change-feed listener is connected. A read-only or full state.db must not look fine."""
    runtime = request.app[RUNTIME]
    body = {"store": runtime.store.kind, "feed_version": runtime.feed.applied}
    try:
        problem = store_problem(runtime.store, runtime.data_dir, runtime.config.server.min_free_bytes)
    except StoreUnavailable as exc:
        problem = str(exc)
    damaged = [s.keys.problem for s in runtime.issuers.values() if s.keys.problem is not None]
    if problem is None and damaged:  # reported until fixed; never replaced by a new key
        problem = f"{damaged[0].name}: {damaged[0].reason}; {damaged[0].remedy}"
    if problem is None and runtime.listener is not None and not runtime.listener.connected.is_set():
        problem = "change-feed listener is reconnecting to PostgreSQL"
    if problem is not None:
        return web.json_response({"status": "unhealthy", "error": problem, **body}, status=503)
    return web.json_response({"status": "ok", **body})


async def _livez(request: web.Request) -> web.Response:
    """Liveness: the process serves. Never touches the store (an outage must not restart every pod).

    ``feed_version`` is the change-feed version applied here without a request forcing a sync (so it
    shows how fast the NOTIFY wake-up alone propagates; bench/replicas.py measures it)."""
    return web.json_response({"status": "ok", "feed_version": request.app[RUNTIME].feed.applied})


def _listening(runtime: Runtime) -> CleanupContext:
    """PostgreSQL: a LISTEN thread wakes the feed between requests (background work sees changes within
    its poll bound); requests do not depend on it — each one checks the feed version itself."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        listen = getattr(runtime.store, "listen", None)
        if listen is not None:
            loop = asyncio.get_running_loop()
            runtime.listener = listen(lambda: loop.call_soon_threadsafe(runtime.feed.sync_quietly))
            await asyncio.to_thread(runtime.listener.connected.wait, 5.0)  # ready = listening (else /healthz says so)
        yield
        listener, runtime.listener = runtime.listener, None
        if listener is not None:
            await asyncio.to_thread(listener.stop)

    return ctx


def _closing(runtime: Runtime) -> CleanupContext:
    """Close the STS's HTTP clients, the audit file and the store last (cleanup runs in reverse)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await runtime.sts.close()
        runtime.audit.close()
        runtime.store.close()

    return ctx


def sweep_once(runtime: Runtime) -> int:
    """One pass of the sweep job: expired records, old change-feed rows, audit retention, old console sessions."""
    from .console.auth import sweep_sessions

    removed = 0
    with runtime.store.transaction():  # one replica sweeps at a time (advisory lock on PostgreSQL)
        if runtime.store.try_job_lock("sweep"):
            removed = runtime.store.purge_expired()
            runtime.store.prune_changes(KEEP_CHANGES)
            removed += runtime.audit.prune()  # audit retention (audit.max_age_seconds / max_records)
            removed += sweep_sessions(runtime.store)  # console sessions past their 12 h (real time)
    return removed


def _purging(runtime: Runtime) -> CleanupContext:
    """Expired records are already invisible; the sweep keeps the database from growing forever."""

    async def sweep() -> None:
        while True:
            await asyncio.sleep(PURGE_INTERVAL)
            try:
                removed = sweep_once(runtime)
            except Exception:  # a busy or read-only database must not stop the server
                log.exception("purging expired records failed")
                continue
            if removed:
                log.debug("purged %d expired records", removed)

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(sweep())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return ctx


def _token_files(writers: list[TokenFileWriter]) -> CleanupContext:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        for writer in writers:
            writer.start()
        yield
        for writer in writers:
            await writer.stop()

    return ctx


def _webhooks(runtime: Runtime) -> CleanupContext:
    """Break-glass webhooks still in flight are cancelled at shutdown."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await runtime.breakglass.close()

    return ctx
