"""Refusals in S3's own words: every malformed or unauthorised request gets S3 XML, never a 5xx."""

from __future__ import annotations

import datetime as dt
import hashlib
import random
import socket
import time
import urllib.parse

import pytest
import requests
from botocore.exceptions import ClientError

from stsproxy.gateway.signer import sign_backend

from .helpers import GatewayServer, new_bucket


def _signed(
    gateway: GatewayServer,
    creds: dict[str, str],
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    when: dt.datetime | None = None,
    payload: str | None = None,
) -> requests.Response:
    """A SigV4 request signed exactly as given (botocore would replace a STREAMING-* payload literal)."""
    host = gateway.s3_url.split("://", 1)[1]
    base = {"host": host, "x-amz-content-sha256": payload or hashlib.sha256(body).hexdigest(), **(headers or {})}
    base = {k.lower(): v for k, v in base.items()}
    raw_path, _, query = path.partition("?")
    auth = sign_backend(
        method,
        raw_path,
        query,
        base,
        access_key=creds["aws_access_key_id"],
        secret=creds["aws_secret_access_key"],
        region="us-east-1",
        now=(when or dt.datetime.now(dt.UTC)).timestamp(),
        session_token=creds.get("aws_session_token"),
    )
    return requests.request(method, gateway.s3_url + path, headers={**base, **auth}, data=body, timeout=30)


def _xml_error(resp: requests.Response, code: str, status: int) -> None:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/xml")
    assert f"<Code>{code}</Code>" in resp.text and "<RequestId>" in resp.text, resp.text


def test_credential_refusals(gateway: GatewayServer) -> None:
    creds = gateway.creds()
    _xml_error(requests.get(gateway.s3_url + "/any-bucket/k", timeout=10), "AccessDenied", 403)  # anonymous
    _xml_error(
        _signed(gateway, {**creds, "aws_secret_access_key": "wrong" * 8}, "GET", "/any-bucket/k"),
        "SignatureDoesNotMatch",
        403,
    )
    unknown = {"aws_access_key_id": "AKIAUNKNOWNKEY000000", "aws_secret_access_key": "x" * 40}
    _xml_error(_signed(gateway, unknown, "GET", "/any-bucket/k"), "InvalidAccessKeyId", 403)
    _xml_error(
        _signed(gateway, {**creds, "aws_session_token": creds["aws_session_token"][:-8] + "AAAAAAAA"}, "GET", "/b-k/k"),
        "InvalidToken",
        400,
    )
    skewed = _signed(gateway, creds, "GET", "/any-bucket/k", when=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=20))
    _xml_error(skewed, "RequestTimeTooSkewed", 403)
    assert "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>" in skewed.text


def test_expired_session_is_expired_token(gateway: GatewayServer) -> None:
    creds = gateway.creds()
    s3 = gateway.s3(creds)
    bucket = new_bucket()
    s3.create_bucket(Bucket=bucket)
    gateway.admin("POST", "/admin/clock", {"action": "advance", "seconds": 7200})
    try:
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=7200)
        _xml_error(_signed(gateway, creds, "GET", f"/{bucket}/k", when=later), "ExpiredToken", 400)
    finally:
        gateway.admin("POST", "/admin/clock", {"action": "reset"})


def test_denied_put_is_refused_before_100_continue(gateway: GatewayServer) -> None:
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    reader = gateway.s3(gateway.creds(policy=policy))
    with pytest.raises(ClientError) as exc:
        reader.put_object(
            Bucket="whatever-bucket", Key="big", Body=b"x" * (8 * 1024 * 1024)
        )  # boto3 sends Expect: 100-continue
    assert exc.value.response["Error"]["Code"] == "AccessDenied"
    record = gateway.last_audit(operation="PutObject", decision="deny", bucket="whatever-bucket")
    assert record["bytes_in"] == 0 and record["check"] == "permissions"


@pytest.mark.parametrize(
    ("method", "path", "headers", "code", "status"),
    [
        ("GET", "/any-bucket/k", {"Authorization": "AWS4-HMAC-SHA256 garbage"}, "AuthorizationHeaderMalformed", 400),
        ("GET", "/any-bucket/k", {"Authorization": "Bearer xyz"}, "InvalidArgument", 400),
        ("GET", "/any-bucket/k", {"Authorization": "AWS AK:sig"}, "InvalidRequest", 400),
        ("GET", "/any-bucket/k?X-Amz-Algorithm=AWS4-HMAC-SHA256", {}, "AuthorizationQueryParametersError", 400),
        (
            "GET",
            "/any-bucket/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Date=x&X-Amz-Expires=10"
            "&X-Amz-SignedHeaders=host&X-Amz-Signature=00",
            {},
            "AuthorizationQueryParametersError",
            400,
        ),
        ("GET", "/bad*bucket/k", {}, "InvalidBucketName", 400),
        ("GET", "/%ff%fe/k", {}, "InvalidURI", 400),
    ],
)
def test_malformed_requests(
    gateway: GatewayServer, method: str, path: str, headers: dict[str, str], code: str, status: int
) -> None:
    _xml_error(requests.request(method, gateway.s3_url + path, headers=headers, timeout=10), code, status)


