"""Break-glass roles: usable only while armed, with a reason, loudly audited.

A role with a ``break_glass`` block refuses AssumeRoleWithWebIdentity until an
operator arms it (``POST /admin/breakglass/{role}/arm`` with a reason and a
TTL on the virtual clock). The caller must also state a reason (the claim or
session tag named by ``reason_claim``). Each use is a ``breakglass.used``
audit record of severity critical, may disarm the role (``single_use``) and
may be POSTed to a webhook. State lives in the store (kind ``breakglass``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from stsproxy.context import TAGS_CLAIM
from stsproxy.decision import DecisionRecord
from stsproxy.errors import AccessDenied
from stsproxy.roles import Role, RoleRegistry

from .audit import AuditLog
from .store import Backend

log = logging.getLogger("stsmock.breakglass")

KIND = "breakglass"
#: Change-feed topic (state is read from the store on each use; the record orders arm/use/disarm).
TOPIC = "breakglass"


class BreakGlassError(ValueError):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error = status, error


class BreakGlass:
    """Arm/disarm state and the two STS hooks.

    ``roles`` is the STS's role registry, read only by the admin operations (arm, disarm, list);
    the STS hooks get the role of the request as an argument.
    """

    def __init__(self, store: Backend, *, now: Callable[[], float], audit: AuditLog, roles: RoleRegistry) -> None:
        self.store = store
        self._now = now
        self.audit = audit
        self.roles = roles
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- state ------------------------------------------------------------
    def _role(self, name: str) -> Role:
        role: Role | None = self.roles.by_name(name)
        if role is None:
            raise BreakGlassError(404, "not_found", f"no role named {name!r}")
        if role.settings.break_glass is None:
            raise BreakGlassError(
                400, "invalid_request", f"role {name!r} is not a break-glass role (no break_glass settings)"
            )
        return role

    def state(self, name: str) -> dict[str, Any]:
        record = self.store.get(KIND, name) or {"uses": 0}
        armed_until = record.get("armed_until")
        armed = armed_until is not None and armed_until > self._now()
        return {"role": name, **record, "armed": armed}

    def arm(self, name: str, *, reason: str, ttl_seconds: int = 900, armed_by: str = "admin-api") -> dict[str, Any]:
        role = self._role(name)
        now = self._now()
        with self._lock, self.store.change() as change:
            record = self.store.get(KIND, name) or {"uses": 0}
            change.note(TOPIC, name)
            record.update(
                armed_until=now + ttl_seconds, armed_at=now, reason=reason, armed_by=armed_by, role_arn=role.arn
            )
            self.store.put(KIND, name, record)
        self.audit.record(
            "breakglass.armed",
            severity="high",
            role=name,
            role_arn=role.arn,
            reason=reason,
            armed_by=armed_by,
            ttl_seconds=ttl_seconds,
            armed_until=now + ttl_seconds,
        )
        return self.state(name)

    def disarm(self, name: str, *, why: str = "admin", reason: str = "") -> dict[str, Any]:
        role = self._role(name)
        with self._lock, self.store.change() as change:
            record = self.store.get(KIND, name) or {"uses": 0}
            change.note(TOPIC, name)
            was_armed = record.get("armed_until") is not None and record["armed_until"] > self._now()
            record["armed_until"] = None
            record["disarmed_at"] = self._now()
            record["disarmed_by"] = why
            self.store.put(KIND, name, record)
        self.audit.record(
            "breakglass.disarmed",
            severity="high",
            role=name,
            role_arn=role.arn,
            by=why,
            reason=reason,
            was_armed=was_armed,
        )
        return self.state(name)

    def list(self) -> list[dict[str, Any]]:
        return [self.state(role.name) for role in self.roles.all() if role.settings.break_glass is not None]

    # -- STS hooks ----------------------------------------------------------
    def check(self, role: Role, claims: dict[str, Any], record: DecisionRecord) -> None:
        """``StsExtensions.break_glass``: refuse unless armed and (if required) a reason is given."""
        settings = role.settings.break_glass
        assert settings is not None
        state = self.state(role.name)
        record.note(break_glass=True)
        if not state["armed"]:
            raise AccessDenied(
                f"Not authorized to perform sts:AssumeRoleWithWebIdentity: break-glass role {role.name} is not armed",
                check="break-glass-disarmed",
                detail={"role_arn": role.arn, "armed_until": state.get("armed_until")},
            )
        reason = caller_reason(claims, settings.reason_claim)
        if reason is None and settings.require_reason:
            raise AccessDenied(
                f"Not authorized to perform sts:AssumeRoleWithWebIdentity: break-glass role {role.name} needs a reason "
                f"in the '{settings.reason_claim}' claim or session tag",
                check="break-glass-reason",
                detail={"role_arn": role.arn, "reason_claim": settings.reason_claim},
            )
        record.note(break_glass_reason=reason)

    def used(self, role: Role, record: DecisionRecord) -> None:
        """``StsExtensions.break_glass_used``: audit (critical), count, maybe disarm, maybe webhook."""
        settings = role.settings.break_glass
        assert settings is not None
        with self._lock, self.store.change() as change:  # serialised with every process's arm/use
            state = self.store.get(KIND, role.name) or {"uses": 0}
            armed_until = state.get("armed_until")
            if settings.single_use and (armed_until is None or armed_until <= self._now()):
                # another process spent the single use between our check and now: these credentials never leave
                raise AccessDenied(
                    f"Not authorized to perform sts:AssumeRoleWithWebIdentity: break-glass role {role.name} "
                    "is not armed (its single use was just spent)",
                    check="break-glass-disarmed",
                    detail={"role_arn": role.arn},
                )
            change.note(TOPIC, role.name)
            state["uses"] = int(state.get("uses") or 0) + 1
            state["last_used_at"] = self._now()
            if settings.single_use:
                state["armed_until"] = None
                state["disarmed_at"] = self._now()
                state["disarmed_by"] = "single-use"
            self.store.put(KIND, role.name, state)
        event = {
            "event": "breakglass.used",
            "role": role.name,
            "role_arn": role.arn,
            "sub": record.fields.get("sub"),
            "iss": record.fields.get("iss"),
            "reason": record.fields.get("break_glass_reason"),
            "armed_reason": state.get("reason"),
            "armed_by": state.get("armed_by"),
            "session_name": record.fields.get("session_name"),
            "access_key_id": record.fields.get("access_key_id"),
            "expiration": record.fields.get("expiration"),
            "request_id": record.request_id,
            "uses": state["uses"],
            "single_use": settings.single_use,
            "ts": self._now(),
        }
        self.audit.record(
            "breakglass.used", severity="critical", **{k: v for k, v in event.items() if k not in ("event", "ts")}
        )
        if settings.single_use:
            self.audit.record(
                "breakglass.disarmed",
                severity="high",
                role=role.name,
                role_arn=role.arn,
                by="single-use",
                was_armed=True,
            )
        if settings.webhook:
            self._post_webhook(settings.webhook, event)

    async def close(self) -> None:
        """Cancel webhook posts still in flight (at shutdown)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _post_webhook(self, url: str, payload: dict[str, Any]) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            log.warning("break-glass webhook %s skipped: no running event loop", url)
            return
        task = loop.create_task(_post(url, payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _post(url: str, payload: dict[str, Any]) -> None:
    import aiohttp

    try:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session, session.post(url, json=payload) as resp:
            if resp.status >= 300:
                log.warning("break-glass webhook %s answered HTTP %s", url, resp.status)
    except Exception as exc:  # noqa: BLE001 - a webhook failure must never fail the STS call
        log.warning("break-glass webhook %s failed: %s", url, exc)


def caller_reason(claims: dict[str, Any], name: str) -> str | None:
    """The reason from the token claim ``name``, else from the session tag ``name``."""
    value = claims.get(name)
    if isinstance(value, str) and value.strip():
        return value.strip()
    tags = claims.get(TAGS_CLAIM)
    if isinstance(tags, dict):
        principal = tags.get("principal_tags")
        if isinstance(principal, dict):
            tag = principal.get(name)
            if isinstance(tag, list) and tag and isinstance(tag[0], str) and tag[0].strip():
                return tag[0].strip()
            if isinstance(tag, str) and tag.strip():
                return tag.strip()
    return None
