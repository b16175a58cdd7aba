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
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from stsproxy.context import TAGS_CLAIM
from stsproxy.decision import DecisionRecord
from stsproxy.errors import AccessDenied
from stsproxy.roles import Role

from .admin import admin_error, read_body

if TYPE_CHECKING:
    from .app import Runtime

log = logging.getLogger("stsmock.breakglass")

KIND = "breakglass"
EXTRAS_KEY = "breakglass"


class ArmBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=1024, pattern=r"\S")
    ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    armed_by: str = Field(default="admin-api", min_length=1, max_length=256)


class DisarmBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1024)


class BreakGlassError(ValueError):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error = status, error


class BreakGlass:
    """Arm/disarm state and the two STS hooks."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.store = runtime.store
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- state ------------------------------------------------------------
    def _role(self, name: str) -> Role:
        role: Role | None = self.runtime.sts.roles.by_name(name)
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
        armed = armed_until is not None and armed_until > self.runtime.clock.now()
        return {"role": name, **record, "armed": armed}

    def arm(self, name: str, *, reason: str, ttl_seconds: int = 900, armed_by: str = "admin-api") -> dict[str, Any]:
        role = self._role(name)
        now = self.runtime.clock.now()
        with self._lock:
            record = self.store.get(KIND, name) or {"uses": 0}
            record.update(
                armed_until=now + ttl_seconds, armed_at=now, reason=reason, armed_by=armed_by, role_arn=role.arn
            )
            self.store.put(KIND, name, record)
        self.runtime.audit.record(
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
        with self._lock:
            record = self.store.get(KIND, name) or {"uses": 0}
            was_armed = record.get("armed_until") is not None and record["armed_until"] > self.runtime.clock.now()
            record["armed_until"] = None
            record["disarmed_at"] = self.runtime.clock.now()
            record["disarmed_by"] = why
            self.store.put(KIND, name, record)
        self.runtime.audit.record(
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
        return [self.state(role.name) for role in self.runtime.sts.roles.all() if role.settings.break_glass is not None]

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
        with self._lock:
            state = self.store.get(KIND, role.name) or {"uses": 0}
            state["uses"] = int(state.get("uses") or 0) + 1
            state["last_used_at"] = self.runtime.clock.now()
            if settings.single_use:
                state["armed_until"] = None
                state["disarmed_at"] = self.runtime.clock.now()
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
            "ts": self.runtime.clock.now(),
        }
        self.runtime.audit.record(
            "breakglass.used", severity="critical", **{k: v for k, v in event.items() if k not in ("event", "ts")}
        )
        if settings.single_use:
            self.runtime.audit.record(
                "breakglass.disarmed",
                severity="high",
                role=role.name,
                role_arn=role.arn,
                by="single-use",
                was_armed=True,
            )
        if settings.webhook:
            self._post_webhook(settings.webhook, event)

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


def engine_for(runtime: Runtime) -> BreakGlass:
    engine: BreakGlass = runtime.extension(EXTRAS_KEY, BreakGlass)
    return engine


def hooks(runtime: Runtime) -> tuple[Callable[..., None], Callable[..., None]]:
    """(break_glass, break_glass_used) for ``StsExtensions``; the runtime's roles are read lazily."""
    engine = engine_for(runtime)
    return engine.check, engine.used


def install(app: web.Application, runtime: Runtime) -> None:
    engine = engine_for(runtime)

    def _fail(exc: BreakGlassError) -> web.Response:
        return admin_error(exc.status, exc.error, str(exc))

    async def arm(request: web.Request) -> web.Response:
        body: ArmBody = await read_body(request, ArmBody)
        try:
            state = engine.arm(
                request.match_info["role"],
                reason=body.reason.strip(),
                ttl_seconds=body.ttl_seconds,
                armed_by=body.armed_by,
            )
        except BreakGlassError as exc:
            return _fail(exc)
        return web.json_response(state)

    async def disarm(request: web.Request) -> web.Response:
        body: DisarmBody = await read_body(request, DisarmBody)
        try:
            state = engine.disarm(request.match_info["role"], why="admin-api", reason=body.reason)
        except BreakGlassError as exc:
            return _fail(exc)
        return web.json_response(state)

    async def list_states(request: web.Request) -> web.Response:
        return web.json_response({"roles": engine.list()})

    r = app.router
    r.add_get("/admin/breakglass", list_states)
    r.add_post("/admin/breakglass/{role}/arm", arm)
    r.add_post("/admin/breakglass/{role}/disarm", disarm)
