"""``GET /admin/audit``: query the audit log (filters, paging by id)."""

from __future__ import annotations

from aiohttp import web

from ..runtime import RUNTIME
from .http import AdminRoutes, admin_error
from .models import BAD_REQUEST, AuditQuery

routes = AdminRoutes("audit")

#: SQLite INTEGER range: a larger after_id cannot match and would overflow the driver.
MAX_ID = 2**63 - 1


@routes.op(
    "GET",
    "/admin/audit",
    "Query the audit log",
    query=AuditQuery,
    responses={200: ("matching records, oldest first", "AuditPage"), 400: BAD_REQUEST},
)
async def audit_query(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    q = request.query
    try:
        records = runtime.audit.query(
            subject=q.get("subject") or q.get("sub"),
            role=q.get("role"),
            decision=q.get("decision"),
            event=q.get("event"),
            since=float(q["since"]) if "since" in q else None,
            until=float(q["until"]) if "until" in q else None,
            after_id=min(max(int(q.get("after_id", "0")), 0), MAX_ID),
            limit=int(q.get("limit", "100")),
            newest_first=_order(q.get("order", "oldest")),
        )
    except ValueError:
        return admin_error(
            400, "invalid_request", "since/until must be epoch seconds; after_id/limit integers; order oldest|newest"
        )
    return web.json_response({"records": records})


def _order(value: str) -> bool:
    if value not in ("oldest", "newest"):
        raise ValueError(value)
    return value == "newest"
