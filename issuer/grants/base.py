"""What a grant handler sees: a narrow view of its issuer, the client and the form.

Grants depend on this protocol, not on :class:`issuer.service.IssuerService`,
so the service can import the grants without an import cycle, and a test can
hand a grant a small fake.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from issuer.clients import Form
from issuer.ports import Clock, StateStore
from issuer.settings import ClientSettings, IssuerSettings
from issuer.tokens import TokenFactory


class GrantIssuer(Protocol):
    """The parts of an issuer a grant uses."""

    settings: IssuerSettings
    issuer_url: str
    clock: Clock
    store: StateStore
    tokens: TokenFactory
    external_token_verifier: Callable[[str], Awaitable[dict]] | None

    def unverified(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]: ...

    def verify_access_or_id_token(
        self, token: str, *, check_exp: bool = True, typ: str | None = None, check_revoked: bool = True
    ) -> dict[str, Any]: ...


@dataclass
class TokenContext:
    """Everything a grant may look at: the authenticated client and the parsed form."""

    service: GrantIssuer
    request: web.Request
    form: Form
    client: ClientSettings


class GrantHandler(Protocol):
    grant_type: str

    async def handle(self, ctx: TokenContext) -> dict[str, Any]:
        """Return the token response body or raise :class:`issuer.errors.OAuthError`."""
        ...
