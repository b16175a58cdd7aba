"""`stsmock serve --workers N`: N processes sharing one port (SO_REUSEPORT) and one data dir.

The parent prepares the data directory (keys, admin token, session-token key)
once, reserves the port, then forks the workers. State that must agree across
workers lives in the shared store: revocations and sessions (SQLite), keys
(files, reloaded when the key directory changes) and the virtual clock
(its state is published to the store and picked up by the other workers).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import ServeOptions


def _worker(
    options: ServeOptions,
    port: int,
    index: int,
    ready: Any,
    reserved: Any,
    parent: int,
    s3_reserved: Any = None,
    metrics_dir: Any = None,
) -> None:
    from .hygiene import die_with_parent
    from .metrics import share_with_workers
    from .server import bind_socket, serve

    die_with_parent(parent)  # kill -9 of the parent must not leave workers serving
    if metrics_dir is not None:
        share_with_workers(metrics_dir)  # /metrics on any worker reports every worker's counts
    reserved.close()  # inherited from the parent: a listener nobody accepts on must not stay in the group
    if s3_reserved is not None:
        s3_reserved.close()
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
    # (a fresh SQLite start resets the clock and runtime roles in build_runtime; a fleet keeps them)
    runtime.audit.close()
    runtime.store.close()


def _reserve_gateway(options: ServeOptions) -> tuple[Any, str | None]:
    """Start the embedded S3 store once (the parent owns it) and reserve the gateway port for the workers."""
    if options.s3_port is None or not options.config.gateway.enabled:
        return None, None
    from .gateway import bind_gateway, start_store
    from .server import base_url_for, bind_socket

    gateway = options.config.gateway
    options.s3_store = start_store(gateway, options.data_dir.expanduser().resolve())
    sock = bind_gateway(
        options, lambda host, port, reuse_port: bind_socket(host, port, reuse_port=False), reuse_port=False
    )
    port = sock.getsockname()[1]
    sock.close()  # the port is free for us now; bind it again, shareable by the workers
    sock = bind_socket(gateway.host or options.host, port, reuse_port=True)
    options.s3_port = sock.getsockname()[1]
    return sock, base_url_for(gateway.host or options.host, options.s3_port, None, options.scheme)


class _StopRequests:
    """SIGINT/SIGTERM recorded for the supervising loop, which tells the workers not yet reaped to stop.

    The handler only records the request and wakes the loop (``set_wakeup_fd``). It used to ask each
    worker whether it was alive and signal it from the handler: arriving just as the interrupted
    ``join`` had reaped a dead worker, that ``os.kill`` raised, multiprocessing's ``poll`` swallowed
    the error, and the other workers were never told to stop (tests/app/test_workers_stop.py).
    Installed before the ready line, so a stop requested as soon as it is printed is not lost.
    """

    def __init__(self) -> None:
        self.requested: list[int] = []
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._previous = signal.set_wakeup_fd(self._wake_write)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: self.requested.append(signum))

    def supervise(self, processes: list[Any]) -> bool:
        """Until every worker is reaped; True if a stop was requested."""
        from multiprocessing.connection import wait

        told = False
        try:
            while live := [p for p in processes if p.exitcode is None]:
                if self.requested and not told:
                    for process in live:  # not reaped yet, so each pid is still our child's
                        os.kill(process.pid, signal.SIGTERM)
                    told = True
                wait([p.sentinel for p in live] + [self._wake_read])
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_read, 512)
        finally:
            signal.set_wakeup_fd(self._previous)
            os.close(self._wake_read)
            os.close(self._wake_write)
        return bool(self.requested)


def run_workers(options: ServeOptions, workers: int) -> int:
    from . import datadir
    from .server import base_url_for, bind_socket

    if not hasattr(os, "fork") or not hasattr(__import__("socket"), "SO_REUSEPORT"):
        print("stsmock: --workers needs fork() and SO_REUSEPORT (Linux/macOS)", file=sys.stderr)
        return 2
    from .hygiene import refuse_busy_port

    refuse_busy_port(options.host, options.port)  # SO_REUSEPORT would otherwise join another server's port
    reserved = bind_socket(options.host, options.port, reuse_port=True)
    port = reserved.getsockname()[1]
    _prepare(options, port)
    s3_reserved, s3_url = _reserve_gateway(options)
    from .metrics import metrics_directory

    metrics_dir = metrics_directory(options.data_dir.expanduser().resolve())
    options.share_clock = True
    context = multiprocessing.get_context("fork")
    announce = options.announce
    options.announce = lambda line: None
    events = [context.Event() for _ in range(workers)]
    processes = [
        context.Process(
            target=_worker,
            args=(options, port, i, events[i], reserved, os.getpid(), s3_reserved, metrics_dir),
            daemon=False,
        )
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
    stop = _StopRequests()  # the workers are forked: they set up their own handlers
    reserved.close()  # only the workers' sockets accept from now on
    if s3_reserved is not None:
        s3_reserved.close()
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
            **({"s3_url": s3_url} if s3_url else {}),
        },
    )
    token_path = options.data_dir.expanduser().resolve() / "admin-token"
    where = token_path if options.config.admin.token is None else "config (admin.token)"
    s3 = f"; s3 gateway at {s3_url}" if s3_url else ""
    announce(f"stsmock ready at {base_url} (admin token: {where}; {workers} workers{s3})")
    stopping = stop.supervise(processes)
    if options.s3_store is not None:
        options.s3_store.stop()
    return 0 if stopping or all(p.exitcode == 0 for p in processes) else 1
