"""Strategies and signing helpers for the S3 gateway fuzz properties (pure and HTTP).

Requests are built from the pieces S3 parsers branch on (addressing, subresources, presign
parameters, body-framing headers) mixed with hostile text; a request can be signed with the
gateway's own canonicalisation so generated cases get past authentication into classification,
body planning and the backend, instead of all stopping at SignatureDoesNotMatch.
"""

from __future__ import annotations

import hashlib
import zlib
from base64 import b64encode
from dataclasses import dataclass, replace
from urllib.parse import quote

from hypothesis import strategies as st

from stsproxy.gateway.model import parse_request
from stsproxy.gateway.sigv4 import (
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED,
    Auth,
    canonical_request,
    chunk_string_to_sign,
    sign,
    signing_key,
    string_to_sign,
    trailer_string_to_sign,
)

DATE = "20261201"
STAMP = "20261201T120000Z"
NOW = 1796126400.0  # 2026-12-01T12:00:00Z, the time STAMP names
SECRET = "fuzz-secret"
ACCESS_KEY = "AKIAFUZZ"
DOMAINS = ("s3.localhost",)

SUBRESOURCES = [
    "versioning", "policyStatus", "policy", "acl", "tagging", "cors", "lifecycle", "encryption", "notification",
    "website", "object-lock", "replication", "publicAccessBlock", "logging", "requestPayment", "ownershipControls",
    "torrent", "accelerate", "analytics", "inventory", "metrics", "intelligent-tiering", "renameObject", "session",
    "location", "versions", "uploads", "delete", "list-type", "uploadId", "partNumber", "versionId", "retention",
    "legal-hold", "attributes", "restore", "select", "prefix", "delimiter", "max-keys", "continuation-token",
]  # fmt: skip
PRESIGN = [
    "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires", "X-Amz-SignedHeaders", "X-Amz-Signature",
    "X-Amz-Security-Token", "X-Amz-Content-Sha256", "AWSAccessKeyId", "Signature",
]  # fmt: skip
HEADERS = [
    "x-amz-copy-source", "x-amz-tagging", "content-md5", "content-length", "x-amz-decoded-content-length",
    "x-amz-content-sha256", "x-amz-trailer", "x-amz-checksum-crc32", "x-amz-checksum-sha256", "x-amz-acl",
    "x-amz-grant-read", "x-amz-bucket-object-lock-enabled", "x-amz-object-lock-mode",
    "x-amz-bypass-governance-retention", "transfer-encoding", "content-encoding", "x-amz-security-token",
    "x-amz-date", "authorization", "user-agent", "referer", "expect",
]  # fmt: skip
METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "OPTIONS", "PATCH"]
#: "\udcff" is what aiohttp makes of a raw 0xff byte in a header (surrogateescape).
HOSTILE = [
    "", "0", "-1", "9" * 40, "9" * 5000, "ffffffffffffffff", "%", "%zz", "%ff%fe", "..", "../..", "a//b", "*",
    "\u00fc", "\udcff", "true", "TRUE", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "UNSIGNED-PAYLOAD", "x-amz-checksum-crc32",
    "/", "/b/k?versionId=1", "arn:aws:s3:::b/k", "AWS4-HMAC-SHA256", "99991231T235959Z", "00010101T000000Z",
    "1B2M2Y8AsgTpgAmY7PhCfg==", "AAAA", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
]  # fmt: skip

hostile_text = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=30),
    st.integers(min_value=1, max_value=3000).map(lambda n: "9" * n),
)
segment = st.one_of(
    st.sampled_from(["bucket", "b", "BK_legacy", "a" * 70, "xn--bu", "-bad", "1.2.3.4", "", "b..c", "%2F"]),
    st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="?#"), max_size=20),
    st.binary(max_size=12).map(lambda b: "".join(f"%{x:02X}" for x in b)),
)


def _q(text: str) -> str:
    """Percent-encoded; a lone surrogate becomes its (invalid UTF-8) bytes, as a hostile client sends them."""
    return quote(text, safe="-_.~", errors="surrogatepass")


path = st.lists(segment, max_size=4).map(lambda parts: "/" + "/".join(parts))
query_pair = st.tuples(st.sampled_from(SUBRESOURCES + PRESIGN) | st.text(max_size=8), hostile_text)
query = st.lists(query_pair, max_size=5).map(
    lambda pairs: "&".join(_q(k) + ("=" + _q(v) if v else "") for k, v in pairs)
)
host = st.sampled_from(
    ["127.0.0.1:9000", "bucket.s3.localhost", "BUCKET.s3.localhost:8402", ".s3.localhost", "s3.localhost",
     "a" * 300 + ".s3.localhost", "[::1]:9000", "", "x.s3.localhost.", "b.other.test"]
)  # fmt: skip
header_pair = st.tuples(st.sampled_from(HEADERS), hostile_text)


