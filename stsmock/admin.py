"""The admin API under /admin/, guarded by a bearer token.

Handlers only parse, call the runtime and render JSON; the request bodies are
validated with small pydantic models so a bad body gets a 400 naming the
field, never a 500.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .config import format_validation_error

if TYPE_CHECKING:
    from .app import Runtime

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _RawObject(BaseModel):
    """Any JSON object; validated further by the handler (e.g. a role's settings)."""

    model_config = ConfigDict(extra="allow")


class MintTokenBody(_Body):
    issuer: str = "default"
    sub: str | None = None
    aud: str | list[str] | None = None
    claims: dict[str, Any] = Field(default_factory=dict)
    ttl: int | None = Field(default=None, ge=1, le=31_536_000)
    alg: str | None = None
    client_id: str | None = None
    typ: str = "JWT"


class RotateBody(_Body):
    issuer: str = "default"
    alg: str | None = None


class RetireBody(_Body):
    issuer: str = "default"
    immediately: bool = False


class RevokeBody(_Body):
    by: Literal["jti", "sub", "client_id", "iss", "role_arn", "session", "access_key"]
    value: str = Field(min_length=1, max_length=4096)
    reason: str = Field(default="", max_length=1024)
    issued_before: float | None = None


class ClockBody(_Body):
    action: Literal["freeze", "unfreeze", "advance", "set", "reset"]
    seconds: float | None = None
    at: float | None = None


def admin_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


async def read_body(request: web.Request, model: type[BaseModel]) -> Any:
    """Parse a JSON body into ``model``; raise a 400 response on any problem."""
    try:
        raw = await request.read()
        data = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "invalid_request", "error_description": "body is not valid JSON"}),
            content_type="application/json",
        ) from None
    except web.HTTPRequestEntityTooLarge:
        raise
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "invalid_request", "error_description": format_validation_error(exc)}),
            content_type="application/json",
        ) from None


def make_admin_auth(runtime: Runtime) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    expected = runtime.admin_token.encode()

    @web.middleware
    async def admin_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/admin/") or request.path == "/admin/openapi.json":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected):
            response = admin_error(401, "invalid_token", "the admin API needs 'Authorization: Bearer <admin token>'")
            response.headers["WWW-Authenticate"] = 'Bearer realm="stsmock-admin"'
            return response
        return await handler(request)

    return admin_auth


def _issuer(runtime: Runtime, name: str) -> Any:
    service = runtime.issuers.get(name)
    if service is None:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "not_found", "error_description": f"no issuer named {name!r}"}),
            content_type="application/json",
        )
    return service


