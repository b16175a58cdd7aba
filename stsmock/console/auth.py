"""Console sign-in: a server-side session per sign-in, named by an HMAC-protected cookie.

Signing in creates a random session id, recorded in the store (so every worker sees it) and
sent as an HttpOnly, SameSite=Strict cookie ``<id>.<mac>``; the MAC is keyed with a secret
derived from the data dir's session-token key and binds the id to the admin token, so changing
the admin token logs everybody out. Signing out deletes the session: the old cookie is
refused from then on, everywhere. Sessions last :data:`SESSION_SECONDS` of real time. POST
forms carry a CSRF token derived from the session id. Loopback clients get no bypass.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

from .. import datadir

COOKIE = "stsmock_console"
PREFIX = "/ui"
KIND = "console_session"
SESSION_SECONDS = 12 * 3600


class SessionStore(Protocol):
    def put(self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None) -> None: ...
    def get(self, kind: str, key: str) -> dict[str, Any] | None: ...
    def delete(self, kind: str, key: str) -> bool: ...
    def items(self, kind: str) -> list[tuple[str, dict[str, Any]]]: ...


def sweep_sessions(store: SessionStore, now: float | None = None) -> int:
    """Delete the sessions older than :data:`SESSION_SECONDS` (real time); returns how many.

    Why here and not ``expires_at``: the store's expiry runs on the (virtual, settable) clock, and
    moving that clock must not sign console users out. Expired sessions are already refused; the
    sweep job calls this so they do not pile up."""
    now = time.time() if now is None else now
    removed = 0
    for key, value in store.items(KIND):
        try:
            created = float(value.get("created", 0))
        except (TypeError, ValueError):
            created = 0.0
        if now - created > SESSION_SECONDS and store.delete(KIND, key):
            removed += 1
    return removed


def console_key(data_dir: Path) -> bytes:
    """The HMAC key for console cookies, derived from the data dir's session-token key.

    Workers sharing a data dir (``--workers``) already share that key, so a cookie
    minted by one worker is accepted by the others.
    """
    base = datadir.secret_key(data_dir, "session-token.key")
    return hmac.new(base, b"stsmock-console-v1", hashlib.sha256).digest()


class ConsoleAuth:
    def __init__(self, secret: bytes, admin_token: str, *, secure: bool, store: SessionStore) -> None:
        self._secret = secret
        self._admin_token = admin_token
        self._store = store
        #: Set the cookie's Secure flag (the console is served over https).
        self.secure = secure

    def token_ok(self, presented: str) -> bool:
        return hmac.compare_digest(presented.strip().encode(), self._admin_token.encode())

    def _mac(self, purpose: bytes, session_id: str) -> str:
        message = purpose + b"\x00" + session_id.encode() + b"\x00" + self._admin_token.encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def start_session(self) -> str:
        """A new session; returns the cookie value."""
        session_id = secrets.token_urlsafe(24)
        self._store.put(KIND, session_id, {"created": time.time()})
        return f"{session_id}.{self._mac(b'console-session', session_id)}"

    def session_id(self, request: web.Request) -> str | None:
        """The id of the request's live session, or None."""
        session_id, _, mac = request.cookies.get(COOKIE, "").partition(".")
        if not session_id or not mac or len(session_id) > 64:
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(b"console-session", session_id).encode()):
            return None
        record = self._store.get(KIND, session_id)
        if record is None or time.time() - float(record.get("created", 0)) > SESSION_SECONDS:
            return None
        return session_id

    def authenticated(self, request: web.Request) -> bool:
        return self.session_id(request) is not None

    def end_session(self, request: web.Request) -> None:
        session_id = self.session_id(request)
        if session_id is not None:
            self._store.delete(KIND, session_id)

    def csrf_token(self, request: web.Request) -> str:
        session_id = self.session_id(request)
        return self._mac(b"console-csrf", session_id) if session_id else ""

    def csrf_ok(self, request: web.Request, form: Mapping[str, object]) -> bool:
        expected = self.csrf_token(request)
        return bool(expected) and hmac.compare_digest(str(form.get("csrf", "")).encode(), expected.encode())
