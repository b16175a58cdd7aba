"""S3 request → operation, IAM actions, resources and condition keys (the fact sheet's table 2.2)."""

from __future__ import annotations

import pytest

from stsproxy.gateway.classify import classify, parse_copy_source
from stsproxy.gateway.errors import S3Error
from stsproxy.gateway.model import parse_request

B, K = "arn:aws:s3:::bkt", "arn:aws:s3:::bkt/dir/a b.txt"


def _op(method: str, target: str, headers: dict[str, str] | None = None, host: str = "127.0.0.1:8402"):
    return classify(parse_request(method, target, [("Host", host), *(headers or {}).items()], domains=["s3.localhost"]))


@pytest.mark.parametrize(
    ("method", "target", "headers", "name", "checks"),
    [
        ("GET", "/", {}, "ListBuckets", [("s3:ListAllMyBuckets", "*")]),
        ("PUT", "/bkt", {}, "CreateBucket", [("s3:CreateBucket", B)]),
        ("PUT", "/bkt", {"x-amz-acl": "private"}, "CreateBucket", [("s3:CreateBucket", B), ("s3:PutBucketAcl", B)]),
        (
            "PUT",
            "/bkt",
            {"x-amz-bucket-object-lock-enabled": "true"},
            "CreateBucket",
            [("s3:CreateBucket", B), ("s3:PutBucketObjectLockConfiguration", B), ("s3:PutBucketVersioning", B)],
        ),
        ("DELETE", "/bkt", {}, "DeleteBucket", [("s3:DeleteBucket", B)]),
        ("HEAD", "/bkt", {}, "HeadBucket", [("s3:ListBucket", B)]),
        ("GET", "/bkt", {}, "ListObjects", [("s3:ListBucket", B)]),
        ("GET", "/bkt/?list-type=2&prefix=a/&delimiter=/", {}, "ListObjectsV2", [("s3:ListBucket", B)]),
        ("GET", "/bkt?versions", {}, "ListObjectVersions", [("s3:ListBucketVersions", B)]),
        ("GET", "/bkt?uploads", {}, "ListMultipartUploads", [("s3:ListBucketMultipartUploads", B)]),
        ("GET", "/bkt/?location=", {}, "GetBucketLocation", [("s3:GetBucketLocation", B)]),
        ("GET", "/bkt?versioning", {}, "GetBucketVersioning", [("s3:GetBucketVersioning", B)]),
        ("PUT", "/bkt?versioning", {}, "PutBucketVersioning", [("s3:PutBucketVersioning", B)]),
        ("DELETE", "/bkt?policy", {}, "DeleteBucketPolicy", [("s3:DeleteBucketPolicy", B)]),
        ("DELETE", "/bkt?tagging", {}, "DeleteBucketTagging", [("s3:PutBucketTagging", B)]),
        ("DELETE", "/bkt?cors", {}, "DeleteBucketCors", [("s3:PutBucketCORS", B)]),
        ("GET", "/bkt?policyStatus", {}, "GetBucketPolicyStatus", [("s3:GetBucketPolicyStatus", B)]),
        ("POST", "/bkt?delete", {}, "DeleteObjects", []),
        ("POST", "/bkt", {}, "PostObject", []),  # its checks come from the form (post_object.py)
        ("GET", "/bkt/dir/a%20b.txt", {}, "GetObject", [("s3:GetObject", K)]),
        ("HEAD", "/bkt/dir/a%20b.txt?versionId=v1", {}, "HeadObject", [("s3:GetObjectVersion", K)]),
        (
            "GET",
            "/bkt/dir/a%20b.txt?attributes",
            {},
            "GetObjectAttributes",
            [("s3:GetObject", K), ("s3:GetObjectAttributes", K)],
        ),
        ("PUT", "/bkt/dir/a%20b.txt", {}, "PutObject", [("s3:PutObject", K)]),
        (
            "PUT",
            "/bkt/dir/a%20b.txt?x-id=PutObject",
            {"x-amz-tagging": "a=1", "x-amz-grant-read": "id=x"},
            "PutObject",
            [("s3:PutObject", K), ("s3:PutObjectAcl", K), ("s3:PutObjectTagging", K)],
        ),
        ("DELETE", "/bkt/dir/a%20b.txt", {}, "DeleteObject", [("s3:DeleteObject", K)]),
        ("DELETE", "/bkt/dir/a%20b.txt?versionId=3", {}, "DeleteObject", [("s3:DeleteObjectVersion", K)]),
        ("GET", "/bkt/dir/a%20b.txt?tagging&versionId=3", {}, "GetObjectTagging", [("s3:GetObjectVersionTagging", K)]),
        ("PUT", "/bkt/dir/a%20b.txt?acl", {}, "PutObjectAcl", [("s3:PutObjectAcl", K)]),
        (
            "PUT",
            "/bkt/dir/a%20b.txt?retention",
            {"x-amz-bypass-governance-retention": "true"},
            "PutObjectRetention",
            [("s3:PutObjectRetention", K), ("s3:BypassGovernanceRetention", K)],
        ),
        ("POST", "/bkt/dir/a%20b.txt?uploads", {}, "CreateMultipartUpload", [("s3:PutObject", K)]),
        ("PUT", "/bkt/dir/a%20b.txt?partNumber=2&uploadId=U", {}, "UploadPart", [("s3:PutObject", K)]),
        ("POST", "/bkt/dir/a%20b.txt?uploadId=U", {}, "CompleteMultipartUpload", [("s3:PutObject", K)]),
        ("DELETE", "/bkt/dir/a%20b.txt?uploadId=U", {}, "AbortMultipartUpload", [("s3:AbortMultipartUpload", K)]),
        ("GET", "/bkt/dir/a%20b.txt?uploadId=U", {}, "ListParts", [("s3:ListMultipartUploadParts", K)]),
        ("POST", "/bkt/dir/a%20b.txt?restore", {}, "RestoreObject", [("s3:RestoreObject", K)]),
        (
            "PUT",
            "/bkt/dir/a%20b.txt",
            {"x-amz-copy-source": "/src/k%2B1?versionId=7"},
            "CopyObject",
            [("s3:PutObject", K), ("s3:GetObjectVersion", "arn:aws:s3:::src/k+1")],
        ),
        (
            "PUT",
            "/bkt/dir/a%20b.txt?partNumber=1&uploadId=U",
            {"x-amz-copy-source": "src/o"},
            "UploadPartCopy",
            [("s3:PutObject", K), ("s3:GetObject", "arn:aws:s3:::src/o")],
        ),
    ],
)
def test_operation_table(method, target, headers, name, checks) -> None:
    op = _op(method, target, headers)
    assert op.name == name
    assert [(c.action, c.resource) for c in op.checks] == checks


