"""Every case the S3 fuzz properties found, as a named test (each failed before its fix)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from stsproxy.gateway import xml as s3xml
from stsproxy.gateway.chunked import AwsChunkedDecoder
from stsproxy.gateway.errors import S3Error, render
from stsproxy.gateway.model import parse_request
from stsproxy.gateway.sigv4 import STREAMING_SIGNED, STREAMING_UNSIGNED_TRAILER, parse_auth, verify

from .s3_cases import ACCESS_KEY, DATE, KEY_FOR_TESTS, SECRET, STAMP, auth_for


def _unsigned_decoder() -> AwsChunkedDecoder:
    return AwsChunkedDecoder(auth_for(STREAMING_UNSIGNED_TRAILER), None, signed=False, trailer=True)


def test_chunk_size_of_thousands_of_hex_digits_is_an_s3_error() -> None:
    """Found: int(5000 digits) then formatting it raised ValueError (a 500), not InvalidArgument."""
    with pytest.raises(S3Error) as info:
        _unsigned_decoder().feed(b"9" * 4000 + b"\r\n")
    assert info.value.code == "InvalidArgument" and "4000 hex digits" in info.value.message


@pytest.mark.parametrize("size", [b"0x10", b"+10", b"1_0", b"-1", b" ", b""])
def test_chunk_size_must_be_plain_hex(size: bytes) -> None:
    """int(x, 16) took 0x, + and _ (a size the SDKs never send) as valid."""
    with pytest.raises(S3Error) as info:
        _unsigned_decoder().feed(size + b"\r\nxxxxxxxxxxxxxxxx\r\n")
    assert info.value.code == "IncompleteBody"


def test_non_ascii_chunk_signature_is_a_signature_mismatch() -> None:
    """Found: compare_digest on a non-ASCII str raised TypeError (a 500)."""
    decoder = AwsChunkedDecoder(auth_for(STREAMING_SIGNED, "a" * 64), KEY_FOR_TESTS, signed=True, trailer=False)
    with pytest.raises(S3Error) as info:
        decoder.feed("1;chunk-signature=\u00fc\r\nx\r\n".encode())
    assert info.value.code == "SignatureDoesNotMatch"


def test_non_ascii_authorization_signature_is_a_signature_mismatch() -> None:
    """Found: the same TypeError on the Authorization header's Signature (aiohttp hands raw bytes over surrogateescaped)."""
    header = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{DATE}/us-east-1/s3/aws4_request, "
        "SignedHeaders=host, Signature=\u00fc\udcff"
    )
    req = parse_request(
        "GET",
        "/bk/k",
        [("host", "h"), ("authorization", header), ("x-amz-date", STAMP), ("x-amz-content-sha256", "UNSIGNED-PAYLOAD")],
    )
    auth = parse_auth(req)
    assert auth is not None
    with pytest.raises(S3Error) as info:
        verify(req, auth, SECRET)
    assert info.value.code == "SignatureDoesNotMatch"


def test_error_xml_stays_well_formed_with_control_bytes_and_surrogates() -> None:
    """Found: a BucketName from a hostile Host header (\\x01, surrogateescaped bytes) broke the XML or its encoding."""
    for bad in ("a\x01b", "a\udcffb", "a\ud800b", "\ufffe"):
        error = S3Error(
            "InvalidBucketName", "The specified bucket is not valid.", 400, "bucket-name", {"BucketName": bad}
        )
        root = ET.fromstring(render(error, resource=f"/{bad}", request_id="R"))
        assert root.findtext("Code") == "InvalidBucketName"


def test_billion_laughs_is_refused_before_any_entity_expands() -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        b"<Delete><Object><Key>&b;</Key></Object></Delete>"
    )
    with pytest.raises(S3Error) as info:
        s3xml.parse_delete(laughs)
    assert info.value.code == "MalformedXML" and "DOCTYPE" in info.value.message


def test_external_entity_doctype_is_refused() -> None:
    with pytest.raises(S3Error) as info:
        s3xml.parse_delete(b'<?xml version="1.0"?><!DOCTYPE d SYSTEM "file:///etc/passwd"><Delete/>')
    assert "DOCTYPE" in info.value.message


def test_deep_xml_is_refused_naming_the_limit() -> None:
    with pytest.raises(S3Error) as info:
        s3xml.parse_delete(b"<Delete>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</Delete>")
    assert info.value.code == "MalformedXML" and str(s3xml.MAX_DEPTH) in info.value.message


def test_xml_screen_applies_to_forwarded_xml_operations() -> None:
    assert s3xml.xml_body("CompleteMultipartUpload") and s3xml.xml_body("PutBucketLifecycle")
    assert s3xml.xml_body("PutObjectTagging") and s3xml.xml_body("CreateBucket")
    assert (
        not s3xml.xml_body("PutObject") and not s3xml.xml_body("PutBucketPolicy") and not s3xml.xml_body("UploadPart")
    )