def add_admin_routes(app: web.Application, runtime: Runtime) -> None:
    app.middlewares.append(make_admin_auth(runtime))  # type: ignore[arg-type]  # aiohttp's Middleware protocol vs a @web.middleware function

    async def info(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "base_url": runtime.base_url,
                "issuers": {name: runtime.issuer_url(name) for name in runtime.issuers},
                "profile": runtime.config.sts.profile,
                "account_id": runtime.config.sts.account_id,
                "clock": runtime.clock.state(),
            }
        )

    async def mint_token(request: web.Request) -> web.Response:
        body: MintTokenBody = await read_body(request, MintTokenBody)
        service = _issuer(runtime, body.issuer)
        claims = dict(body.claims)
        if body.sub is not None:
            claims["sub"] = body.sub
        if body.aud is not None:
            claims["aud"] = body.aud
        try:
            token = service.mint(claims, alg=body.alg, ttl=body.ttl, typ=body.typ, client_id=body.client_id)
        except ValueError as exc:
            return admin_error(400, "invalid_request", str(exc))
        runtime.audit.record(
            "admin.token_minted", severity="high", issuer=body.issuer, sub=claims.get("sub"), aud=claims.get("aud")
        )
        return web.json_response({"token": token, "issuer": service.issuer_url})

    async def list_keys(request: web.Request) -> web.Response:
        name = request.query.get("issuer")
        names = [name] if name else list(runtime.issuers)
        return web.json_response({n: _issuer(runtime, n).keys.list() for n in names})

    async def rotate_keys(request: web.Request) -> web.Response:
        body: RotateBody = await read_body(request, RotateBody)
        service = _issuer(runtime, body.issuer)
        try:
            result = service.keys.rotate(body.alg)
        except ValueError as exc:
            return admin_error(400, "invalid_request", str(exc))
        runtime.audit.record("admin.key_rotated", severity="high", issuer=body.issuer, kid=result.get("kid"))
        return web.json_response(result)

    async def retire_key(request: web.Request) -> web.Response:
        body: RetireBody = await read_body(request, RetireBody)
        service = _issuer(runtime, body.issuer)
        try:
            result = service.keys.retire(request.match_info["kid"], immediately=body.immediately)
        except (KeyError, ValueError) as exc:
            return admin_error(404, "not_found", str(exc).strip("'\""))
        runtime.audit.record("admin.key_retired", severity="high", issuer=body.issuer, kid=request.match_info["kid"])
        return web.json_response(result)

    async def audit_query(request: web.Request) -> web.Response:
        q = request.query
        try:
            records = runtime.audit.query(
                subject=q.get("subject") or q.get("sub"),
                role=q.get("role"),
                decision=q.get("decision"),
                event=q.get("event"),
                since=float(q["since"]) if "since" in q else None,
                until=float(q["until"]) if "until" in q else None,
                after_id=min(max(int(q.get("after_id", "0")), 0), 2**63 - 1),  # SQLite INTEGER range
                limit=int(q.get("limit", "100")),
            )
        except ValueError:
            return admin_error(400, "invalid_request", "since/until must be epoch seconds; after_id/limit integers")
        return web.json_response({"records": records})

    async def add_revocation(request: web.Request) -> web.Response:
        body: RevokeBody = await read_body(request, RevokeBody)
        record = runtime.revocations.revoke(
            body.by, body.value, reason=body.reason, source="admin-api", issued_before=body.issued_before
        )
        return web.json_response(record, status=201)

    async def list_revocations(request: web.Request) -> web.Response:
        return web.json_response({"revocations": runtime.revocations.list()})

    async def delete_revocation(request: web.Request) -> web.Response:
        try:
            revocation_id = int(request.match_info["id"])
        except ValueError:
            return admin_error(400, "invalid_request", "revocation id must be an integer")
        # ids are SQLite rowids (1..2**63-1); anything else cannot exist (and would overflow the driver)
        if not 0 < revocation_id < 2**63 or not runtime.revocations.remove(revocation_id):
            return admin_error(404, "not_found", f"no revocation {revocation_id}")
        runtime.audit.record("admin.revocation_removed", severity="high", revocation_id=revocation_id)
        return web.Response(status=204)

    async def get_clock(request: web.Request) -> web.Response:
        return web.json_response(runtime.clock.state())

    async def set_clock(request: web.Request) -> web.Response:
        body: ClockBody = await read_body(request, ClockBody)
        clock = runtime.clock
        if body.action in ("advance",) and body.seconds is None:
            return admin_error(400, "invalid_request", "advance needs 'seconds'")
        if body.action == "set" and body.at is None:
            return admin_error(400, "invalid_request", "set needs 'at' (epoch seconds)")
        if body.action == "freeze":
            clock.freeze(body.at)
        elif body.action == "unfreeze":
            clock.unfreeze()
        elif body.action == "advance":
            clock.advance(float(body.seconds or 0))
        elif body.action == "set":
            clock.set(float(body.at or 0))
        else:
            clock.reset()
        state = clock.state()
        runtime.audit.record("admin.clock", severity="high", action=body.action, clock=state)
        return web.json_response(state)

    async def list_roles(request: web.Request) -> web.Response:
        return web.json_response({"roles": [role.describe() for role in runtime.sts.roles.all()]})

    async def put_role(request: web.Request) -> web.Response:
        from stsproxy.errors import StsError
        from stsproxy.settings import RoleSettings

        from .config import ConfigError, expand_placeholders

        raw = await read_body(request, _RawObject)
        data = {**raw.model_dump(), "name": request.match_info["name"]}
        try:
            settings = RoleSettings.model_validate(expand_placeholders(data, runtime.issuer_urls()))
            for name in settings.managed_policies:
                if name not in runtime.sts.settings.managed_policies:
                    raise ConfigError(f"managed_policies: unknown managed policy {name!r}")
            role = runtime.roles.put(settings) if runtime.roles is not None else runtime.sts.roles.put(settings)
        except ValidationError as exc:
            return admin_error(400, "invalid_request", format_validation_error(exc))
        except (ConfigError, ValueError) as exc:
            return admin_error(400, "invalid_request", str(exc))
        except StsError as exc:
            return admin_error(400, "invalid_request", f"{exc.code}: {exc.message}")
        runtime.audit.record("admin.role_put", severity="high", role_arn=role.arn)
        return web.json_response(role.describe())

    async def delete_role(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        removed = runtime.roles.remove(name) if runtime.roles is not None else runtime.sts.roles.remove(name)
        if not removed:
            return admin_error(404, "not_found", f"no role named {name!r}")
        runtime.audit.record("admin.role_deleted", severity="high", role=name)
        return web.Response(status=204)

    r = app.router
    r.add_get("/admin/roles", list_roles)
    r.add_put("/admin/roles/{name}", put_role)
    r.add_delete("/admin/roles/{name}", delete_role)
    r.add_get("/admin/info", info)
    r.add_post("/admin/tokens", mint_token)
    r.add_get("/admin/keys", list_keys)
    r.add_post("/admin/keys/rotate", rotate_keys)
    r.add_post("/admin/keys/{kid}/retire", retire_key)
    r.add_get("/admin/audit", audit_query)
    r.add_post("/admin/revocations", add_revocation)
    r.add_get("/admin/revocations", list_revocations)
    r.add_delete("/admin/revocations/{id}", delete_revocation)
    r.add_get("/admin/clock", get_clock)
    r.add_post("/admin/clock", set_clock)
