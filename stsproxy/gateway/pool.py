"""Keep-alive connections to one plain-http backend, and the response the proxy streams from.

Each exchange writes one request head (and body) on a pooled :class:`~.http1.Connection` and returns at
the response head; the connection goes back to the pool only when the exchange completed cleanly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator

from multidict import CIMultiDict, CIMultiDictProxy

from .http1 import Connection, within

#: An idle connection older than this is closed instead of reused (backends time out idle ones).
IDLE_SECONDS = 15.0


class BodyReader:
    """What the proxy reads a response body with (the subset of aiohttp's StreamReader it uses)."""

    def __init__(self, conn: Connection, timeout: float) -> None:
        self._conn, self._timeout = conn, timeout

    async def iter_any(self) -> AsyncIterator[bytes]:
        while True:
            data = await self._conn.next_chunk(self._timeout)
            if not data:
                return
            yield data


class Response:
    def __init__(
        self, pool: Pool, conn: Connection, head: tuple[int, str, CIMultiDict[str]], writer: asyncio.Task[None] | None
    ) -> None:
        self.status, self.reason, headers = head
        self.headers = CIMultiDictProxy(headers)
        self.connection = conn
        self.content = BodyReader(conn, pool.read_timeout)
        self._pool, self._writer, self._released = pool, writer, False

    async def read(self) -> bytes:  # small bodies only (owned operations)
        return b"".join([chunk async for chunk in self.content.iter_any()])

    def release(self) -> None:
        """Back to the pool if the exchange completed cleanly, else closed."""
        if self._released:
            return
        self._released = True
        conn = self.connection
        writer = self._writer
        sent = writer is None or (writer.done() and not writer.cancelled() and writer.exception() is None)
        if conn.body_done and conn.keep_alive and not conn.closed and sent:
            self._pool.put(conn)
        else:
            self.close()

    def close(self) -> None:
        self._released = True
        writer = self._writer
        if writer is not None and not writer.done():
            writer.cancel()
        elif writer is not None and not writer.cancelled():
            writer.exception()  # retrieved: the proxy reports the body's error itself
        if self.connection.transport is not None:
            self.connection.transport.close()


class Pool:
    """Idle keep-alive connections to one ``host:port``; a stale one is replaced transparently."""

    def __init__(
        self, host: str, port: int, *, recv_size: int, connect_timeout: float, read_timeout: float, limit: int
    ) -> None:
        self.host, self.port, self.recv_size = host, port, recv_size
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self._idle: list[Connection] = []
        self._limit = limit

    def put(self, conn: Connection) -> None:
        """Keep at most ``limit`` idle connections (concurrency itself is bounded by the listener's limits)."""
        if len(self._idle) >= self._limit:
            if conn.transport is not None:
                conn.transport.close()
            return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    async def _connect(self) -> Connection:
        loop = asyncio.get_running_loop()
        fut = loop.create_connection(lambda: Connection(self.recv_size), self.host, self.port)
        _, conn = await asyncio.wait_for(fut, self.connect_timeout)
        return conn

    def _take_idle(self) -> Connection | None:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            transport = conn.transport
            if conn.closed or transport is None or transport.is_closing() or now - conn.idle_since > IDLE_SECONDS:
                if transport is not None:
                    transport.close()
                continue
            return conn
        return None

    async def request(
        self, head: bytes, body: AsyncIterable[bytes] | bytes | None, *, no_body: bool, idempotent: bool
    ) -> Response:
        """Send ``head`` (+ body) and return once the response head arrived."""
        conn = self._take_idle()
        reused = conn is not None
        if conn is None:
            conn = await self._connect()
        try:
            return await self._exchange(conn, head, body, no_body=no_body)
        except ConnectionError:
            # a pooled connection the backend closed while idle: a GET/HEAD is retried once, fresh
            if not (reused and idempotent and body is None):
                raise
            return await self._exchange(await self._connect(), head, body, no_body=no_body)

    async def _exchange(
        self, conn: Connection, head: bytes, body: AsyncIterable[bytes] | bytes | None, *, no_body: bool
    ) -> Response:
        assert conn.transport is not None
        waiting, transport = conn.begin(no_body=no_body), conn.transport
        writer: asyncio.Task[None] | None = None
        if body is None or isinstance(body, bytes):
            transport.write(head + body if body else head)
        else:
            writer = asyncio.get_running_loop().create_task(_write_body(conn, head, body))
        try:
            parsed = await within(waiting, self.read_timeout)
        except BaseException as exc:
            transport.close()
            if writer is not None:
                failed = writer.exception() if writer.done() and not writer.cancelled() else None
                if failed is not None:
                    raise failed from exc  # the body's own error (it failed verification) comes first
                writer.cancel()
            raise
        return Response(self, conn, parsed, writer)

    def close(self) -> None:
        for conn in self._idle:
            if conn.transport is not None:
                conn.transport.close()
        self._idle.clear()


async def _write_body(conn: Connection, head: bytes, body: AsyncIterable[bytes]) -> None:
    """Stream the body; an error from the body (it failed verification) aborts the connection.

    The head leaves with the first body bytes: a body that fails before any byte was forwarded
    sends the backend nothing at all (SeaweedFS 4.48 stores an empty object when a PUT is cut off
    right after its head)."""
    assert conn.transport is not None
    pending: bytes | None = head
    try:
        async for chunk in body:
            if conn.closed:
                return
            conn.transport.write(pending + chunk if pending is not None else chunk)
            pending = None
            await conn.drain()
        if pending is not None:
            conn.transport.write(pending)
    except BaseException:
        conn.closed = True
        conn.transport.abort()
        raise
