"""aiohttp adapter for the STS: turn an aiohttp request into an HttpRequest and back.

The STS answers at ``/`` and ``/sts`` (GET and POST). Any other POST path that
carries an ``Action`` parameter is also treated as STS, since SDKs send to the
endpoint URL exactly as configured.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from aiohttp import web

from .service import HttpRequest, StsService


def _split_query(raw_path: str) -> tuple[str, list[tuple[str, str]]]:
    path, _, query = raw_path.partition("?")
    if not query:  # SDKs POST a form to a bare path
        return path, []
    # invalid UTF-8 survives as surrogate escapes: protocol.merge_params answers it with the STS's own error
    # (it used to drop every parameter silently)
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False, errors="surrogateescape")
    return path, pairs


def add_sts_routes(app: web.Application, service: StsService) -> None:
    async def handle(request: web.Request) -> web.StreamResponse:
        too_large = False
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            body, too_large = b"", True
        raw_path, query = _split_query(request.raw_path)
        response = await service.handle(
            HttpRequest(
                method=request.method,
                path=request.path,
                raw_path=raw_path,
                query=query,
                headers=request.headers,
                body=body,
                remote=request.remote,
                body_too_large=too_large,
            )
        )
        return web.Response(status=response.status, body=response.body, headers=response.headers)

    async def fallback(request: web.Request) -> web.StreamResponse:
        if "Action" in request.query or request.content_type == "application/x-www-form-urlencoded":
            return await handle(request)
        raise web.HTTPNotFound()

    for path in ("/", "/sts", "/sts/"):
        app.router.add_route("GET", path, handle)
        app.router.add_route("POST", path, handle)
    app.router.add_route("POST", r"/{tail:[\s\S]*}", fallback)  # [\s\S]: also a path with an encoded newline
