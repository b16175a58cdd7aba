"""The admin API under ``/admin/``, guarded by a bearer token: one route table per resource.

Each module holds one resource's :class:`~.http.AdminRoutes` (a ``RouteTableDef`` whose routes
carry their OpenAPI operation); ``models.py`` holds the request and response models and
``openapi.py`` generates ``/admin/openapi.json`` from both. Handlers parse, call the runtime
(``request.app[RUNTIME]``) and render JSON.
"""

from __future__ import annotations

from aiohttp import web

from . import audit, bindings, breakglass, clock, faults, info, keys, openapi, revocations, roles, simulate, tokens
from .http import AdminRoutes, admin_error, auth_middleware, read_body

#: Every resource's route table, mounted in this order.
TABLES: tuple[AdminRoutes, ...] = (
    roles.routes,
    info.routes,
    tokens.routes,
    keys.routes,
    audit.routes,
    revocations.routes,
    clock.routes,
    faults.routes,
    breakglass.routes,
    simulate.routes,
    bindings.routes,
)

__all__ = ["AdminRoutes", "add_routes", "admin_error", "auth_middleware", "read_body"]


def add_routes(app: web.Application) -> None:
    """Mount every admin resource and the generated OpenAPI document."""
    for table in TABLES:
        app.router.add_routes(table)
    openapi.add_route(app)
