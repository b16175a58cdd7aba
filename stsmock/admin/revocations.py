"""``/admin/revocations``: revoke tokens or credentials, list and remove revocations."""

from __future__ import annotations

from aiohttp import web

from ..runtime import RUNTIME
from .http import AdminRoutes, admin_error, read_body
from .models import BAD_REQUEST, NOT_FOUND, RevokeBody

routes = AdminRoutes("revocations")


@routes.op(
    "POST",
    "/admin/revocations",
    "Revoke tokens or credentials",
    body=RevokeBody,
    body_required=True,
    responses={201: ("the revocation", "Revocation"), 400: BAD_REQUEST},
)
async def add_revocation(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body = await read_body(request, RevokeBody)
    record = runtime.revocations.revoke(
        body.by, body.value, reason=body.reason, source="admin-api", issued_before=body.issued_before
    )
    return web.json_response(record, status=201)


@routes.op("GET", "/admin/revocations", "List revocations", responses={200: ("revocations", "RevocationList")})
async def list_revocations(request: web.Request) -> web.Response:
    return web.json_response({"revocations": request.app[RUNTIME].revocations.list()})


@routes.op(
    "DELETE",
    "/admin/revocations/{id}",
    "Remove a revocation",
    path_params={"id": {"type": "integer"}},
    responses={204: ("removed", None), 400: BAD_REQUEST, 404: NOT_FOUND},
)
async def delete_revocation(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    try:
        revocation_id = int(request.match_info["id"])
    except ValueError:
        return admin_error(400, "invalid_request", "revocation id must be an integer")
    # ids are SQLite rowids (1..2**63-1); anything else cannot exist (and would overflow the driver)
    if not 0 < revocation_id < 2**63 or not runtime.revocations.remove(revocation_id):
        return admin_error(404, "not_found", f"no revocation {revocation_id}")
    runtime.audit.record("admin.revocation_removed", severity="high", revocation_id=revocation_id)
    return web.Response(status=204)
