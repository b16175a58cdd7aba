"""Request form parsing and client authentication (RFC 6749 §2.3, §3.2).

Supports client_secret_basic (with the §2.3.1 form-urlencoding of id and
secret), client_secret_post and public clients (``none``). Secrets are compared
with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from urllib.parse import unquote_plus

from aiohttp import web

from issuer.errors import OAuthError, invalid_client, invalid_request
from issuer.settings import ClientSettings, IssuerSettings

MAX_BODY = 256 * 1024
MAX_VALUE = 64 * 1024
#: Parameters in one request (the longest real token request has ~12).
MAX_PARAMS = 100
#: Parameters that may legitimately repeat (RFC 8693 audience/resource).
MULTI = frozenset({"audience", "resource"})


class Form:
    """Parsed ``application/x-www-form-urlencoded`` body; each param at most once (RFC 6749 §3.2)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def one(self, name: str) -> str | None:
        values = [v for k, v in self._pairs if k == name]
        if len(values) > 1:
            raise invalid_request(f"parameter '{name}' given more than once", check="form")
        return values[0] if values and values[0] != "" else None

    def require(self, name: str) -> str:
        value = self.one(name)
        if value is None:
            raise invalid_request(f"missing parameter '{name}'", check="form")
        return value

    def many(self, name: str) -> list[str]:
        return [v for k, v in self._pairs if k == name and v != ""]

    def as_dict(self) -> dict[str, str]:
        """First value per name (for claim templates)."""
        out: dict[str, str] = {}
        for k, v in self._pairs:
            out.setdefault(k, v)
        return out


async def read_form(request: web.Request) -> Form:
    """Read a bounded urlencoded body; anything else is invalid_request, never a 500."""
    if request.method == "GET":
        items = list(request.query.items())
        if len(items) > MAX_PARAMS:
            raise invalid_request(f"more than {MAX_PARAMS} query parameters", check="form")
        return Form(items)
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise OAuthError("invalid_request", "request body too large", status=413, check="form")
    ctype = request.content_type
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise invalid_request("body must be application/x-www-form-urlencoded", check="form")
    try:
        # read() (not request.content): a middleware may already have read the body, and aiohttp caches it
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise OAuthError(
            "invalid_request", f"request body larger than {MAX_BODY} bytes", status=413, check="form"
        ) from None
    if len(raw) > MAX_BODY:
        raise OAuthError("invalid_request", f"request body larger than {MAX_BODY} bytes", status=413, check="form")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_request("body is not UTF-8", check="form") from exc
    pairs: list[tuple[str, str]] = []
    if text.count("&") >= MAX_PARAMS:
        raise invalid_request(f"more than {MAX_PARAMS} form parameters", check="form")
    for part in text.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        try:
            key, value = unquote_plus(key, errors="strict"), unquote_plus(value, errors="strict")
        except UnicodeDecodeError as exc:
            raise invalid_request("body is not valid UTF-8 after decoding", check="form") from exc
        if len(value) > MAX_VALUE:
            raise invalid_request(f"parameter '{key[:40]}' too long", check="form")
        pairs.append((key, value))
    return Form(pairs)


def _basic_credentials(header: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header.split(" ", 1)[1].strip(), validate=True).decode("utf-8")
    except (IndexError, binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise invalid_client("malformed Basic credentials") from exc
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise invalid_client("malformed Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)


def authenticate_client(settings: IssuerSettings, headers: Mapping[str, str], form: Form) -> ClientSettings:
    """Return the authenticated client or raise ``invalid_client`` (401)."""
    auth = headers.get("Authorization", "")
    form_id, form_secret = form.one("client_id"), form.one("client_secret")
    method = "none"
    client_id: str | None
    secret: str | None
    if auth[:6].lower() == "basic ":
        if form_secret is not None:
            raise invalid_request("use only one client authentication method", check="client_auth")
        client_id, secret = _basic_credentials(auth)
        if form_id is not None and form_id != client_id:
            raise invalid_client("client_id does not match the Authorization header")
        method = "client_secret_basic"
    else:
        client_id, secret = form_id, form_secret
        if secret is not None:
            method = "client_secret_post"
    if not client_id:
        raise invalid_client("client authentication required")
    client = settings.client(client_id)
    if client is None:
        raise invalid_client("unknown client")
    if client.is_public:
        return client
    if method == "none" or secret is None:
        raise invalid_client("client secret required")
    if not hmac.compare_digest(secret.encode(), (client.client_secret or "").encode()):
        raise invalid_client("invalid client secret")
    return client
