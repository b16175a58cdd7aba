"""Verify AWS Signature Version 4 on incoming requests (header and presigned-URL forms).

We do not re-implement the canonicalisation: botocore's own signer computes
the canonical request, string to sign and signature for the candidate secret,
from a request rebuilt out of exactly what the client said it signed. If
botocore (the reference client) would have produced the same signature, the
request verifies. The only hooks we use are the request's ``context
['timestamp']`` (so the signer works at the request's own time, not ours) and
header selection (only the headers the client listed are canonicalised).

This module is framework-free: the web layer turns its request into a
:class:`SignedRequest`.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from stsproxy.auth import CredentialResolver
from stsproxy.auth import session_credential_resolver as session_credential_resolver  # its old home
from stsproxy.errors import (
    IncompleteSignature,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
)

ALGORITHM = "AWS4-HMAC-SHA256"
_TS_FORMAT = "%Y%m%dT%H%M%SZ"
#: Longest X-Amz-Expires AWS accepts for a presigned URL (7 days).
MAX_PRESIGN_EXPIRES = 604800

SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
MISSING_AUTH_MESSAGE = "Request is missing Authentication Token"


@dataclass(frozen=True)
class SignedRequest:
    """An incoming HTTP request as the signer saw it."""

    method: str
    #: Raw path as received (percent-encoding preserved), without the query string.
    path: str
    #: Decoded query pairs, in order.
    query: list[tuple[str, str]]
    #: Header lookups are case-insensitive; a multi-dict (``items()`` yielding repeats) is honoured.
    headers: Mapping[str, str]
    body: bytes = b""
    _lower: dict[str, list[str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        lower: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            lower.setdefault(name.lower(), []).append(value)
        object.__setattr__(self, "_lower", lower)

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive)."""
        values = self._lower.get(name.lower())
        return values[0] if values else None

    def header_values(self, name: str) -> list[str]:
        return list(self._lower.get(name.lower(), []))

    def query_value(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)


@dataclass(frozen=True)
class SigV4Auth:
    """The parsed authentication data of a signed request."""

    access_key: str
    #: Credential-scope date, ``yyyymmdd``.
    date: str
    #: The request time in ``yyyymmddTHHMMSSZ`` (from X-Amz-Date, or the Date header).
    timestamp: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    session_token: str | None
    presigned: bool
    expires: int | None


# --------------------------------------------------------------------------- parsing


