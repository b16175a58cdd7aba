"""Issuer app-test fixtures: in-memory ports and a live issuer server (prefix ``issuer_``)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from issuer.endpoints import add_issuer_routes
from issuer.service import IssuerService
from issuer.settings import IssuerSettings


class IssuerFakeClock:
    """Settable clock starting at real time (PyJWT/joserfc check exp against real time)."""

    def __init__(self) -> None:
        self.t = float(int(time.time()))

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class IssuerMemoryStore:
    """Dict StateStore whose expiry follows the fake clock."""

    def __init__(self, clock: IssuerFakeClock) -> None:
        self.clock = clock
        self.data: dict[tuple[str, str], tuple[dict[str, Any], float | None]] = {}

    def _live(self, kind: str, key: str) -> dict[str, Any] | None:
        entry = self.data.get((kind, key))
        if entry is None:
            return None
        value, exp = entry
        if exp is not None and exp <= self.clock.now():
            del self.data[(kind, key)]
            return None
        return value

    def put(self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None) -> None:
        import copy

        self.data[(kind, key)] = (copy.deepcopy(value), expires_at)

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        import copy

        return copy.deepcopy(self._live(kind, key))

    def take(self, kind: str, key: str) -> dict[str, Any] | None:
        value = self._live(kind, key)
        if value is not None:
            del self.data[(kind, key)]
        return value

    def delete(self, kind: str, key: str) -> bool:
        return self.data.pop((kind, key), None) is not None

    def items(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(k, v) for (kd, k) in list(self.data) if kd == kind and (v := self._live(kd, k)) is not None]


class IssuerListAudit:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def record(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    @contextlib.asynccontextmanager
    async def batched(self) -> AsyncIterator[None]:
        yield

    def names(self) -> list[str]:
        return [e for e, _ in self.events]


class IssuerRevocations:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def check(self, facts: dict[str, Any]) -> dict[str, Any] | None:
        for rec in self.records:
            if rec["by"] in ("jti", "sub", "client_id") and facts.get(rec["by"]) == rec["value"]:
                return rec
            if (
                rec["by"] == "iss"
                and facts.get("iss") == rec["value"]
                and (rec["issued_before"] is None or (facts.get("iat") or 0) < rec["issued_before"])
            ):
                return rec
        return None

    def revoke(
        self, by: str, value: str, *, reason: str = "", source: str = "", issued_before: float | None = None
    ) -> dict[str, Any]:
        rec = {"by": by, "value": value, "reason": reason, "source": source, "issued_before": issued_before}
        self.records.append(rec)
        return rec


@dataclass
class IssuerEnv:
    """A running app with one or more issuers plus the shared fakes."""

    base_url: str
    port: int
    clock: IssuerFakeClock
    store: IssuerMemoryStore
    audit: IssuerListAudit
    revocations: IssuerRevocations
    services: dict[str, IssuerService]
    data_dir: Path
    client: Any  # aiohttp TestClient

    @property
    def svc(self) -> IssuerService:
        return self.services["default"]


def issuer_free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def issuer_default_settings(**overrides: Any) -> IssuerSettings:
    base: dict[str, Any] = {
        "name": "default",
        "algorithms": ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"],
        "device_poll_interval": 0,
        "clients": [
            {
                "client_id": "web",
                "client_secret": "web-secret",
                "redirect_uris": ["http://127.0.0.1:9999/cb"],
                "post_logout_redirect_uris": ["http://127.0.0.1:9999/bye"],
                "audience": "sts",
                "claims": {"policy": "readwrite"},
                "scopes": ["openid", "profile", "email", "offline_access", "s3"],
            },
            {"client_id": "spa", "redirect_uris": ["*"]},
            {"client_id": "svc", "client_secret": "svc s3cr:t/+", "grant_types": ["client_credentials"]},
            {
                "client_id": "tmpl",
                "client_secret": "tmpl-secret",
                "grant_types": ["client_credentials", "password"],
                "claim_templates": {
                    "tenant": "{form.tenant}",
                    "who": "user:{user.username}",
                    "cid": "{client.client_id}",
                },
            },
        ],
        "users": [
            {
                "username": "alice",
                "password": "alice-pw",
                "claims": {"email": "alice@example.org", "groups": ["admins"], "name": "Alice"},
            },
            {"username": "bob", "password": "bob-pw", "subject": "user-bob"},
        ],
    }
    base.update(overrides)
    return IssuerSettings.model_validate(base)


IssuerFactory = Callable[..., Awaitable[IssuerEnv]]


@pytest.fixture
def issuer_factory(aiohttp_client: Any, tmp_path: Path) -> IssuerFactory:
    """Build app + issuers ("default" at /, "b" at /issuers/b) on a real free port."""

    async def make(
        settings: IssuerSettings | None = None,
        *,
        second: bool = True,
        external_token_verifier: Any = None,
        data_dir: Path | None = None,
    ) -> IssuerEnv:
        port = issuer_free_port()
        base_url = f"http://127.0.0.1:{port}"
        clock = IssuerFakeClock()
        store = IssuerMemoryStore(clock)
        audit = IssuerListAudit()
        revocations = IssuerRevocations()
        data_dir = data_dir or tmp_path
        app = web.Application()
        services: dict[str, IssuerService] = {}
        main = settings or issuer_default_settings()
        services[main.name] = IssuerService(
            main,
            issuer_url=base_url,
            data_dir=data_dir,
            clock=clock,
            store=store,
            audit=audit,
            revocations=revocations,
            external_token_verifier=external_token_verifier,
        )
        add_issuer_routes(app, services[main.name], "")
        if second:
            b = IssuerSettings.model_validate(
                {
                    "name": "b",
                    "signing_alg": "ES256",
                    "clients": [
                        {"client_id": "bc", "client_secret": "bc-secret", "grant_types": ["client_credentials"]}
                    ],
                }
            )
            services["b"] = IssuerService(
                b,
                issuer_url=f"{base_url}/issuers/b",
                data_dir=data_dir,
                clock=clock,
                store=store,
                audit=audit,
                revocations=revocations,
            )
            add_issuer_routes(app, services["b"], "/issuers/b")
        from aiohttp.test_utils import TestServer

        client = await aiohttp_client(TestServer(app, host="127.0.0.1", port=port))
        return IssuerEnv(
            base_url=base_url,
            port=port,
            clock=clock,
            store=store,
            audit=audit,
            revocations=revocations,
            services=services,
            data_dir=data_dir,
            client=client,
        )

    return make


@pytest.fixture
async def issuer_env(issuer_factory: IssuerFactory) -> IssuerEnv:
    return await issuer_factory()


def _verify_both(jwks_url: str, token: str, *, audience: Any = None, issuer: str | None = None) -> dict[str, Any]:
    """Verify with PyJWT's PyJWKClient (blocking: call via asyncio.to_thread) and with joserfc."""
    import json
    import urllib.request
    import warnings

    import jwt as pyjwt
    from joserfc import jwt as jose_jwt
    from joserfc.jwk import KeySet

    header = pyjwt.get_unverified_header(token)
    assert header.get("kid"), "every token carries a kid"
    signing_key = pyjwt.PyJWKClient(jwks_url, cache_keys=False).get_signing_key_from_jwt(token)
    options = {"verify_aud": audience is not None}
    claims = pyjwt.decode(
        token, signing_key.key, algorithms=[header["alg"]], audience=audience, issuer=issuer, options=options, leeway=60
    )
    with urllib.request.urlopen(jwks_url) as resp:  # noqa: S310 - local test server
        keyset = KeySet.import_key_set(json.load(resp))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        decoded = jose_jwt.decode(token, keyset, algorithms=[header["alg"]])
    assert decoded.claims == claims
    return claims


