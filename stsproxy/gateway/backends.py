"""The stores behind the gateway: one aiohttp client per backend, path-style, re-signed.

Bytes pass untouched: no decompression, no auto headers, URLs sent ``encoded=True`` so yarl never
collapses ``..`` or ``//`` in keys. A bucket map routes each bucket to its backend.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import yarl

from .errors import S3Error
from .pool import Pool, Response
from .settings import BackendSettings, GatewaySettings
from .signer import sign_backend

_SKIP_AUTO = ("Content-Type", "Accept", "Accept-Encoding", "User-Agent")
#: Read buffer per connection, both toward clients and backends (aiohttp's default is 64 KiB).
READ_BUFFER = 512 * 1024
#: Bytes per socket read while a body streams through (asyncio reads at most 256 KiB at a time).
RECV_SIZE = 1024 * 1024


@dataclass
class Backend:
    name: str
    endpoint: str
    region: str
    access_key: str
    secret_key: str
    session_token: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    timeout: float = 300
    max_connections: int = 64
    #: Awaited before the first request (the embedded store may still be starting).
    ready: Callable[[], Awaitable[None]] | None = None
    _session: aiohttp.ClientSession | None = field(default=None, repr=False)
    _pool: Pool | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.endpoint)
        self.scheme = parts.scheme
        self.netloc = parts.netloc
        self.base_path = parts.path.rstrip("/")
        default_port = {"http": 80, "https": 443}[parts.scheme]
        self.host_header = (
            parts.hostname + (f":{parts.port}" if parts.port and parts.port != default_port else "")
            if parts.hostname
            else parts.netloc
        )

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            ssl_opt: Any = None
            if self.scheme == "https":
                if not self.verify_tls:
                    ssl_opt = False
                elif self.ca_file:
                    ssl_opt = ssl.create_default_context(cafile=self.ca_file)
            connector = aiohttp.TCPConnector(limit=self.max_connections, ssl=ssl_opt, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=_SKIP_AUTO,
                timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=self.timeout),
                read_bufsize=READ_BUFFER,  # fewer, larger reads: each one costs an event-loop wake-up
            )
        return self._session

    async def send(
        self,
        method: str,
        path: str,
        query: str,
        headers: dict[str, str],
        *,
        payload: str,
        now: float,
        body: AsyncIterable[bytes] | bytes | None = None,
    ) -> Response | aiohttp.ClientResponse:
        """One signed request; ``path`` is the encoded path-style path, ``query`` canonical."""
        if self.ready is not None:
            await self.ready()
        full_path = self.base_path + path
        signed = {**headers, "host": self.host_header, "x-amz-content-sha256": payload}
        signed.update(
            sign_backend(
                method,
                full_path,
                query,
                {k: v for k, v in signed.items() if _signable(k)},
                access_key=self.access_key,
                secret=self.secret_key,
                region=self.region,
                now=now,
                session_token=self.session_token,
            )
        )
        target = full_path + (f"?{query}" if query else "")
        try:
            if self.scheme == "http":  # loopback and LAN stores: the lean client (http1.py says why)
                return await self._lean().request(
                    _head(method, target, signed), body, no_body=method == "HEAD", idempotent=method in ("GET", "HEAD")
                )
            url = yarl.URL(f"{self.scheme}://{self.netloc}{target}", encoded=True)
            return await self._client().request(method, url, headers=signed, data=body, allow_redirects=False)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise S3Error(
                "ServiceUnavailable",
                f"The S3 backend '{self.name}' ({self.endpoint}) is not reachable: {type(exc).__name__}",
                503,
                "backend-unreachable",
            ) from exc

    def _lean(self) -> Pool:
        if self._pool is None:
            parts = urlsplit(self.endpoint)
            self._pool = Pool(
                parts.hostname or "127.0.0.1",
                parts.port or 80,
                recv_size=RECV_SIZE,
                connect_timeout=10,
                read_timeout=self.timeout,
                limit=self.max_connections,
            )
        return self._pool

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._pool is not None:
            self._pool.close()


def _head(method: str, target: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers.items():
        if "\n" in value or "\r" in value:
            raise S3Error("InvalidArgument", f"Header {name} has an invalid value.", 400, "header-value")
        lines.append(f"{name}: {value}")
    lines.append("\r\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


def _signable(name: str) -> bool:
    lower = name.lower()
    return lower in ("host", "content-md5", "content-type") or lower.startswith("x-amz-")


def backend_from_settings(settings: BackendSettings, environ: dict[str, str] | None = None) -> Backend:
    env = os.environ if environ is None else environ

    def pick(literal: str | None, var: str | None, what: str) -> str:
        if literal:
            return literal
        if var and env.get(var):
            return env[var]
        where = f" (environment variable {var} is not set)" if var else ""
        raise ValueError(f"gateway.backends[{settings.name}]: no {what}{where}; set {what} or {what}_env")

    return Backend(
        name=settings.name,
        endpoint=settings.endpoint.rstrip("/"),
        region=settings.region,
        access_key=pick(settings.access_key, settings.access_key_env, "access_key"),
        secret_key=pick(settings.secret_key, settings.secret_key_env, "secret_key"),
        session_token=env.get(settings.session_token_env) if settings.session_token_env else None,
        verify_tls=settings.tls.verify,
        ca_file=settings.tls.ca_file,
        timeout=settings.timeout_seconds,
        max_connections=settings.max_connections,
    )


class BackendRouter:
    """bucket → backend; ``unavailable`` explains, in one line, why there is no backend at all."""

    def __init__(
        self, backends: list[Backend], buckets: dict[str, str] | None = None, *, unavailable: str | None = None
    ) -> None:
        self.backends = backends
        self._by_name = {b.name: b for b in backends}
        self._buckets = dict(buckets or {})
        self.unavailable = unavailable

    @classmethod
    def from_settings(cls, settings: GatewaySettings) -> BackendRouter:
        return cls([backend_from_settings(b) for b in settings.backends], settings.buckets)

    def for_bucket(self, bucket: str | None) -> Backend:
        if not self.backends:
            raise S3Error(
                "ServiceUnavailable", self.unavailable or "No S3 backend is configured.", 503, "backend-missing"
            )
        name = self._buckets.get(bucket or "")
        return self._by_name[name] if name else self.backends[0]

    async def close(self) -> None:
        for backend in self.backends:
            await backend.close()
