#!/usr/bin/env python3
"""The bare aiohttp floor: the cheapest STS-shaped answer aiohttp gives on this machine.

    python bench/floor.py --port PORT

``POST /`` reads the form body and answers a fixed AssumeRoleWithWebIdentity
response of the size stsmock sends; ``GET /healthz`` answers 200. Same Python,
same aiohttp, default event loop, no middleware, no logging: what any aiohttp
STS costs before it does any work. ``bench/run.py`` measures it next to stsmock
and moto (throughput, startup, idle memory) so the figures are relative to it.
"""

from __future__ import annotations

import argparse

from aiohttp import web

BODY = (
    b'<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
    b"  <AssumeRoleWithWebIdentityResult>\n"
    + b"    <Credentials><SessionToken>"
    + b"x" * 1100
    + b"</SessionToken></Credentials>\n"
    b"  </AssumeRoleWithWebIdentityResult>\n"
    b"</AssumeRoleWithWebIdentityResponse>\n"
)


async def sts(request: web.Request) -> web.Response:
    await request.read()
    return web.Response(body=BODY, content_type="text/xml")


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    args = ap.parse_args()
    app = web.Application()
    app.router.add_post("/", sts)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
