"""client_credentials (RFC 6749 §4.4): the client is the subject; no refresh token.

``audience``/``resource`` parameters (repeatable) replace the client's default
audience, like mock-oauth2-server: convenient for minting STS-bound tokens.
"""

from __future__ import annotations

from typing import Any

from issuer.errors import OAuthError
from issuer.grants.base import TokenContext
from issuer.settings import GRANT_CLIENT_CREDENTIALS
from issuer.tokens import Issue, Subject, parse_scope


class ClientCredentialsGrant:
    grant_type = GRANT_CLIENT_CREDENTIALS

    async def handle(self, ctx: TokenContext) -> dict[str, Any]:
        client = ctx.client
        if client.is_public:  # RFC 6749 §4.4: confidential clients only
            raise OAuthError(
                "unauthorized_client", "public clients cannot use client_credentials", check="grant_allowed"
            )
        scope = parse_scope(client, ctx.form.one("scope"))
        audience = ctx.form.many("audience") + ctx.form.many("resource") or None
        issue = Issue(
            client=client,
            grant_type=self.grant_type,
            scope=scope,
            subject=Subject(sub=client.client_id),
            form=ctx.form.as_dict(),
            user_grant=False,
            audience=audience,
        )
        response, _ = ctx.service.tokens.issue(issue)
        return response
