"""S3 errors as values: code, HTTP status, message and AWS's extra elements, rendered as S3 XML.

``check`` names the step that failed; it goes to the audit record, never to the wire.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from xml.sax.saxutils import escape as _escape

SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your key and signing method."
)


@dataclass
class S3Error(Exception):
    code: str
    message: str
    status: int = 400
    check: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    #: Extra response headers (e.g. Allow, x-amz-bucket-region).
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def access_denied(message: str = "Access Denied", *, check: str = "permissions") -> S3Error:
    return S3Error("AccessDenied", message, 403, check)


def signature_mismatch(check: str, **extra: str) -> S3Error:
    return S3Error("SignatureDoesNotMatch", SIGNATURE_MISMATCH, 403, check, dict(extra))


def malformed_auth(message: str, check: str = "sigv4-authorization") -> S3Error:
    return S3Error("AuthorizationHeaderMalformed", message, 400, check)


def invalid_request(message: str, check: str = "request") -> S3Error:
    return S3Error("InvalidRequest", message, 400, check)


def not_implemented(what: str) -> S3Error:
    return S3Error(
        "NotImplemented",
        f"A header or query you provided implies functionality that is not implemented: {what}",
        501,
        "unsupported-operation",
    )


#: Characters XML 1.0 cannot carry (controls, lone surrogates from surrogateescape'd bytes, U+FFFE/F).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(value: str) -> str:
    """XML text: escaped, and what XML cannot carry (from hostile header bytes) replaced by U+FFFD."""
    return _escape(_NOT_XML.sub("\ufffd", value))


def render(error: S3Error, *, resource: str, request_id: str, host_id: str = "stsmock") -> bytes:
    """The AWS error envelope: Code, Message, code-specific elements, Resource, RequestId, HostId."""
    extras = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in error.extra.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(error.code)}</Code><Message>{escape(error.message)}</Message>{extras}"
        f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId>"
        f"<HostId>{escape(host_id)}</HostId></Error>"
    ).encode()
