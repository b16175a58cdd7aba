"""``/admin/faults``: add, list and remove fault-injection rules (the engine is ``stsmock.faults``)."""

from __future__ import annotations

from aiohttp import web

from ..faults import FaultBody
from ..runtime import RUNTIME
from .http import AdminRoutes, admin_error, read_body
from .models import BAD_REQUEST, NOT_FOUND

routes = AdminRoutes("faults")


@routes.op(
    "POST",
    "/admin/faults",
    "Add a fault-injection rule",
    body=FaultBody,
    body_required=True,
    responses={201: ("the rule", "FaultRule"), 400: BAD_REQUEST},
)
async def add_rule(request: web.Request) -> web.Response:
    body = await read_body(request, FaultBody)
    return web.json_response(request.app[RUNTIME].faults.add(body), status=201)


@routes.op("GET", "/admin/faults", "List fault rules", responses={200: ("rules", "FaultList")})
async def list_rules(request: web.Request) -> web.Response:
    return web.json_response({"faults": request.app[RUNTIME].faults.list()})


@routes.op(
    "DELETE", "/admin/faults", "Remove all fault rules", responses={200: ("how many were removed", "FaultsCleared")}
)
async def clear_rules(request: web.Request) -> web.Response:
    return web.json_response({"removed": request.app[RUNTIME].faults.clear()})


@routes.op(
    "DELETE",
    "/admin/faults/{id}",
    "Remove one fault rule",
    path_params={"id": {"type": "string"}},
    responses={204: ("removed", None), 404: NOT_FOUND},
)
async def delete_rule(request: web.Request) -> web.Response:
    rule_id = request.match_info["id"]
    if not request.app[RUNTIME].faults.remove(rule_id):
        return admin_error(404, "not_found", f"no fault rule {rule_id!r}")
    return web.Response(status=204)
