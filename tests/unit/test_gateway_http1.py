"""The gateway's lean HTTP/1.1 backend client against a scripted loopback server (real sockets)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from stsproxy.gateway.backends import Backend
from stsproxy.gateway.errors import S3Error
from stsproxy.gateway.http1 import SMALL_RECV


class Script:
    """A server that answers each request head with the next scripted reply, and records what came in."""

    def __init__(self, replies: list[bytes | Callable[[bytes], bytes]]) -> None:
        self.replies = list(replies)
        self.received: list[bytes] = []
        self.connections = 0
        self.finished = 0
        self.changed = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while self.replies:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                try:
                    body = await reader.readexactly(length) if length else b""
                except asyncio.IncompleteReadError:
                    self.received.append(b"<short>")  # a head arrived, its body was cut off
                    return
                self.received.append(head + body)
                reply = self.replies.pop(0)
                writer.write(reply(head) if callable(reply) else reply)
                await writer.drain()
                if b"Connection: close" in (reply if isinstance(reply, bytes) else b""):
                    break
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                self.received.append(b"<partial head>")
        except ConnectionError:
            self.received.append(b"<reset>")
        finally:
            writer.close()
            self.finished += 1
            self.changed.set()

    async def wait_finished(self, count: int) -> None:
        while self.finished < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 30)


async def _backend(script: Script) -> tuple[Backend, asyncio.AbstractServer]:
    server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return Backend("t", f"http://127.0.0.1:{port}", "us-east-1", "AK", "SK"), server


async def _get(backend: Backend, method: str = "GET", body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
    headers = {"content-length": str(len(body))} if body is not None else {}
    resp = await backend.send(method, "/b/k", "", headers, payload="UNSIGNED-PAYLOAD", now=1.7e9, body=body)
    try:
        data = b"".join([chunk async for chunk in resp.content.iter_any()])
        return resp.status, dict(resp.headers.items()), data
    finally:
        resp.release()


async def test_length_chunked_interim_and_keep_alive() -> None:
    script = Script(
        [
            b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: "x"\r\n\r\nhello',
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n",  # HEAD: a length but no body
        ]
    )
    backend, server = await _backend(script)
    async with server:
        assert await _get(backend) == (200, {"Content-Length": "5", "ETag": '"x"'}, b"hello")
        assert (await _get(backend))[2] == b"abcde"
        assert (await _get(backend, "DELETE"))[0] == 204
        assert (await _get(backend, "HEAD"))[:1] == (200,)
        await backend.close()
    assert script.connections == 1  # one kept-alive connection for all four
    head = script.received[0].decode().lower()
    assert head.startswith("get /b/k http/1.1\r\n") and "authorization: aws4-hmac-sha256 credential=ak/" in head


async def test_close_delimited_body_and_large_reads() -> None:
    big = b"y" * (SMALL_RECV * 8)
    script = Script(
        [
            b"HTTP/1.0 200 OK\r\nConnection: close\r\n\r\nuntil-close",
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(big) + big,
        ]
    )
    backend, server = await _backend(script)
    async with server:
        assert (await _get(backend))[2] == b"until-close"
        assert (await _get(backend))[2] == big
        await backend.close()
    assert script.connections == 2  # an HTTP/1.0 answer is never reused


@pytest.mark.parametrize(
    "reply",
    [b"HTTP/1.1 2x0 OK\r\n\r\n", b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\n bad fold\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r"],
)
async def test_broken_answers_are_service_unavailable(reply: bytes) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    backend = Backend("t", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", "us-east-1", "AK", "SK")
    async with server:
        with pytest.raises(S3Error) as exc:
            await _get(backend)
        await backend.close()
    assert exc.value.status == 503 and exc.value.check == "backend-unreachable"


async def test_bad_chunk_framing_fails_the_body() -> None:
    script = Script([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"])
    backend, server = await _backend(script)
    async with server:
        with pytest.raises(ConnectionError):
            await _get(backend)
        await backend.close()


async def test_stale_pooled_connection_is_replaced_for_a_get() -> None:
    script = Script(
        [b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na", b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nb"]
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if script.replies:  # one answer per connection, then the server drops it
            await reader.readuntil(b"\r\n\r\n")
            writer.write(script.replies.pop(0))
            await writer.drain()
        await asyncio.sleep(0)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    backend = Backend("t", f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", "us-east-1", "AK", "SK")
    async with server:
        assert (await _get(backend))[2] == b"a"
        assert (await _get(backend))[2] == b"b"
        await backend.close()


async def test_failing_body_sends_nothing_before_its_first_bytes_and_aborts_after() -> None:
    """The backend never sees a complete body that failed verification; none at all if it failed first."""
    script = Script([b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"])
    backend, server = await _backend(script)

    def failing(after: int) -> AsyncIterator[bytes]:
        async def gen() -> AsyncIterator[bytes]:
            for _ in range(after):
                yield b"z" * 10
            raise S3Error("BadDigest", "The checksum did not match.", 400, "checksum")

        return gen()

    async with server:
        for after in (0, 1):
            with pytest.raises(S3Error) as exc:
                await backend.send(
                    "PUT",
                    "/b/k",
                    "",
                    {"content-length": "20"},
                    payload="UNSIGNED-PAYLOAD",
                    now=1.7e9,
                    body=failing(after),
                )
            assert exc.value.code == "BadDigest"
        await script.wait_finished(2)
        await backend.close()
    # the server saw nothing at all for the first request, a head plus 10 of 20 bytes for the second
    assert script.received == [b"<short>"]
    assert script.connections == 2