@dataclass(frozen=True)
class Case:
    method: str
    target: str
    headers: tuple[tuple[str, str], ...]


cases = st.builds(
    lambda m, p, q, h, hs: Case(m, p + ("?" + q if q else ""), (("host", h), *hs)),
    st.sampled_from(METHODS) | st.text(max_size=6),
    path,
    query,
    host,
    st.lists(header_pair, max_size=6).map(tuple),
)


def auth_for(payload: str, signature: str = "0" * 64) -> Auth:
    return Auth(ACCESS_KEY, DATE, "us-east-1", "s3", STAMP, ("host",), signature, None, False, None, payload)


def sign_case(
    case: Case,
    payload: str = UNSIGNED,
    *,
    access_key: str = ACCESS_KEY,
    secret: str = SECRET,
    token: str | None = None,
    stamp: str = STAMP,
) -> tuple[Case, str | None]:
    """``case`` with a valid header signature (the gateway's own canonical form) and that signature;
    ``(case with the auth headers, None)`` if the gateway cannot parse the request at all."""
    drop = ("authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token")
    base = [(k, v) for k, v in case.headers if k.lower() not in drop]
    headers = [*base, ("x-amz-date", stamp), ("x-amz-content-sha256", payload)]
    if token:
        headers.append(("x-amz-security-token", token))
    try:
        req = parse_request(case.method, case.target, headers, domains=DOMAINS)
    except Exception:  # noqa: BLE001 - an unparsable request is sent as it is
        return replace(case, headers=tuple(headers)), None
    names = tuple(sorted({k.lower() for k, _ in headers}))
    auth = replace(auth_for(payload), signed_headers=names, timestamp=stamp, date=stamp[:8])
    key = signing_key(secret, stamp[:8], "us-east-1", "s3")
    signature = sign(key, string_to_sign(auth, canonical_request(req, auth)))
    value = f"AWS4-HMAC-SHA256 Credential={access_key}/{stamp[:8]}/us-east-1/s3/aws4_request, "
    value += f"SignedHeaders={';'.join(names)}, Signature={signature}"
    return replace(case, headers=(*headers, ("authorization", value))), signature


def signed(case: Case, payload: str = UNSIGNED) -> Case:
    return sign_case(case, payload)[0]


def chunked_body(
    payload: bytes,
    sizes: list[int],
    *,
    mode: str,
    seed_signature: str,
    key: bytes,
    trailer: bool,
    stamp: str = STAMP,
) -> bytes:
    """An aws-chunked body of ``payload`` cut at ``sizes``, signed as the SDKs do (``mode`` = x-amz-content-sha256)."""
    auth = replace(auth_for(mode, seed_signature), timestamp=stamp, date=stamp[:8])
    signed_chunks = mode in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER)
    previous = seed_signature
    out = bytearray()
    pieces, pos = [], 0
    for size in sizes:
        if pos >= len(payload):
            break
        pieces.append(payload[pos : pos + max(1, size)])
        pos += max(1, size)
    if pos < len(payload):
        pieces.append(payload[pos:])
    for piece in [*pieces, b""]:
        ext = ""
        if signed_chunks:
            previous = sign(key, chunk_string_to_sign(auth, previous, hashlib.sha256(piece).hexdigest()))
            ext = f";chunk-signature={previous}"
        out += f"{len(piece):x}{ext}\r\n".encode() + piece
        if piece or not trailer:
            out += b"\r\n"
    if trailer:
        crc = b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
        out += f"x-amz-checksum-crc32:{crc}\r\n".encode()
        if mode == STREAMING_SIGNED_TRAILER:
            trailer_sig = sign(key, trailer_string_to_sign(auth, previous, f"x-amz-checksum-crc32:{crc}\n"))
            out += f"x-amz-trailer-signature:{trailer_sig}\r\n".encode()
        out += b"\r\n"
    return bytes(out)


STREAM_MODES = (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
MUTATIONS = [b"\r\n", b"\r", b"\n", b";", b"=", b"zz", b"-1", b"ffffffffffffffff", b"1000001", b"0\r\n\r\n",
             b";chunk-signature=", b":", b"\x00", b"\xff", b" ", b"x-amz-checksum-crc32:AAAAAA==\r\n"]  # fmt: skip
KEY_FOR_TESTS = signing_key(SECRET, DATE, "us-east-1", "s3")
