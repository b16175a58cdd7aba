"""boto3 (default checksums) through the S3 gateway, against the embedded SeaweedFS and Ceph RGW."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import DENY_SID, LIMITED_ROLE, GatewayServer, new_bucket

MIB = 1024 * 1024


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_round_trip_multipart_ranged_copy_list_delete(gateway: GatewayServer, tmp_path: Path) -> None:
    s3 = gateway.s3(gateway.creds())
    bucket = new_bucket()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="small/hello.txt", Body=b"hello", ContentType="text/plain; charset=utf-8")
    got = s3.get_object(Bucket=bucket, Key="small/hello.txt")
    assert got["Body"].read() == b"hello" and got["ContentType"] == "text/plain; charset=utf-8"

    data = os.urandom(64 * MIB + 12345)
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    s3.upload_file(str(src), bucket, "big/object.bin")  # 8 MiB parts: multipart
    head = s3.head_object(Bucket=bucket, Key="big/object.bin")
    assert head["ContentLength"] == len(data) and "-" in head["ETag"]
    dst = tmp_path / "back.bin"
    s3.download_file(bucket, "big/object.bin", str(dst))  # ranged GETs in parallel
    assert hashlib.sha256(dst.read_bytes()).digest() == hashlib.sha256(data).digest()
    part = s3.get_object(Bucket=bucket, Key="big/object.bin", Range="bytes=1000-1999")
    assert part["ContentRange"] == f"bytes 1000-1999/{len(data)}" and part["Body"].read() == data[1000:2000]

    s3.copy_object(Bucket=bucket, Key="small/copy.txt", CopySource={"Bucket": bucket, "Key": "small/hello.txt"})
    assert s3.get_object(Bucket=bucket, Key="small/copy.txt")["Body"].read() == b"hello"

    for i in range(7):
        s3.put_object(Bucket=bucket, Key=f"list/d{i % 2}/k{i}", Body=b"x")
    top = s3.list_objects_v2(Bucket=bucket, Prefix="list/", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["list/d0/", "list/d1/"]
    pages = list(
        s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="list/", PaginationConfig={"PageSize": 3})
    )
    assert len(pages) == 3 and sum(len(p.get("Contents", [])) for p in pages) == 7

    keys = [o["Key"] for p in pages for o in p["Contents"]] + ["small/hello.txt", "small/copy.txt", "big/object.bin"]
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    assert sorted(d["Key"] for d in result["Deleted"]) == sorted(keys) and not result.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_presigned_get_and_put_with_curl(gateway: GatewayServer, tmp_path: Path) -> None:
    s3 = gateway.s3(gateway.creds(), signature_version="s3v4")
    bucket = new_bucket()
    s3.create_bucket(Bucket=bucket)
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "p/up.bin"}, ExpiresIn=300)
    body = tmp_path / "up.bin"
    body.write_bytes(os.urandom(300_000))
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T", str(body), put_url],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == "200", out
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p/up.bin"}, ExpiresIn=300)
    got = subprocess.run(["curl", "-sS", "-f", get_url], capture_output=True, check=True).stdout
    assert got == body.read_bytes()
    tampered = get_url.replace("p/up.bin", "p/other.bin")
    denied = subprocess.run(["curl", "-sS", tampered], capture_output=True, text=True, check=True).stdout
    assert "<Code>SignatureDoesNotMatch</Code>" in denied


def test_sigv2_presigned_url_is_refused_with_the_fix(gateway: GatewayServer) -> None:
    s3 = gateway.s3(gateway.creds(), signature_version="s3")  # SigV2 query auth, boto3's us-east-1 default
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "any-bucket", "Key": "k"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url
    body = subprocess.run(["curl", "-sS", url], capture_output=True, text=True, check=True).stdout
    assert "<Code>InvalidRequest</Code>" in body and "signature_version='s3v4'" in body


def test_denied_action_names_the_statement_and_missing_key_is_403_without_list(gateway: GatewayServer) -> None:
    admin = gateway.s3(gateway.creds())
    bucket = new_bucket()
    admin.create_bucket(Bucket=bucket)
    admin.put_object(Bucket=bucket, Key="protected/keep.txt", Body=b"keep")
    limited = gateway.s3(gateway.creds(LIMITED_ROLE))
    with pytest.raises(ClientError) as exc:
        limited.delete_object(Bucket=bucket, Key="protected/keep.txt")
    assert _code(exc) == "AccessDenied"
    record = gateway.last_audit(operation="DeleteObject", decision="deny")
    assert DENY_SID in record["statement"] and record["action"] == "s3:DeleteObject"
    # DeleteObjects: per-key decision; the allowed key goes, the protected one stays with an AccessDenied entry
    admin.put_object(Bucket=bucket, Key="free/x.txt", Body=b"x")
    result = limited.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "free/x.txt"}, {"Key": "protected/keep.txt"}]}
    )
    assert [d["Key"] for d in result["Deleted"]] == ["free/x.txt"]
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("protected/keep.txt", "AccessDenied")]
    assert admin.get_object(Bucket=bucket, Key="protected/keep.txt")["Body"].read() == b"keep"
    # without s3:ListBucket a missing key is AccessDenied, with it NoSuchKey
    policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    reader = gateway.s3(gateway.creds(policy=policy))
    with pytest.raises(ClientError) as exc:
        reader.get_object(Bucket=bucket, Key="missing")
    assert _code(exc) == "AccessDenied"
    with pytest.raises(ClientError) as exc:
        admin.get_object(Bucket=bucket, Key="missing")
    assert _code(exc) == "NoSuchKey"
    # ListBuckets shows only what the caller may list
    only = (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["s3:ListAllMyBuckets"],"Resource":"*"},'
        f'{{"Effect":"Allow","Action":"s3:ListBucket","Resource":"arn:aws:s3:::{bucket}"}}]}}'
    )
    assert [b["Name"] for b in gateway.s3(gateway.creds(policy=only)).list_buckets()["Buckets"]] == [bucket]


def test_revocation_denies_the_very_next_request(gateway: GatewayServer) -> None:
    creds = gateway.creds(session_name="to-revoke")
    s3 = gateway.s3(creds)
    bucket = new_bucket()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    revocation = gateway.revoke("access_key", creds["aws_access_key_id"], reason="stolen laptop")
    with pytest.raises(ClientError) as exc:
        s3.get_object(Bucket=bucket, Key="k")
    assert _code(exc) == "AccessDenied"
    message = exc.value.response["Error"]["Message"]
    assert f"revocation #{revocation['id']}" in message and "stolen laptop" in message
    record = gateway.last_audit(access_key=creds["aws_access_key_id"], decision="deny")
    assert record["check"] == "revoked" and f"#{revocation['id']}" in record["message"]


def test_body_with_wrong_checksum_is_refused_and_not_stored(gateway: GatewayServer) -> None:
    s3 = gateway.s3(gateway.creds())
    bucket = new_bucket()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="obj", Body=b"original")

    def corrupt(request, **_):  # after signing: the last byte flips, so the body no longer matches its SHA-256/CRC32
        body = request.body.read() if hasattr(request.body, "read") else bytes(request.body)
        request.body = body[:-1] + bytes([body[-1] ^ 1])

    bad = gateway.s3(gateway.creds())
    bad.meta.events.register_last("before-send.s3.PutObject", corrupt)
    with pytest.raises(ClientError) as exc:
        bad.put_object(Bucket=bucket, Key="obj", Body=b"replacement-body")
    assert _code(exc) in ("XAmzContentSHA256Mismatch", "BadDigest")
    with pytest.raises(ClientError):
        bad.put_object(Bucket=bucket, Key="new-key", Body=os.urandom(3 * MIB))
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"original"
    with pytest.raises(ClientError) as exc:
        s3.head_object(Bucket=bucket, Key="new-key")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    record = gateway.last_audit(operation="PutObject", decision="deny")
    assert record["check"] in ("body-sha256", "body-checksum-crc32")


def test_checksum_mode_and_unsigned_payload(gateway: GatewayServer) -> None:
    creds = gateway.creds()
    s3 = gateway.s3(creds, s3={"payload_signing_enabled": False})
    bucket = new_bucket()
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="c", Body=b"checked", ChecksumAlgorithm="SHA256")
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got["Body"].read() == b"checked"
    plain = gateway.s3(
        creds, request_checksum_calculation="when_required", response_checksum_validation="when_required"
    )
    plain.put_object(Bucket=bucket, Key="d", Body=b"plain")
    assert plain.get_object(Bucket=bucket, Key="d")["Body"].read() == b"plain"


def test_virtual_hosted_addressing(gateway: GatewayServer) -> None:
    """``BUCKET.s3.localhost:PORT``: the bucket is only in the (signed) Host header."""
    port = gateway.s3_url.rsplit(":", 1)[1]
    creds = gateway.creds()
    path_style = gateway.s3(creds)
    bucket = new_bucket()
    path_style.create_bucket(Bucket=bucket)
    vhost = boto3.client(
        "s3",
        endpoint_url=f"http://s3.localhost:{port}",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "virtual"}, signature_version="s3v4", retries={"total_max_attempts": 1}),
        **creds,
    )

    def to_loopback(request, **_):  # *.localhost may not resolve here: connect to 127.0.0.1, keep the Host
        netloc = urlsplit(request.url).netloc
        assert netloc.startswith(f"{bucket}.s3.localhost")
        request.headers["Host"] = netloc
        request.url = request.url.replace(netloc, f"127.0.0.1:{port}", 1)

    vhost.meta.events.register_last("before-send.s3", to_loopback)
    vhost.put_object(Bucket=bucket, Key="v/key.txt", Body=b"vhost")
    assert path_style.get_object(Bucket=bucket, Key="v/key.txt")["Body"].read() == b"vhost"
    assert [o["Key"] for o in vhost.list_objects_v2(Bucket=bucket)["Contents"]] == ["v/key.txt"]
    url = vhost.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v/key.txt"}, ExpiresIn=60)
    out = subprocess.run(
        ["curl", "-sS", "-f", "--resolve", f"{bucket}.s3.localhost:{port}:127.0.0.1", url],
        capture_output=True,
        check=True,
    ).stdout
    assert out == b"vhost"
