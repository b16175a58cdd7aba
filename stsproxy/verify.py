"""Web-identity token verification against trusted issuers' JWKS.

A pipeline of named checks (``token-size`` … ``sub``); the first failure raises
the mapped :mod:`stsproxy.errors` class with its ``check`` name, which the audit
record and debug responses expose. Keys are cached per issuer (TTL, bounded
LRU); an unknown ``kid`` triggers at most one refetch, rate-limited per issuer,
so random kids cannot turn the STS into a JWKS hammer. Signatures are verified
with joserfc using an explicit per-algorithm registry; parsed keys are cached.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import inspect
import json
import math
import re
import ssl
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from joserfc import jws
from joserfc.errors import JoseError, SecurityWarning
from joserfc.jwk import import_key

from .bounded_json import JsonLimitError, loads_bounded
from .errors import ExpiredTokenException, IDPCommunicationError, InvalidIdentityToken
from .ports import Clock
from .settings import TokenValidationSettings, TrustedIssuerSettings

MAX_JWKS_BYTES = 1024 * 1024
MAX_CACHED_ISSUERS = 64

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_RSA_ALGS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521", "ES256K": "secp256k1"}
_OKP_CURVES = {"EdDSA": ("Ed25519", "Ed448"), "Ed25519": ("Ed25519",), "Ed448": ("Ed448",)}


class IdpUnreachable(Exception):
    """The JWKS (or discovery document) could not be obtained; the message says why."""


class JwksSource(Protocol):
    async def fetch(self) -> dict[str, Any]:
        """Return a JWKS dict; raise :class:`IdpUnreachable` on network/HTTP/parse failure."""


@functools.lru_cache(maxsize=1024)
def _provider_id(issuer: str) -> str:
    return re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", issuer)


@dataclass(frozen=True)
class TrustedIssuer:
    issuer: str
    audiences: tuple[str, ...]
    algorithms: tuple[str, ...]
    jwks_source: JwksSource = field(compare=False)

    @property
    def provider_id(self) -> str:
        """The issuer without its scheme, as IAM names OIDC providers and condition keys."""
        return _provider_id(self.issuer)

    @classmethod
    def from_settings(cls, settings: TrustedIssuerSettings, *, timeout: float = 5.0) -> TrustedIssuer:
        """A trusted issuer whose keys are fetched over HTTP(S), via discovery unless jwks_uri is set."""
        source = HttpJwksSource(
            settings.issuer,
            jwks_uri=settings.jwks_uri,
            ca_bundle=settings.ca_bundle,
            insecure_tls=settings.insecure_tls,
            timeout=timeout,
        )
        return cls(settings.issuer, tuple(settings.audiences), tuple(settings.algorithms), source)


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
        return _check_jwks(result, "JWKS provider")

    async def close(self) -> None:
        return None


def _check_jwks(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict) or not isinstance(doc.get("keys"), list):
        raise IdpUnreachable(f"{where} did not return a JWKS (a JSON object with a 'keys' array)")
    return doc


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
            return _check_jwks(await self._get_json(uri, "JWKS"), f"JWKS {uri}")
        except IdpUnreachable:
            self._discovered_uri = None  # rediscover next time: the IdP may have moved its keys
            raise

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict[str, Any]
    header: dict[str, Any]
    issuer: TrustedIssuer
    kid: str | None
    alg: str
    #: The aud (or azp) value that matched a configured audience, else the first aud.
    audience: str
    #: SHA-256 hex of the token: correlates audit records without storing the token.
    token_hash: str


@dataclass
class _JwksEntry:
    source: JwksSource
    fetched_at: float
    keys: list[dict[str, Any]]
    parsed: dict[int, Any] = field(default_factory=dict)


def _fail(message: str, check: str, **detail: Any) -> InvalidIdentityToken:
    return InvalidIdentityToken(message, check=check, detail={k: v for k, v in detail.items() if v is not None})


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:  # parser differentials on duplicate members are an attack surface
            raise ValueError(f"duplicate member {key!r}")
        obj[key] = value
    return obj


def _b64_json(segment: str, what: str) -> dict[str, Any]:
    if not segment or not _B64URL.fullmatch(segment):
        raise _fail(f"Invalid JWT: the {what} is not base64url", "token-format")
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        # bounded: nesting depth, digits, NaN/Infinity, lone surrogates (each named in the message)
        value = loads_bounded(raw, max_bytes=len(raw), what=f"the {what}", object_pairs_hook=_unique_object)
    except JsonLimitError as exc:
        raise _fail(f"Invalid JWT: {exc}", "token-format") from None
    except (binascii.Error, ValueError) as exc:
        raise _fail(f"Invalid JWT: the {what} is not valid JSON ({exc})", "token-format") from None
    if not isinstance(value, dict):
        raise _fail(f"Invalid JWT: the {what} is not a JSON object", "token-format")
    return value


def _key_matches_alg(jwk: dict[str, Any], alg: str) -> bool:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if alg in _RSA_ALGS:
        family_ok = kty == "RSA"
    elif alg in _EC_CURVES:
        family_ok = kty == "EC" and crv == _EC_CURVES[alg]
    elif alg in _OKP_CURVES:
        family_ok = kty == "OKP" and crv in _OKP_CURVES[alg]
    else:
        family_ok = False
    if not family_ok:
        return False
    if "alg" in jwk and jwk["alg"] != alg:
        return False
    return jwk.get("use", "sig") == "sig"


def _describe(jwk: dict[str, Any]) -> str:
    parts = [f"kty {jwk.get('kty')}"]
    if "crv" in jwk:
        parts.append(f"crv {jwk['crv']}")
    if "alg" in jwk:
        parts.append(f"alg {jwk['alg']}")
    if "use" in jwk:
        parts.append(f"use {jwk['use']}")
    return ", ".join(parts)


def _numeric(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(f"Invalid claim {name}: must be a NumericDate", name)
    return float(value)


class TokenVerifier:
    """Verifies web-identity tokens against a runtime-replaceable set of trusted issuers."""

    def __init__(
        self,
        issuers: Sequence[TrustedIssuer],
        settings: TokenValidationSettings,
        *,
        clock: Clock,
        max_cached_issuers: int = MAX_CACHED_ISSUERS,
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._max_cached = max(1, max_cached_issuers)
        self._issuers: dict[str, TrustedIssuer] = {}
        self._cache: OrderedDict[str, _JwksEntry] = OrderedDict()
        self._last_refetch: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._registries: dict[str, jws.JWSRegistry] = {}
        self._retired: list[JwksSource] = []
        self.replace_issuers(issuers)

    # ------------------------------------------------------------------ lifecycle

    @property
    def issuers(self) -> tuple[TrustedIssuer, ...]:
        return tuple(self._issuers.values())

    def replace_issuers(self, issuers: Iterable[TrustedIssuer]) -> None:
        """Swap the trusted set; cached keys survive only for unchanged (issuer, source) pairs."""
        new = {item.issuer: item for item in issuers}
        live = {id(item.jwks_source) for item in new.values()}
        for old in self._issuers.values():
            if id(old.jwks_source) not in live:
                self._retired.append(old.jwks_source)
        for iss in list(self._cache):
            if iss not in new or self._cache[iss].source is not new[iss].jwks_source:
                del self._cache[iss]
        self._issuers = new

    def invalidate(self, issuer: str) -> None:
        """Forget the cached keys of ``issuer`` (its key set changed); the next token refetches."""
        self._cache.pop(issuer, None)
        self._last_refetch.pop(issuer, None)

    async def close(self) -> None:
        sources = {id(s): s for s in self._retired}
        sources.update({id(i.jwks_source): i.jwks_source for i in self._issuers.values()})
        self._retired.clear()
        for source in sources.values():
            closer = getattr(source, "close", None)
            if closer is not None:
                await closer()

    async def _close_retired(self) -> None:
        retired, self._retired = self._retired, []
        for source in retired:
            closer = getattr(source, "close", None)
            if closer is not None:
                await closer()

    # ------------------------------------------------------------------ JWKS cache

    async def _fetch(self, issuer: TrustedIssuer) -> _JwksEntry:
        try:
            doc = await issuer.jwks_source.fetch()
        except IdpUnreachable as exc:
            raise IDPCommunicationError(
                f"Couldn't retrieve verification key from your identity provider {issuer.issuer}, "
                "please reference AssumeRoleWithWebIdentity documentation for requirements",
                check="jwks-fetch",
                detail={"iss": issuer.issuer, "reason": str(exc)},
            ) from exc
        keys = [key for key in doc["keys"] if isinstance(key, dict)]
        entry = _JwksEntry(issuer.jwks_source, self._clock.now(), keys)
        self._cache[issuer.issuer] = entry
        self._cache.move_to_end(issuer.issuer)
        while len(self._cache) > self._max_cached:
            self._cache.popitem(last=False)
        return entry

    async def _keys(self, issuer: TrustedIssuer) -> tuple[_JwksEntry, bool]:
        """The cached JWKS (fetching when missing or past TTL) and whether it was fetched now."""
        entry = self._fresh(issuer)
        if entry is not None:
            return entry, False
        lock = self._locks.setdefault(issuer.issuer, asyncio.Lock())
        async with lock:
            entry = self._fresh(issuer)  # another task may have fetched while we waited
            if entry is not None:
                return entry, False
            return await self._fetch(issuer), True

    def _fresh(self, issuer: TrustedIssuer) -> _JwksEntry | None:
        entry = self._cache.get(issuer.issuer)
        if entry is None or entry.source is not issuer.jwks_source:
            return None
        if self._clock.now() - entry.fetched_at >= self._settings.jwks_cache_ttl_seconds:
            return None
        self._cache.move_to_end(issuer.issuer)
        return entry

    async def _refetch(self, issuer: TrustedIssuer) -> _JwksEntry | None:
        """One refetch for an unknown kid, unless one happened less than the minimum interval ago."""
        now = self._clock.now()
        last = self._last_refetch.get(issuer.issuer)
        if last is not None and now - last < self._settings.jwks_refetch_min_interval_seconds:
            return None
        self._last_refetch[issuer.issuer] = now
        lock = self._locks.setdefault(issuer.issuer, asyncio.Lock())
        async with lock:
            return await self._fetch(issuer)

    # ------------------------------------------------------------------ key selection

    def _select(
        self, entry: _JwksEntry, kid: str | None, alg: str, issuer: TrustedIssuer
    ) -> tuple[int, dict[str, Any]] | None:
        """Index and JWK to verify with; None when the kid is unknown (caller may refetch)."""
        if kid is None:
            usable = [(i, k) for i, k in enumerate(entry.keys) if _key_matches_alg(k, alg)]
            if len(usable) == 1:
                return usable[0]
            if not usable:
                return None
            raise _fail(
                f"Token has no kid and the JWKS of {issuer.issuer} has {len(usable)} keys usable with {alg}",
                "kid-known",
                iss=issuer.issuer,
                alg=alg,
            )
        named = [(i, k) for i, k in enumerate(entry.keys) if k.get("kid") == kid]
        if not named:
            return None
        for index, jwk in named:
            if _key_matches_alg(jwk, alg):
                return index, jwk
        raise _fail(
            f"Algorithm {alg} does not match the key '{kid}' of {issuer.issuer} ({_describe(named[0][1])})",
            "alg-key-match",
            iss=issuer.issuer,
            kid=kid,
            alg=alg,
        )

    def _registry(self, alg: str) -> jws.JWSRegistry:
        registry = self._registries.get(alg)
        if registry is None:
            registry = jws.JWSRegistry(algorithms=[alg], strict_check_header=False)
            # Sizes are bounded by max_token_bytes already; joserfc's 512-byte header cap is too small for x5c.
            registry.max_header_length = self._settings.max_token_bytes
            registry.max_payload_length = self._settings.max_token_bytes
            registry.max_signature_length = self._settings.max_token_bytes
            self._registries[alg] = registry
        return registry

    # ------------------------------------------------------------------ the pipeline

    async def verify(self, token: str) -> VerifiedToken:
        """Run every check in order; the first failure raises its mapped STS error."""
        if self._retired:
            await self._close_retired()
        settings = self._settings
        raw = token.encode("utf-8", errors="surrogatepass")
        token_hash = hashlib.sha256(raw).hexdigest()

        # 1. token-size, token-format
        if len(raw) > settings.max_token_bytes:
            raise _fail(
                f"Invalid JWT: token is {len(raw)} bytes, more than the allowed {settings.max_token_bytes}",
                "token-size",
            )
        parts = token.split(".")
        if len(parts) == 5:
            raise _fail("Invalid JWT: encrypted (JWE) tokens are not supported, expected a signed JWS", "token-format")
        if len(parts) != 3:
            raise _fail(f"Invalid JWT: expected 3 dot-separated parts, got {len(parts)}", "token-format")
        header = _b64_json(parts[0], "header")
        claims = _b64_json(parts[1], "payload")
        if not _B64URL.fullmatch(parts[2]):
            raise _fail("Invalid JWT: the signature is not base64url", "token-format")
        alg = header.get("alg")
        if not isinstance(alg, str) or not alg:
            raise _fail("Invalid JWT: the header has no 'alg'", "token-format")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _fail("Invalid JWT: the header's 'kid' must be a string", "token-format")
        if "crit" in header:
            raise _fail("Invalid JWT: critical header parameters are not supported", "token-format")

        # 2. alg-none, issuer-trusted
        if alg.lower() == "none":
            raise _fail("Invalid JWT: alg 'none' is not allowed; the token must be signed", "alg-none")
        iss = claims.get("iss")
        if not isinstance(iss, str) or not iss:
            raise _fail("Missing a required claim: iss", "issuer-trusted")
        issuer = self._issuers.get(iss)
        if issuer is None:
            raise _fail(f"No OpenIDConnect provider found in your account for {iss}", "issuer-trusted", iss=iss)

        # 3. alg-allowed
        if alg.upper().startswith("HS"):
            raise _fail(
                f"{alg} is not allowed: symmetric algorithms cannot be verified against public keys",
                "alg-allowed",
                iss=iss,
                alg=alg,
            )
        if alg not in issuer.algorithms or alg not in jws.JWSRegistry.algorithms:
            raise _fail(
                f"Algorithm {alg} is not allowed for {iss} (allowed: {', '.join(issuer.algorithms)})",
                "alg-allowed",
                iss=iss,
                alg=alg,
            )

        # 4. jwks-fetch; 5. kid-known (one rate-limited refetch); 6. alg-key-match
        entry, fresh = await self._keys(issuer)
        selected = self._select(entry, kid, alg, issuer)
        if selected is None and not fresh:
            refetched = await self._refetch(issuer)
            if refetched is not None:
                entry = refetched
                selected = self._select(entry, kid, alg, issuer)
        if selected is None:
            if kid is None:
                raise _fail(
                    f"Token has no kid and the JWKS of {iss} has no key usable with {alg}",
                    "kid-known",
                    iss=iss,
                    alg=alg,
                )
            raise _fail(f"No key with kid '{kid}' in the JWKS of {iss}", "kid-known", iss=iss, kid=kid)
        index, jwk = selected

        # 7. signature
        key = entry.parsed.get(index)
        if key is None:
            try:
                key = import_key(jwk)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise _fail(
                    f"The key '{kid}' in the JWKS of {iss} is invalid: {exc}", "alg-key-match", iss=iss, kid=kid
                ) from None
            entry.parsed[index] = key
        try:
            if alg == "EdDSA":  # allowed on purpose by configuration; joserfc warns on every use
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", SecurityWarning)
                    jws.deserialize_compact(token, key, registry=self._registry(alg))
            else:
                jws.deserialize_compact(token, key, registry=self._registry(alg))
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidIdentityToken(
                "Invalid signature",
                check="signature",
                detail={"iss": iss, "kid": kid, "alg": alg, "reason": type(exc).__name__},
            ) from None

        # 8. aud
        audience = self._check_audience(claims, issuer)

        # 9. exp, nbf, iat, max-age
        self._check_times(claims, iss)

        # 10. sub
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise _fail("Missing a required claim: sub", "sub", iss=iss)

        return VerifiedToken(
            claims=claims,
            header=header,
            issuer=issuer,
            kid=kid,
            alg=alg,
            audience=audience,
            token_hash=token_hash,
        )

    def _check_audience(self, claims: dict[str, Any], issuer: TrustedIssuer) -> str:
        aud = claims.get("aud")
        if aud is None:
            raise _fail("Missing a required claim: aud", "aud", iss=issuer.issuer)
        values = [aud] if isinstance(aud, str) else aud
        if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
            raise _fail("Invalid claim aud: must be a string or an array of strings", "aud", iss=issuer.issuer)
        if not issuer.audiences:
            return values[0]
        for value in values:
            if value in issuer.audiences:
                return value
        azp = claims.get("azp")
        if isinstance(azp, str) and azp in issuer.audiences:
            return azp
        raise _fail("Incorrect token audience", "aud", iss=issuer.issuer, aud=values[:5])

    def _check_times(self, claims: dict[str, Any], iss: str) -> None:
        now = self._clock.now()
        leeway = self._settings.leeway_seconds
        exp = _numeric(claims, "exp")
        if exp is None:
            raise _fail("Missing a required claim: exp", "exp", iss=iss)
        nbf = _numeric(claims, "nbf")
        iat = _numeric(claims, "iat")
        if now > exp + leeway:
            raise ExpiredTokenException(
                f"Token expired: current date/time {int(now)} must be before the expiration date/time{int(exp)}",
                check="exp",
                detail={"iss": iss, "exp": exp, "now": now},
            )
        if nbf is not None and nbf > now + leeway:
            raise _fail(f"Token is not yet valid (nbf {int(nbf)} is after {int(now)})", "nbf", iss=iss)
        if iat is not None and iat > now + leeway:
            raise _fail(f"Token was issued in the future (iat {int(iat)} is after {int(now)})", "iat", iss=iss)
        max_age = self._settings.max_token_age_seconds
        if max_age is not None and iat is not None and now - iat > max_age:
            raise ExpiredTokenException(
                f"Token too old: {int(now - iat)}", check="max-age", detail={"iss": iss, "iat": iat, "now": now}
            )
