"""PostObject streams: the backend receives the file while the client is still sending it.

In-process: the real gateway (stsproxy.gateway.proxy) in front of a recording S3 stand-in, a form
signed by botocore's ``generate_presigned_post``. The client sends half of an 8 MiB file, then
waits until the backend has seen bytes of it; a gateway that buffered the file would never let
that happen (the wait is a deadlock guard, not a timing assertion).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import boto3
from aiohttp import ClientSession, web
from botocore.config import Config

from stsproxy.gateway.backends import Backend, BackendRouter
from stsproxy.gateway.errors import S3Error
from stsproxy.gateway.ports import Decision, Principal
from stsproxy.gateway.proxy import Gateway
from stsproxy.gateway.settings import GatewaySettings

MIB = 1024 * 1024
SECRET = "gateway-test-secret"


class Credentials:
    def resolve(self, access_key: str, session_token: str | None, now: float) -> tuple[str, Principal]:
        if access_key != "AKIDSTREAM":
            raise S3Error("InvalidAccessKeyId", "unknown", 403, "test")
        return SECRET, Principal(access_key=access_key, kind="user")


class AllowAll:
    def decide(self, principal: Principal, action: str, resource: str, context: Mapping[str, Any]) -> Decision:
        return Decision(True, "test-allow", "allowed")

    def condition_keys(
        self, principal: Principal, action: str, resource: str, context: Mapping[str, Any], *, prefix: str = ""
    ) -> frozenset[str]:
        return frozenset()


async def _serve(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def test_post_object_file_reaches_the_backend_while_the_client_still_sends() -> None:
    seen = asyncio.Event()
    stored: dict[str, Any] = {}

    async def backend_put(request: web.Request) -> web.Response:
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_any():
            digest.update(chunk)
            size += len(chunk)
            seen.set()
        stored.update(path=request.path, size=size, sha256=digest.hexdigest(), length=request.content_length)
        stored["content_type"] = request.headers.get("Content-Type")
        return web.Response(headers={"ETag": '"etag-1"'})

    backend_app = web.Application()
    backend_app.router.add_put("/{tail:.*}", backend_put)
    backend_runner, backend_url = await _serve(backend_app)
    audit: list[dict[str, Any]] = []

    async def sink(record: dict[str, Any]) -> None:
        audit.append(record)

    router = BackendRouter([Backend("fake", backend_url, "us-east-1", "BACKENDAK", "BACKENDSK")])
    gateway = Gateway(GatewaySettings(), router, Credentials(), AllowAll(), sink, time.time)
    gateway_app = web.Application()
    gateway.add_routes(gateway_app)
    gateway_runner, gateway_url = await _serve(gateway_app)
    try:
        client = boto3.client(
            "s3",
            endpoint_url=gateway_url,
            region_name="us-east-1",
            aws_access_key_id="AKIDSTREAM",
            aws_secret_access_key=SECRET,
            config=Config(signature_version="s3v4"),
        )
        form = client.generate_presigned_post("bkt", "big/${filename}", ExpiresIn=600)
        boundary = "streamtestboundary"
        head = b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in form["fields"].items()
        )
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="f.bin"\r\n\r\n'.encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        block = os.urandom(64 * 1024)
        blocks = 128  # 8 MiB
        expected = hashlib.sha256(block * blocks).hexdigest()

        async def body() -> AsyncIterator[bytes]:
            yield head
            for i in range(blocks):
                if i == blocks // 2:
                    await asyncio.wait_for(seen.wait(), 120)  # deadlock guard: a buffering gateway never gets here
                yield block
            yield tail

        length = len(head) + blocks * len(block) + len(tail)
        async with ClientSession() as session:
            async with session.post(
                f"{gateway_url}/bkt",
                data=body(),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "Content-Length": str(length)},
            ) as resp:
                assert resp.status == 204, await resp.text()
                assert resp.headers["ETag"] == '"etag-1"'
        assert stored == {
            "path": "/bkt/big/f.bin",
            "size": blocks * len(block),
            "sha256": expected,
            "length": blocks * len(block),
            "content_type": "binary/octet-stream",
        }
        record = audit[-1]
        assert record["operation"] == "PostObject" and record["decision"] == "allow" and record["status"] == 204
        assert record["key"] == "big/f.bin" and record["bytes_in"] == length

        # a 2 MiB file followed by a field: its size is not what Content-Length implies, so the
        # upload is aborted one buffer short and the backend never completes (never stores) it
        stored.clear()
        extra = f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="late"\r\n\r\nfield after the file'.encode()
        bad = head + block * 32 + extra + tail
        async with ClientSession() as session:
            async with session.post(
                f"{gateway_url}/bkt", data=bad, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
            ) as resp:
                assert resp.status == 400 and "<Code>MalformedPOSTRequest</Code>" in await resp.text()
        assert stored == {}
        assert audit[-1]["check"] == "post-form-length" and audit[-1]["decision"] == "deny"
    finally:
        await gateway_runner.cleanup()
        await router.close()
        await backend_runner.cleanup()
