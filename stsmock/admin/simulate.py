"""``POST /admin/simulate``: the STS's decision for a token or claims, minting nothing.

The decision itself is ``stsmock.simulate.Simulator`` (an adapter over the STS's steps); this
module only parses, calls, audits and renders.
"""

from __future__ import annotations

from aiohttp import web

from .. import simulate as simulator
from ..runtime import RUNTIME
from .http import AdminRoutes, admin_error, read_body
from .models import BAD_REQUEST, NOT_FOUND, SimulateBody

routes = AdminRoutes("simulate")


@routes.op(
    "POST",
    "/admin/simulate",
    "Simulate AssumeRoleWithWebIdentity + a permission check, minting nothing",
    body=SimulateBody,
    body_required=True,
    responses={200: ("the decision", "Simulation"), 400: BAD_REQUEST, 404: NOT_FOUND},
    description="Give exactly one of `token` (verified like the STS does) or `claims` (a synthetic token "
    "of a built-in issuer).",
)
async def simulate(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body = await read_body(request, SimulateBody)
    try:
        result = await runtime.simulator.run(body)
    except simulator.SimulationError as exc:
        return admin_error(exc.status, exc.error, str(exc))
    runtime.audit.record(
        "admin.simulate",
        severity="info",
        role_arn=body.role_arn,
        action=body.action,
        resource=body.resource,
        allowed=result["allowed"],
    )
    return web.json_response(result)
