"""authorization_code (RFC 6749 §4.1) with PKCE (RFC 7636).

Codes are single-use via ``StateStore.take``. A redeemed code leaves a
``code_used`` marker so a replay is detected and revokes everything issued
from the first redemption (RFC 6749 §4.1.2).
"""

from __future__ import annotations

from typing import Any

from issuer import pkce
from issuer.errors import invalid_grant
from issuer.grants.base import TokenContext
from issuer.settings import GRANT_AUTHORIZATION_CODE
from issuer.tokens import Issue, Subject, digest


class AuthorizationCodeGrant:
    grant_type = GRANT_AUTHORIZATION_CODE

    async def handle(self, ctx: TokenContext) -> dict[str, Any]:
        svc, client, form = ctx.service, ctx.client, ctx.form
        tokens = svc.tokens
        code = form.require("code")
        redirect_uri = form.one("redirect_uri")
        verifier = form.one("code_verifier")
        key = digest(code)
        record = svc.store.take(tokens.kind("code"), key)
        if record is None:
            used = svc.store.get(tokens.kind("code_used"), key)
            if used is not None:
                if used.get("family"):
                    tokens.revoke_family(used["family"], reason="authorization code replay")
                for jti in used.get("jtis", []):
                    tokens.revoke_jti(jti, used.get("exp"), reason="authorization code replay")
                raise invalid_grant(
                    "authorization code already used; tokens issued from it are revoked", check="code_reuse"
                )
            raise invalid_grant("invalid or expired authorization code", check="code")
        now = svc.clock.now()
        if record["exp"] <= now:
            raise invalid_grant("authorization code expired", check="code")
        if record["client_id"] != client.client_id:
            raise invalid_grant("authorization code was issued to another client", check="code_client")
        if (record.get("redirect_uri_given") or redirect_uri is not None) and redirect_uri != record["redirect_uri"]:
            raise invalid_grant("redirect_uri does not match the authorization request", check="redirect_uri")
        challenge = record.get("code_challenge")
        if challenge:
            if verifier is None:
                raise invalid_grant("code_verifier required", check="pkce")
            if not pkce.verify(verifier, challenge, record.get("code_challenge_method", "plain")):
                raise invalid_grant("PKCE verification failed", check="pkce")
        elif verifier is not None:
            raise invalid_grant("code_verifier given but no code_challenge was sent", check="pkce")
        scope = list(record["scope"])
        issue = Issue(
            client=client,
            grant_type=self.grant_type,
            scope=scope,
            subject=Subject.from_dict(record["subject"]),
            form={**record.get("params", {}), **form.as_dict()},
            nonce=record.get("nonce"),
            refresh=tokens.wants_refresh(client, self.grant_type, scope),
        )
        response, meta = tokens.issue(issue)
        ttl = max(svc.settings.refresh_token_ttl, svc.settings.access_token_ttl)
        svc.store.put(
            tokens.kind("code_used"),
            key,
            {"family": meta["family"], "jtis": [meta["jti"]], "exp": meta["exp"]},
            expires_at=now + ttl,
        )
        return response