def test_virtual_hosted_bucket_comes_from_host() -> None:
    op = _op("GET", "/dir/a%20b.txt", host="bkt.s3.localhost:8402")
    assert op.name == "GetObject" and op.checks[0].resource == K
    assert _op("GET", "/", host="bkt.s3.localhost:8402").name == "ListObjects"


def test_keys_keep_dots_slashes_and_encoded_slash() -> None:
    req = parse_request("GET", "/bkt/a/../b//c%2Fd", [("Host", "h")])
    assert req.key == "a/../b//c/d" and req.backend_path == "/bkt/a/../b//c%2Fd"


def test_condition_keys_absent_versus_empty() -> None:
    assert "s3:prefix" not in _op("GET", "/bkt?list-type=2").context
    ctx = _op("GET", "/bkt?list-type=2&prefix=&max-keys=10", {"x-amz-tagging": "team=a&x=1"}).context
    assert ctx["s3:prefix"] == "" and ctx["s3:max-keys"] == "10"
    ctx = _op("PUT", "/bkt/k", {"x-amz-tagging": "team=a&x=1", "x-amz-acl": "public-read"}).context
    assert ctx["s3:RequestObjectTagKeys"] == ["team", "x"] and ctx["s3:RequestObjectTag/team"] == "a"
    assert ctx["s3:x-amz-acl"] == "public-read"


@pytest.mark.parametrize(
    ("method", "target", "code", "status"),
    [
        ("GET", "/bkt?torrent", "NotImplemented", 501),
        ("GET", "/bkt/k?torrent", "NotImplemented", 501),
        ("PATCH", "/bkt/k", "MethodNotAllowed", 405),
        ("DELETE", "/bkt?versioning", "MethodNotAllowed", 405),
        ("PUT", "/", "MethodNotAllowed", 405),
    ],
)
def test_unsupported_requests_are_s3_errors(method, target, code, status) -> None:
    with pytest.raises(S3Error) as exc:
        _op(method, target)
    assert (exc.value.code, exc.value.status) == (code, status)


def test_bad_names_and_copy_sources() -> None:
    with pytest.raises(S3Error) as exc:
        parse_request("GET", "/bad*name/k", [("Host", "h")])
    assert exc.value.code == "InvalidBucketName"
    with pytest.raises(S3Error) as exc:
        parse_request("GET", "/bkt/" + "k" * 1025, [("Host", "h")])
    assert exc.value.code == "KeyTooLongError"
    with pytest.raises(S3Error) as exc:
        parse_copy_source("just-a-bucket")
    assert exc.value.code == "InvalidArgument"
    assert parse_copy_source("b/k%20x").key == "k x"
