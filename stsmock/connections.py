"""Bounded connections for every listener: a connection limit and a header timeout.

Why: aiohttp alone waits ~an hour for a connection's first request, and accepts until
the process runs out of file descriptors (after which ``accept()`` fails in a loop and
``/healthz`` stops answering). Each listener here is a :class:`GuardedSockSite`: a
connection beyond ``server.max_connections`` gets one ``503`` naming the limit and is
closed; a connection whose request headers are not complete within
``server.header_timeout`` gets a ``408`` and is closed -- on every request of a kept-alive
connection, not only the first (the timer re-arms when a new request starts on an idle
connection). Idle keep-alive connections are closed after ``server.idle_timeout`` (aiohttp's
keep-alive timer, passed to the runner). Request bodies are bounded in time by
:func:`body_timeout_middleware`.

A request aiohttp cannot parse (a request line or header over 8190 bytes, more than 128
headers, bad bytes) is answered in the listener's own protocol (``error_format``: STS XML,
OAuth JSON, S3 XML) instead of aiohttp's plain-text 400.
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
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger("stsmock.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: Descriptors kept free for the store, key files, upstream calls and logging.
_RESERVED_FDS = 64
#: aiohttp's parser limits (its defaults; the runners do not change them), named in the errors.
MAX_LINE_BYTES = 8190
MAX_HEADERS = 128
#: How much of a request's first bytes is kept to name its path in a parse error.
_HEAD_BYTES = 1024

#: ``(path, status, kind, message) -> (content type, body)``: a connection-level error in the
#: listener's protocol. ``path`` is "" when unknown; ``kind`` is one of ``KINDS``.
ErrorFormat = Callable[[str, int, str, str], tuple[str, bytes]]
KINDS = ("too_many_connections", "header_timeout", "line_too_long", "headers_too_large", "bad_request")


def json_errors(path: str, status: int, kind: str, message: str) -> tuple[str, bytes]:
    """The default format: OAuth-style JSON (``error`` + ``error_description``)."""
    error = {"too_many_connections": "connection_refused", "header_timeout": "request_timeout"}.get(
        kind, "invalid_request"
    )
    return "application/json", json.dumps({"error": error, "error_description": message}).encode()


def request_path(head: bytes) -> str:
    """The path (no query) of a request whose first bytes are ``head`` ("" if it has none yet)."""
    line = head.split(b"\r\n", 1)[0]
    parts = line.split(b" ", 2)
    if len(parts) < 2 or not parts[1].startswith(b"/"):
        return ""
    return parts[1].split(b"?", 1)[0].decode("latin-1")


def describe_parse_error(exc: BaseException | None, line_length: int | None) -> tuple[str, str]:
    """``(kind, message)`` for a request aiohttp's parser refused; the message names the limit.

    ``line_length``: the request line's length (None: no line end seen yet)."""
    if isinstance(exc, LineTooLong):
        if line_length is None or line_length > MAX_LINE_BYTES:
            return "line_too_long", (
                f"the request line is longer than {MAX_LINE_BYTES} bytes (the server's limit); "
                "send long parameters in a POST body"
            )
        return "headers_too_large", f"a request header line is longer than {MAX_LINE_BYTES} bytes (the server's limit)"
    text = str(exc.message if isinstance(exc, HttpProcessingError) else exc or "").strip()
    if "too many headers" in text.lower():
        return "headers_too_large", f"the request has more than {MAX_HEADERS} headers (the server's limit)"
    first = text.splitlines()[0].strip(" :") if text else "malformed request"
    return "bad_request", f"malformed HTTP request: {first[:200]}"


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


def _raw_response(fmt: ErrorFormat, path: str, status: str, kind: str, message: str) -> bytes:
    content_type, body = fmt(path, int(status.split()[0]), kind, message)
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\nRetry-After: 1\r\n\r\n"
    )
    return head.encode() + body