@pytest.fixture
def issuer_verify() -> Callable[..., Awaitable[dict[str, Any]]]:
    """``await issuer_verify(jwks_url, token, audience=..., issuer=...)`` -> claims (both libraries)."""
    import asyncio

    async def verify(jwks_url: str, token: str, **kw: Any) -> dict[str, Any]:
        return await asyncio.to_thread(_verify_both, jwks_url, token, **kw)

    return verify


# -- helpers shared by the issuer app tests (exposed through the ``issuer_h`` fixture) ------------
ISSUER_REDIRECT = "http://127.0.0.1:9999/cb"


def _basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 §2.3.1 Basic header (id and secret form-urlencoded first)."""
    import base64
    from urllib.parse import quote_plus

    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def _s256(verifier: str) -> str:
    import base64
    import hashlib

    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _form_fields(html: str) -> dict[str, str]:
    """Hidden inputs of the first form (req_id, csrf_token)."""
    from html.parser import HTMLParser

    fields: dict[str, str] = {}

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            a = dict(attrs)
            if tag == "input" and a.get("type") == "hidden" and a.get("name"):
                fields[str(a["name"])] = a.get("value") or ""

    Parser().feed(html)
    return fields


def _header(token: str) -> dict[str, Any]:
    import base64
    import json

    part = token.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _claims(token: str) -> dict[str, Any]:
    import base64
    import json

    part = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def _authorize_code(
    env: IssuerEnv,
    *,
    scope: str = "openid offline_access s3",
    login_hint: str = "alice",
    client_id: str = "web",
    redirect_uri: str = ISSUER_REDIRECT,
    method: str = "S256",
    nonce: str = "n-1",
) -> tuple[str, str]:
    """Headless /authorize (login_hint) -> (code, verifier)."""
    import secrets
    from urllib.parse import parse_qs, urlsplit

    verifier = secrets.token_urlsafe(48)
    challenge = _s256(verifier) if method == "S256" else verifier
    resp = await env.client.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": "st-1",
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": method,
            "login_hint": login_hint,
        },
        allow_redirects=False,
    )
    assert resp.status == 302, await resp.text()
    q = parse_qs(urlsplit(resp.headers["Location"]).query)
    return q["code"][0], verifier


async def _redeem(
    env: IssuerEnv,
    code: str,
    verifier: str,
    *,
    client: tuple[str, str | None] = ("web", "web-secret"),
    redirect_uri: str = ISSUER_REDIRECT,
) -> Any:
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    headers = {}
    if client[1] is None:
        data["client_id"] = client[0]
    else:
        headers = _basic(client[0], client[1])
    return await env.client.post("/token", data=data, headers=headers)


@pytest.fixture
def issuer_h() -> Any:
    """Namespace of helpers for the issuer app tests."""
    from types import SimpleNamespace

    return SimpleNamespace(
        settings=issuer_default_settings,
        basic=_basic,
        s256=_s256,
        form_fields=_form_fields,
        header=_header,
        claims=_claims,
        authorize_code=_authorize_code,
        redeem=_redeem,
        redirect=ISSUER_REDIRECT,
        web=_basic("web", "web-secret"),
    )
