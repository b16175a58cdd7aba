"""The small server-rendered login/consent page shared by /authorize and /device.

Plain HTML, no JavaScript, every value escaped. A pending request lives in the
StateStore under a random id with its own CSRF token; the form posts both back.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any

from aiohttp import web

from boundedjson import JsonLimitError, loads_bounded
from issuer.tokens import Subject, new_id

if TYPE_CHECKING:
    from issuer.service import IssuerService

PENDING_TTL = 600
MAX_CLAIMS_JSON = 16_384

_STYLE = (
    "body{font-family:sans-serif;max-width:40em;margin:2em auto;padding:0 1em}"
    "label{display:block;margin-top:.8em}input,select,textarea{width:100%;box-sizing:border-box}"
    ".error{color:#a00;border:1px solid #a00;padding:.5em}button{margin:1em .5em 0 0;padding:.4em 1.2em}"
)


class LoginError(Exception):
    """The user's input was not acceptable: re-render the form with this message."""


class PageError(Exception):
    """A request that cannot continue at all (unknown pending id, bad CSRF): an error page."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def page(title: str, body: str, status: int = 200) -> web.Response:
    html = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(
        status=status,
        text=html,
        content_type="text/html",
        headers={
            "Cache-Control": "no-store",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:",
        },
    )


def message_page(title: str, message: str, status: int = 200) -> web.Response:
    return page(title, f"<p>{escape(message)}</p>", status)


def login_form(
    svc: IssuerService,
    *,
    action: str,
    req_id: str,
    csrf: str,
    client_id: str,
    scope: list[str],
    error: str | None = None,
    values: Mapping[str, str] | None = None,
    note: str = "",
) -> str:
    """The login form: configured user + password, or any subject; extra claims as JSON."""
    values = values or {}
    chosen = values.get("username", "")
    options = ['<option value="">(ad-hoc subject below)</option>'] + [
        f'<option value="{escape(u.username)}"{" selected" if u.username == chosen else ""}>'
        f"{escape(u.username)}</option>"
        for u in svc.settings.users
    ]
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    return (
        f"{err}<p>Client <b>{escape(client_id)}</b> asks for scope <code>{escape(' '.join(scope) or '(none)')}"
        f"</code>.{escape(note)}</p>"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="req_id" value="{escape(req_id)}">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf)}">'
        f'<label>Configured user <select name="username">{"".join(options)}</select></label>'
        f'<label>Password <input type="password" name="password" autocomplete="off"></label>'
        f'<label>…or any subject <input type="text" name="subject" maxlength="255" '
        f'value="{escape(values.get("subject", ""))}"></label>'
        f'<label>Extra claims (JSON object) <textarea name="claims" rows="5">'
        f"{escape(values.get('claims', ''))}</textarea></label>"
        f'<button type="submit" name="action" value="approve">Approve</button>'
        f'<button type="submit" name="action" value="deny">Deny</button>'
        f"</form>"
    )


def create_pending(svc: IssuerService, data: dict[str, Any]) -> tuple[str, str]:
    req_id, csrf = new_id(18), new_id(18)
    exp = svc.clock.now() + PENDING_TTL
    svc.store.put(svc.tokens.kind("pending"), req_id, {**data, "csrf": csrf, "exp": exp}, expires_at=exp)
    return req_id, csrf


def load_pending(svc: IssuerService, form: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """The pending request named by the form, after the CSRF check."""
    req_id, csrf = form.get("req_id", ""), form.get("csrf_token", "")
    record = svc.store.get(svc.tokens.kind("pending"), req_id) if req_id else None
    if record is None or record["exp"] <= svc.clock.now():
        raise PageError("This login request is unknown or has expired. Start again from the application.")
    if not csrf or not hmac.compare_digest(csrf.encode(), record["csrf"].encode()):
        raise PageError("Invalid CSRF token.", status=403)
    return req_id, record


def take_pending(svc: IssuerService, req_id: str) -> dict[str, Any]:
    record = svc.store.take(svc.tokens.kind("pending"), req_id)
    if record is None:
        raise PageError("This login request was already completed.")
    return record


def parse_login(svc: IssuerService, form: Mapping[str, str]) -> Subject:
    """Turn the submitted form into a Subject; LoginError to re-render with a message."""
    username = form.get("username", "").strip()
    subject = form.get("subject", "").strip()
    raw_claims = form.get("claims", "").strip()
    extra: dict[str, Any] = {}
    if raw_claims:
        if len(raw_claims) > MAX_CLAIMS_JSON:
            raise LoginError("Extra claims are too large.")
        try:
            extra = loads_bounded(raw_claims, max_bytes=MAX_CLAIMS_JSON, what="Extra claims")
        except JsonLimitError as exc:
            raise LoginError(f"{exc}.") from exc
        if not isinstance(extra, dict):
            raise LoginError("Extra claims must be a JSON object.")
    now = int(svc.clock.now())
    if username:
        user = svc.settings.user(username)
        password = form.get("password", "")
        expected = user.password if user else "\x00invalid"
        if not hmac.compare_digest(password.encode(), expected.encode()) or user is None:
            raise LoginError("Unknown user or wrong password.")
        return Subject(sub=user.sub, username=user.username, claims={**user.claims, **extra}, auth_time=now)
    if subject:
        if len(subject) > 255:
            raise LoginError("Subject is too long.")
        return Subject(sub=subject, username=subject, claims=extra, auth_time=now)
    raise LoginError("Choose a configured user or type a subject.")


def subject_for_hint(svc: IssuerService, login_hint: str) -> Subject:
    """Headless mode: a configured username picks that user, anything else is an ad-hoc subject."""
    now = int(svc.clock.now())
    user = svc.settings.user(login_hint)
    if user is not None:
        return Subject(sub=user.sub, username=user.username, claims=dict(user.claims), auth_time=now)
    return Subject(sub=login_hint, username=login_hint, auth_time=now)
