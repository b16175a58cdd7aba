"""The pure PostObject pieces: the form parser, the SigV4 POST signature, the policy document's rules."""

from __future__ import annotations

import base64
import json
import random
import time
from typing import Any

import boto3
import pytest
from botocore.config import Config

from stsproxy.gateway.errors import S3Error
from stsproxy.gateway.post_form import FileData, boundary_of, parse_pre_file
from stsproxy.gateway.post_policy import (
    check_length,
    check_policy,
    decode_policy,
    form_auth,
    object_headers,
    substitute_key,
    success,
    verify_signature,
)
from stsproxy.gateway.sigv4 import signing_key

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def _policy(conditions: list[Any], expiration: str = "2030-01-01T00:00:00Z") -> str:
    return base64.b64encode(json.dumps({"expiration": expiration, "conditions": conditions}).encode()).decode()


def _refused(code: str, fn: Any, *args: Any, **kwargs: Any) -> S3Error:
    with pytest.raises(S3Error) as exc:
        fn(*args, **kwargs)
    assert exc.value.code == code, exc.value
    return exc.value


def test_boto3_presigned_post_signature_verifies() -> None:
    client = boto3.client(
        "s3",
        endpoint_url="http://127.0.0.1:9",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key=SECRET,
        aws_session_token="session-token",
        config=Config(signature_version="s3v4"),
    )
    form = client.generate_presigned_post("bkt", "up/${filename}", ExpiresIn=60)
    fields = {k.lower(): v for k, v in form["fields"].items()}
    auth = form_auth(fields)
    assert auth is not None and auth.access_key == "AKIDEXAMPLE" and auth.region == "eu-west-1"
    assert auth.session_token == "session-token"
    key = signing_key(SECRET, auth.date, auth.region, auth.service)
    verify_signature(fields["policy"], key, auth)
    err = _refused("SignatureDoesNotMatch", verify_signature, fields["policy"] + "=", key, auth)
    assert err.extra["StringToSign"] == fields["policy"] + "="
    policy = decode_policy(fields["policy"])
    key_name = substitute_key(fields["key"], "C:\\Users\\a\\photo.jpg")
    assert key_name == "up/photo.jpg"
    check_policy(policy, {**fields, "key": key_name}, bucket="bkt", now=time.time())
    _refused("AccessDenied", check_policy, policy, {**fields, "key": "elsewhere"}, bucket="bkt", now=time.time())
    _refused("AccessDenied", check_policy, policy, fields, bucket="other", now=time.time())


def test_form_auth_refusals() -> None:
    assert form_auth({"key": "k"}) is None  # anonymous
    _refused("InvalidRequest", form_auth, {"awsaccesskeyid": "AK", "signature": "s", "policy": "p"})
    base = {
        "x-amz-algorithm": "AWS4-HMAC-SHA256",
        "x-amz-credential": "AK/20261201/us-east-1/s3/aws4_request",
        "x-amz-date": "20261201T000000Z",
        "x-amz-signature": "00",
        "policy": "e30=",
    }
    assert form_auth(base) is not None
    _refused("InvalidArgument", form_auth, {**base, "x-amz-algorithm": "AWS4-ECDSA-P256-SHA256"})
    err = _refused("InvalidArgument", form_auth, {k: v for k, v in base.items() if k != "policy"})
    assert err.extra["ArgumentName"] == "policy"
    _refused("InvalidArgument", form_auth, {**base, "x-amz-credential": "AK/2026/us-east-1"})
    _refused("InvalidArgument", form_auth, {**base, "x-amz-date": "20261202T000000Z"})
    _refused("InvalidArgument", form_auth, {**base, "x-amz-credential": "AK/20261201/us-east-1/sts/aws4_request"})
    _refused("AccessDenied", form_auth, {**base, "x-amz-date": "yesterday"})


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("!!!", "Invalid JSON."),
        (base64.b64encode(b"[1]").decode(), "Invalid JSON."),
        (base64.b64encode(b'{"conditions": []}').decode(), "Policy missing expiration."),
        (base64.b64encode(b'{"expiration": "2030-01-01T00:00:00Z"}').decode(), "Policy missing conditions."),
        (_policy([], "tomorrow"), "Invalid 'expiration' value"),
        (_policy([{"a": "1", "b": "2"}]), "exactly one property"),
        (_policy([{"a": 1}]), "value must be a string"),
        (_policy([["eq", "key", "x"]]), "$name"),
        (_policy([["content-length-range", 10, 1]]), "minimum is larger"),
        (_policy([["content-length-range", "a", 1]]), "integers"),
        (_policy([["in", "$key", "x"]]), "unknown or malformed"),
        (_policy([7]), "object or an array"),
    ],
)
def test_bad_policy_documents(raw: str, why: str) -> None:
    err = _refused("InvalidPolicyDocument", decode_policy, raw)
    assert err.message.startswith("Invalid Policy: ") and why in err.message


