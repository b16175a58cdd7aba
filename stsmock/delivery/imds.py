"""An EC2 instance metadata service "instance" per binding (IMDSv2, IMDSv1 on request).

Served at the root of its own port because the JS SDK replaces the endpoint's
path with ``/latest/...``. IMDSv2: ``PUT /latest/api/token`` with
``X-aws-ec2-metadata-token-ttl-seconds`` (1..21600; else 400), then GETs with
``X-aws-ec2-metadata-token``; the token response leaves with IP TTL = the
binding's ``hop_limit`` (hoplimit.py). Token-less GETs get 401 unless the binding allows
IMDSv1. Like AWS, the same credentials are served until the binding rotates
them, which happens while at least half their lifetime (30 min of an hour) is
left — more than botocore's 15 min + 10 min jitter "static stability" window.
"""

from __future__ import annotations

import hashlib
import json
import secrets

from aiohttp import web
from aiohttp.typedefs import Handler

from ..shared import feed_guard
from .engine import Binding, BindingRefused, DeliveryEngine
from .hoplimit import limit_hops, restore
from .wire import imds_body, iso_z

TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
#: Live session tokens per instance (bounded; the oldest go first).
MAX_TOKENS = 4096


def _text(status: int, text: str) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain")


def imds_app(engine: DeliveryEngine, binding: Binding) -> web.Application:
    tokens: dict[str, float] = {}  # sha256(token) -> expiry (virtual clock)
    max_ttl = engine.settings.imds.max_token_ttl_seconds
    instance_id = "i-" + hashlib.sha256(binding.name.encode()).hexdigest()[:17]
    region = engine.ports.region
    clock = engine.ports.clock
    audit = engine.ports.audit
    hop_limit = binding.settings.imds.hop_limit if binding.settings.imds is not None else 1

    @web.middleware
    async def hop_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        restore(request.transport)  # a keep-alive connection's next answer leaves with the default TTL
        return await handler(request)

    async def put_token(request: web.Request) -> web.Response:
        if "X-Forwarded-For" in request.headers:  # AWS refuses token PUTs that went through a proxy
            return _text(403, "Forbidden")
        raw = request.headers.get(TTL_HEADER, "")
        try:
            ttl = int(raw)
        except ValueError:
            ttl = 0
        if not 1 <= ttl <= max_ttl:
            return _text(400, "Bad Request")
        now = clock.now()
        for key in [k for k, exp in tokens.items() if exp <= now][:64]:
            del tokens[key]
        while len(tokens) >= MAX_TOKENS:
            del tokens[next(iter(tokens))]
        token = secrets.token_urlsafe(42)
        tokens[hashlib.sha256(token.encode()).hexdigest()] = now + ttl
        # only the token response travels with the hop limit as its TTL (restored by hop_guard)
        limit_hops(request.transport, hop_limit)
        return web.Response(text=token, content_type="text/plain", headers={TTL_HEADER: str(ttl)})

    def authorized(request: web.Request) -> bool:
        presented = request.headers.get(TOKEN_HEADER)
        if presented is None:
            return binding.settings.imds is not None and binding.settings.imds.v1
        expiry = tokens.get(hashlib.sha256(presented.encode()).hexdigest())
        return expiry is not None and expiry > clock.now()

    async def get(request: web.Request) -> web.Response:
        if not authorized(request):
            reason = "imdsv1-disabled" if TOKEN_HEADER not in request.headers else "bad-token"
            audit.record("delivery.refused", severity="warning", channel="imds", binding=binding.name, reason=reason)
            return _text(401, "Unauthorized")
        path = request.path
        role = binding.role_name
        creds_prefix = "/latest/meta-data/iam/security-credentials/"
        if path in (creds_prefix, creds_prefix.rstrip("/")):
            return _text(200, role)
        if path.startswith(creds_prefix):
            if path[len(creds_prefix) :].rstrip("/") != role:
                return _text(404, "Not Found")
            try:
                creds = await engine.credentials(binding, "imds", peer=request.remote)
            except BindingRefused as refused:
                body = {"Code": refused.code, "Message": refused.message, "LastUpdated": iso_z(clock.now())}
                return web.json_response(body, status=404 if refused.status == 403 else 500)
            return web.Response(body=imds_body(creds, last_updated=creds.issued_at), content_type="text/plain")
        static = {
            "/latest/meta-data/iam/info": json.dumps(
                {
                    "Code": "Success",
                    "LastUpdated": iso_z(clock.now()),
                    "InstanceProfileArn": binding.settings.role_arn.replace(":role/", ":instance-profile/"),
                    "InstanceProfileId": "AIPA" + hashlib.sha256(binding.name.encode()).hexdigest()[:17].upper(),
                },
                indent=2,
            ),
            "/latest/meta-data/instance-id": instance_id,
            "/latest/meta-data/placement/region": region,
            "/latest/meta-data/placement/availability-zone": f"{region}a",
            "/latest/dynamic/instance-identity/document": json.dumps(
                {"accountId": engine.ports.account_id, "instanceId": instance_id, "region": region}, indent=2
            ),
            "/latest/meta-data/": "iam/\ninstance-id\nplacement/",
            "/latest/meta-data/iam/": "info\nsecurity-credentials/",
        }
        if path in static:
            return _text(200, static[path])
        return _text(404, "Not Found")

    async def other(request: web.Request) -> web.Response:
        return _text(405, "Method Not Allowed")

    def unavailable(request: web.Request, message: str) -> web.Response:
        return _text(503, "Service Unavailable")  # IMDS's own plain-text error; the reason is logged

    # every acknowledged revocation / role change is applied before a handout; 503 when unknowable
    app = web.Application(
        client_max_size=16 * 1024, middlewares=[hop_guard, feed_guard(engine.ports.sync_state, unavailable)]
    )
    app.router.add_put("/latest/api/token", put_token)
    app.router.add_get("/{tail:.*}", get)
    app.router.add_route("*", "/{tail:.*}", other)
    return app