class FormattedErrorsHandler(RequestHandler):
    """aiohttp's per-connection handler, answering unparsable requests in the listener's protocol."""

    __slots__ = ("error_format", "guard")
    error_format: ErrorFormat | None
    guard: _Guarded | None

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        guard: _Guarded | None = getattr(self, "guard", None)
        fmt: ErrorFormat | None = getattr(self, "error_format", None)
        if fmt is None or guard is None or status >= 500 or request.writer.output_size > 0:
            return super().handle_error(request, status, exc, message)
        kind, text = describe_parse_error(exc, guard.line_length)
        log.debug("malformed request from %s refused (%s): %s", request.remote, kind, text)
        content_type, body = fmt(request_path(guard.head), status, kind, text)
        resp = web.Response(status=status, body=body, headers={"Content-Type": content_type})
        resp.force_close()
        return resp


def _handler_for(server: web.Server, fmt: ErrorFormat) -> Any:
    """``server()`` (aiohttp's factory), as a :class:`FormattedErrorsHandler`; plain if that fails."""
    try:
        handler = FormattedErrorsHandler(server, loop=server._loop, **server._kwargs)  # noqa: SLF001
    except (AttributeError, TypeError):  # an aiohttp without these internals: its own 400s
        return server()
    handler.error_format = fmt
    return handler


class _Guarded(asyncio.Protocol):
    """Wraps aiohttp's per-connection protocol: counts it, rejects beyond the limit, times out slow headers."""

    def __init__(self, inner: Any, limits: Limits, maximum: int, fmt: ErrorFormat = json_errors) -> None:
        self.inner = inner
        self.limits = limits
        self.maximum = maximum
        self.fmt = fmt
        self.transport: asyncio.Transport | None = None
        self.rejected = False
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""
        #: The current request's first bytes (for its path), its length so far and its request line's length.
        self.head = b""
        self._seen = 0
        self.line_length: int | None = None
        if isinstance(inner, FormattedErrorsHandler):
            inner.guard = self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if self.limits.open >= self.maximum:
            self.rejected = True
            self.limits.rejected += 1
            message = f"too many open connections (server.max_connections = {self.maximum})"
            raw = _raw_response(self.fmt, "", "503 Service Unavailable", "too_many_connections", message)
            transport.write(raw)  # type: ignore[attr-defined]
            transport.close()
            return
        self.limits.open += 1
        self._arm()
        self.inner.connection_made(transport)

    def _arm(self) -> None:
        """A request starts: its headers must be complete within header_timeout."""
        self._tail, self.head, self._seen, self.line_length = b"", b"", 0, None
        self._timer = asyncio.get_running_loop().call_later(self.limits.header_timeout, self._headers_late)

    def _idle(self) -> bool:
        """aiohttp waits for the next request: nothing queued, nothing in progress (so new bytes start one)."""
        inner = self.inner
        waiter = getattr(inner, "_waiter", None)
        return (
            waiter is not None
            and not waiter.done()
            and not getattr(inner, "_messages", True)
            and not getattr(inner, "_request_in_progress", True)
        )

    def _headers_late(self) -> None:
        self._timer = None
        if self.transport is None or self.transport.is_closing():
            return
        message = f"request headers not complete within server.header_timeout ({self.limits.header_timeout:g} s)"
        path = request_path(self.head)
        self.transport.write(_raw_response(self.fmt, path, "408 Request Timeout", "header_timeout", message))
        self.inner.force_close()
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self.rejected:
            return
        if self._timer is None and data and self._idle():
            self._arm()  # the next request on a kept-alive connection gets the same header deadline
        if self._timer is not None:
            if len(self.head) < _HEAD_BYTES:
                self.head += data[: _HEAD_BYTES - len(self.head)]
            seen = self._tail + data
            if self.line_length is None and (end := seen.find(b"\r\n")) >= 0:
                self.line_length = self._seen - len(self._tail) + end
            self._seen += len(data)
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
        self,
        runner: web.BaseRunner,
        sock: socket.socket,
        *,
        limits: Limits,
        ssl_context: ssl.SSLContext | None = None,
        error_format: ErrorFormat = json_errors,
    ) -> None:
        super().__init__(runner, sock, ssl_context=ssl_context)  # shutdown_timeout: set on the runner
        self.limits = limits
        self.error_format = error_format

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        maximum = self.limits.effective_max()
        fmt = self.error_format
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
            lambda: _Guarded(_handler_for(server, fmt), self.limits, maximum, fmt),
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
