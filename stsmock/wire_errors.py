"""Connection-level errors (unparsable request, header timeout, connection limit) in each listener's protocol.

Why: these happen before any route runs, so no handler's error middleware can answer; without
this an STS client gets aiohttp's plain-text 400 where it parses STS XML, an S3 SDK gets JSON
where it parses S3 XML. The path (when the request line got that far) picks the protocol on the
main port: issuer, admin and console routes answer OAuth-style JSON, everything else STS XML.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from aiohttp import web

from stsproxy.errors import WireError
from stsproxy.protocol import content_type, render_error

from .connections import ErrorFormat, json_errors

#: STS Query API codes per kind (STS has no code for these; the closest common errors).
_STS_CODES = {
    "too_many_connections": "ServiceUnavailable",
    "header_timeout": "RequestTimeout",
    "line_too_long": "MalformedQueryString",
    "headers_too_large": "InvalidParameterValue",
    "bad_request": "MalformedQueryString",
}
#: S3's own codes for the same failures.
_S3_CODES = {
    "too_many_connections": "SlowDown",
    "header_timeout": "RequestTimeout",
    "line_too_long": "InvalidURI",
    "headers_too_large": "RequestHeaderSectionTooLarge",
    "bad_request": "BadRequest",
}
_STS_PATHS = frozenset({"/", "/sts", "/sts/"})
_JSON_PREFIXES = ("/admin/", "/console")


def _request_id() -> str:
    return secrets.token_hex(8).upper()


def s3_errors(path: str, status: int, kind: str, message: str) -> tuple[str, bytes]:
    """S3 XML ``<Error>`` for the gateway listener."""
    from stsproxy.gateway.errors import S3Error, render  # the gateway's module: not loaded by --no-s3

    error = S3Error(_S3_CODES.get(kind, "BadRequest"), message, status, kind)
    return "application/xml", render(error, resource=path or "/", request_id=_request_id())


def sts_error_body(status: int, kind: str, message: str, profile: str) -> bytes:
    wire = WireError(status, _STS_CODES.get(kind, "MalformedQueryString"), message, "Sender")
    return render_error(wire, request_id=_request_id(), profile=profile)


def json_routes(app: web.Application) -> frozenset[str]:
    """The main app's fixed paths that answer JSON (issuer, health, metrics), i.e. not the STS's."""
    paths: set[str] = set()
    for resource in app.router.resources():
        canonical = resource.canonical
        if "{" not in canonical and canonical not in _STS_PATHS:
            paths.add(canonical)
    return frozenset(paths)


def main_port_errors(routes: Iterable[str], profile: str) -> ErrorFormat:
    """The format of the issuer/STS/admin/console port: JSON on JSON routes (or an unknown path), else STS XML."""
    known = frozenset(routes)

    def fmt(path: str, status: int, kind: str, message: str) -> tuple[str, bytes]:
        if not path or path in known or path.startswith(_JSON_PREFIXES):
            return json_errors(path, status, kind, message)
        return content_type(profile), sts_error_body(status, kind, message, profile)

    return fmt