def test_conditions_expiration_and_extra_fields() -> None:
    policy = decode_policy(
        _policy(
            [
                {"bucket": "bkt"},
                ["starts-with", "$key", "user/"],
                ["eq", "$x-amz-meta-tag", "v"],
                ["starts-with", "$Content-Type", "image/"],
                ["starts-with", "$success_action_status", ""],
                ["content-length-range", "10", 100],
            ],
            "2030-01-01T00:00:00.000Z",
        )
    )
    fields = {"key": "user/a", "x-amz-meta-tag": "v", "content-type": "image/png, image/jpeg"}
    check_policy(policy, fields, bucket="bkt", now=0)
    err = _refused(
        "AccessDenied", check_policy, policy, {**fields, "content-type": "image/png, text/html"}, bucket="bkt", now=0
    )
    assert (
        err.message
        == 'Invalid according to Policy: Policy Condition failed: ["starts-with", "$content-type", "image/"]'
    )
    err = _refused("AccessDenied", check_policy, policy, {**fields, "x-amz-meta-tag": "w"}, bucket="bkt", now=0)
    assert '["eq", "$x-amz-meta-tag", "v"]' in err.message
    err = _refused("AccessDenied", check_policy, policy, fields, bucket="bkt", now=2e9)
    assert err.message == "Invalid according to Policy: Policy expired."
    err = _refused(
        "AccessDenied", check_policy, policy, {**fields, "acl": "private", "x-ignore-me": "1"}, bucket="bkt", now=0
    )
    assert err.message == "Invalid according to Policy: Extra input fields: acl"
    check_length(policy, 10)
    check_length(policy, 100)
    assert _refused("EntityTooLarge", check_length, policy, 101).extra == {
        "ProposedSize": "101",
        "MaxSizeAllowed": "100",
    }
    assert _refused("EntityTooSmall", check_length, policy, 9).extra == {"ProposedSize": "9", "MinSizeAllowed": "10"}


def test_object_headers_and_success() -> None:
    headers = object_headers(
        {
            "key": "k",
            "acl": "public-read",
            "content-type": "text/plain",
            "x-amz-meta-a": "1",
            "tagging": "<Tagging><TagSet><Tag><Key>a b</Key><Value>c&amp;d</Value></Tag></TagSet></Tagging>",
            "policy": "p",
        }
    )
    assert headers == {
        "x-amz-acl": ("public-read",),
        "content-type": ("text/plain",),
        "x-amz-meta-a": ("1",),
        "x-amz-tagging": ("a%20b=c%26d",),
    }
    _refused("MalformedXML", object_headers, {"tagging": "<Tagging"})
    assert success({}) == (204, None)
    assert success({"success_action_status": "201"}) == (201, None)
    assert success({"success_action_status": "500"}) == (204, None)
    assert success({"success_action_redirect": "https://x/y"}) == (303, "https://x/y")
    assert success({"redirect": "javascript:alert(1)"}) == (204, None)


def _form(*parts: tuple[str, str], boundary: str = "b0und") -> bytes:
    out = b""
    for name, value in parts:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    return out


