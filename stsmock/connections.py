"""Bounded connections for every listener: a connection limit and a header timeout.

Why: aiohttp alone waits ~an hour for a connection's first request, and accepts until
the process runs out of file descriptors (after which ``accept()`` fails in a loop and
``/healthz`` stops answering). Each listener here is a :class:`GuardedSockSite`: a
connection beyond ``server.max_connections`` gets one ``503`` naming the limit and is
closed; a connection whose request headers are not complete within
``server.header_timeout`` gets a ``408`` and is closed. Idle keep-alive connections are
closed after ``server.idle_timeout`` (aiohttp's keep-alive timer, passed to the runner).
Request bodies are bounded in time by :func:`body_timeout_middleware`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

log = logging.getLogger("stsmock.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Descriptors kept free for the store, key files, upstream calls and logging.
_RESERVED_FDS = 64


@dataclass
class Limits:
    max_connections: int = 512
    header_timeout: float = 10.0
    idle_timeout: float = 30.0
    body_timeout: float = 30.0
    open: int = 0
    rejected: int = 0

    def effective_max(self) -> int:
        """The configured limit, lowered to what the descriptor limit (``ulimit -n``) can hold."""
        try:
            soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        except (OSError, ValueError):
            return self.max_connections
        if soft == resource.RLIM_INFINITY:
            return self.max_connections
        return max(1, min(self.max_connections, soft - _RESERVED_FDS))


def _raw_response(status: str, message: str, **extra: str) -> bytes:
    error = "connection_refused" if status.startswith("503") else "request_timeout"
    body = json.dumps({"error": error, **extra, "error_description": message}).encode()
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\nRetry-After: 1\r\n\r\n"
    )
    return head.encode() + body


class _Guarded(asyncio.Protocol):
    """Wraps aiohttp's per-connection protocol: counts it, rejects beyond the limit, times out slow headers."""

    def __init__(self, inner: Any, limits: Limits, maximum: int) -> None:
        self.inner = inner
        self.limits = limits
        self.maximum = maximum
        self.transport: asyncio.Transport | None = None
        self.rejected = False
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.limits.open >= self.maximum:
            self.rejected = True
            self.limits.rejected += 1
            message = f"too many open connections (server.max_connections = {self.maximum})"
            transport.write(_raw_response("503 Service Unavailable", message))  # type: ignore[attr-defined]
            transport.close()
            return
        self.limits.open += 1
        self._timer = asyncio.get_running_loop().call_later(self.limits.header_timeout, self._headers_late)
        self.inner.connection_made(transport)

    def _headers_late(self) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing():
            return
        message = f"request headers not complete within server.header_timeout ({self.limits.header_timeout:g} s)"
        self.transport.write(_raw_response("408 Request Timeout", message))
        self.inner.force_close()
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.rejected:
            return
        if self._timer is not None:
            seen = self._tail + data
            if b"\r\n\r\n" in seen:
                self._timer.cancel()
                self._timer = None
            else:
                self._tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self.rejected else self.inner.eof_received()

    def pause_writing(self) -> None:
        if not self.rejected:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if not self.rejected:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.rejected:
            return
        self.limits.open -= 1
        self.inner.connection_lost(exc)


class GuardedSockSite(web.SockSite):
    """A SockSite (optionally TLS) whose connections go through :class:`_Guarded`."""

    def __init__(
        self, runner: web.BaseRunner, sock: socket.socket, *, limits: Limits, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(runner, sock, ssl_context=ssl_context, shutdown_timeout=5.0)
        self.limits = limits

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        maximum = self.limits.effective_max()
        if maximum < self.limits.max_connections:
            log.warning(
                "server.max_connections lowered from %d to %d to fit the descriptor limit (ulimit -n)",
                self.limits.max_connections,
                maximum,
            )
        extra: dict[str, Any] = {}
        if self._ssl_context is not None:
            extra["ssl_handshake_timeout"] = self.limits.header_timeout
        self._server = await loop.create_server(
            lambda: _Guarded(server(), self.limits, maximum),
            sock=self._sock,
            ssl=self._ssl_context,
            backlog=self._backlog,
            **extra,
        )


class _ClientErrorsAreNotTracebacks(logging.Filter):
    """aiohttp logs a malformed request (line too long, bad header bytes) as an ERROR with a traceback.

    It already answered 400; a client's junk is not a server fault, so the record becomes one
    DEBUG line (thousands of junk requests must not flood the log with tracebacks).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        from aiohttp.http_exceptions import HttpProcessingError

        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and (exc.code or 400) < 500:
            record.msg = f"{record.getMessage()}: {exc.code} {str(exc.message)[:200]}"
            record.args = ()
            record.exc_info = None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


def quiet_client_errors() -> None:
    """Install the filter once on aiohttp's server logger (idempotent)."""
    logger = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, _ClientErrorsAreNotTracebacks) for f in logger.filters):
        logger.addFilter(_ClientErrorsAreNotTracebacks())


quiet_client_errors()


def body_timeout_middleware(seconds: float, max_body_bytes: int) -> Any:
    """Read every request body within ``seconds`` (bodies are small and bounded by server.max_body_bytes).

    The body is cached by aiohttp, so handlers reading it afterwards (``request.read()``,
    ``request.post()``) get it at once.
    """

    @web.middleware
    async def body_timeout(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        too_big = length is not None and length > max_body_bytes
        if request.body_exists and request.can_read_body and not too_big:
            try:
                if request.content.is_eof():  # the whole body came with the headers: nothing to wait for
                    await request.read()
                else:
                    async with asyncio.timeout(seconds):  # no extra Task per request (wait_for makes one)
                        await request.read()
            except TimeoutError:
                return web.json_response(
                    {
                        "error": "request_timeout",
                        "error_description": f"request body not received within server.body_timeout ({seconds:g} s)",
                    },
                    status=408,
                    headers={"Connection": "close"},
                )
            except web.HTTPRequestEntityTooLarge as exc:  # chunked and too big (a known length is left to the handler)
                return web.json_response(
                    {"error": "request_too_large", "error_description": f"{exc.text} (server.max_body_bytes)"},
                    status=413,
                    headers={"Connection": "close"},
                )
        return await handler(request)

    return body_timeout
