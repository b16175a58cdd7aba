"""STS errors as values of the protocol.

Each error carries the AWS wire code and HTTP status plus ``check``: the name
of the validation step that failed, which goes to the audit record and, in
debug mode, into the message. :func:`wire_error` maps an error to what a given
profile (aws or minio) puts on the wire; that mapping lives only here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar


class StsError(Exception):
    code: ClassVar[str] = "InternalFailure"
    status: ClassVar[int] = 500
    #: MinIO reports nearly every web-identity failure as InvalidParameterValue/400.
    minio_code: ClassVar[str | None] = None
    minio_status: ClassVar[int | None] = None

    def __init__(self, message: str, *, check: str = "", detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.check = check or type(self).__name__
        self.detail = detail or {}

    @property
    def sender_fault(self) -> bool:
        return self.status < 500


class InvalidIdentityToken(StsError):
    code, status = "InvalidIdentityToken", 400
    minio_code, minio_status = "InvalidParameterValue", 400


class ExpiredTokenException(StsError):
    """The web-identity token is expired (or too old)."""

    code, status = "ExpiredTokenException", 400
    minio_code, minio_status = "InvalidParameterValue", 400


class IDPRejectedClaim(StsError):
    code, status = "IDPRejectedClaim", 403
    minio_code, minio_status = "InvalidParameterValue", 400


class IDPCommunicationError(StsError):
    code, status = "IDPCommunicationError", 400
    minio_code, minio_status = "InvalidParameterValue", 400


class MalformedPolicyDocument(StsError):
    code, status = "MalformedPolicyDocument", 400
    minio_code, minio_status = "InvalidParameterValue", 400


class PackedPolicyTooLarge(StsError):
    code, status = "PackedPolicyTooLarge", 400
    minio_code, minio_status = "InvalidParameterValue", 400


class AccessDenied(StsError):
    code, status = "AccessDenied", 403


class ValidationError(StsError):
    code, status = "ValidationError", 400
    minio_code, minio_status = "InvalidParameterValue", 400


class InvalidParameterValue(StsError):
    code, status = "InvalidParameterValue", 400


class MissingParameter(StsError):
    code, status = "MissingParameter", 400


class MissingAction(StsError):
    code, status = "MissingAction", 400
    minio_code, minio_status = "InvalidParameterValue", 400


class InvalidAction(StsError):
    code, status = "InvalidAction", 400
    minio_code, minio_status = "InvalidParameterValue", 400


class InvalidClientTokenId(StsError):
    code, status = "InvalidClientTokenId", 403
    minio_code, minio_status = "AccessDenied", 403


class SignatureDoesNotMatch(StsError):
    code, status = "SignatureDoesNotMatch", 403
    minio_code, minio_status = "AccessDenied", 403


class ExpiredToken(StsError):
    """Expired *session credentials* on a signed call (not the web-identity token)."""

    code, status = "ExpiredToken", 403
    minio_code, minio_status = "AccessDenied", 403


class IncompleteSignature(StsError):
    code, status = "IncompleteSignature", 400
    minio_code, minio_status = "AccessDenied", 403


class MissingAuthenticationToken(StsError):
    code, status = "MissingAuthenticationToken", 403
    minio_code, minio_status = "AccessDenied", 403


class RequestExpired(StsError):
    code, status = "RequestExpired", 400
    minio_code, minio_status = "AccessDenied", 403


class Throttling(StsError):
    code, status = "Throttling", 400


class InternalFailure(StsError):
    code, status = "InternalFailure", 500
    minio_code, minio_status = "InternalError", 500


class ServiceUnavailable(StsError):
    code, status = "ServiceUnavailable", 503


class UpstreamError(StsError):
    """An upstream STS answered with an error; relayed with its own code and status."""

    def __init__(self, message: str, *, upstream_code: str, upstream_status: int, check: str = "upstream") -> None:
        super().__init__(
            message, check=check, detail={"upstream_code": upstream_code, "upstream_status": upstream_status}
        )
        self.upstream_code = upstream_code
        self.upstream_status = upstream_status


@dataclass(frozen=True)
class WireError:
    status: int
    code: str
    message: str
    #: ``Sender``/``Receiver`` for AWS; empty for MinIO.
    type: str


def wire_error(error: StsError, profile: str, *, debug: bool = False) -> WireError:
    """What ``profile`` puts on the wire for ``error``; debug mode names the failed check."""
    message = error.message
    if debug and error.check and f"[check: {error.check}]" not in message:
        message = f"{message} [check: {error.check}]"
    if isinstance(error, UpstreamError):
        kind = "Sender" if error.upstream_status < 500 else "Receiver"
        return WireError(error.upstream_status, error.upstream_code, message, "" if profile == "minio" else kind)
    if profile == "minio":
        return WireError(error.minio_status or error.status, error.minio_code or error.code, message, "")
    return WireError(error.status, error.code, message, "Sender" if error.sender_fault else "Receiver")
