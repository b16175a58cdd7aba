"""The authorization endpoint (RFC 6749 §4.1, OIDC Core §3.1.2) as a pipeline of checks.

Each check is a named single-purpose function. Until client and redirect_uri
are validated, failures render an error page (never a redirect to an
unvalidated URI); afterwards they redirect with ``error``, ``state`` and
``iss`` (RFC 9207).

Redirect URIs match exactly, or any http(s) URL when the client lists ``"*"``
(a development convenience: do not use it for anything real).

Headless mode for tests: any ``login_hint`` auto-approves (it is a mock); a
configured username selects that user, anything else becomes an ad-hoc subject.
``prompt=none`` without ``login_hint`` answers ``login_required``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from issuer import login, pkce
from issuer.settings import GRANT_AUTHORIZATION_CODE, ClientSettings
from issuer.tokens import Subject, digest, new_id, safe_form

if TYPE_CHECKING:
    from issuer.service import IssuerService

PROMPTS = frozenset({"none", "login", "consent", "select_account"})
MAX_PARAM = 4096


class AuthorizeError(Exception):
    """A failed check: ``redirect`` says whether redirect_uri is trustworthy yet."""

    def __init__(self, error: str, description: str, *, check: str, redirect: bool = True) -> None:
        super().__init__(description)
        self.error, self.description, self.check, self.redirect = error, description, check, redirect


@dataclass
class AuthzRequest:
    params: dict[str, str]
    client: ClientSettings | None = None
    redirect_uri: str = ""
    redirect_given: bool = False
    scope: list[str] = field(default_factory=list)
    code_challenge: str | None = None
    code_challenge_method: str | None = None
    prompt: set[str] = field(default_factory=set)

    @property
    def state(self) -> str | None:
        return self.params.get("state")


Check = Callable[["IssuerService", AuthzRequest], None]


def check_client(svc: IssuerService, req: AuthzRequest) -> None:
    client_id = req.params.get("client_id")
    if not client_id:
        raise AuthorizeError("invalid_request", "missing client_id", check="check_client", redirect=False)
    req.client = svc.settings.client(client_id)
    if req.client is None:
        raise AuthorizeError("invalid_client", "unknown client_id", check="check_client", redirect=False)


def uri_allowed(registered: list[str], uri: str) -> bool:
    """Exact match, or any absolute http(s) URL without fragment when ``"*"`` is registered.

    ``"*"`` itself is a wildcard, never a redirect target.
    """
    parts = urlsplit(uri)
    absolute = parts.scheme in ("http", "https") and bool(parts.netloc) and not parts.fragment
    if uri != "*" and uri in registered:
        return True
    return "*" in registered and absolute


def redirect_uri_allowed(client: ClientSettings, uri: str) -> bool:
    return uri_allowed(client.redirect_uris, uri)


def check_redirect_uri(svc: IssuerService, req: AuthzRequest) -> None:
    assert req.client is not None
    uri = req.params.get("redirect_uri")
    if uri is None:
        exact = [u for u in req.client.redirect_uris if u != "*"]
        if len(exact) != 1 or "*" in req.client.redirect_uris:
            raise AuthorizeError("invalid_request", "missing redirect_uri", check="check_redirect_uri", redirect=False)
        req.redirect_uri = exact[0]
        return
    if "#" in uri or not redirect_uri_allowed(req.client, uri):
        raise AuthorizeError(
            "invalid_request",
            "redirect_uri is not registered for this client",
            check="check_redirect_uri",
            redirect=False,
        )
    req.redirect_uri, req.redirect_given = uri, True


def check_grant(svc: IssuerService, req: AuthzRequest) -> None:
    assert req.client is not None
    if GRANT_AUTHORIZATION_CODE not in req.client.grant_types:
        raise AuthorizeError(
            "unauthorized_client", "client may not use the authorization code flow", check="check_grant"
        )


def check_request_object(svc: IssuerService, req: AuthzRequest) -> None:
    if "request" in req.params:
        raise AuthorizeError("request_not_supported", "request objects are not supported", check="check_request_object")
    if "request_uri" in req.params:
        raise AuthorizeError("request_uri_not_supported", "request_uri is not supported", check="check_request_object")


def check_response_type(svc: IssuerService, req: AuthzRequest) -> None:
    response_type = req.params.get("response_type")
    if not response_type:
        raise AuthorizeError("invalid_request", "missing response_type", check="check_response_type")
    if response_type != "code":
        raise AuthorizeError(
            "unsupported_response_type", "only response_type=code is supported", check="check_response_type"
        )


def check_response_mode(svc: IssuerService, req: AuthzRequest) -> None:
    mode = req.params.get("response_mode")
    if mode not in (None, "query"):
        raise AuthorizeError("invalid_request", "only response_mode=query is supported", check="check_response_mode")


def check_scope(svc: IssuerService, req: AuthzRequest) -> None:
    assert req.client is not None
    scopes = list(dict.fromkeys(s for s in req.params.get("scope", "").split(" ") if s))
    bad = [s for s in scopes if s not in req.client.scopes]
    if bad:
        raise AuthorizeError("invalid_scope", f"scope not allowed for this client: {bad[0][:64]}", check="check_scope")
    req.scope = scopes


def check_pkce(svc: IssuerService, req: AuthzRequest) -> None:
    assert req.client is not None
    challenge = req.params.get("code_challenge")
    method = req.params.get("code_challenge_method")
    required = svc.settings.require_pkce or bool(req.client.require_pkce) or req.client.is_public
    if challenge is None:
        if method is not None:
            raise AuthorizeError("invalid_request", "code_challenge_method without code_challenge", check="check_pkce")
        if required:
            raise AuthorizeError("invalid_request", "PKCE code_challenge required for this client", check="check_pkce")
        return
    method = method or "plain"
    if method not in pkce.METHODS:
        raise AuthorizeError("invalid_request", "code_challenge_method must be S256 or plain", check="check_pkce")
    if not pkce.valid_challenge(challenge):
        raise AuthorizeError("invalid_request", "malformed code_challenge", check="check_pkce")
    req.code_challenge, req.code_challenge_method = challenge, method


def check_prompt(svc: IssuerService, req: AuthzRequest) -> None:
    prompt = {p for p in req.params.get("prompt", "").split(" ") if p}
    if prompt - PROMPTS or ("none" in prompt and len(prompt) > 1):
        raise AuthorizeError("invalid_request", "invalid prompt value", check="check_prompt")
    if "none" in prompt and not req.params.get("login_hint"):
        raise AuthorizeError("login_required", "no session; pass login_hint for headless login", check="check_prompt")
    req.prompt = prompt


CHECKS: tuple[Check, ...] = (
    check_client,
    check_redirect_uri,
    check_grant,
    check_request_object,
    check_response_type,
    check_response_mode,
    check_scope,
    check_pkce,
    check_prompt,
)


def parse_params(items: list[tuple[str, str]]) -> dict[str, str]:
    """Single-valued, bounded parameters (RFC 6749 §3.1: no repeats)."""
    out: dict[str, str] = {}
    for key, value in items:
        if key in out:
            raise AuthorizeError(
                "invalid_request",
                f"parameter {key[:40]!r} repeated",
                check="check_params",
                redirect=key not in ("client_id", "redirect_uri"),
            )
        if len(value) > MAX_PARAM:
            raise AuthorizeError(
                "invalid_request",
                f"parameter {key[:40]!r} too long",
                check="check_params",
                redirect=key not in ("client_id", "redirect_uri"),
            )
        out[key] = value
    return out


def run_checks(svc: IssuerService, req: AuthzRequest) -> AuthzRequest:
    """Run the pipeline in order; a failure leaves ``req`` filled as far as it got."""
    for check in CHECKS:
        check(svc, req)
    return req


def redirect(svc: IssuerService, uri: str, params: dict[str, Any]) -> web.Response:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    location = f"{uri}{'&' if '?' in uri else '?'}{query}"
    return web.Response(status=302, headers={"Location": location, "Cache-Control": "no-store"})


def error_response(svc: IssuerService, req: AuthzRequest, exc: AuthorizeError) -> web.Response:
    svc.audit.record(
        "token.denied",
        issuer=svc.settings.name,
        grant="authorization_code",
        endpoint="authorize",
        client_id=req.params.get("client_id"),
        error=exc.error,
        check=exc.check,
    )
    if not exc.redirect or req.client is None or not req.redirect_uri:
        return login.message_page("Authorization error", f"{exc.error}: {exc.description}", status=400)
    return redirect(
        svc,
        req.redirect_uri,
        {"error": exc.error, "error_description": exc.description, "state": req.state, "iss": svc.issuer_url},
    )


def issue_code(svc: IssuerService, req: AuthzRequest, subject: Subject) -> web.Response:
    """Store the one-time code (hash only) and redirect back to the client."""
    assert req.client is not None
    code = new_id(32)
    exp = svc.clock.now() + svc.settings.authorization_code_ttl
    svc.store.put(
        svc.tokens.kind("code"),
        digest(code),
        {
            "client_id": req.client.client_id,
            "redirect_uri": req.redirect_uri,
            "redirect_uri_given": req.redirect_given,
            "scope": req.scope,
            "subject": subject.to_dict(),
            "nonce": req.params.get("nonce"),
            "code_challenge": req.code_challenge,
            "code_challenge_method": req.code_challenge_method,
            "params": safe_form(req.params),
            "exp": exp,
        },
        expires_at=exp,
    )
    svc.audit.record("authorize.code_issued", issuer=svc.settings.name, client_id=req.client.client_id, sub=subject.sub)
    return redirect(svc, req.redirect_uri, {"code": code, "state": req.state, "iss": svc.issuer_url})


async def authorize_get(svc: IssuerService, request: web.Request) -> web.Response:
    req = AuthzRequest(params={})
    try:
        req.params = parse_params(list(request.query.items()))
        run_checks(svc, req)
    except AuthorizeError as exc:
        # error_response only redirects once client and redirect_uri were validated
        return error_response(svc, req, exc)
    assert req.client is not None
    hint = req.params.get("login_hint")
    if hint:
        return issue_code(svc, req, login.subject_for_hint(svc, hint[:255]))
    req_id, csrf = login.create_pending(svc, {"flow": "authorize", "params": req.params})
    body = login.login_form(
        svc, action=svc.path("/authorize"), req_id=req_id, csrf=csrf, client_id=req.client.client_id, scope=req.scope
    )
    return login.page("Sign in", body)


async def authorize_post(svc: IssuerService, form: Mapping[str, str]) -> web.Response:
    """The login form's POST: CSRF, then Deny -> access_denied, Approve -> code."""
    req_id, record = login.load_pending(svc, form)
    if record.get("flow") != "authorize":
        raise login.PageError("This login request belongs to another flow.")
    req = AuthzRequest(params=record["params"])
    try:
        run_checks(svc, req)
    except AuthorizeError as exc:
        login.take_pending(svc, req_id)
        return error_response(svc, req, exc)
    assert req.client is not None
    if form.get("action") == "deny":
        login.take_pending(svc, req_id)
        return error_response(
            svc, req, AuthorizeError("access_denied", "the user denied the request", check="login_deny")
        )
    try:
        subject = login.parse_login(svc, form)
    except login.LoginError as exc:
        body = login.login_form(
            svc,
            action=svc.path("/authorize"),
            req_id=req_id,
            csrf=record["csrf"],
            client_id=req.client.client_id,
            scope=req.scope,
            error=str(exc),
            values=form,
        )
        return login.page("Sign in", body, status=400)
    login.take_pending(svc, req_id)
    return issue_code(svc, req, subject)
