"""The console's routes: sign-in, overview, audit timeline, JWT decoder, simulator.

Handlers check the cookie (and the CSRF token on POSTs), gather the page data from the runtime's
collaborators (``pages.py``) and render a template (``render.py``). Both are imported on the first
page view, so Jinja2 costs nothing at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from ..runtime import RUNTIME
from .auth import COOKIE, PREFIX, ConsoleAuth, console_key

MAX_FORM_BYTES = 256 * 1024
NAV = (("/ui", "Overview"), ("/ui/audit", "Audit"), ("/ui/decode", "Decode JWT"), ("/ui/simulate", "Simulate"))
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

AUTH: web.AppKey[ConsoleAuth] = web.AppKey("stsmock.console.auth", ConsoleAuth)
routes = web.RouteTableDef()


def add_routes(app: web.Application) -> None:
    runtime = app[RUNTIME]
    app[AUTH] = ConsoleAuth(
        console_key(runtime.data_dir),
        runtime.admin_token,
        secure=runtime.base_url.startswith("https://"),
        store=runtime.store,
    )
    app.router.add_routes(routes)


def page(request: web.Request, template: str, title: str, *, status: int = 200, **context: Any) -> web.Response:
    from .render import render

    auth = request.app[AUTH]
    nav = context.pop("nav", True)
    body = render(
        template,
        title=title,
        nav=nav,
        links=NAV,
        path=request.path,
        csrf=auth.csrf_token(request) if nav else "",
        **context,
    )
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS)


def require_auth(request: web.Request) -> None:
    if not request.app[AUTH].authenticated(request):
        raise web.HTTPSeeOther("/ui/login", headers={"Cache-Control": "no-store"})


async def read_form(request: web.Request) -> Mapping[str, Any]:
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=request.content_length)
    return await request.post()


async def post_form(request: web.Request) -> Mapping[str, Any]:
    require_auth(request)
    form = await read_form(request)
    if not request.app[AUTH].csrf_ok(request, form):
        raise web.HTTPForbidden(text="CSRF token missing or invalid; reload the page", headers=SECURITY_HEADERS)
    return form


@routes.get("/ui/login")
async def login_page(request: web.Request) -> web.Response:
    if request.app[AUTH].authenticated(request):
        raise web.HTTPSeeOther("/ui")
    return page(request, "login.html", "Sign in", nav=False, error="")


@routes.post("/ui/login")
async def login(request: web.Request) -> web.StreamResponse:
    runtime, auth = request.app[RUNTIME], request.app[AUTH]
    form = await read_form(request)
    if not auth.token_ok(str(form.get("token", ""))):
        runtime.audit.record("console.login_failed", severity="high", source_ip=request.remote)
        return page(request, "login.html", "Sign in", status=401, nav=False, error="That is not the admin token.")
    runtime.audit.record("console.login", severity="high", source_ip=request.remote)
    response = web.HTTPSeeOther("/ui")
    response.set_cookie(COOKIE, auth.start_session(), path=PREFIX, httponly=True, samesite="Strict", secure=auth.secure)
    raise response


@routes.post("/ui/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    await post_form(request)
    request.app[AUTH].end_session(request)  # the cookie stops working everywhere, not only in this browser
    response = web.HTTPSeeOther("/ui/login")
    response.del_cookie(COOKIE, path=PREFIX)
    raise response


@routes.get("/ui")
async def overview(request: web.Request) -> web.Response:
    from . import pages

    require_auth(request)
    runtime = request.app[RUNTIME]
    data = pages.overview(clock=runtime.clock, issuers=runtime.issuers, roles=runtime.sts.roles.all())
    return page(
        request,
        "overview.html",
        "Overview",
        base_url=runtime.base_url,
        profile=runtime.config.sts.profile,
        account_id=runtime.config.sts.account_id,
        audience_text=pages.audience_text,
        **data,
    )


@routes.get("/ui/")
async def slash(request: web.Request) -> web.StreamResponse:
    raise web.HTTPMovedPermanently("/ui")


@routes.get("/ui/audit")
async def audit(request: web.Request) -> web.Response:
    from . import pages

    require_auth(request)
    runtime = request.app[RUNTIME]
    return page(
        request, "audit.html", "Audit timeline", **pages.audit_page(runtime.audit, runtime.clock, request.query)
    )


@routes.get("/ui/decode")
async def decode_get(request: web.Request) -> web.Response:
    require_auth(request)
    return page(request, "decode.html", "Decode a JWT", token="", result=None)


@routes.post("/ui/decode")
async def decode_post(request: web.Request) -> web.Response:
    from . import pages

    form = await post_form(request)
    runtime = request.app[RUNTIME]
    token = str(form.get("token", ""))
    result = await pages.decode(token, sts=runtime.sts, clock=runtime.clock)
    return page(request, "decode.html", "Decode a JWT", token=token, result=result)


@routes.get("/ui/simulate")
async def simulate_get(request: web.Request) -> web.Response:
    require_auth(request)
    roles = request.app[RUNTIME].sts.roles.all()
    return page(request, "simulate.html", "Assume-role simulator", roles=roles, form={}, result=None)


@routes.post("/ui/simulate")
async def simulate_post(request: web.Request) -> web.Response:
    from . import pages

    form = await post_form(request)
    runtime = request.app[RUNTIME]
    result = await pages.simulate(form, runtime.simulator.run)
    roles = runtime.sts.roles.all()
    return page(request, "simulate.html", "Assume-role simulator", roles=roles, form=form, result=result)
