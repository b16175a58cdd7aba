"""SigV4 verification against botocore's own signer, and the time, scope and SigV2 rules."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from stsproxy.gateway.errors import S3Error
from stsproxy.gateway.model import parse_request
from stsproxy.gateway.signer import sign_backend
from stsproxy.gateway.sigv4 import check_scope, check_time, parse_auth, verify

AK, SK, TOKEN = "ASIAEXAMPLE", "secret/key+value", "token-value"
NOW = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.UTC)


def _signed(method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes = b"", presign: bool = False):
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    request.context["timestamp"] = NOW.strftime("%Y%m%dT%H%M%SZ")
    creds = Credentials(AK, SK, TOKEN)
    (
        S3SigV4QueryAuth(creds, "s3", "eu-west-1", expires=300) if presign else S3SigV4Auth(creds, "s3", "eu-west-1")
    ).add_auth(request)
    prepared = request.prepare()
    target = prepared.url.split("127.0.0.1:8402", 1)[1]
    return parse_request(method, target, [("Host", "127.0.0.1:8402"), *prepared.headers.items()])


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8402/bkt/plain.txt",
        "http://127.0.0.1:8402/bkt/a%20b/%C3%A9t%C3%A9/x%2By%21.txt",
        "http://127.0.0.1:8402/bkt/a/../b//c",
        "http://127.0.0.1:8402/bkt?list-type=2&prefix=a%2Fb%2F&delimiter=%2F&uploads",
        "http://127.0.0.1:8402/",
    ],
)
@pytest.mark.parametrize("presign", [False, True])
def test_botocore_signatures_verify(url: str, presign: bool) -> None:
    req = _signed("GET", url, presign=presign)
    auth = parse_auth(req)
    assert auth is not None and auth.presigned is presign and auth.session_token == TOKEN
    check_scope(auth, None)
    check_time(auth, auth.signed_at + 60, 900)
    assert len(verify(req, auth, SK)) == 32
    with pytest.raises(S3Error) as exc:
        verify(req, auth, SK + "x")
    assert exc.value.code == "SignatureDoesNotMatch" and exc.value.extra["StringToSign"].startswith(
        "AWS4-HMAC-SHA256\n"
    )


def test_raw_slash_in_query_still_verifies() -> None:
    """s3fs sends ``prefix=a/`` unencoded although the signature covers ``a%2F``."""
    req = _signed("GET", "http://127.0.0.1:8402/bkt?prefix=a%2F")
    raw = parse_request(
        "GET", req.raw_path + "?" + req.raw_query.replace("%2F", "/"), [(k, v[0]) for k, v in req.headers.items()]
    )
    auth = parse_auth(raw)
    assert auth is not None
    verify(raw, auth, SK)


def test_tampered_signed_header_fails() -> None:
    req = _signed("PUT", "http://127.0.0.1:8402/bkt/k", headers={"x-amz-meta-a": "1"}, body=b"x")
    headers = {k: v[0] for k, v in req.headers.items()}
    headers["x-amz-meta-a"] = "2"
    changed = parse_request("PUT", req.raw_path, list(headers.items()))
    auth = parse_auth(changed)
    assert auth is not None
    with pytest.raises(S3Error):
        verify(changed, auth, SK)


def test_time_rules() -> None:
    header = parse_auth(_signed("GET", "http://127.0.0.1:8402/bkt/k"))
    assert header is not None
    with pytest.raises(S3Error) as exc:
        check_time(header, header.signed_at + 16 * 60, 900)
    assert exc.value.code == "RequestTimeTooSkewed" and exc.value.extra["MaxAllowedSkewMilliseconds"] == "900000"
    check_time(header, header.signed_at - 14 * 60, 900)
    presigned = parse_auth(_signed("GET", "http://127.0.0.1:8402/bkt/k", presign=True))
    assert presigned is not None
    with pytest.raises(S3Error) as exc:
        check_time(presigned, presigned.signed_at + 301, 900)
    assert (exc.value.code, exc.value.message) == ("AccessDenied", "Request has expired")
    with pytest.raises(S3Error) as exc:
        check_time(presigned, presigned.signed_at - 16 * 60, 900)
    assert exc.value.message == "Request is not valid yet"


def test_scope_and_query_parameter_errors() -> None:
    req = _signed("GET", "http://127.0.0.1:8402/bkt/k")
    auth = parse_auth(req)
    assert auth is not None
    with pytest.raises(S3Error) as exc:
        check_scope(auth, "us-east-1")
    assert exc.value.code == "AuthorizationHeaderMalformed" and exc.value.extra["Region"] == "us-east-1"
    presigned = _signed("GET", "http://127.0.0.1:8402/bkt/k", presign=True)
    too_long = parse_request(
        "GET",
        presigned.raw_path + "?" + presigned.raw_query.replace("X-Amz-Expires=300", "X-Amz-Expires=604801"),
        [("Host", "h")],
    )
    with pytest.raises(S3Error) as exc:
        parse_auth(too_long)
    assert exc.value.code == "AuthorizationQueryParametersError"
    missing = parse_request("GET", "/bkt/k?X-Amz-Algorithm=AWS4-HMAC-SHA256", [("Host", "h")])
    with pytest.raises(S3Error) as exc:
        parse_auth(missing)
    assert exc.value.code == "AuthorizationQueryParametersError"


@pytest.mark.parametrize(
    ("target", "headers"),
    [
        ("/bkt/k?AWSAccessKeyId=AK&Signature=x&Expires=1", {}),
        ("/bkt/k", {"Authorization": "AWS AK:signature"}),
    ],
)
def test_sigv2_is_refused_with_the_fix(target: str, headers: dict[str, str]) -> None:
    with pytest.raises(S3Error) as exc:
        parse_auth(parse_request("GET", target, [("Host", "h"), *headers.items()]))
    assert exc.value.code == "InvalidRequest" and "signature_version='s3v4'" in exc.value.message


def test_missing_or_bad_content_sha256() -> None:
    with pytest.raises(S3Error) as exc:
        parse_auth(
            parse_request(
                "GET",
                "/bkt/k",
                [
                    ("Host", "h"),
                    ("X-Amz-Date", "20261201T100000Z"),
                    (
                        "Authorization",
                        "AWS4-HMAC-SHA256 Credential=A/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
                    ),
                ],
            )
        )
    assert exc.value.code == "InvalidRequest"
    with pytest.raises(S3Error) as exc:
        parse_auth(
            parse_request(
                "GET",
                "/bkt/k",
                [
                    ("Host", "h"),
                    ("X-Amz-Date", "20261201T100000Z"),
                    ("x-amz-content-sha256", "nope"),
                    (
                        "Authorization",
                        "AWS4-HMAC-SHA256 Credential=A/20261201/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
                    ),
                ],
            )
        )
    assert exc.value.code == "InvalidArgument"


def test_backend_signature_verifies_like_a_client_signature() -> None:
    """What we send a backend passes the same verification a store does (RGW checks it on the wire too)."""
    headers = {
        "host": "127.0.0.1:9000",
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "content-type": "text/plain",
        "x-amz-meta-k": "v",
    }
    signed = sign_backend(
        "PUT",
        "/bkt/a%20b",
        "partNumber=1&uploadId=U",
        headers,
        access_key="AK",
        secret="SK",
        region="us-east-1",
        now=NOW.timestamp(),
        session_token="tok",
    )
    req = parse_request("PUT", "/bkt/a%20b?uploadId=U&partNumber=1", [*headers.items(), *signed.items()])
    auth = parse_auth(req)
    assert auth is not None and auth.session_token == "tok" and "x-amz-meta-k" in auth.signed_headers
    verify(req, auth, "SK")


@pytest.mark.parametrize(
    "value", ["20261201T073218Z", "20240229T235959Z", "19700101T000000Z", "2026121T07321Z", "20261201T7:32:18Z"]
)
def test_timestamp_fast_path_agrees_with_strptime(value: str) -> None:
    """The cached parser gives strptime's answer for the shape clients send and for the odd ones."""
    from stsproxy.gateway.sigv4 import format_timestamp, parse_timestamp

    try:
        expected: float | None = dt.datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(S3Error) as exc:
            parse_timestamp(value)
        assert exc.value.check == "sigv4-date"
    else:
        assert parse_timestamp(value) == expected
        assert parse_timestamp(format_timestamp(expected + 0.75)) == expected


@pytest.mark.parametrize("value", ["20260229T000000Z", "20261301T000000Z", "20261201T246000Z", "garbage"])
def test_invalid_timestamps_refused(value: str) -> None:
    from stsproxy.gateway.sigv4 import parse_timestamp

    with pytest.raises(S3Error) as exc:
        parse_timestamp(value)
    assert exc.value.code == "AccessDenied" and exc.value.check == "sigv4-date"
