"""``/admin/clock``: read and move the virtual clock (freeze, unfreeze, advance, set, reset)."""

from __future__ import annotations

from aiohttp import web

from ..runtime import RUNTIME
from .http import AdminRoutes, admin_error, read_body
from .models import BAD_REQUEST, ClockBody

routes = AdminRoutes("clock")


@routes.op("GET", "/admin/clock", "Read the virtual clock", responses={200: ("clock", "ClockState")})
async def get_clock(request: web.Request) -> web.Response:
    return web.json_response(request.app[RUNTIME].clock.state())


@routes.op(
    "POST",
    "/admin/clock",
    "Freeze, unfreeze, advance, set or reset the virtual clock",
    body=ClockBody,
    body_required=True,
    responses={200: ("the new clock state", "ClockState"), 400: BAD_REQUEST},
)
async def set_clock(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body = await read_body(request, ClockBody)
    clock = runtime.clock
    if body.action == "advance" and body.seconds is None:
        return admin_error(400, "invalid_request", "advance needs 'seconds'")
    if body.action == "set" and body.at is None:
        return admin_error(400, "invalid_request", "set needs 'at' (epoch seconds)")
    try:
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
    except ValueError as exc:  # NaN, Infinity, beyond 9999-12-31: the clock refuses, naming the limit
        return admin_error(400, "invalid_request", str(exc))
    state = clock.state()
    runtime.audit.record("admin.clock", severity="high", action=body.action, clock=state)
    return web.json_response(state)
