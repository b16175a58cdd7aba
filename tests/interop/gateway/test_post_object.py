"""PostObject: boto3 ``generate_presigned_post`` forms posted with requests (and aiohttp, streaming)
through the gateway, against the embedded SeaweedFS and Ceph RGW; every refusal in S3's words."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import boto3
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from .helpers import DENY_WRITE_SID, LIMITED_ROLE, GatewayServer, new_bucket

MIB = 1024 * 1024


def _presigner(gateway: GatewayServer, creds: dict[str, str], **config: Any) -> Any:
    return gateway.s3(creds, signature_version="s3v4", **config)


def _post(
    gateway: GatewayServer, bucket: str, fields: dict[str, str], data: bytes, filename: str = "hello.txt"
) -> requests.Response:
    return requests.post(
        f"{gateway.s3_url}/{bucket}", data=fields, files={"file": (filename, data, "text/plain")}, timeout=60
    )


def _error(resp: requests.Response, code: str, status: int) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"].startswith("application/xml"), resp.headers
    assert f"<Code>{code}</Code>" in resp.text and "<RequestId>" in resp.text, resp.text
    return resp.text


def _missing(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        return bool(exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404)
    return False


def test_presigned_post_round_trip(gateway: GatewayServer) -> None:
    creds = gateway.creds()
    s3 = _presigner(gateway, creds)
    bucket = new_bucket("post")
    s3.create_bucket(Bucket=bucket)
    form = s3.generate_presigned_post(
        bucket,
        "uploads/${filename}",
        Fields={"Content-Type": "text/plain", "success_action_status": "201", "x-amz-meta-owner": "alice"},
        Conditions=[
            ["starts-with", "$Content-Type", "text/"],
            {"success_action_status": "201"},
            {"x-amz-meta-owner": "alice"},
            ["content-length-range", 1, 10 * MIB],
        ],
        ExpiresIn=600,
    )
    assert form["url"] == f"{gateway.s3_url}/{bucket}" and "x-amz-security-token" in form["fields"]
    resp = _post(gateway, bucket, form["fields"], b"hello form")
    assert resp.status_code == 201, resp.text
    assert "<Key>uploads/hello.txt</Key>" in resp.text and f"<Bucket>{bucket}</Bucket>" in resp.text
    assert resp.headers["ETag"] == '"' + hashlib.md5(b"hello form").hexdigest() + '"'  # noqa: S324
    got = s3.get_object(Bucket=bucket, Key="uploads/hello.txt")
    assert got["Body"].read() == b"hello form"
    assert got["ContentType"] == "text/plain" and got["Metadata"] == {"owner": "alice"}
    record = gateway.last_audit(operation="PostObject", key="uploads/hello.txt")
    assert record["decision"] == "allow" and record["action"] == "s3:PutObject" and record["status"] == 201
    assert record["access_key"] == creds["aws_access_key_id"] and record["backend_status"] == 200

    # default answer 204 (with Location), and a redirect with bucket, key and etag
    plain = s3.generate_presigned_post(bucket, "plain.bin", ExpiresIn=600)
    resp = _post(gateway, bucket, plain["fields"], b"\x00\x01")
    assert resp.status_code == 204 and resp.headers["Location"].endswith(f"/{bucket}/plain.bin")
    target = "https://app.example/done?x=1"
    back = s3.generate_presigned_post(
        bucket,
        "redirected.txt",
        Fields={"success_action_redirect": target},
        Conditions=[{"success_action_redirect": target}],
        ExpiresIn=600,
    )
    resp = requests.post(
        form["url"], data=back["fields"], files={"file": ("r.txt", b"r")}, allow_redirects=False, timeout=30
    )
    assert resp.status_code == 303, resp.text
    location = urlsplit(resp.headers["Location"])
    assert location.netloc == "app.example"
    assert parse_qs(location.query) == {
        "x": ["1"],
        "bucket": [bucket],
        "key": ["redirected.txt"],
        "etag": [resp.headers["ETag"]],
    }
    assert s3.get_object(Bucket=bucket, Key="redirected.txt")["Body"].read() == b"r"


def test_large_file_streams_and_virtual_hosted(gateway: GatewayServer) -> None:
    """A 24 MiB file streamed by aiohttp from disk, posted to ``BUCKET.s3.localhost`` (only the Host names the bucket)."""
    creds = gateway.creds()
    s3 = _presigner(gateway, creds)
    bucket = new_bucket("post")
    s3.create_bucket(Bucket=bucket)
    port = gateway.s3_url.rsplit(":", 1)[1]
    vhost = boto3.client(
        "s3",
        endpoint_url=f"http://s3.localhost:{port}",
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "virtual"}, signature_version="s3v4"),
        **creds,
    )
    form = vhost.generate_presigned_post(
        bucket, "big/${filename}", Conditions=[["content-length-range", 0, 64 * MIB]], ExpiresIn=600
    )
    assert urlsplit(form["url"]).netloc == f"{bucket}.s3.localhost:{port}"
    seed = os.urandom(MIB)
    digest = hashlib.sha256()

    async def chunks() -> Any:
        yield seed

    async def send(file: Any) -> tuple[int, str]:
        data = aiohttp.FormData()
        for name, value in form["fields"].items():
            data.add_field(name, value)
        data.add_field("file", file, filename="stream.bin", content_type="application/octet-stream")
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"http://127.0.0.1:{port}/", data=data, headers={"Host": f"{bucket}.s3.localhost:{port}"}
            ) as resp:
                return resp.status, await resp.text()

    # a part of unknown size goes out chunked (no Content-Length): S3 wants the length
    status, text = asyncio.run(send(chunks()))
    assert status == 411 and "<Code>MissingContentLength</Code>" in text, text

    path = gateway.data_dir.parent / f"post-{bucket}.bin"
    with path.open("wb") as out:
        for i in range(24):
            out.write(seed[i:] + seed[:i])
            digest.update(seed[i:] + seed[:i])
    try:
        with path.open("rb") as handle:  # a file part: aiohttp streams it, with the form's Content-Length
            status, text = asyncio.run(send(handle))
    finally:
        path.unlink()
    assert status == 204, text
    got = s3.get_object(Bucket=bucket, Key="big/stream.bin")["Body"].read()
    assert len(got) == 24 * MIB and hashlib.sha256(got).digest() == digest.digest()
    record = gateway.last_audit(operation="PostObject", key="big/stream.bin")
    assert record["decision"] == "allow" and record["bytes_in"] > 24 * MIB


def test_refusals(gateway: GatewayServer) -> None:
    creds = gateway.creds()
    s3 = _presigner(gateway, creds)
    bucket = new_bucket("post")
    s3.create_bucket(Bucket=bucket)
    form = s3.generate_presigned_post(
        bucket,
        "in/${filename}",
        Conditions=[["content-length-range", 1, 1024]],
        ExpiresIn=600,
    )
    fields = form["fields"]

    text = _error(_post(gateway, bucket, {**fields, "x-amz-signature": "0" * 64}, b"x"), "SignatureDoesNotMatch", 403)
    assert f"<StringToSign>{fields['policy']}</StringToSign>" in text
    text = _error(_post(gateway, bucket, {**fields, "key": "out/x"}, b"x"), "AccessDenied", 403)
    assert 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$key", "in/"]' in text
    text = _error(_post(gateway, bucket, {**fields, "acl": "public-read"}, b"x"), "AccessDenied", 403)
    assert "Invalid according to Policy: Extra input fields: acl" in text
    for size in (2048, 3 * MIB):  # measured (small) and announced by Content-Length (large)
        text = _error(_post(gateway, bucket, fields, b"y" * size, f"big{size}"), "EntityTooLarge", 400)
        assert f"<ProposedSize>{size}</ProposedSize><MaxSizeAllowed>1024</MaxSizeAllowed>" in text
        assert _missing(s3, bucket, f"in/big{size}")
    _error(_post(gateway, bucket, fields, b"", "empty"), "EntityTooSmall", 400)
    assert gateway.last_audit(operation="PostObject", decision="deny")["check"] == "post-content-length-range"

    anonymous = {k: v for k, v in fields.items() if not k.startswith("x-amz-") and k != "policy"}
    _error(_post(gateway, bucket, anonymous, b"x"), "AccessDenied", 403)
    sigv2 = boto3.client("s3", endpoint_url=gateway.s3_url, region_name="us-east-1", **creds)
    text = _error(
        _post(gateway, bucket, sigv2.generate_presigned_post(bucket, "k")["fields"], b"x"), "InvalidRequest", 400
    )
    assert "signature_version=&#x27;s3v4&#x27;" in text or "signature_version='s3v4'" in text
    bad_policy = {**fields, "policy": base64.b64encode(b"{not json").decode()}
    _error(_post(gateway, bucket, bad_policy, b"x"), "SignatureDoesNotMatch", 403)  # signature first, as AWS
    missing = {k: v for k, v in fields.items() if k != "key"}
    _error(_post(gateway, bucket, missing, b"x"), "InvalidArgument", 400)
    for key in ("in/x", "in/big2048", "in/big3145728", "in/empty"):
        assert _missing(s3, bucket, key)


def test_expired_policy_and_revoked_session(gateway: GatewayServer) -> None:
    creds = gateway.creds(session_name="post-revoke")
    s3 = _presigner(gateway, creds)
    bucket = new_bucket("post")
    s3.create_bucket(Bucket=bucket)
    short = s3.generate_presigned_post(bucket, "late.txt", ExpiresIn=60)
    gateway.admin("POST", "/admin/clock", {"action": "advance", "seconds": 120})
    try:
        text = _error(_post(gateway, bucket, short["fields"], b"x"), "AccessDenied", 403)
        assert "Invalid according to Policy: Policy expired." in text
    finally:
        gateway.admin("POST", "/admin/clock", {"action": "reset"})
    assert gateway.last_audit(operation="PostObject", decision="deny")["check"] == "post-policy-expired"

    form = s3.generate_presigned_post(bucket, "after-revoke.txt", ExpiresIn=600)
    assert _post(gateway, bucket, form["fields"], b"ok").status_code == 204
    revocation = gateway.revoke("access_key", creds["aws_access_key_id"], reason="leaked form")
    text = _error(_post(gateway, bucket, form["fields"], b"again"), "AccessDenied", 403)
    assert f"revocation #{revocation['id']}" in text
    record = gateway.last_audit(operation="PostObject", decision="deny", access_key=creds["aws_access_key_id"])
    assert record["check"] == "revoked"
    assert gateway.s3(gateway.creds()).get_object(Bucket=bucket, Key="after-revoke.txt")["Body"].read() == b"ok"


def test_denied_by_iam_policy_names_the_statement(gateway: GatewayServer) -> None:
    owner = gateway.s3(gateway.creds())
    bucket = new_bucket("post")
    owner.create_bucket(Bucket=bucket)
    limited = _presigner(gateway, gateway.creds(LIMITED_ROLE))
    form = limited.generate_presigned_post(bucket, "readonly/${filename}", ExpiresIn=600)
    _error(_post(gateway, bucket, form["fields"], b"nope"), "AccessDenied", 403)
    record = gateway.last_audit(operation="PostObject", decision="deny", key="readonly/hello.txt")
    assert DENY_WRITE_SID in record["statement"] and record["action"] == "s3:PutObject"
    assert _missing(owner, bucket, "readonly/hello.txt")

    no_forms = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                {
                    "Sid": "NoForms",
                    "Effect": "Deny",
                    "Action": "s3:PutObject",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"s3:authType": "POST"}},
                },
            ],
        }
    )
    formless = _presigner(gateway, gateway.creds(policy=no_forms))
    formless.put_object(Bucket=bucket, Key="via-put.txt", Body=b"p")  # REST-HEADER: allowed
    form = formless.generate_presigned_post(bucket, "via-form.txt", ExpiresIn=600)
    _error(_post(gateway, bucket, form["fields"], b"f"), "AccessDenied", 403)
    assert "NoForms" in gateway.last_audit(operation="PostObject", decision="deny", key="via-form.txt")["statement"]

    tags_only = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
                {"Effect": "Allow", "Action": "s3:CreateBucket", "Resource": "*"},
            ],
        }
    )
    tagger = _presigner(gateway, gateway.creds(policy=tags_only))
    tagging = "<Tagging><TagSet><Tag><Key>team</Key><Value>a</Value></Tag></TagSet></Tagging>"
    form = tagger.generate_presigned_post(
        bucket, "tagged.txt", Fields={"tagging": tagging}, Conditions=[{"tagging": tagging}], ExpiresIn=600
    )
    _error(_post(gateway, bucket, form["fields"], b"t"), "AccessDenied", 403)  # s3:PutObjectTagging not allowed
    assert "s3:PutObjectTagging" in gateway.last_audit(operation="PostObject", decision="deny")["reason"]
    full = _presigner(gateway, gateway.creds())
    form = full.generate_presigned_post(
        bucket, "tagged.txt", Fields={"tagging": tagging}, Conditions=[{"tagging": tagging}], ExpiresIn=600
    )
    assert _post(gateway, bucket, form["fields"], b"t").status_code == 204
    assert owner.get_object_tagging(Bucket=bucket, Key="tagged.txt")["TagSet"] == [{"Key": "team", "Value": "a"}]


def test_hostile_forms_get_s3_errors(gateway: GatewayServer) -> None:
    url = f"{gateway.s3_url}/{new_bucket('post')}"
    resp = requests.post(url, data=b"key=x", headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert "Bucket POST must be of the enclosure-type multipart/form-data" in _error(resp, "PreconditionFailed", 412)
    form = "multipart/form-data; boundary=XyZ"
    _error(requests.post(url, data=b"garbage", headers={"Content-Type": form}, timeout=10), "MalformedPOSTRequest", 400)
    _error(
        requests.post(url, data=b"--XyZ\r\nbroken header\r\n\r\nv\r\n--XyZ--\r\n", headers={"Content-Type": form}),
        "MalformedPOSTRequest",
        400,
    )
    huge = b'--XyZ\r\nContent-Disposition: form-data; name="x-ignore-pad"\r\n\r\n' + b"p" * (200 * 1024)
    _error(
        requests.post(url, data=huge, headers={"Content-Type": form}, timeout=10), "MaxPostPreDataLengthExceeded", 400
    )
    no_file = b'--XyZ\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--XyZ--\r\n'
    _error(
        requests.post(url, data=no_file, headers={"Content-Type": form}, timeout=10),
        "IncorrectNumberOfFilesInPostRequest",
        400,
    )
    _error(requests.post(url, files={"file": ("a", b"a")}, timeout=10), "AccessDenied", 403)  # unsigned
