"""``/admin/keys``: list, rotate and retire the built-in issuers' signing keys."""

from __future__ import annotations

from aiohttp import web

from issuer.ports import KeyRecordError

from ..runtime import RUNTIME
from .http import AdminRoutes, admin_error, read_body
from .models import BAD_REQUEST, DAMAGED, NOT_FOUND, KeysQuery, RetireBody, RotateBody
from .tokens import issuer_named

routes = AdminRoutes("keys")


@routes.op(
    "GET",
    "/admin/keys",
    "List signing keys per issuer",
    query=KeysQuery,
    responses={200: ("keys", "KeysByIssuer"), 404: NOT_FOUND},
)
async def list_keys(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    name = request.query.get("issuer")
    names = [name] if name else list(runtime.issuers)
    return web.json_response({n: issuer_named(runtime, n).keys.list() for n in names})


@routes.op(
    "POST",
    "/admin/keys/rotate",
    "Rotate an issuer's signing key",
    body=RotateBody,
    responses={200: ("the new key", "KeyMeta"), 400: BAD_REQUEST, 404: NOT_FOUND, 500: DAMAGED},
)
async def rotate_keys(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body = await read_body(request, RotateBody)
    service = issuer_named(runtime, body.issuer)
    try:
        result = service.keys.rotate(body.alg)
    except KeyRecordError as exc:
        return _damaged(exc)
    except ValueError as exc:
        return admin_error(400, "invalid_request", str(exc))
    runtime.audit.record("admin.key_rotated", severity="high", issuer=body.issuer, kid=result.get("kid"))
    return web.json_response(result)


@routes.op(
    "POST",
    "/admin/keys/{kid}/retire",
    "Retire a signing key (grace period, or immediately)",
    body=RetireBody,
    path_params={"kid": {"type": "string"}},
    responses={200: ("the retired key", "KeyMeta"), 400: BAD_REQUEST, 404: NOT_FOUND, 500: DAMAGED},
)
async def retire_key(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body = await read_body(request, RetireBody)
    service = issuer_named(runtime, body.issuer)
    kid = request.match_info["kid"]
    try:
        result = service.keys.retire(kid, immediately=body.immediately)
    except KeyRecordError as exc:
        return _damaged(exc)
    except (KeyError, ValueError) as exc:
        return admin_error(404, "not_found", str(exc).strip("'\""))
    runtime.audit.record("admin.key_retired", severity="high", issuer=body.issuer, kid=kid)
    return web.json_response(result)


def _damaged(exc: KeyRecordError) -> web.Response:
    """A damaged key record refuses every key change: reported, never replaced (also in /healthz)."""
    return admin_error(500, "damaged_state", f"{exc.name}: {exc.reason}; {exc.remedy}")
