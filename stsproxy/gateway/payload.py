"""What a request body must prove before a backend may keep it: hash, Content-MD5, checksums, length.

:func:`plan_body` reads the headers (pure) and returns a :class:`BodyPlan`: how to decode the body
(plain or aws-chunked), how long the decoded body is, and a :class:`BodyVerifier` that consumes the
decoded bytes and raises the S3 error on any mismatch in ``finish``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field

from . import checksums
from .chunked import AwsChunkedDecoder
from .errors import S3Error
from .model import S3Request
from .sigv4 import STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER, Auth
from .xml import XmlScreen

MAX_OBJECT = 5 * 1024**4  # 5 TiB, S3's largest object


@dataclass
class BodyVerifier:
    sha256_expected: str | None = None
    md5_expected: bytes | None = None
    #: header checksums: algorithm → base64 value
    checksum_expected: dict[str, str] = field(default_factory=dict)
    #: the trailer checksum's algorithm, value arrives in the trailer
    trailer_algorithm: str | None = None
    length_expected: int | None = None
    length: int = 0
    #: An XML request body (CompleteMultipartUpload, Put*Configuration, ...): screened while it streams.
    xml: XmlScreen | None = None

    def __post_init__(self) -> None:
        self._sha = hashlib.sha256() if self.sha256_expected else None
        self._md5 = hashlib.md5(usedforsecurity=False) if self.md5_expected is not None else None
        algs = set(self.checksum_expected) | ({self.trailer_algorithm} if self.trailer_algorithm else set())
        self._sums = {a: checksums.new(a) for a in algs}

    @property
    def trivial(self) -> bool:
        return not (self._sha or self._md5 or self._sums or self.xml)

    def update(self, data: bytes) -> None:
        self.length += len(data)
        if self.xml is not None:
            self.xml.feed(data)
        if self._sha is not None:
            self._sha.update(data)
        if self._md5 is not None:
            self._md5.update(data)
        for s in self._sums.values():
            s.update(data)

    def finish(self, trailers: dict[str, str] | None = None) -> None:
        if self.length_expected is not None and self.length != self.length_expected:
            raise S3Error(
                "IncompleteBody",
                "You did not provide the number of bytes specified by the Content-Length HTTP header.",
                400,
                "body-length",
            )
        if self.xml is not None and self.length:
            self.xml.close()  # a DTD, too deep, too big or not well-formed: refused before the last byte goes on
        if self._sha is not None and self.sha256_expected is not None:
            computed = self._sha.hexdigest()
            if not hmac.compare_digest(computed.encode(), self.sha256_expected.encode("utf-8", "surrogateescape")):
                raise S3Error(
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                    400,
                    "body-sha256",
                    {"ClientComputedContentSHA256": self.sha256_expected, "S3ComputedContentSHA256": computed},
                )
        if self._md5 is not None and self.md5_expected is not None and self._md5.digest() != self.md5_expected:
            raise S3Error(
                "BadDigest", "The Content-MD5 you specified did not match what we received.", 400, "body-content-md5"
            )
        expected = dict(self.checksum_expected)
        if self.trailer_algorithm:
            value = (trailers or {}).get(f"x-amz-checksum-{self.trailer_algorithm}")
            if value is None:
                raise S3Error(
                    "InvalidRequest",
                    f"The trailer x-amz-checksum-{self.trailer_algorithm} declared in x-amz-trailer is missing.",
                    400,
                    "body-trailer-missing",
                )
            expected[self.trailer_algorithm] = value
        for alg, value in expected.items():
            computed = checksums.b64(self._sums[alg])
            if computed != value:
                raise S3Error(
                    "BadDigest",
                    f"The {alg.upper()} you specified did not match the calculated checksum.",
                    400,
                    f"body-checksum-{alg}",
                )


@dataclass
class BodyPlan:
    #: Bytes the backend receives (the decoded length); None = no body.
    length: int | None
    verifier: BodyVerifier
    decoder: AwsChunkedDecoder | None = None
    #: What to send as x-amz-content-sha256 toward the backend.
    backend_payload: str = "UNSIGNED-PAYLOAD"


def _int_header(req: S3Request, name: str) -> int | None:
    value = req.header(name)
    if value is None:
        return None
    value = value.strip()
    if not value.isdigit() or int(value) > MAX_OBJECT:
        raise S3Error("InvalidArgument", f"{name} is not a valid length", 400, "body-length-header")
    return int(value)


def plan_body(req: S3Request, auth: Auth, signing_key: bytes | None, *, xml_body: bool = False) -> BodyPlan:
    """How to decode and verify this request's body (from headers only); ``xml_body``: screen it as XML."""
    plan = _plan_body(req, auth, signing_key)
    if xml_body and plan.length:
        plan.verifier.xml = XmlScreen("body")
    return plan


def _plan_body(req: S3Request, auth: Auth, signing_key: bytes | None) -> BodyPlan:
    md5 = None
    raw_md5 = req.header("content-md5")
    if raw_md5 is not None:
        try:
            md5 = base64.b64decode(raw_md5.strip(), validate=True)
        except (binascii.Error, ValueError):
            md5 = b""
        if len(md5) != 16:
            raise S3Error(
                "InvalidDigest", "The Content-MD5 you specified is not valid.", 400, "body-content-md5-format"
            )
    sums = {}
    for alg in checksums.ALGORITHMS:
        value = req.header(f"x-amz-checksum-{alg}")
        if value is not None:
            sums[alg] = value.strip()
    mode = auth.payload
    streaming = mode in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER)
    content_length = _int_header(req, "content-length")
    if streaming:
        decoded = _int_header(req, "x-amz-decoded-content-length")
        if decoded is None:
            raise S3Error(
                "MissingContentLength", "You must provide the Content-Length HTTP header.", 411, "body-decoded-length"
            )
        trailer_alg = None
        if mode != STREAMING_SIGNED:
            trailer = (req.header("x-amz-trailer") or "").strip().lower()
            if (
                not trailer.startswith("x-amz-checksum-")
                or trailer[len("x-amz-checksum-") :] not in checksums.ALGORITHMS
            ):
                raise S3Error(
                    "InvalidRequest",
                    f"x-amz-trailer must name one x-amz-checksum-* trailer, not '{trailer}'",
                    400,
                    "body-trailer",
                )
            trailer_alg = trailer[len("x-amz-checksum-") :]
        verifier = BodyVerifier(
            md5_expected=md5, checksum_expected=sums, trailer_algorithm=trailer_alg, length_expected=decoded
        )
        decoder = AwsChunkedDecoder(
            auth, signing_key, signed=mode != STREAMING_UNSIGNED_TRAILER, trailer=trailer_alg is not None
        )
        return BodyPlan(decoded, verifier, decoder)
    if content_length is None:
        if req.header("transfer-encoding"):
            raise S3Error(
                "MissingContentLength", "You must provide the Content-Length HTTP header.", 411, "body-content-length"
            )
        return BodyPlan(None, BodyVerifier(md5_expected=md5, checksum_expected=sums, length_expected=0))
    hex_hash = mode if len(mode) == 64 else None
    verifier = BodyVerifier(
        sha256_expected=hex_hash, md5_expected=md5, checksum_expected=sums, length_expected=content_length
    )
    return BodyPlan(content_length, verifier, None, hex_hash or "UNSIGNED-PAYLOAD")