def _parse_credential(credential: str, *, source: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or not all(parts):
        raise IncompleteSignature(
            f"{source} credential is malformed; expecting "
            f"\"<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request\", got '{credential}'.",
            check="sigv4-credential-scope",
        )
    access_key, date, region, service, terminator = parts
    if terminator != "aws4_request":
        raise IncompleteSignature(
            f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'.",
            check="sigv4-credential-scope",
        )
    if len(date) != 8 or not date.isdigit():
        raise IncompleteSignature(
            f"Credential should be scoped to a valid date (YYYYMMDD), not '{date}'.", check="sigv4-credential-scope"
        )
    return access_key, date, region, service


def _http_date_to_timestamp(value: str) -> str | None:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return parsed.astimezone(dt.UTC).strftime(_TS_FORMAT)
    except (TypeError, ValueError, OverflowError):  # e.g. "31 Dec 9999 23:59:59 -2359" is past year 9999 in UTC
        return None


def _parse_header_auth(req: SignedRequest, header: str) -> SigV4Auth:
    scheme, _, rest = header.strip().partition(" ")
    if scheme != ALGORITHM:
        if scheme.startswith("AWS4-"):
            raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{scheme}'", check="sigv4-algorithm")
        raise IncompleteSignature(
            f"Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' "
            f"parameter. Authorization header requires 'SignedHeaders' parameter. Authorization={header}",
            check="sigv4-algorithm",
        )
    params: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, value = item.strip().partition("=")
        if not key:
            continue
        if not sep or key in params:
            raise IncompleteSignature(
                f"'{item.strip()}' not a valid key=value pair (missing equal-sign) in Authorization header: "
                f"'{header}'.",
                check="sigv4-authorization",
            )
        params[key] = value.strip()
    problems = [
        f"Authorization header requires '{name}' parameter."
        for name in ("Credential", "Signature", "SignedHeaders")
        if not params.get(name)
    ]
    timestamp = req.header("x-amz-date")
    if timestamp is None and req.header("date") is not None:
        timestamp = _http_date_to_timestamp(req.header("date") or "")
    if timestamp is None:
        problems.append("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
    if problems:
        raise IncompleteSignature(" ".join(problems) + f" Authorization={header}", check="sigv4-authorization")
    assert timestamp is not None
    access_key, date, region, service = _parse_credential(params["Credential"], source="Authorization header")
    return SigV4Auth(
        access_key=access_key,
        date=date,
        timestamp=timestamp.strip(),
        region=region,
        service=service,
        signed_headers=tuple(h.strip().lower() for h in params["SignedHeaders"].split(";")),
        signature=params["Signature"],
        session_token=req.header("x-amz-security-token"),
        presigned=False,
        expires=None,
    )


_QUERY_REQUIRED = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date", "X-Amz-SignedHeaders")


def _parse_query_auth(req: SignedRequest) -> SigV4Auth:
    values = {name: req.query_value(name) for name in (*_QUERY_REQUIRED, "X-Amz-Expires", "X-Amz-Security-Token")}
    if not all(values[name] for name in _QUERY_REQUIRED):
        raise IncompleteSignature(
            "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', "
            "'X-Amz-Date', 'X-Amz-SignedHeaders'. Re-examine the query-string parameters.",
            check="sigv4-query-auth",
        )
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise IncompleteSignature(
            f"Unsupported AWS 'algorithm': '{values['X-Amz-Algorithm']}'", check="sigv4-algorithm"
        )
    expires: int | None = None
    raw_expires = values["X-Amz-Expires"]
    if raw_expires is not None:
        digits = len(str(MAX_PRESIGN_EXPIRES))
        if not (raw_expires.isascii() and raw_expires.isdigit() and len(raw_expires) <= digits) or not (
            0 < int(raw_expires) <= MAX_PRESIGN_EXPIRES
        ):
            raise IncompleteSignature(
                f"X-Amz-Expires must be an integer between 1 and {MAX_PRESIGN_EXPIRES}, not '{raw_expires}'.",
                check="sigv4-query-auth",
            )
        expires = int(raw_expires)
    access_key, date, region, service = _parse_credential(values["X-Amz-Credential"] or "", source="X-Amz-Credential")
    return SigV4Auth(
        access_key=access_key,
        date=date,
        timestamp=values["X-Amz-Date"] or "",
        region=region,
        service=service,
        signed_headers=tuple(h.strip().lower() for h in (values["X-Amz-SignedHeaders"] or "").split(";")),
        signature=values["X-Amz-Signature"] or "",
        session_token=values["X-Amz-Security-Token"] or req.header("x-amz-security-token"),
        presigned=True,
        expires=expires,
    )


def parse_auth(req: SignedRequest) -> SigV4Auth | None:
    """Extract SigV4 data from the Authorization header or presigned query; ``None`` if the request is unsigned."""
    header = req.header("authorization")
    in_query = req.query_value("X-Amz-Algorithm") is not None
    if header is not None and in_query:
        raise IncompleteSignature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization "
            "header should be specified",
            check="sigv4-authorization",
        )
    if header is not None:
        return _parse_header_auth(req, header)
    if in_query:
        return _parse_query_auth(req)
    return None


# --------------------------------------------------------------------------- verification


def _parse_timestamp(timestamp: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(timestamp, _TS_FORMAT).replace(tzinfo=dt.UTC)
    except ValueError as exc:
        raise IncompleteSignature(
            f"Date must be in ISO-8601 'basic format'. Got '{timestamp}'. See http://en.wikipedia.org/wiki/ISO_8601",
            check="sigv4-date",
        ) from exc


def _fmt(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime(_TS_FORMAT)


class _VerifyingSigner(botocore.auth.SigV4Auth):
    """botocore's SigV4 signer, told exactly which headers the client signed.

    botocore picks headers by a blacklist when *signing*; when *verifying* we
    must canonicalise exactly the client's ``SignedHeaders`` list instead.
    """

    def __init__(self, secret_key: str, auth: SigV4Auth, headers: HTTPHeaders) -> None:
        super().__init__(Credentials(auth.access_key, secret_key), auth.service, auth.region)
        self._signed = headers
        self._presigned = auth.presigned

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        return self._signed

    def payload(self, request: AWSRequest) -> str:
        # S3 presigned URLs never sign the payload (botocore's S3SigV4QueryAuth).
        if self._presigned and self._service_name == "s3":
            return botocore.auth.UNSIGNED_PAYLOAD
        return str(super().payload(request))

    def _normalize_url_path(self, path: str) -> str:
        # S3 signs the path as sent; every other service normalises and re-encodes it.
        if self._service_name == "s3":
            return path
        return str(super()._normalize_url_path(path))


def _signed_headers(req: SignedRequest, names: Iterable[str]) -> HTTPHeaders:
    headers = HTTPHeaders()
    for name in names:
        for value in req.header_values(name):
            headers[name] = value
    return headers


def compute_signature(req: SignedRequest, auth: SigV4Auth, secret_key: str) -> str:
    """The signature botocore would compute for ``req`` under ``auth``'s scope, time and headers."""
    path = req.path or "/"
    if not path.startswith("/") or "?" in path or "#" in path:
        # Would be re-split by urlsplit: the canonical path would differ from the routed one.
        raise SignatureDoesNotMatch(SIGNATURE_MISMATCH_MESSAGE, check="sigv4-path")
    headers = _signed_headers(req, auth.signed_headers)
    query = [(k, v) for k, v in req.query if k != "X-Amz-Signature"] if auth.presigned else list(req.query)
    # The URL's host is never used: Host is taken from the signed headers (required by _check_scope).
    request = AWSRequest(method=req.method.upper(), url=f"http://sigv4.invalid{path}", data=req.body, params=query)
    for name, value in headers.items():
        request.headers[name] = value
    request.context["timestamp"] = auth.timestamp
    signer = _VerifyingSigner(secret_key, auth, headers)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


def _check_scope(auth: SigV4Auth, expected_service: str | None) -> None:
    if auth.date != auth.timestamp[:8]:
        raise SignatureDoesNotMatch(
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: "
            f"'{auth.date}' != '{auth.timestamp[:8]}', from '{auth.timestamp}'.",
            check="sigv4-credential-scope",
        )
    if expected_service is not None and auth.service != expected_service:
        raise SignatureDoesNotMatch(
            f"Credential should be scoped to correct service: '{expected_service}'. ",
            check="sigv4-credential-scope",
        )
    if "host" not in auth.signed_headers:
        raise IncompleteSignature(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
            check="sigv4-signed-headers",
        )


def _check_time(auth: SigV4Auth, signed_at: float, now: float, max_skew: int) -> None:
    skew_min = max_skew // 60
    if signed_at - now > max_skew:
        raise RequestExpired(
            f"Signature not yet current: {auth.timestamp} is still later than {_fmt(now + max_skew)} "
            f"({_fmt(now)} + {skew_min} min.)",
            check="sigv4-date-skew",
        )
    if auth.presigned:
        if now > signed_at + (auth.expires if auth.expires is not None else max_skew):
            raise RequestExpired("Request has expired", check="sigv4-expired")
    elif now - signed_at > max_skew:
        raise RequestExpired(
            f"Signature expired: {auth.timestamp} is now earlier than {_fmt(now - max_skew)} "
            f"({_fmt(now)} - {skew_min} min.)",
            check="sigv4-date-skew",
        )


def verify(
    req: SignedRequest,
    auth: SigV4Auth,
    secret_key: str,
    *,
    now: float,
    max_skew: int = 900,
    expected_service: str | None = None,
) -> None:
    """Raise unless ``req`` carries a valid, current signature made with ``secret_key``.

    Order: scope, then signature, then time — so a stale request with a bad
    signature reports the signature, as AWS does.
    """
    signed_at = _parse_timestamp(auth.timestamp).timestamp()
    _check_scope(auth, expected_service)
    expected = compute_signature(req, auth, secret_key)
    if not hmac.compare_digest(expected.encode(), auth.signature.encode("utf-8", "surrogateescape")):
        raise SignatureDoesNotMatch(SIGNATURE_MISMATCH_MESSAGE, check="sigv4-signature")
    _check_time(auth, signed_at, now, max_skew)


def authenticate(
    req: SignedRequest, resolver: CredentialResolver, *, now: float, expected_service: str | None = None
) -> tuple[SigV4Auth, dict[str, Any]]:
    """Parse, resolve the credentials and verify; returns the auth and the resolver's session dict."""
    auth = parse_auth(req)
    if auth is None:
        raise MissingAuthenticationToken(MISSING_AUTH_MESSAGE, check="sigv4-missing")
    secret, session = resolver.resolve(auth.access_key, auth.session_token, now)
    verify(req, auth, secret, now=now, expected_service=expected_service)
    return auth, session
