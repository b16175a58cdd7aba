"""S3 operation → IAM action(s), resource ARN(s) and condition keys (the fact sheet's table 2.2).

The subresource in the query decides the operation, then the method; ``versionId`` switches to the
versioned action; CopyObject/UploadPartCopy add a read check on the source. Operations outside the
table are refused with NotImplemented rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

from .errors import S3Error, not_implemented
from .model import S3Request


@dataclass(frozen=True)
class Check:
    action: str
    resource: str


@dataclass(frozen=True)
class CopySource:
    bucket: str
    key: str
    version_id: str | None


@dataclass(frozen=True)
class Operation:
    name: str
    checks: tuple[Check, ...]
    context: dict[str, Any] = field(default_factory=dict)
    copy_source: CopySource | None = None


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def object_arn(bucket: str, key: str) -> str:
    return f"arn:aws:s3:::{bucket}/{key}"


def split_object_arn(resource: str) -> tuple[str, str] | None:
    """``arn:aws:s3:::bucket/key`` → (bucket, key); None for a bucket or any other ARN."""
    if not resource.startswith("arn:aws:s3:::"):
        return None
    bucket, sep, key = resource[len("arn:aws:s3:::") :].partition("/")
    return (bucket, key) if bucket and sep and key else None


# subresource → (operation stem, GET action, PUT action, DELETE action); "" = method not allowed there
_BUCKET_SUBRESOURCES: dict[str, tuple[str, str, str, str]] = {
    "versioning": ("BucketVersioning", "GetBucketVersioning", "PutBucketVersioning", ""),
    "policyStatus": ("BucketPolicyStatus", "GetBucketPolicyStatus", "", ""),
    "policy": ("BucketPolicy", "GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"),
    "acl": ("BucketAcl", "GetBucketAcl", "PutBucketAcl", ""),
    "tagging": ("BucketTagging", "GetBucketTagging", "PutBucketTagging", "PutBucketTagging"),
    "cors": ("BucketCors", "GetBucketCORS", "PutBucketCORS", "PutBucketCORS"),
    "lifecycle": (
        "BucketLifecycle",
        "GetLifecycleConfiguration",
        "PutLifecycleConfiguration",
        "PutLifecycleConfiguration",
    ),
    "encryption": (
        "BucketEncryption",
        "GetEncryptionConfiguration",
        "PutEncryptionConfiguration",
        "PutEncryptionConfiguration",
    ),
    "notification": ("BucketNotification", "GetBucketNotification", "PutBucketNotification", ""),
    "website": ("BucketWebsite", "GetBucketWebsite", "PutBucketWebsite", "DeleteBucketWebsite"),
    "object-lock": (
        "ObjectLockConfiguration",
        "GetBucketObjectLockConfiguration",
        "PutBucketObjectLockConfiguration",
        "",
    ),
    "replication": (
        "BucketReplication",
        "GetReplicationConfiguration",
        "PutReplicationConfiguration",
        "PutReplicationConfiguration",
    ),
    "publicAccessBlock": (
        "PublicAccessBlock",
        "GetBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
        "PutBucketPublicAccessBlock",
    ),
    "logging": ("BucketLogging", "GetBucketLogging", "PutBucketLogging", ""),
    "requestPayment": ("BucketRequestPayment", "GetBucketRequestPayment", "PutBucketRequestPayment", ""),
    "ownershipControls": (
        "BucketOwnershipControls",
        "GetBucketOwnershipControls",
        "PutBucketOwnershipControls",
        "PutBucketOwnershipControls",
    ),
}
#: Subresources we know exist but do not forward (their semantics on a shared backend account are unclear).
_UNSUPPORTED = (
    "torrent",
    "accelerate",
    "analytics",
    "inventory",
    "metrics",
    "intelligent-tiering",
    "renameObject",
    "session",
)
_LIST_KEYS = ("prefix", "delimiter", "max-keys")
_HEADER_KEYS = (
    "x-amz-acl",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-storage-class",
    "x-amz-content-sha256",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
)


def _acl_headers(req: S3Request) -> bool:
    return req.header("x-amz-acl") is not None or any(h.startswith("x-amz-grant-") for h in req.headers)


def parse_copy_source(value: str) -> CopySource:
    """``x-amz-copy-source: /bucket/key?versionId=V`` (URL-encoded, leading ``/`` optional)."""
    raw, _, query = value.partition("?")
    decoded = unquote(raw).lstrip("/")
    bucket, sep, key = decoded.partition("/")
    if not bucket or not sep or not key or decoded.startswith("arn:"):
        raise S3Error(
            "InvalidArgument",
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            400,
            "copy-source",
        )
    version = dict(parse_qsl(query)).get("versionId") if query else None
    return CopySource(bucket, key, version)


def condition_context(req: S3Request) -> dict[str, Any]:
    """Request-derived condition keys; a parameter that is absent leaves its key absent."""
    ctx: dict[str, Any] = {}
    for name in _LIST_KEYS:
        value = req.param(name)
        if value is not None:
            ctx[f"s3:{name}"] = value
    if req.param("versionId") is not None:
        ctx["s3:versionid"] = req.param("versionId")
    for name in _HEADER_KEYS:
        value = req.header(name)
        if value is not None:
            ctx[f"s3:{name}"] = value
    tagging = req.header("x-amz-tagging")
    if tagging is not None:
        tags = parse_qsl(tagging, keep_blank_values=True)
        ctx["s3:RequestObjectTagKeys"] = [k for k, _ in tags]
        for k, v in tags:
            ctx[f"s3:RequestObjectTag/{k}"] = v
    for header, key in (("user-agent", "aws:UserAgent"), ("referer", "aws:Referer")):
        value = req.header(header)
        if value is not None:
            ctx[key] = value
    return ctx


def _bucket_operation(req: S3Request, bucket: str) -> tuple[str, list[str]]:
    method = req.method
    for sub in _UNSUPPORTED:
        if req.has(sub):
            raise not_implemented(f"?{sub}")
    for sub, (stem, get, put, delete) in _BUCKET_SUBRESOURCES.items():
        if req.has(sub):
            action = {"GET": get, "HEAD": get, "PUT": put, "DELETE": delete}.get(method, "")
            if not action:
                raise S3Error(
                    "MethodNotAllowed", "The specified method is not allowed against this resource.", 405, "method"
                )
            verb = {"GET": "Get", "HEAD": "Get", "PUT": "Put", "DELETE": "Delete"}[method]
            return f"{verb}{stem}", [action]
    if method in ("GET", "HEAD") and req.has("location"):
        return "GetBucketLocation", ["GetBucketLocation"]
    if method == "GET" and req.has("versions"):
        return "ListObjectVersions", ["ListBucketVersions"]
    if method == "GET" and req.has("uploads"):
        return "ListMultipartUploads", ["ListBucketMultipartUploads"]
    if method == "POST" and req.has("delete"):
        return "DeleteObjects", []  # per-key checks come from the body
    if method == "GET":
        return ("ListObjectsV2" if req.param("list-type") == "2" else "ListObjects"), ["ListBucket"]
    if method == "HEAD":
        return "HeadBucket", ["ListBucket"]
    if method == "PUT":
        actions = ["CreateBucket"]
        if _acl_headers(req):
            actions.append("PutBucketAcl")
        if (req.header("x-amz-bucket-object-lock-enabled") or "").lower() == "true":
            actions += ["PutBucketObjectLockConfiguration", "PutBucketVersioning"]
        return "CreateBucket", actions
    if method == "DELETE":
        return "DeleteBucket", ["DeleteBucket"]
    if method == "POST":
        return "PostObject", []  # signed and authorised inside the form: post_object.py
    raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405, "method")


def is_post_object(req: S3Request) -> bool:
    """A browser-form upload: ``POST /bucket`` (no key, not ``?delete``); its auth is in the body."""
    return req.method == "POST" and req.bucket is not None and req.key is None and not req.has("delete")


def _put_extras(req: S3Request) -> list[str]:
    extras = []
    if _acl_headers(req):
        extras.append("PutObjectAcl")
    if req.header("x-amz-tagging") is not None:
        extras.append("PutObjectTagging")
    if req.header("x-amz-object-lock-mode") or req.header("x-amz-object-lock-retain-until-date"):
        extras.append("PutObjectRetention")
    if req.header("x-amz-object-lock-legal-hold"):
        extras.append("PutObjectLegalHold")
    return extras


def _object_operation(req: S3Request) -> tuple[str, list[str]]:
    method, v = req.method, req.param("versionId") is not None
    bypass = (
        ["BypassGovernanceRetention"]
        if (req.header("x-amz-bypass-governance-retention") or "").lower() == "true"
        else []
    )
    for sub in _UNSUPPORTED:
        if req.has(sub):
            raise not_implemented(f"?{sub}")
    if method in ("GET", "HEAD"):
        if req.has("uploadId"):
            return "ListParts", ["ListMultipartUploadParts"]
        if req.has("acl"):
            return "GetObjectAcl", ["GetObjectVersionAcl" if v else "GetObjectAcl"]
        if req.has("tagging"):
            return "GetObjectTagging", ["GetObjectVersionTagging" if v else "GetObjectTagging"]
        if req.has("retention"):
            return "GetObjectRetention", ["GetObjectRetention"]
        if req.has("legal-hold"):
            return "GetObjectLegalHold", ["GetObjectLegalHold"]
        if req.has("attributes"):
            return "GetObjectAttributes", (
                ["GetObjectVersion", "GetObjectVersionAttributes"] if v else ["GetObject", "GetObjectAttributes"]
            )
        return ("HeadObject" if method == "HEAD" else "GetObject"), ["GetObjectVersion" if v else "GetObject"]
    if method == "PUT":
        copy = req.header("x-amz-copy-source") is not None
        if req.has("partNumber") and req.has("uploadId"):
            return ("UploadPartCopy" if copy else "UploadPart"), ["PutObject"]
        if req.has("acl"):
            return "PutObjectAcl", ["PutObjectVersionAcl" if v else "PutObjectAcl"]
        if req.has("tagging"):
            return "PutObjectTagging", ["PutObjectVersionTagging" if v else "PutObjectTagging"]
        if req.has("retention"):
            return "PutObjectRetention", ["PutObjectRetention", *bypass]
        if req.has("legal-hold"):
            return "PutObjectLegalHold", ["PutObjectLegalHold"]
        return ("CopyObject" if copy else "PutObject"), ["PutObject", *_put_extras(req)]
    if method == "DELETE":
        if req.has("uploadId"):
            return "AbortMultipartUpload", ["AbortMultipartUpload"]
        if req.has("tagging"):
            return "DeleteObjectTagging", ["DeleteObjectVersionTagging" if v else "DeleteObjectTagging"]
        return "DeleteObject", ["DeleteObjectVersion" if v else "DeleteObject", *bypass]
    if method == "POST":
        if req.has("uploads"):
            return "CreateMultipartUpload", ["PutObject", *_put_extras(req)]
        if req.has("uploadId"):
            return "CompleteMultipartUpload", ["PutObject"]
        if req.has("restore"):
            return "RestoreObject", ["RestoreObject"]
        if req.has("select"):
            return "SelectObjectContent", ["GetObject"]
        raise not_implemented("POST on an object without uploads, uploadId, restore or select")
    raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.", 405, "method")


def classify(req: S3Request) -> Operation:
    """What this request asks for, as IAM sees it."""
    context = condition_context(req)
    if req.bucket is None:
        if req.method != "GET":
            raise S3Error(
                "MethodNotAllowed", "The specified method is not allowed against this resource.", 405, "method"
            )
        return Operation("ListBuckets", (Check("s3:ListAllMyBuckets", "*"),), context)
    if req.key is None:
        name, actions = _bucket_operation(req, req.bucket)
        arn = bucket_arn(req.bucket)
        return Operation(name, tuple(Check(f"s3:{a}", arn) for a in actions), context)
    name, actions = _object_operation(req)
    arn = object_arn(req.bucket, req.key)
    checks = [Check(f"s3:{a}", arn) for a in actions]
    source = None
    if name in ("CopyObject", "UploadPartCopy"):
        source = parse_copy_source(req.header("x-amz-copy-source") or "")
        if source.version_id is not None:
            context["s3:versionid"] = source.version_id
        checks.append(
            Check("s3:GetObjectVersion" if source.version_id else "s3:GetObject", object_arn(source.bucket, source.key))
        )
    return Operation(name, tuple(checks), context, source)


def delete_objects_checks(bucket: str, keys: list[tuple[str, str | None]]) -> list[Check]:
    """DeleteObjects: one s3:DeleteObject (or …Version) per listed key."""
    return [
        Check("s3:DeleteObjectVersion" if version else "s3:DeleteObject", object_arn(bucket, key))
        for key, version in keys
    ]
