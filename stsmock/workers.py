"""`stsmock serve --workers N`: N processes sharing one port (SO_REUSEPORT) and one data dir.

The parent prepares the data directory (keys, admin token, session-token key)
once, reserves the port, then forks the workers. State that must agree across
workers lives in the shared store: revocations and sessions (SQLite), keys
(files, reloaded when the key directory changes) and the virtual clock
(its state is published to the store and picked up by the other workers).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import ServeOptions


def _worker(options: ServeOptions, port: int, index: int, ready: Any, reserved: Any) -> None:
    from .server import bind_socket, serve

    reserved.close()  # inherited from the parent: a listener nobody accepts on must not stay in the group
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    sock = bind_socket(options.host, port, reuse_port=True)
    try:
        asyncio.run(serve(options, sock=sock, worker=index + 1, ready=ready.set))
    except KeyboardInterrupt:
        pass


def _prepare(options: ServeOptions, port: int) -> None:
    """Create keys, the admin token and the session key before any worker races for them."""
    from .server import base_url_for
    from .wiring import build_runtime

    runtime = build_runtime(
        options.config,
        data_dir=options.data_dir,
        base_url=base_url_for(options.host, port, options.public_url, options.scheme),
    )
    runtime.store.set_meta("clock", "")  # every start begins with the real time
    runtime.audit.close()
    runtime.store.close()


def run_workers(options: ServeOptions, workers: int) -> int:
    from . import datadir
    from .server import base_url_for, bind_socket

    if not hasattr(os, "fork") or not hasattr(__import__("socket"), "SO_REUSEPORT"):
        print("stsmock: --workers needs fork() and SO_REUSEPORT (Linux/macOS)", file=sys.stderr)
        return 2
    reserved = bind_socket(options.host, options.port, reuse_port=True)
    port = reserved.getsockname()[1]
    _prepare(options, port)
    options.share_clock = True
    context = multiprocessing.get_context("fork")
    announce = options.announce
    options.announce = lambda line: None
    events = [context.Event() for _ in range(workers)]
    processes = [
        context.Process(target=_worker, args=(options, port, i, events[i], reserved), daemon=False)
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    for event, process in zip(events, processes, strict=True):
        while not event.wait(0.2):
            if not process.is_alive():
                print("stsmock: a worker failed to start", file=sys.stderr)
                for other in processes:
                    other.kill()
                return 1
    reserved.close()  # only the workers' sockets accept from now on
    base_url = base_url_for(options.host, port, options.public_url, options.scheme)
    info = datadir.read_server_info(options.data_dir.expanduser().resolve()) or {}
    datadir.write_server_info(
        options.data_dir.expanduser().resolve(),
        {
            **info,
            "url": base_url,
            "pid": os.getpid(),
            "workers": [p.pid for p in processes],
            "ca_file": str(options.tls.ca) if options.tls is not None and options.tls.ca else "",
        },
    )
    token_path = options.data_dir.expanduser().resolve() / "admin-token"
    where = token_path if options.config.admin.token is None else "config (admin.token)"
    announce(f"stsmock ready at {base_url} (admin token: {where}; {workers} workers)")
    stopping = False

    def _stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for process in processes:
            if process.is_alive() and process.pid:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for process in processes:
        process.join()
    return 0 if stopping or all(p.exitcode == 0 for p in processes) else 1
