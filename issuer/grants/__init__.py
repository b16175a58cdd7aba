"""Token-endpoint grants: one small module per grant behind :class:`GrantHandler`."""

from __future__ import annotations

from issuer.grants.authorization_code import AuthorizationCodeGrant
from issuer.grants.base import GrantHandler, GrantIssuer, TokenContext
from issuer.grants.client_credentials import ClientCredentialsGrant
from issuer.grants.device_code import DeviceCodeGrant
from issuer.grants.password import PasswordGrant
from issuer.grants.refresh_token import RefreshTokenGrant
from issuer.grants.token_exchange import TokenExchangeGrant

__all__ = ["GrantHandler", "GrantIssuer", "TokenContext", "default_handlers"]


def default_handlers() -> dict[str, GrantHandler]:
    handlers: list[GrantHandler] = [
        AuthorizationCodeGrant(),
        ClientCredentialsGrant(),
        PasswordGrant(),
        RefreshTokenGrant(),
        TokenExchangeGrant(),
        DeviceCodeGrant(),
    ]
    return {h.grant_type: h for h in handlers}
