"""refresh_token (RFC 6749 §6) with rotation and reuse detection (OAuth 2.1 §4.3.1).

Each refresh marks the presented token used and returns a new one of the same
family. Presenting a used token revokes the whole family, including the access
tokens issued from it.
"""

from __future__ import annotations

from typing import Any

from issuer.errors import invalid_grant, invalid_scope
from issuer.grants.base import TokenContext
from issuer.settings import GRANT_REFRESH_TOKEN
from issuer.tokens import Issue, Subject, digest


class RefreshTokenGrant:
    grant_type = GRANT_REFRESH_TOKEN

    async def handle(self, ctx: TokenContext) -> dict[str, Any]:
        svc, client, form = ctx.service, ctx.client, ctx.form
        tokens = svc.tokens
        key = digest(form.require("refresh_token"))
        record = svc.store.take(tokens.kind("refresh"), key)
        if record is None:
            raise invalid_grant("invalid or expired refresh token", check="refresh_token")
        now = svc.clock.now()
        family = record["family"]
        if record.get("used"):
            tokens.revoke_family(family, reason="refresh token reuse")
            raise invalid_grant("refresh token already used; its family is revoked", check="refresh_reuse")
        if record["client_id"] != client.client_id:
            svc.store.put(tokens.kind("refresh"), key, record, expires_at=record["exp"])
            raise invalid_grant("refresh token was issued to another client", check="refresh_client")
        if record["exp"] <= now or tokens.family_revoked(family):
            raise invalid_grant("refresh token expired or revoked", check="refresh_token")
        # Keep the used token around (marked) until it would have expired, to detect reuse.
        svc.store.put(tokens.kind("refresh"), key, {**record, "used": True}, expires_at=record["exp"])
        requested = form.one("scope")
        scope = list(record["scope"])
        if requested is not None:
            asked = [s for s in requested.split(" ") if s]
            if any(s not in scope for s in asked):
                raise invalid_scope("refresh may not widen the original scope")
            scope = asked
        issue = Issue(
            client=client,
            grant_type=self.grant_type,
            scope=scope,
            subject=Subject.from_dict(record["subject"]),
            form={**record["form"], **form.as_dict()},
            audience=record.get("audience"),
            family=family,
            refresh=True,
        )
        response, _ = tokens.issue(issue)
        return response
