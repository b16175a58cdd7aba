"""``/admin/roles``: list, create or replace, and delete the STS roles at run time."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from stsproxy.errors import StsError
from stsproxy.settings import RoleSettings

from ..config import ConfigError, expand_placeholders, format_validation_error
from ..runtime import RUNTIME
from .http import AdminRoutes, admin_error, read_body
from .models import BAD_REQUEST, NOT_FOUND, RawObject

routes = AdminRoutes("roles")


@routes.op("GET", "/admin/roles", "List the STS roles", responses={200: ("roles", "RoleList")})
async def list_roles(request: web.Request) -> web.Response:
    return web.json_response({"roles": [role.describe() for role in request.app[RUNTIME].sts.roles.all()]})


@routes.op(
    "PUT",
    "/admin/roles/{name}",
    "Create or replace a role (the name comes from the path)",
    body=RoleSettings,
    body_required=True,
    body_exclude=("name",),
    path_params={"name": {"type": "string"}},
    responses={200: ("the role", "Role"), 400: BAD_REQUEST},
    description="`{issuer:NAME}` / `{provider:NAME}` placeholders in the policies are expanded.",
)
async def put_role(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    raw = await read_body(request, RawObject)
    data = {**raw.model_dump(), "name": request.match_info["name"]}
    try:
        settings = RoleSettings.model_validate(expand_placeholders(data, runtime.issuer_urls()))
        for name in settings.managed_policies:
            if name not in runtime.sts.settings.managed_policies:
                raise ConfigError(f"managed_policies: unknown managed policy {name!r}")
        role = runtime.roles.put(settings)  # stored + fed to every process before we answer
    except ValidationError as exc:
        return admin_error(400, "invalid_request", format_validation_error(exc))
    except (ConfigError, ValueError) as exc:
        return admin_error(400, "invalid_request", str(exc))
    except StsError as exc:
        return admin_error(400, "invalid_request", f"{exc.code}: {exc.message}")
    runtime.audit.record("admin.role_put", severity="high", role_arn=role.arn)
    return web.json_response(role.describe())


@routes.op(
    "DELETE",
    "/admin/roles/{name}",
    "Delete a role",
    path_params={"name": {"type": "string"}},
    responses={204: ("deleted", None), 404: NOT_FOUND},
)
async def delete_role(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    name = request.match_info["name"]
    if not runtime.roles.remove(name):
        return admin_error(404, "not_found", f"no role named {name!r}")
    runtime.audit.record("admin.role_deleted", severity="high", role=name)
    return web.Response(status=204)
