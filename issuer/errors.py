"""OAuth errors and their one JSON rendering (RFC 6749 §5.2).

Every handler raises :class:`OAuthError`; the middleware in
:mod:`issuer.endpoints` turns it (and anything unexpected) into JSON, so no
request ever sees a 500 page or a stack trace.
"""

from __future__ import annotations

import json

from aiohttp import web


class OAuthError(Exception):
    """An RFC 6749 error with its HTTP status and optional extra headers."""

    def __init__(
        self,
        error: str,
        description: str = "",
        *,
        status: int = 400,
        headers: dict[str, str] | None = None,
        check: str | None = None,
    ) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
        self.headers = dict(headers or {})
        #: Name of the check that failed (audit record; the response too in debug mode).
        self.check = check

    def body(self, *, debug: bool = False) -> dict[str, str]:
        out = {"error": self.error}
        description = self.description
        if debug and self.check:
            description = f"{description} [check: {self.check}]".strip()
        if description:
            out["error_description"] = description
        return out

    def response(self, *, debug: bool = False) -> web.Response:
        """The RFC 6749 JSON error; ``debug`` names the failed check in ``error_description``."""
        headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **self.headers}
        return web.Response(
            status=self.status,
            text=json.dumps(self.body(debug=debug)),
            content_type="application/json",
            headers=headers,
        )


def invalid_request(description: str, check: str | None = None) -> OAuthError:
    return OAuthError("invalid_request", description, check=check)


def invalid_grant(description: str, check: str | None = None) -> OAuthError:
    return OAuthError("invalid_grant", description, check=check)


def invalid_client(description: str = "client authentication failed") -> OAuthError:
    """401 + ``WWW-Authenticate: Basic`` as RFC 6749 §5.2 asks for failed client auth."""
    return OAuthError(
        "invalid_client",
        description,
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="stsmock"'},
        check="client_auth",
    )


def invalid_scope(description: str) -> OAuthError:
    return OAuthError("invalid_scope", description, check="scope")


def invalid_token(description: str) -> OAuthError:
    """RFC 6750 §3 bearer-token error for the userinfo endpoint."""
    challenge = f'Bearer error="invalid_token", error_description="{_q(description)}"'
    return OAuthError("invalid_token", description, status=401, headers={"WWW-Authenticate": challenge})


def _q(text: str) -> str:
    return text.replace("\\", "").replace('"', "'")