def test_form_parser_phases() -> None:
    assert boundary_of('multipart/form-data; boundary="b0und"') == "b0und"
    assert _refused("PreconditionFailed", boundary_of, "application/json").status == 412
    _refused("MalformedPOSTRequest", boundary_of, "multipart/form-data")
    head = _form(("Key", "a/${filename}"), ("policy", "p"))
    file_head = (
        b'--b0und\r\nContent-Disposition: form-data; name="file"; filename="x.txt"\r\nContent-Type: text/plain\r\n\r\n'
    )
    body = head + file_head + b"file\r\n--b0un-not-yet\r\n--b0und--\r\n"
    for cut in range(len(head + file_head)):  # incomplete fields: ask for more
        assert parse_pre_file(body[:cut], "b0und") is None
    pre = parse_pre_file(body, "b0und")
    assert pre is not None and pre.fields == {"key": "a/${filename}", "policy": "p"}
    assert pre.file.filename == "x.txt" and pre.file.content_type == "text/plain"
    assert pre.file.offset == len(head + file_head)
    for step in (1, 3, 7, 1000):  # the file bytes, fed in pieces of any size, end at the delimiter
        scanner = FileData("b0und")
        rest = body[pre.file.offset :]
        got = b"".join(scanner.feed(rest[i : i + step]) for i in range(0, len(rest), step))
        scanner.finish()
        assert got == b"file\r\n--b0un-not-yet" and scanner.length == len(got)
    scanner = FileData("b0und")
    scanner.feed(b"no end")
    _refused("MalformedPOSTRequest", scanner.finish)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            b'--b0und\r\nContent-Disposition: form-data; name="key"\r\n\r\nk\r\n--b0und--\r\n',
            "IncorrectNumberOfFilesInPostRequest",
        ),
        (b"--b0und\r\nno-colon\r\n\r\nv\r\n", "MalformedPOSTRequest"),
        (b"--b0und\r\nContent-Type: text/plain\r\n\r\nv\r\n", "MalformedPOSTRequest"),
        (b'--b0und\r\nContent-Disposition: attachment; name="a"\r\n\r\nv\r\n', "MalformedPOSTRequest"),
        (b"--b0undjunk\r\n", "MalformedPOSTRequest"),
        (b'--b0und\r\nContent-Disposition: form-data; name="a"\r\n\r\n\xff\r\n--b0und\r\n', "MalformedPOSTRequest"),
        (_form(("a", "1"), ("A", "2")) + b"--b0und", "InvalidArgument"),
        (_form(("x-ignore-pad", "p" * 70000)), "MaxPostPreDataLengthExceeded"),
        (b"x" * 70000, "MaxPostPreDataLengthExceeded"),
    ],
)
def test_form_parser_refusals(body: bytes, code: str) -> None:
    _refused(code, parse_pre_file, body, "b0und")


def test_mangled_forms_and_policies_only_ever_raise_s3_errors() -> None:
    """Seeded mutations of a valid form and of policy documents: parsed, or refused in S3's words."""
    rng = random.Random(12)
    file_head = b'--b0und\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
    seed = _form(("key", "k"), ("policy", "p")) + file_head + b"data\r\n--b0und--\r\n"
    alphabet = b'-\r\n:;="b0und file name Content-Disposition form-data\xff'
    for _ in range(1500):
        data = bytearray(seed)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(data) + 1)
            roll = rng.random()
            if roll < 0.4:
                data[pos:pos] = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
            elif roll < 0.8:
                del data[pos : pos + rng.randint(1, 8)]
            elif data:
                data[min(pos, len(data) - 1)] ^= 1 << rng.randrange(8)
        try:
            pre = parse_pre_file(bytes(data), "b0und")
        except S3Error:
            continue
        if pre is None:
            continue
        scanner = FileData("b0und")
        rest = bytes(data[pre.file.offset :])
        step = rng.randint(1, 9)
        for i in range(0, len(rest), step):
            scanner.feed(rest[i : i + step])
        try:
            scanner.finish()
        except S3Error:
            pass
    pieces: list[Any] = [{"a": "b"}, ["eq", "$k", "v"], ["starts-with", "$k"], ["content-length-range", -1, 2**70]]
    pieces += [[{"x": 1}], [], ["eq", 1, 2], {"": ""}, None, "s", 3.5, ["content-length-range", True, 1]]
    for _ in range(500):
        doc: Any = {"expiration": rng.choice(["2030-01-01T00:00:00Z", 5, None, "x"])}
        doc["conditions"] = [rng.choice(pieces) for _ in range(rng.randint(0, 4))]
        if rng.random() < 0.2:
            doc = rng.choice([[], "s", 1, {"conditions": []}])
        raw = base64.b64encode(json.dumps(doc).encode()).decode()
        try:
            policy = decode_policy(raw)
            check_policy(policy, {"k": "v", "key": "x"}, bucket="b", now=0)
            check_length(policy, rng.randint(0, 10))
        except S3Error:
            pass
