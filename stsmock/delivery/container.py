"""The container credentials endpoint (ECS task role / EKS Pod Identity style).

``GET`` on any path with ``Authorization: <binding token>`` (the raw value, as
every SDK sends ``AWS_CONTAINER_AUTHORIZATION_TOKEN`` or the content of
``..._TOKEN_FILE``). The token picks the binding; it is compared exactly, so a
token file with a trailing newline fails here as it would on EKS (botocore
refuses to send it, the JS SDK falls back to a provider that sends no header).
Errors are ``{"Code","Message"}`` JSON with a 4xx status: botocore retries
them and quotes the body, the JS SDK copies both fields onto its error.
"""

from __future__ import annotations

import ipaddress

from aiohttp import web

from ..shared import feed_guard
from .engine import BindingRefused, DeliveryEngine
from .wire import container_body, container_error

#: Hosts SDKs accept over plain http (docs/credential-delivery.md §1.2), besides any loopback IP.
ALLOWED_HOSTS = frozenset({"localhost", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"})


def host_allowed(host_header: str) -> bool:
    """Is the Host header (with optional port) an address SDKs would call over http?"""
    host = host_header.strip()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host[1:]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.lower()
    if host in ALLOWED_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _error(status: int, code: str, message: str) -> web.Response:
    return web.Response(status=status, body=container_error(code, message), content_type="application/json")


def container_app(engine: DeliveryEngine, *, check_host: bool = True) -> web.Application:
    async def credentials(request: web.Request) -> web.Response:
        audit = engine.ports.audit
        if check_host and not host_allowed(request.host):
            audit.record(
                "delivery.refused", severity="warning", channel="container", reason="host", host=request.host[:255]
            )
            return _error(403, "AccessDenied", f"called through {request.host[:64]!r}: not an allowed address")
        presented = request.headers.get("Authorization")
        if not presented:
            audit.record("delivery.refused", severity="warning", channel="container", reason="no-token")
            return _error(401, "AccessDenied", "missing Authorization header (AWS_CONTAINER_AUTHORIZATION_TOKEN)")
        binding = engine.by_container_token(presented)
        if binding is None or not binding.settings.container:
            audit.record("delivery.refused", severity="warning", channel="container", reason="bad-token")
            return _error(403, "AccessDenied", "invalid Authorization token")
        try:
            creds = await engine.credentials(binding, "container", peer=request.remote)
        except BindingRefused as refused:
            return _error(refused.status, refused.code, refused.message)
        body = container_body(creds, account_id=engine.ports.account_id, role_arn=binding.settings.role_arn)
        return web.Response(body=body, content_type="application/json")

    async def not_allowed(request: web.Request) -> web.Response:
        return _error(405, "MethodNotAllowed", "the container credentials endpoint answers GET only")

    def unavailable(request: web.Request, message: str) -> web.Response:
        return _error(503, "ServiceUnavailable", message)

    # every acknowledged revocation / role change is applied before a handout; 503 when unknowable
    app = web.Application(client_max_size=16 * 1024, middlewares=[feed_guard(engine.ports.sync_state, unavailable)])
    app.router.add_get("/{tail:.*}", credentials)
    app.router.add_route("*", "/{tail:.*}", not_allowed)
    return app
