"""Token-endpoint grants: one small module per grant behind :class:`GrantHandler`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

from issuer.clients import Form
from issuer.settings import ClientSettings

if TYPE_CHECKING:
    from issuer.service import IssuerService


@dataclass
class TokenContext:
    """Everything a grant may look at: the authenticated client and the parsed form."""

    service: IssuerService
    request: web.Request
    form: Form
    client: ClientSettings


class GrantHandler(Protocol):
    grant_type: str

    async def handle(self, ctx: TokenContext) -> dict[str, Any]:
        """Return the token response body or raise :class:`issuer.errors.OAuthError`."""
        ...


def default_handlers() -> dict[str, GrantHandler]:
    from issuer.grants.authorization_code import AuthorizationCodeGrant
    from issuer.grants.client_credentials import ClientCredentialsGrant
    from issuer.grants.device_code import DeviceCodeGrant
    from issuer.grants.password import PasswordGrant
    from issuer.grants.refresh_token import RefreshTokenGrant
    from issuer.grants.token_exchange import TokenExchangeGrant

    handlers: list[GrantHandler] = [
        AuthorizationCodeGrant(),
        ClientCredentialsGrant(),
        PasswordGrant(),
        RefreshTokenGrant(),
        TokenExchangeGrant(),
        DeviceCodeGrant(),
    ]
    return {h.grant_type: h for h in handlers}
