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

from aiohttp import web

from . import datadir
from .config import Config, TokenFileSettings

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


def base_url_for(host: str, port: int, public_url: str | None) -> str:
    if public_url:
        return public_url.rstrip("/")
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - display only
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


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
    base_url = base_url_for(options.host, port, options.public_url)
    runtime = build_runtime(
        options.config, data_dir=options.data_dir, base_url=base_url, share_clock=options.share_clock
    )
    token_files = list(options.config.token_files)
    if options.token_file is not None:
        token_files.append(TokenFileSettings(path=str(options.token_file), refresh_seconds=options.token_refresh))
    # one process owns the credential-delivery listeners (their ports are not shared)
    app = app_for_runtime(runtime, token_files=token_files, delivery_listeners=worker <= 1)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.SockSite(runner, sock)
    await site.start()
    if worker == 0:
        datadir.write_server_info(
            runtime.data_dir,
            {
                "url": base_url_for(options.host, port, None),
                "public_url": base_url,
                "pid": os.getpid(),
                "admin_token_file": str(runtime.admin_token_path or ""),
            },
        )
        where = runtime.admin_token_path or "config (admin.token)"
        bound = base_url_for(options.host, port, None)
        listening = f"listening on {bound}, " if bound != base_url else ""
        options.announce(f"stsmock ready at {base_url} ({listening}admin token: {where})")
    if ready is not None:
        ready()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("stopping")
        await runner.cleanup()


def main_guard(func: Callable[[], int]) -> int:
    try:
        return func()
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"stsmock: {exc.strerror or exc}", file=sys.stderr)
        return 1