def test_bad_streaming_bodies_are_400_and_not_stored(gateway: GatewayServer) -> None:
    creds = gateway.creds()
    s3 = gateway.s3(creds)
    bucket = new_bucket()
    s3.create_bucket(Bucket=bucket)
    framing = b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"  # wrong CRC32 for "hello"
    resp = _signed(
        gateway,
        creds,
        "PUT",
        f"/{bucket}/trailer",
        body=framing,
        payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        headers={
            "x-amz-trailer": "x-amz-checksum-crc32",
            "x-amz-decoded-content-length": "5",
            "Content-Encoding": "aws-chunked",
        },
    )
    _xml_error(resp, "BadDigest", 400)
    resp = _signed(
        gateway,
        creds,
        "PUT",
        f"/{bucket}/framing",
        body=b"zz;junk\r\nhello",
        payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        headers={"x-amz-trailer": "x-amz-checksum-crc32", "x-amz-decoded-content-length": "5"},
    )
    assert resp.status_code == 400 and "<Code>" in resp.text
    resp = _signed(
        gateway,
        creds,
        "PUT",
        f"/{bucket}/nolength",
        body=b"hello",
        payload="STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        headers={"x-amz-trailer": "x-amz-checksum-crc32"},
    )
    _xml_error(resp, "MissingContentLength", 411)
    for key in ("trailer", "framing", "nolength"):
        with pytest.raises(ClientError) as exc:
            s3.head_object(Bucket=bucket, Key=key)
        assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_random_garbage_never_gets_a_5xx(gateway: GatewayServer) -> None:
    """A bounded, seeded stream of mangled requests: every answer is a 4xx S3 XML error (or the TCP close)."""
    rng = random.Random(12)
    host, port = gateway.s3_url.split("://", 1)[1].split(":")
    parts = [
        "/",
        "/b",
        "/bkt/k",
        "/bkt/k?uploads",
        "/bkt?delete",
        "/bkt/k?partNumber=x&uploadId=",
        "/%00",
        "/bkt/" + "k" * 2000,
    ]
    auths = [
        "",
        "AWS4-HMAC-SHA256 Credential=A/1/2/3/aws4_request, SignedHeaders=host, Signature=1",
        "AWS4-HMAC-SHA256 Credential=ASIA/20261201/us-east-1/s3/aws4_request,SignedHeaders=;;;,Signature=",
        "AWS4-HMAC-SHA256 " + "x" * 3000,
        "AWS4-HMAC-SHA256 Credential=,,,,=",
    ]
    deadline = time.monotonic() + 20
    for i in range(120):
        if time.monotonic() > deadline:
            break
        method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH"])
        path = rng.choice(parts) + (
            "?" + urllib.parse.quote(rng.choice(["acl", "X-Amz-Date=1", "versionId", "x=%%"]), safe="=%")
            if rng.random() < 0.3
            else ""
        )
        headers = {
            "Authorization": rng.choice(auths),
            "x-amz-date": rng.choice(["20261201T100000Z", "junk", ""]),
            "x-amz-content-sha256": rng.choice(["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", "zz", ""]),
            "Content-MD5": rng.choice(["", "!!", "AAAA"]),
        }
        headers = {k: v for k, v in headers.items() if v}
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\n" + "".join(
                f"{k}: {v}\r\n" for k, v in headers.items()
            )
            body = rng.randbytes(rng.choice([0, 10, 300]))
            sock.sendall(f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status_line = answer.split(b"\r\n", 1)[0].decode(errors="replace")
        status = int(status_line.split()[1]) if status_line.startswith("HTTP/1.1 ") else 0
        not_implemented = status == 501 and b"<Code>NotImplemented</Code>" in answer  # S3's own status for it
        assert 400 <= status < 500 or not_implemented or (status == 0 and not answer), (
            i,
            method,
            path,
            headers,
            answer[:600],
        )
        if method != "HEAD" and status and not answer.rstrip().endswith(b"Bad Request"):  # aiohttp's own HTTP parser
            assert b"application/xml" in answer and b"<Code>" in answer, answer[:600]
