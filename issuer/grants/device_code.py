"""Device authorization grant polling (RFC 8628 §3.4/§3.5).

Expiry follows the injected clock; the record outlives its expiry a little so
an expired code answers ``expired_token`` rather than ``invalid_grant``.
"""

from __future__ import annotations

from typing import Any

from issuer.errors import OAuthError, invalid_grant
from issuer.grants.base import TokenContext
from issuer.settings import GRANT_DEVICE_CODE
from issuer.tokens import Issue, Subject, digest

SLOW_DOWN_STEP = 5


class DeviceCodeGrant:
    grant_type = GRANT_DEVICE_CODE

    async def handle(self, ctx: TokenContext) -> dict[str, Any]:
        svc, client = ctx.service, ctx.client
        tokens = svc.tokens
        key = digest(ctx.form.require("device_code"))
        kind = tokens.kind("device")
        record = svc.store.get(kind, key)
        if record is None:
            raise invalid_grant("invalid device_code", check="device_code")
        if record["client_id"] != client.client_id:
            raise invalid_grant("device_code was issued to another client", check="device_client")
        now = svc.clock.now()
        if record["exp"] <= now:
            svc.store.delete(kind, key)
            raise OAuthError("expired_token", "the device_code has expired", check="device_expired")
        if record["status"] == "denied":
            svc.store.delete(kind, key)
            raise OAuthError("access_denied", "the user denied the request", check="device_denied")
        if record["status"] == "pending":
            last = record.get("last_poll")
            record["last_poll"] = now
            if last is not None and now - last < record["interval"]:
                record["interval"] += SLOW_DOWN_STEP
                svc.store.put(kind, key, record, expires_at=record["store_until"])
                raise OAuthError("slow_down", f"poll at most every {record['interval']} seconds", check="device_poll")
            svc.store.put(kind, key, record, expires_at=record["store_until"])
            raise OAuthError("authorization_pending", "the user has not yet approved", check="device_poll")
        record = svc.store.take(kind, key)
        if record is None or record.get("status") != "approved":
            raise invalid_grant("device_code already used", check="device_code")
        scope = list(record["scope"])
        issue = Issue(
            client=client,
            grant_type=self.grant_type,
            scope=scope,
            subject=Subject.from_dict(record["subject"]),
            form={**record.get("params", {}), **ctx.form.as_dict()},
            refresh=tokens.wants_refresh(client, self.grant_type, scope),
        )
        response, _ = tokens.issue(issue)
        return response
