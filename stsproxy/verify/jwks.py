"""Where an issuer's keys come from (in-process or HTTP(S)), and the bounded cache in front of them.

The cache is keyed by issuer URL and remembers which source filled it, so
replacing an issuer's source drops its keys. Entries live for the configured
TTL; an unknown ``kid`` may trigger one refetch per issuer per minimum
interval, so random kids cannot turn the STS into a JWKS hammer. Parsed keys
are kept on the entry so each JWK is imported once.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import ssl
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp

from ..ports import Clock
from ..settings import TokenValidationSettings

MAX_JWKS_BYTES = 1024 * 1024
MAX_CACHED_ISSUERS = 64


class IdpUnreachable(Exception):
    """The JWKS (or discovery document) could not be obtained; the message says why."""


class JwksSource(Protocol):
    async def fetch(self) -> dict[str, Any]:
        """Return a JWKS dict; raise :class:`IdpUnreachable` on network/HTTP/parse failure."""


def check_jwks(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise IdpUnreachable(f"{where} did not return a JWKS (a JSON object with a 'keys' array)")
    return doc


class StaticJwksSource:
    """Keys from a callable (sync or async): the built-in issuers hand over their JWKS in-process."""

    def __init__(self, provider: Callable[[], Any]) -> None:
        self._provider = provider

    async def fetch(self) -> dict[str, Any]:
        try:
            result = self._provider()
            if inspect.isawaitable(result):
                result = await result
        except IdpUnreachable:
            raise
        except Exception as exc:  # the provider is foreign code; its failure is an "unreachable IdP"
            raise IdpUnreachable(f"JWKS provider failed: {exc}") from exc
        return check_jwks(result, "JWKS provider")

    async def close(self) -> None:
        return None


class HttpJwksSource:
    """JWKS over HTTP(S), found through OpenID discovery unless ``jwks_uri`` is configured.

    The discovery document's ``issuer`` must equal the configured issuer (OIDC
    Discovery §4.3), so a misconfigured URL cannot silently trust another IdP.
    """

    def __init__(
        self,
        issuer: str,
        *,
        jwks_uri: str | None = None,
        ca_bundle: str | None = None,
        insecure_tls: bool = False,
        timeout: float = 5.0,
        max_bytes: int = MAX_JWKS_BYTES,
    ) -> None:
        self.issuer = issuer
        self._configured_uri = jwks_uri
        self._discovered_uri: str | None = None
        self._ca_bundle = ca_bundle
        self._insecure_tls = insecure_tls
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None
        #: Number of HTTP requests made (discovery + JWKS); handy for tests and metrics.
        self.requests = 0

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"

    def _ssl(self) -> ssl.SSLContext | bool:
        if self._insecure_tls:
            return False
        if self._ca_bundle:
            return ssl.create_default_context(cafile=self._ca_bundle)
        return True

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(ssl=self._ssl()),
            )
        return self._session

    async def _get_json(self, url: str, what: str) -> Any:
        self.requests += 1
        try:
            async with self._get_session().get(url, headers={"Accept": "application/json"}) as resp:
                if resp.status != 200:
                    raise IdpUnreachable(f"{what} {url} answered HTTP {resp.status}")
                if resp.content_length is not None and resp.content_length > self._max_bytes:
                    raise IdpUnreachable(f"{what} {url} is larger than {self._max_bytes} bytes")
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.content.iter_chunked(65536):
                    size += len(chunk)
                    if size > self._max_bytes:  # chunked responses carry no Content-Length
                        raise IdpUnreachable(f"{what} {url} is larger than {self._max_bytes} bytes")
                    chunks.append(chunk)
                body = b"".join(chunks)
        except IdpUnreachable:
            raise
        except TimeoutError:
            raise IdpUnreachable(f"{what} {url} timed out after {self._timeout}s") from None
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            raise IdpUnreachable(f"{what} {url} could not be fetched: {exc or type(exc).__name__}") from None
        try:
            return json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise IdpUnreachable(f"{what} {url} is not valid JSON") from None

    async def _jwks_uri(self) -> str:
        if self._configured_uri:
            return self._configured_uri
        if self._discovered_uri:
            return self._discovered_uri
        doc = await self._get_json(self.discovery_url, "OpenID discovery document")
        if not isinstance(doc, dict):
            raise IdpUnreachable(f"OpenID discovery document {self.discovery_url} is not a JSON object")
        if doc.get("issuer") != self.issuer:
            raise IdpUnreachable(
                f"OpenID discovery document {self.discovery_url} names issuer {doc.get('issuer')!r}, "
                f"expected {self.issuer!r}"
            )
        uri = doc.get("jwks_uri")
        if not isinstance(uri, str) or not uri:
            raise IdpUnreachable(f"OpenID discovery document {self.discovery_url} has no jwks_uri")
        self._discovered_uri = uri
        return uri

    async def fetch(self) -> dict[str, Any]:
        uri = await self._jwks_uri()
        try:
            return check_jwks(await self._get_json(uri, "JWKS"), f"JWKS {uri}")
        except IdpUnreachable:
            self._discovered_uri = None  # rediscover next time: the IdP may have moved its keys
            raise

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass
class JwksEntry:
    source: JwksSource
    fetched_at: float
    keys: list[dict[str, Any]]
    #: JWK index -> imported key, filled on first use.
    parsed: dict[int, Any] = field(default_factory=dict)
    #: Tokens (exact text) whose signature verified against these keys. Same bytes, same keys: same
    #: answer, so a client presenting one token again (an SDK refreshing from one token file) skips
    #: the RSA/EC operation. Per fetch: a refreshed JWKS starts empty. Bounded by VERIFIED_MAX.
    verified: set[str] = field(default_factory=set)
    #: (kid, alg) -> the keys it names, and the first of them usable with alg (None: none is). Only
    #: kids present in these keys are kept, so the memo is bounded by the key set, not by the tokens.
    chosen: dict[tuple[str | None, str], tuple[list[tuple[int, dict[str, Any]]], int | None]] = field(
        default_factory=dict
    )


#: Verified-signature memo size per JWKS entry; cleared whole when full (cheap, and bounded).
VERIFIED_MAX = 4096


class JwksCache:
    """Bounded LRU of issuers' key sets with a TTL and a rate-limited refetch for unknown kids."""

    def __init__(self, settings: TokenValidationSettings, clock: Clock, *, max_issuers: int = MAX_CACHED_ISSUERS):
        self._settings = settings
        self._clock = clock
        self._max = max(1, max_issuers)
        self._entries: OrderedDict[str, JwksEntry] = OrderedDict()
        self._last_refetch: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def keep_only(self, sources: dict[str, JwksSource]) -> None:
        """Drop entries whose issuer is gone or whose source was replaced."""
        for iss in list(self._entries):
            if iss not in sources or self._entries[iss].source is not sources[iss]:
                del self._entries[iss]

    def invalidate(self, issuer: str) -> None:
        self._entries.pop(issuer, None)
        self._last_refetch.pop(issuer, None)

    async def _fetch(self, issuer: str, source: JwksSource) -> JwksEntry:
        doc = await source.fetch()  # IdpUnreachable propagates: the jwks-fetch check names it
        entry = JwksEntry(source, self._clock.now(), [key for key in doc["keys"] if isinstance(key, dict)])
        self._entries[issuer] = entry
        self._entries.move_to_end(issuer)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return entry

    def fresh(self, issuer: str, source: JwksSource) -> JwksEntry | None:
        entry = self._entries.get(issuer)
        if entry is None or entry.source is not source:
            return None
        if self._clock.now() - entry.fetched_at >= self._settings.jwks_cache_ttl_seconds:
            return None
        self._entries.move_to_end(issuer)
        return entry

    async def keys(self, issuer: str, source: JwksSource) -> tuple[JwksEntry, bool]:
        """The cached key set (fetching when missing or past TTL) and whether it was fetched now."""
        entry = self.fresh(issuer, source)
        if entry is not None:
            return entry, False
        async with self._locks.setdefault(issuer, asyncio.Lock()):
            entry = self.fresh(issuer, source)  # another task may have fetched while we waited
            if entry is not None:
                return entry, False
            return await self._fetch(issuer, source), True

    async def refetch(self, issuer: str, source: JwksSource) -> JwksEntry | None:
        """One refetch for an unknown kid, unless one happened less than the minimum interval ago."""
        now = self._clock.now()
        last = self._last_refetch.get(issuer)
        if last is not None and now - last < self._settings.jwks_refetch_min_interval_seconds:
            return None
        self._last_refetch[issuer] = now
        async with self._locks.setdefault(issuer, asyncio.Lock()):
            return await self._fetch(issuer, source)
