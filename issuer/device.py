"""Device authorization (RFC 8628 §3.1–3.3): the code endpoint and the verification page.

The verification page reuses the login form; approving or denying flips the
device record that the device_code grant polls.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from aiohttp import web

from issuer import login
from issuer.clients import authenticate_client, read_form
from issuer.errors import OAuthError
from issuer.settings import GRANT_DEVICE_CODE
from issuer.tokens import digest, new_id, parse_scope, safe_form

if TYPE_CHECKING:
    from issuer.service import IssuerService

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"  # RFC 8628 §6.1: no vowels, no look-alikes
STORE_SLACK = 3600


def normalise_user_code(value: str) -> str:
    return "".join(ch for ch in value.upper() if ch in USER_CODE_ALPHABET)[:16]


def _user_code() -> str:
    raw = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


async def device_authorization(svc: IssuerService, request: web.Request) -> dict[str, Any]:
    form = await read_form(request)
    client = authenticate_client(svc.settings, request.headers, form)
    if GRANT_DEVICE_CODE not in client.grant_types:
        raise OAuthError("unauthorized_client", "client may not use the device flow", check="grant_allowed")
    scope = parse_scope(client, form.one("scope"))
    device_code, user_code = new_id(32), _user_code()
    now = svc.clock.now()
    exp = now + svc.settings.device_code_ttl
    key = digest(device_code)
    svc.store.put(
        svc.tokens.kind("device"),
        key,
        {
            "client_id": client.client_id,
            "scope": scope,
            "user_code": user_code,
            "status": "pending",
            "subject": None,
            "interval": svc.settings.device_poll_interval,
            "last_poll": None,
            "exp": exp,
            "params": safe_form(form.as_dict()),
            "store_until": exp + STORE_SLACK,
        },
        expires_at=exp + STORE_SLACK,
    )
    svc.store.put(
        svc.tokens.kind("user_code"), normalise_user_code(user_code), {"device": key, "exp": exp}, expires_at=exp
    )
    verification_uri = svc.issuer_url + "/device"
    svc.audit.record("device.authorization", issuer=svc.settings.name, client_id=client.client_id)
    return {
        "device_code": device_code,
        "user_code": user_code,
        "verification_uri": verification_uri,
        "verification_uri_complete": f"{verification_uri}?user_code={quote(user_code)}",
        "expires_in": svc.settings.device_code_ttl,
        "interval": svc.settings.device_poll_interval,
    }


def _entry_page(svc: IssuerService, error: str | None = None, status: int = 200) -> web.Response:
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        f'{err}<form method="get" action="{escape(svc.path("/device"))}">'
        '<label>Code shown on your device <input type="text" name="user_code" maxlength="32"></label>'
        '<button type="submit">Continue</button></form>'
    )
    return login.page("Connect a device", body, status)


def _lookup(svc: IssuerService, user_code: str) -> tuple[str, dict[str, Any]] | None:
    pointer = svc.store.get(svc.tokens.kind("user_code"), normalise_user_code(user_code))
    if pointer is None or pointer["exp"] <= svc.clock.now():
        return None
    record = svc.store.get(svc.tokens.kind("device"), pointer["device"])
    if record is None or record["status"] != "pending" or record["exp"] <= svc.clock.now():
        return None
    return pointer["device"], record


async def device_page(svc: IssuerService, request: web.Request) -> web.Response:
    user_code = request.query.get("user_code", "")
    if not user_code:
        return _entry_page(svc)
    found = _lookup(svc, user_code[:64])
    if found is None:
        return _entry_page(svc, "Unknown or expired code.", status=400)
    key, record = found
    req_id, csrf = login.create_pending(svc, {"flow": "device", "device": key})
    body = login.login_form(
        svc,
        action=svc.path("/device"),
        req_id=req_id,
        csrf=csrf,
        client_id=record["client_id"],
        scope=record["scope"],
        note=f" Device code: {record['user_code']}.",
    )
    return login.page("Approve device", body)


async def device_post(svc: IssuerService, form: Mapping[str, str]) -> web.Response:
    req_id, pending = login.load_pending(svc, form)
    if pending.get("flow") != "device":
        raise login.PageError("This login request belongs to another flow.")
    kind = svc.tokens.kind("device")
    record = svc.store.get(kind, pending["device"])
    if record is None or record["status"] != "pending" or record["exp"] <= svc.clock.now():
        login.take_pending(svc, req_id)
        return login.message_page("Device", "This device request has expired or was already handled.", 400)
    if form.get("action") == "deny":
        login.take_pending(svc, req_id)
        record["status"] = "denied"
        svc.store.put(kind, pending["device"], record, expires_at=record["store_until"])
        svc.audit.record(
            "token.denied",
            issuer=svc.settings.name,
            grant=GRANT_DEVICE_CODE,
            client_id=record["client_id"],
            error="access_denied",
            check="login_deny",
        )
        return login.message_page("Device denied", "You denied the request. You can close this page.")
    try:
        subject = login.parse_login(svc, form)
    except login.LoginError as exc:
        body = login.login_form(
            svc,
            action=svc.path("/device"),
            req_id=req_id,
            csrf=pending["csrf"],
            client_id=record["client_id"],
            scope=record["scope"],
            error=str(exc),
            values=form,
        )
        return login.page("Approve device", body, status=400)
    login.take_pending(svc, req_id)
    record["status"], record["subject"] = "approved", subject.to_dict()
    svc.store.put(kind, pending["device"], record, expires_at=record["store_until"])
    svc.store.delete(svc.tokens.kind("user_code"), normalise_user_code(record["user_code"]))
    return login.message_page("Device approved", "Your device is now signed in. You can close this page.")
