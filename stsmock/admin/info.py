"""``GET /admin/info``: what this server is (base URL, issuers, STS profile, clock)."""

from __future__ import annotations

from aiohttp import web

from ..runtime import RUNTIME
from .http import AdminRoutes

routes = AdminRoutes("info")


@routes.op(
    "GET",
    "/admin/info",
    "Server overview: base URL, issuers, STS profile, clock",
    responses={200: ("overview", "Info")},
)
async def info(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    return web.json_response(
        {
            "base_url": runtime.base_url,
            "issuers": {name: runtime.issuer_url(name) for name in runtime.issuers},
            "profile": runtime.config.sts.profile,
            "account_id": runtime.config.sts.account_id,
            "clock": runtime.clock.state(),
        }
    )
