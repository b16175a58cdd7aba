"""aws-chunked decoding and body verification: AWS's published example, botocore's own trailer
encoder, and the failures (bad chunk signature, truncation, bad checksum, bad hash, bad MD5)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

from stsproxy.gateway.chunked import AwsChunkedDecoder
from stsproxy.gateway.errors import S3Error
from stsproxy.gateway.model import parse_request
from stsproxy.gateway.payload import plan_body
from stsproxy.gateway.sigv4 import chunk_string_to_sign, parse_auth, sign, trailer_string_to_sign, verify

# The example of https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-streaming.html
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
CHUNK_SIGS = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
HEADERS = [
    ("Host", "s3.amazonaws.com"),
    ("x-amz-date", "20130524T000000Z"),
    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    (
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
        f"x-amz-storage-class,Signature={SEED}",
    ),
    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
    ("Content-Encoding", "aws-chunked"),
    ("x-amz-decoded-content-length", "66560"),
    ("Content-Length", "66824"),
]


def _example_body(sigs: tuple[str, ...] = CHUNK_SIGS) -> bytes:
    a, b, c = sigs
    return (
        f"10000;chunk-signature={a}\r\n".encode()
        + b"a" * 65536
        + b"\r\n"
        + f"400;chunk-signature={b}\r\n".encode()
        + b"a" * 1024
        + b"\r\n"
        + f"0;chunk-signature={c}\r\n\r\n".encode()
    )


def _feed(decoder: AwsChunkedDecoder, body: bytes, rng: random.Random) -> bytes:
    out = bytearray()
    pos = 0
    while pos < len(body):
        step = rng.choice((1, 2, 7, 100, 4096, 70000))
        for piece in decoder.feed(body[pos : pos + step]):
            out += piece
        pos += step
    return bytes(out)


def _example():
    req = parse_request("PUT", "/examplebucket/chunkObject.txt", HEADERS)
    auth = parse_auth(req)
    assert auth is not None
    return req, auth, verify(req, auth, SECRET)


@pytest.mark.parametrize("seed", range(5))
def test_aws_example_verifies_and_decodes_whatever_the_split(seed: int) -> None:
    req, auth, key = _example()
    plan = plan_body(req, auth, key)
    assert plan.length == 66560 and plan.decoder is not None
    data = _feed(plan.decoder, _example_body(), random.Random(seed))
    plan.verifier.update(data)
    plan.verifier.finish(plan.decoder.finish())
    assert data == b"a" * 66560


@pytest.mark.parametrize("bad", range(3))
def test_any_wrong_chunk_signature_is_refused(bad: int) -> None:
    req, auth, key = _example()
    sigs = list(CHUNK_SIGS)
    sigs[bad] = sigs[bad][:-1] + ("0" if sigs[bad][-1] != "0" else "1")
    decoder = AwsChunkedDecoder(auth, key, signed=True, trailer=False)
    with pytest.raises(S3Error) as exc:
        decoder.feed(_example_body(tuple(sigs)))
        decoder.finish()
    assert exc.value.code == "SignatureDoesNotMatch"


def test_truncated_and_malformed_framing() -> None:
    _, auth, key = _example()
    decoder = AwsChunkedDecoder(auth, key, signed=True, trailer=False)
    decoder.feed(_example_body()[:-40])
    with pytest.raises(S3Error) as exc:
        decoder.finish()
    assert exc.value.code == "IncompleteBody"
    for garbage in (b"zz;chunk-signature=x\r\n", b"1000001\r\n", b"x" * 5000):
        with pytest.raises(S3Error):
            d = AwsChunkedDecoder(auth, None, signed=False, trailer=False)
            d.feed(garbage)
            d.finish()


def _unsigned_trailer_request(data: bytes, *, checksum: str | None = None) -> tuple[bytes, list[tuple[str, str]]]:
    body = AwsChunkedWrapper(
        io.BytesIO(data), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32", chunk_size=65536
    ).read()
    if checksum is not None:
        body = body.replace(
            body[body.rindex(b"x-amz-checksum-crc32:") :], f"x-amz-checksum-crc32:{checksum}\r\n\r\n".encode()
        )
    headers = [
        ("Host", "h"),
        ("x-amz-date", "20261201T100000Z"),
        ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AK/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        ),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
        ("x-amz-decoded-content-length", str(len(data))),
        ("Content-Encoding", "aws-chunked"),
    ]
    return body, headers


def _run(body: bytes, headers: list[tuple[str, str]]) -> bytes:
    req = parse_request("PUT", "/bkt/k", headers)
    auth = parse_auth(req)
    assert auth is not None
    plan = plan_body(req, auth, b"k" * 32)
    decoded = b"".join(plan.decoder.feed(body)) if plan.decoder is not None else body
    plan.verifier.update(decoded)
    plan.verifier.finish(plan.decoder.finish() if plan.decoder is not None else None)
    return decoded


def test_botocore_unsigned_trailer_round_trip_and_bad_crc() -> None:
    data = os.urandom(200_000)
    assert _run(*_unsigned_trailer_request(data)) == data
    with pytest.raises(S3Error) as exc:
        _run(*_unsigned_trailer_request(data, checksum="AAAAAA=="))
    assert (exc.value.code, exc.value.check) == ("BadDigest", "body-checksum-crc32")


def test_signed_trailer() -> None:
    _, auth, key = _example()
    auth = auth.__class__(**{**auth.__dict__, "payload": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"})
    data = b"hello world"
    sig1 = sign(key, chunk_string_to_sign(auth, auth.signature, hashlib.sha256(data).hexdigest()))
    sig0 = sign(key, chunk_string_to_sign(auth, sig1, hashlib.sha256(b"").hexdigest()))
    crc = base64.b64encode(__import__("zlib").crc32(data).to_bytes(4, "big")).decode()
    trailer_sig = sign(key, trailer_string_to_sign(auth, sig0, f"x-amz-checksum-crc32:{crc}\n"))
    body = (
        f"b;chunk-signature={sig1}\r\n".encode()
        + data
        + b"\r\n"
        + f"0;chunk-signature={sig0}\r\n".encode()
        + f"x-amz-checksum-crc32:{crc}\r\nx-amz-trailer-signature:{trailer_sig}\r\n\r\n".encode()
    )
    decoder = AwsChunkedDecoder(auth, key, signed=True, trailer=True)
    assert b"".join(decoder.feed(body)) == data
    assert decoder.finish() == {"x-amz-checksum-crc32": crc}
    bad = AwsChunkedDecoder(auth, key, signed=True, trailer=True)
    bad.feed(body.replace(trailer_sig.encode(), b"0" * 64))
    with pytest.raises(S3Error) as exc:
        bad.finish()
    assert exc.value.check == "aws-chunked-trailer-signature"


def _plain(body: bytes, **headers: str) -> bytes:
    base = [
        ("Host", "h"),
        ("x-amz-date", "20261201T100000Z"),
        ("Content-Length", str(len(body))),
        (
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AK/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        ),
    ]
    return _run(body, base + [(k.replace("_", "-"), v) for k, v in headers.items()])


def test_plain_body_hash_md5_and_checksum_headers() -> None:
    body = b"payload bytes"
    md5 = base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
    sha = hashlib.sha256(body).hexdigest()
    assert _plain(body, x_amz_content_sha256=sha, content_md5=md5) == body
    with pytest.raises(S3Error) as exc:
        _plain(body + b"!", **{"x-amz-content-sha256": sha})
    assert exc.value.code in ("XAmzContentSHA256Mismatch", "IncompleteBody")
    with pytest.raises(S3Error) as exc:
        _plain(b"other bytes!!", x_amz_content_sha256=sha)
    assert exc.value.code == "XAmzContentSHA256Mismatch" and exc.value.extra["ClientComputedContentSHA256"] == sha
    with pytest.raises(S3Error) as exc:
        _plain(body, x_amz_content_sha256="UNSIGNED-PAYLOAD", content_md5=base64.b64encode(b"0" * 16).decode())
    assert exc.value.code == "BadDigest"
    with pytest.raises(S3Error) as exc:
        _plain(body, x_amz_content_sha256="UNSIGNED-PAYLOAD", content_md5="not-base64")
    assert exc.value.code == "InvalidDigest"
    for alg, value in (
        ("sha1", hashlib.sha1(body, usedforsecurity=False).digest()),
        ("sha256", hashlib.sha256(body).digest()),
        ("crc32", __import__("zlib").crc32(body).to_bytes(4, "big")),
    ):
        header = {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", f"x-amz-checksum-{alg}": base64.b64encode(value).decode()}
        assert _plain(body, **header) == body
        header[f"x-amz-checksum-{alg}"] = base64.b64encode(bytes(len(value))).decode()
        with pytest.raises(S3Error):
            _plain(body, **header)


def test_crc32c_and_crc64nvme_known_values() -> None:
    from stsproxy.gateway import checksums

    c = checksums.new("crc32c")
    c.update(b"123456789")
    assert c.digest().hex() == "e3069283"  # the CRC-32C check value
    n = checksums.new("crc64nvme")
    n.update(b"123456789")
    assert n.digest().hex() == "ae8b14860a799888"  # the CRC-64/NVME check value
