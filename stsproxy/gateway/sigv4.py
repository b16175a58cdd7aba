"""SigV4 for S3, both directions: verify what a client signed, sign what goes to a backend.

Verification canonicalises exactly the client's SignedHeaders over the raw path (S3 never
normalises it) and the decoded-then-re-encoded query. It returns the signing key, which the
aws-chunked decoder needs for chunk and trailer signatures. SigV2 is refused with the fix named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from .errors import S3Error, malformed_auth, signature_mismatch
from .model import S3Request

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
PAYLOAD_MODES = (UNSIGNED, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
MAX_PRESIGN_EXPIRES = 604800
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_TS = "%Y%m%dT%H%M%SZ"
_TS_SHAPE = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
_PRESIGN_PARAMS = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
    }
)
SIGV2_FIX = (
    "Signature Version 2 is not supported by this gateway; sign with Signature Version 4 "
    "(boto3/botocore: Config(signature_version='s3v4'); AWS CLI: aws configure set default.s3.signature_version s3v4)."
)


@dataclass(frozen=True)
class Auth:
    access_key: str
    date: str
    region: str
    service: str
    timestamp: str
    signed_headers: tuple[str, ...]
    signature: str
    session_token: str | None
    presigned: bool
    expires: int | None
    #: The payload hash that was signed (hex, UNSIGNED-PAYLOAD or a STREAMING-* literal).
    payload: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"

    @property
    def signed_at(self) -> float:
        return parse_timestamp(self.timestamp)


def parse_timestamp(value: str) -> float:
    """Epoch seconds of an ``X-Amz-Date``; cached, since every request in a second sends the same one
    (``strptime`` was the single most expensive step of a small request's decision)."""
    try:
        return _parse_timestamp(value)
    except ValueError as exc:
        raise S3Error(
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403, "sigv4-date"
        ) from exc


@lru_cache(maxsize=512)
def _parse_timestamp(value: str) -> float:
    if _TS_SHAPE.match(value):  # the only shape clients send: parse it without strptime
        return dt.datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=dt.UTC,
        ).timestamp()
    return dt.datetime.strptime(value, _TS).replace(tzinfo=dt.UTC).timestamp()


