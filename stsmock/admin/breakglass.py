"""``/admin/breakglass``: arm, disarm and list break-glass roles (the engine is ``stsmock.breakglass``)."""

from __future__ import annotations

from aiohttp import web

from ..breakglass import BreakGlassError
from ..runtime import RUNTIME
from .http import AdminRoutes, admin_error, read_body
from .models import BAD_REQUEST, NOT_FOUND, ArmBody, DisarmBody

routes = AdminRoutes("breakglass")


@routes.op(
    "GET", "/admin/breakglass", "Break-glass roles and their armed state", responses={200: ("states", "BreakGlassList")}
)
async def list_states(request: web.Request) -> web.Response:
    return web.json_response({"roles": request.app[RUNTIME].breakglass.list()})


@routes.op(
    "POST",
    "/admin/breakglass/{role}/arm",
    "Arm a break-glass role for a while (virtual clock)",
    body=ArmBody,
    body_required=True,
    path_params={"role": {"type": "string"}},
    responses={200: ("the new state", "BreakGlassState"), 400: BAD_REQUEST, 404: NOT_FOUND},
)
async def arm(request: web.Request) -> web.Response:
    body = await read_body(request, ArmBody)
    try:
        state = request.app[RUNTIME].breakglass.arm(
            request.match_info["role"], reason=body.reason.strip(), ttl_seconds=body.ttl_seconds, armed_by=body.armed_by
        )
    except BreakGlassError as exc:
        return admin_error(exc.status, exc.error, str(exc))
    return web.json_response(state)


@routes.op(
    "POST",
    "/admin/breakglass/{role}/disarm",
    "Disarm a break-glass role",
    body=DisarmBody,
    path_params={"role": {"type": "string"}},
    responses={200: ("the new state", "BreakGlassState"), 400: BAD_REQUEST, 404: NOT_FOUND},
)
async def disarm(request: web.Request) -> web.Response:
    body = await read_body(request, DisarmBody)
    try:
        state = request.app[RUNTIME].breakglass.disarm(request.match_info["role"], why="admin-api", reason=body.reason)
    except BreakGlassError as exc:
        return admin_error(exc.status, exc.error, str(exc))
    return web.json_response(state)
