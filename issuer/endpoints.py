"""HTTP handlers and :func:`add_issuer_routes`.

Every handler is wrapped by :func:`_guard`, the one place that turns
:class:`OAuthError` into RFC 6749 JSON, :class:`login.PageError` into an HTML
page, and any unexpected exception into a bare ``server_error`` (never a
stack trace).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from issuer import authorize, device, login
from issuer.claims import PROTOCOL_CLAIMS
from issuer.clients import authenticate_client, read_form
from issuer.errors import OAuthError, invalid_request, invalid_token
from issuer.grants import TokenContext
from issuer.service import IssuerService
from issuer.settings import ClientSettings

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
GRANT_KEY = web.RequestKey("issuer.grant", str)
CLIENT_KEY = web.RequestKey("issuer.client_id", str)


def json_response(
    body: Any, *, status: int = 200, no_store: bool = False, headers: dict[str, str] | None = None
) -> web.Response:
    hdrs = {**(NO_STORE if no_store else {}), **(headers or {})}
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=hdrs)


def _guard(svc: IssuerService, endpoint: str, fn: Handler, *, methods: tuple[str, ...] = ("GET", "HEAD")) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method not in methods:
            return OAuthError(
                "invalid_request",
                f"method {request.method} not allowed",
                status=405,
                headers={"Allow": ", ".join(methods)},
            ).response()
        try:
            return await fn(request)
        except OAuthError as exc:
            svc.audit.record(
                "token.denied",
                issuer=svc.settings.name,
                endpoint=endpoint,
                grant=request.get(GRANT_KEY),
                client_id=request.get(CLIENT_KEY),
                error=exc.error,
                check=exc.check,
            )
            return exc.response(debug=svc.settings.debug)
        except login.PageError as exc:
            return login.message_page("Error", str(exc), status=exc.status)
        except web.HTTPException:
            raise
        except Exception:  # never leak a stack trace to the client
            log.exception("issuer %s: unhandled error in %s", svc.settings.name, endpoint)
            return OAuthError("server_error", "internal error", status=500).response()

    return handler


# -- documents ------------------------------------------------------------------------------
def _discovery(svc: IssuerService) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return json_response(svc.discovery(), headers={"Cache-Control": "public, max-age=60"})

    return handler


def _jwks(svc: IssuerService) -> Handler:
    last: list[Any] = [None, b""]  # the document last served and its JSON: keys change rarely

    async def handler(request: web.Request) -> web.StreamResponse:
        doc = svc.jwks()
        if doc is not last[0]:
            last[:] = [doc, json.dumps(doc).encode()]
        return web.Response(
            body=last[1], content_type="application/json", headers={"Cache-Control": "public, max-age=60"}
        )

    return handler


# -- token ------------------------------------------------------------------------------------
def _token(svc: IssuerService) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        grant_type = form.one("grant_type")
        request[GRANT_KEY] = grant_type or ""
        if not grant_type:
            raise invalid_request("missing grant_type", check="grant_type")
        client = authenticate_client(svc.settings, request.headers, form)
        request[CLIENT_KEY] = client.client_id
        grant = svc.grants.get(grant_type)
        if grant is None:
            raise OAuthError("unsupported_grant_type", "grant_type not supported", check="grant_type")
        if grant_type not in client.grant_types:
            raise OAuthError("unauthorized_client", "grant_type not allowed for this client", check="grant_allowed")
        async with svc.audit.batched():  # the token.issued record is on disk before the token leaves
            body = await grant.handle(TokenContext(service=svc, request=request, form=form, client=client))
        return json_response(body, no_store=True)

    return handler


def _device_authorization(svc: IssuerService) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return json_response(await device.device_authorization(svc, request), no_store=True)

    return handler


def _client(svc: IssuerService, request: web.Request, form: Any) -> ClientSettings:
    client = authenticate_client(svc.settings, request.headers, form)
    request[CLIENT_KEY] = client.client_id
    return client


def _introspect(svc: IssuerService) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        client = _client(svc, request, form)
        if client.is_public:
            raise OAuthError(
                "invalid_client",
                "introspection requires a confidential client",
                status=401,
                headers={"WWW-Authenticate": 'Basic realm="stsmock"'},
                check="client_auth",
            )
        token = form.require("token")
        return json_response(svc.introspect(token), no_store=True)

    return handler


def _revoke(svc: IssuerService) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        client = _client(svc, request, form)
        token = form.require("token")
        hint = form.one("token_type_hint")
        if hint not in (None, "access_token", "refresh_token"):
            raise OAuthError("unsupported_token_type", "token_type_hint not supported", check="token_type_hint")
        svc.revoke(token, client_id=client.client_id, hint=hint)
        return web.Response(status=200, headers=NO_STORE)

    return handler


# -- userinfo ----------------------------------------------------------------------------------
def _userinfo(svc: IssuerService) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token: str | None = None
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
        elif request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
            token = (await read_form(request)).one("access_token")
        if not token:
            return OAuthError(
                "invalid_request",
                "bearer token required",
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="stsmock"'},
            ).response()
        try:
            claims = svc.verify_access_or_id_token(token, typ=svc.settings.access_token_typ)
        except ValueError as exc:
            raise invalid_token(str(exc)) from exc
        if "openid" not in str(claims.get("scope", "")).split(" "):
            raise OAuthError(
                "insufficient_scope",
                "the access token lacks the openid scope",
                status=403,
                headers={"WWW-Authenticate": 'Bearer error="insufficient_scope", scope="openid"'},
            )
        body = {k: v for k, v in claims.items() if k not in _NOT_USERINFO}
        return json_response(body, no_store=True)

    return handler


#: Protocol claims that are not about the user (``sub`` and ID-token hashes aside).
_NOT_USERINFO = PROTOCOL_CLAIMS - {"sub", "at_hash", "c_hash", "sid"}


# -- authorize / device pages -------------------------------------------------------------------
def _authorize(svc: IssuerService) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            form = (await read_form(request)).as_dict()
            return await authorize.authorize_post(svc, form)
        return await authorize.authorize_get(svc, request)

    return handler


def _device_page(svc: IssuerService) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            return await device.device_post(svc, (await read_form(request)).as_dict())
        return await device.device_page(svc, request)

    return handler


def _html_errors(fn: Handler) -> Handler:
    """On HTML endpoints an OAuthError (e.g. malformed form body) becomes an error page."""

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await fn(request)
        except OAuthError as exc:
            return login.message_page("Error", f"{exc.error}: {exc.description}", status=exc.status)

    return handler


# -- logout ---------------------------------------------------------------------------------
def _logout(svc: IssuerService) -> Handler:
    """RP-initiated logout 1.0: validate id_token_hint (signature, not expiry) and the redirect URI."""

    async def handler(request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        hint = form.one("id_token_hint")
        client_id = form.one("client_id")
        redirect_uri = form.one("post_logout_redirect_uri")
        state = form.one("state")
        sub = None
        if hint:
            try:
                claims = svc.verify_access_or_id_token(hint, check_exp=False, check_revoked=False)
            except ValueError:
                return login.message_page(
                    "Logout error", "id_token_hint is not a valid ID token of this issuer.", status=400
                )
            aud = claims.get("aud")
            auds = [aud] if isinstance(aud, str) else list(aud or [])
            if client_id and client_id not in auds:
                return login.message_page("Logout error", "client_id does not match id_token_hint.", status=400)
            client_id = client_id or claims.get("azp") or (auds[0] if auds else None)
            sub = claims.get("sub")
        if redirect_uri:
            client = svc.settings.client(client_id) if client_id else None
            if client is None:
                return login.message_page(
                    "Logout error", "post_logout_redirect_uri needs id_token_hint or client_id.", status=400
                )
            if not authorize.uri_allowed(client.post_logout_redirect_uris, redirect_uri):
                return login.message_page("Logout error", "post_logout_redirect_uri is not registered.", status=400)
            svc.audit.record("logout", issuer=svc.settings.name, client_id=client_id, sub=sub)
            query = urlencode({"state": state}) if state else ""
            location = redirect_uri + (("&" if "?" in redirect_uri else "?") + query if query else "")
            return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})
        svc.audit.record("logout", issuer=svc.settings.name, client_id=client_id, sub=sub)
        return login.message_page("Signed out", "You have been signed out.")

    return handler


def add_issuer_routes(app: web.Application, service: IssuerService, prefix: str = "") -> None:
    """Register every endpoint of ``service`` under ``prefix`` (its ``settings.mount_path``)."""
    prefix = prefix.rstrip("/")
    svc = service
    get_only = ("GET", "HEAD")
    post_only = ("POST",)
    both = ("GET", "HEAD", "POST")
    at = svc.settings.endpoint_path  # the layout: a preset's paths, or stsmock's own
    well_known = svc.settings.issuer_suffix.rstrip("/") + "/.well-known"
    routes: list[tuple[str, Handler, tuple[str, ...], str]] = [
        (well_known + "/openid-configuration", _discovery(svc), get_only, "discovery"),
        (well_known + "/oauth-authorization-server", _discovery(svc), get_only, "discovery"),
        (at("jwks"), _jwks(svc), get_only, "jwks"),
        (at("token"), _token(svc), post_only, "token"),
        (at("device_authorization"), _device_authorization(svc), post_only, "device_authorization"),
        (at("introspect"), _introspect(svc), post_only, "introspect"),
        (at("revoke"), _revoke(svc), post_only, "revoke"),
        (at("userinfo"), _userinfo(svc), both, "userinfo"),
        (at("authorize"), _html_errors(_authorize(svc)), both, "authorize"),
        (at("device"), _html_errors(_device_page(svc)), both, "device"),
        (at("logout"), _html_errors(_logout(svc)), both, "logout"),
    ]
    for path, fn, methods, name in routes:
        app.router.add_route("*", prefix + path, _guard(svc, name, fn, methods=methods))
    issuer_path = prefix + svc.settings.issuer_suffix.rstrip("/")
    if issuer_path:
        # RFC 8414 §3: path insertion for issuers with a path component
        app.router.add_route(
            "*",
            "/.well-known/oauth-authorization-server" + issuer_path,
            _guard(svc, "discovery", _discovery(svc), methods=get_only),
        )