def format_timestamp(epoch: float) -> str:
    return _format_second(int(epoch // 1))


@lru_cache(maxsize=64)
def _format_second(second: int) -> str:
    return dt.datetime.fromtimestamp(second, dt.UTC).strftime(_TS)


def _credential(value: str, *, query: bool) -> tuple[str, str, str, str]:
    parts = value.split("/")
    if len(parts) != 5 or not all(parts) or parts[4] != "aws4_request" or len(parts[1]) != 8 or not parts[1].isdigit():
        message = (
            "The authorization header is malformed; the Credential is mal-formed; "
            f'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request". ({value})'
        )
        if query:
            raise S3Error(
                "AuthorizationQueryParametersError",
                message.replace("authorization header", "X-Amz-Credential parameter"),
                400,
                "sigv4-credential",
            )
        raise malformed_auth(message, "sigv4-credential")
    return parts[0], parts[1], parts[2], parts[3]


def _payload_header(req: S3Request) -> str:
    value = req.header("x-amz-content-sha256")
    if value is None:
        raise S3Error(
            "InvalidRequest",
            "Missing required header for this request: x-amz-content-sha256",
            400,
            "sigv4-content-sha256",
        )
    value = value.strip()
    if value not in PAYLOAD_MODES and not _HEX64.match(value):
        raise S3Error(
            "InvalidArgument",
            "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-… or a valid sha256 value.",
            400,
            "sigv4-content-sha256",
        )
    return value


def _header_auth(req: S3Request, header: str) -> Auth:
    scheme, _, rest = header.strip().partition(" ")
    if scheme == "AWS":
        raise S3Error("InvalidRequest", SIGV2_FIX, 400, "sigv2")
    if scheme != ALGORITHM:
        raise S3Error("InvalidArgument", f"Unsupported Authorization Type ({scheme})", 400, "sigv4-algorithm")
    params: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if name:
            params[name] = value.strip()
    missing = [n for n in ("Credential", "SignedHeaders", "Signature") if not params.get(n)]
    if missing:
        raise malformed_auth(f"The authorization header is malformed; missing {', '.join(missing)}.")
    timestamp = req.header("x-amz-date")
    if timestamp is None:
        raise S3Error(
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header", 403, "sigv4-date"
        )
    ak, date, region, service = _credential(params["Credential"], query=False)
    return Auth(
        ak,
        date,
        region,
        service,
        timestamp.strip(),
        tuple(params["SignedHeaders"].lower().split(";")),
        params["Signature"],
        req.header("x-amz-security-token"),
        False,
        None,
        _payload_header(req),
    )


def _query_auth(req: S3Request) -> Auth:
    values = {name: req.param(name) for name in _PRESIGN_PARAMS}
    missing = [n for n in sorted(_PRESIGN_PARAMS - {"X-Amz-Security-Token"}) if not values.get(n)]
    if missing:
        raise S3Error(
            "AuthorizationQueryParametersError",
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, "
            "X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
            400,
            "sigv4-query",
        )
    if values["X-Amz-Algorithm"] != ALGORITHM:
        raise S3Error(
            "AuthorizationQueryParametersError",
            'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
            400,
            "sigv4-algorithm",
        )
    raw_expires = values["X-Amz-Expires"] or ""
    if not raw_expires.isdigit() or int(raw_expires) < 1:
        raise S3Error(
            "AuthorizationQueryParametersError", "X-Amz-Expires should be a number greater than 0", 400, "sigv4-expires"
        )
    if int(raw_expires) > MAX_PRESIGN_EXPIRES:
        raise S3Error(
            "AuthorizationQueryParametersError",
            "X-Amz-Expires must be less than a week (in seconds) that is 604800",
            400,
            "sigv4-expires",
        )
    ak, date, region, service = _credential(values["X-Amz-Credential"] or "", query=True)
    payload = req.param("X-Amz-Content-Sha256") or UNSIGNED
    return Auth(
        ak,
        date,
        region,
        service,
        values["X-Amz-Date"] or "",
        tuple((values["X-Amz-SignedHeaders"] or "").lower().split(";")),
        values["X-Amz-Signature"] or "",
        values["X-Amz-Security-Token"] or req.header("x-amz-security-token"),
        True,
        int(raw_expires),
        payload,
    )


def parse_auth(req: S3Request) -> Auth | None:
    """The request's SigV4 data, or None for an anonymous request."""
    header = req.header("authorization")
    if req.has("X-Amz-Algorithm") or req.has("X-Amz-Credential"):
        if header is not None:
            raise S3Error(
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be specified",
                400,
                "sigv4-mechanism",
            )
        return _query_auth(req)
    if req.has("AWSAccessKeyId") and req.has("Signature"):
        raise S3Error("InvalidRequest", SIGV2_FIX, 400, "sigv2")
    if header is not None:
        return _header_auth(req, header)
    return None


# ------------------------------------------------------------------------------ canonical request


def _uri_encode(data: bytes) -> str:
    return quote_from_bytes(data, safe="/~")


def canonical_query(pairs: Iterable[tuple[str, str]], *, drop_signature: bool = False) -> str:
    encoded = sorted(
        (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
        for k, v in pairs
        if not (drop_signature and k == "X-Amz-Signature")
    )
    return "&".join(f"{k}={v}" for k, v in encoded)


def _header_value(values: Iterable[str]) -> str:
    return ",".join(" ".join(v.split()) for v in values)


def canonical_request(req: S3Request, auth: Auth, *, path: str | None = None) -> str:
    headers = "".join(f"{name}:{_header_value(req.headers.get(name, ()))}\n" for name in auth.signed_headers)
    uri = path if path is not None else _uri_encode(unquote_to_bytes(req.raw_path))
    query = canonical_query(req.query, drop_signature=auth.presigned)
    return f"{req.method}\n{uri}\n{query}\n{headers}\n{';'.join(auth.signed_headers)}\n{auth.payload}"


def string_to_sign(auth: Auth, canonical: str) -> str:
    return f"{ALGORITHM}\n{auth.timestamp}\n{auth.scope}\n{hashlib.sha256(canonical.encode('utf-8', 'surrogateescape')).hexdigest()}"


@lru_cache(maxsize=256)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(("AWS4" + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signatures_match(expected: str, provided: str) -> bool:
    """Constant-time compare; ``provided`` is client text (``compare_digest`` raises on non-ASCII str)."""
    return hmac.compare_digest(expected.encode(), provided.encode("utf-8", "surrogateescape"))


def sign(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


def check_time(auth: Auth, now: float, max_skew: int) -> None:
    signed_at = auth.signed_at
    if auth.presigned:
        if signed_at - now > max_skew:
            raise S3Error("AccessDenied", "Request is not valid yet", 403, "sigv4-not-yet-valid")
        if now > signed_at + (auth.expires or 0):
            raise S3Error(
                "AccessDenied",
                "Request has expired",
                403,
                "sigv4-presign-expired",
                {
                    "X-Amz-Expires": str(auth.expires),
                    "Expires": format_timestamp(signed_at + (auth.expires or 0)),
                    "ServerTime": format_timestamp(now),
                },
            )
    elif abs(now - signed_at) > max_skew:
        raise S3Error(
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
            403,
            "sigv4-clock-skew",
            {
                "RequestTime": auth.timestamp,
                "ServerTime": format_timestamp(now),
                "MaxAllowedSkewMilliseconds": str(max_skew * 1000),
            },
        )


def check_scope(auth: Auth, region: str | None) -> None:
    if auth.date != auth.timestamp[:8]:
        raise malformed_auth(
            f'The authorization header is malformed; Invalid credential date "{auth.date}". '
            f'This date is not the same as X-Amz-Date: "{auth.timestamp[:8]}".',
            "sigv4-credential-date",
        )
    if auth.service != "s3":
        raise malformed_auth(
            f'The authorization header is malformed; incorrect service "{auth.service}". This endpoint belongs to "s3".',
            "sigv4-credential-service",
        )
    if region is not None and auth.region != region:
        err = malformed_auth(
            f"The authorization header is malformed; the region '{auth.region}' is wrong; expecting '{region}'",
            "sigv4-credential-region",
        )
        err.extra["Region"] = region
        raise err
    if "host" not in auth.signed_headers:
        raise S3Error(
            "AccessDenied",
            "There were headers present in the request which were not signed: host",
            403,
            "sigv4-signed-headers",
        )


def verify(req: S3Request, auth: Auth, secret: str) -> bytes:
    """Check the signature; return the signing key (for chunk signatures). Time is checked separately."""
    key = signing_key(secret, auth.date, auth.region, auth.service)
    canonical = canonical_request(req, auth)
    sts = string_to_sign(auth, canonical)
    if signatures_match(sign(key, sts), auth.signature):
        return key
    if req.raw_path != _uri_encode(unquote_to_bytes(req.raw_path)):
        # a client that signed its path verbatim (not re-encoded): accept that form too
        alt = canonical_request(req, auth, path=req.raw_path)
        if signatures_match(sign(key, string_to_sign(auth, alt)), auth.signature):
            return key
    raise signature_mismatch(
        "sigv4-signature",
        AWSAccessKeyId=auth.access_key,
        StringToSign=sts,
        SignatureProvided=auth.signature,
        CanonicalRequest=canonical,
    )


# ------------------------------------------------------------------------------ aws-chunked


def chunk_string_to_sign(auth: Auth, previous: str, chunk_sha256: str) -> str:
    return f"AWS4-HMAC-SHA256-PAYLOAD\n{auth.timestamp}\n{auth.scope}\n{previous}\n{EMPTY_SHA256}\n{chunk_sha256}"


def trailer_string_to_sign(auth: Auth, previous: str, trailer_text: str) -> str:
    digest = hashlib.sha256(trailer_text.encode()).hexdigest()
    return f"AWS4-HMAC-SHA256-TRAILER\n{auth.timestamp}\n{auth.scope}\n{previous}\n{digest}"


def is_presign_param(name: str) -> bool:
    return name in _PRESIGN_PARAMS
