"""Serve one process: bind, announce readiness, stop cleanly on SIGINT/SIGTERM.

``serving.run`` chooses between this and ``workers.run_workers``; neither imports the other's
caller, so the process modules form a chain (serving → workers → server), not a cycle.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import datadir
from .config import Config, TokenFileSettings
from .connections import GuardedSockSite, Limits
from .heap import SETTLE_AFTER, settle_heap

if TYPE_CHECKING:  # imported at run time only when TLS / the S3 gateway is configured (start-up time)
    from .gateway import GatewayService
    from .tls import TlsContext, TlsFiles

log = logging.getLogger("stsmock")


@dataclass
class ServeOptions:
    config: Config
    data_dir: Path
    host: str
    port: int
    public_url: str | None
    token_file: Path | None = None
    token_refresh: int = 300
    announce: Callable[[str], None] = print
    #: Workers share the virtual clock through the store.
    share_clock: bool = False
    #: The open lock file that claims the data dir (kept open while serving; see hygiene.py).
    data_dir_lock: object | None = None
    #: Certificate and key every listener serves (None: plain http); set by :func:`prepare_tls`.
    tls: TlsFiles | None = None
    #: S3 gateway port (0 = free port, None = no gateway); see stsmock.gateway.
    s3_port: int | None = None
    #: The embedded S3 store a --workers parent started for its workers.
    s3_store: Any = None
    #: s3_port is the default (not asked for): when it is taken, use a free port instead of failing.
    s3_port_fallback: bool = False

    @property
    def scheme(self) -> str:
        return "https" if self.tls is not None else "http"


def prepare_tls(options: ServeOptions) -> None:
    """Resolve ``server.tls`` into files once, before any worker starts (they must not race for the CA)."""
    settings = options.config.server.tls
    if not (settings.enabled or (settings.cert and settings.key)):
        return  # plain http: stsmock.tls (x509, certificate code) is never imported
    from .tls import TlsFiles, ensure_local_certificate, names_for

    if settings.cert and settings.key:
        options.tls = TlsFiles(Path(settings.cert).expanduser(), Path(settings.key).expanduser(), None)
    elif settings.enabled:
        data_dir = datadir.prepare(options.data_dir)
        options.tls = ensure_local_certificate(data_dir, names_for(options.host, options.public_url))


def limits_for(config: Config) -> Limits:
    server = config.server
    return Limits(
        max_connections=server.max_connections,
        header_timeout=server.header_timeout,
        idle_timeout=server.idle_timeout,
        body_timeout=server.body_timeout,
    )


async def start_main_site(
    runner: web.AppRunner,
    app: web.Application,
    sock: socket.socket,
    config: Config,
    limits: Limits,
    *,
    ssl_context: Any = None,
) -> GuardedSockSite:
    """The issuer/STS/admin/console listener: connection limits, header timeout, errors in each route's protocol."""
    from .wire_errors import json_routes, main_port_errors

    errors = main_port_errors(json_routes(app), config.sts.profile)
    site = GuardedSockSite(runner, sock, limits=limits, ssl_context=ssl_context, error_format=errors)
    await site.start()
    return site


def tls_context_for(options: ServeOptions) -> TlsContext | None:
    """The one server SSLContext of this process; every listener gets ``.context``."""
    if options.tls is None:
        return None
    from .tls import TlsContext

    return TlsContext(options.tls, reload_seconds=options.config.server.tls.reload_seconds)


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def base_url_for(host: str, port: int, public_url: str | None, scheme: str = "http") -> str:
    if public_url:
        return public_url.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - display only
    if ":" in shown:
        shown = f"[{shown}]"
    return f"{scheme}://{shown}:{port}"


async def serve(
    options: ServeOptions,
    *,
    sock: socket.socket | None = None,
    worker: int = 0,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM. ``worker`` > 0 marks a child of ``--workers`` (the parent announces)."""
    from .app import app_for_runtime
    from .wiring import build_runtime

    sock = sock or bind_socket(options.host, options.port)
    port = sock.getsockname()[1]
    scheme = options.scheme
    base_url = base_url_for(options.host, port, options.public_url, scheme)
    tls = tls_context_for(options)  # built once; every listener (issuer/STS/admin/console, S3) gets tls.context
    ssl_context = tls.context if tls is not None else None
    limits = limits_for(options.config)
    runtime = build_runtime(
        options.config, data_dir=options.data_dir, base_url=base_url, share_clock=options.share_clock
    )
    token_files = list(options.config.token_files)
    if options.token_file is not None:
        token_files.append(TokenFileSettings(path=str(options.token_file), refresh_seconds=options.token_refresh))
    # one process owns the credential-delivery listeners (their ports are not shared)
    app = app_for_runtime(runtime, token_files=token_files, delivery_listeners=worker <= 1)
    runner = web.AppRunner(
        app, access_log=None, handle_signals=False, keepalive_timeout=limits.idle_timeout, shutdown_timeout=5.0
    )
    await runner.setup()
    await start_main_site(runner, app, sock, options.config, limits, ssl_context=ssl_context)
    watcher = asyncio.get_running_loop().create_task(tls.watch()) if tls is not None else None
    gateway: GatewayService | None = None
    if options.s3_port is not None and options.config.gateway.enabled:  # --no-s3 never imports the gateway
        from .gateway import serve_gateway

        gateway = await serve_gateway(
            runtime, options, worker=worker, bind=bind_socket, ssl_context=ssl_context, limits=limits
        )
    if worker == 0:
        datadir.write_server_info(
            runtime.data_dir,
            {
                "url": base_url_for(options.host, port, None, scheme),
                "public_url": base_url,
                "pid": os.getpid(),
                "admin_token_file": str(runtime.admin_token_path or ""),
                "ca_file": str(options.tls.ca) if options.tls is not None and options.tls.ca else "",
                **({"s3_url": gateway.url} if gateway else {}),
            },
        )
        where = runtime.admin_token_path or "config (admin.token)"
        bound = base_url_for(options.host, port, None, scheme)
        listening = f"listening on {bound}, " if bound != base_url else ""
        s3 = f"; s3 gateway at {gateway.url}" if gateway else ""
        options.announce(f"stsmock ready at {base_url} ({listening}admin token: {where}{s3})")
    if ready is not None:
        ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.call_later(SETTLE_AFTER, settle_heap)  # off the start-up path: a full collection is not free
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        if watcher is not None:
            watcher.cancel()
        if gateway is not None:
            await gateway.stop()
        await runner.cleanup()


def main_guard(func: Callable[[], int]) -> int:
    """Run ``serve``: any start-up failure is one line (the file and what to do) and exit status 1."""
    from .failures import one_line

    try:
        return func()
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the serve command's one place for errors
        if os.environ.get("STSMOCK_DEBUG"):
            import traceback

            traceback.print_exc()
        print(f"stsmock: {one_line(exc)}", file=sys.stderr)
        return 1
    except RuntimeError as exc:  # e.g. StoreUnavailable: PostgreSQL unreachable at start
        if type(exc).__name__ != "StoreUnavailable":
            raise
        print(f"stsmock: {exc}", file=sys.stderr)
        return 1
