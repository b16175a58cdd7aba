"""Console sign-in: an HMAC cookie of the admin token, and a CSRF token derived from it.

The browser keeps an HttpOnly, SameSite=Strict cookie holding an HMAC of the admin token (keyed
with a secret derived from the data dir's session-token key, so all workers agree), never the
token itself; every request recomputes and compares it in constant time, so changing the admin
token logs everybody out. Loopback clients get no bypass. POST forms carry a CSRF token derived
from the cookie.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from .. import datadir

COOKIE = "stsmock_console"
PREFIX = "/ui"


def console_key(data_dir: Path) -> bytes:
    """The HMAC key for console cookies, derived from the data dir's session-token key.

    Workers sharing a data dir (``--workers``) already share that key, so a cookie
    minted by one worker is accepted by the others.
    """
    base = datadir.secret_key(data_dir, "session-token.key")
    return hmac.new(base, b"stsmock-console-v1", hashlib.sha256).digest()


class ConsoleAuth:
    def __init__(self, secret: bytes, admin_token: str, *, secure: bool) -> None:
        self._secret = secret
        self._admin_token = admin_token
        #: Set the cookie's Secure flag (the console is served over https).
        self.secure = secure

    def token_ok(self, presented: str) -> bool:
        return hmac.compare_digest(presented.strip().encode(), self._admin_token.encode())

    def session_value(self) -> str:
        message = b"console-session\x00" + self._admin_token.encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def authenticated(self, request: web.Request) -> bool:
        presented = request.cookies.get(COOKIE, "")
        return bool(presented) and hmac.compare_digest(presented.encode(), self.session_value().encode())

    def csrf_token(self) -> str:
        return hmac.new(self._secret, b"console-csrf\x00" + self.session_value().encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, form: Mapping[str, object]) -> bool:
        return hmac.compare_digest(str(form.get("csrf", "")).encode(), self.csrf_token().encode())
