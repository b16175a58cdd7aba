"""``POST /admin/tokens``: mint a token from a built-in issuer (audited, severity high)."""

from __future__ import annotations

from aiohttp import web

from issuer.service import IssuerService

from ..runtime import RUNTIME, Runtime
from .http import AdminRoutes, admin_error, not_found, read_body
from .models import BAD_REQUEST, NOT_FOUND, MintTokenBody

routes = AdminRoutes("tokens")


def issuer_named(runtime: Runtime, name: str) -> IssuerService:
    """The built-in issuer ``name``, or a 404 naming it."""
    service = runtime.issuers.get(name)
    if service is None:
        raise not_found(f"no issuer named {name!r}")
    return service


def default_audience(service: IssuerService, client_id: str | None) -> str | list[str]:
    """The audience of ``client_id`` (default: the issuer's first client), as its own tokens carry it."""
    clients = service.settings.clients
    client = service.settings.client(client_id) if client_id else (clients[0] if clients else None)
    if client is None:
        return client_id or service.issuer_url
    return client.audience or client.client_id


@routes.op(
    "POST",
    "/admin/tokens",
    "Mint a token from a built-in issuer",
    body=MintTokenBody,
    responses={200: ("the minted token", "MintedToken"), 400: BAD_REQUEST, 404: NOT_FOUND},
    description="Claims in `claims` are merged with `sub`/`aud`; protocol claims are set by the issuer. "
    "Without `aud`, the token carries the audience of `client_id` (default: the issuer's first client).",
)
async def mint_token(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    body = await read_body(request, MintTokenBody)
    service = issuer_named(runtime, body.issuer)
    claims = dict(body.claims)
    if body.sub is not None:
        claims["sub"] = body.sub
    if body.aud is not None:
        claims["aud"] = body.aud
    elif "aud" not in claims:  # the (default) client's audience, so the token fits the roles trusting it
        claims["aud"] = default_audience(service, body.client_id)
    try:
        token = service.mint(claims, alg=body.alg, ttl=body.ttl, typ=body.typ, client_id=body.client_id)
    except ValueError as exc:
        return admin_error(400, "invalid_request", str(exc))
    runtime.audit.record(
        "admin.token_minted", severity="high", issuer=body.issuer, sub=claims.get("sub"), aud=claims.get("aud")
    )
    return web.json_response({"token": token, "issuer": service.issuer_url})
