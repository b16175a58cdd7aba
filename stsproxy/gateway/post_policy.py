"""The POST policy of a browser-form upload: its signature fields, its document and its conditions.

AWS's rules (sigv4-HTTPPOSTConstructPolicy): the ``policy`` field is base64 JSON with an
``expiration`` and ``conditions``; the signature is the hex HMAC-SHA256 of that base64 text under
the SigV4 signing key; every form field except ``x-amz-signature``, ``file``, ``policy`` and
``x-ignore-*`` must be named by a condition; ``key`` may carry ``${filename}``. Refusals use S3's
words ("Invalid according to Policy: ..."). Pure: fields and clock in, S3 errors out.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from .errors import S3Error, access_denied, signature_mismatch
from .sigv4 import ALGORITHM, SIGV2_FIX, UNSIGNED, Auth, parse_timestamp, sign

#: Fields no condition has to name (AWS's list; ``bucket`` comes from the URL).
_EXEMPT = frozenset({"x-amz-signature", "file", "policy", "bucket"})
#: Form fields that become headers of the PutObject toward the backend (and condition keys).
FORWARDED = (
    "cache-control",
    "content-type",
    "content-disposition",
    "content-encoding",
    "expires",
    "x-amz-storage-class",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-website-redirect-location",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
)
MAX_POLICY = 20 * 1024


def _missing(name: str) -> S3Error:
    return S3Error(
        "InvalidArgument",
        f"Bucket POST must contain a field named '{name}'.  If it is specified, please check the order of the fields.",
        400,
        f"post-missing-{name}",
        {"ArgumentName": name, "ArgumentValue": ""},
    )


def invalid_policy(why: str) -> S3Error:
    return S3Error("InvalidPolicyDocument", f"Invalid Policy: {why}", 400, "post-policy-document")


def policy_denied(why: str, check: str) -> S3Error:
    return access_denied(f"Invalid according to Policy: {why}", check=check)


def form_auth(fields: Mapping[str, str]) -> Auth | None:
    """The form's SigV4 data as an :class:`Auth` (None when the form is unsigned: anonymous)."""
    if "x-amz-signature" not in fields and "x-amz-credential" not in fields:
        if "awsaccesskeyid" in fields or "signature" in fields:
            raise S3Error("InvalidRequest", SIGV2_FIX, 400, "sigv2")
        return None
    algorithm = fields.get("x-amz-algorithm")
    if algorithm is None:
        raise _missing("x-amz-algorithm")
    if algorithm != ALGORITHM:
        raise S3Error(
            "InvalidArgument",
            f"Unsupported algorithm: {algorithm[:64]}; only AWS4-HMAC-SHA256 is supported.",
            400,
            "post-algorithm",
            {"ArgumentName": "x-amz-algorithm", "ArgumentValue": algorithm[:64]},
        )
    for name in ("x-amz-credential", "x-amz-date", "x-amz-signature", "policy"):
        if not fields.get(name):
            raise _missing(name)
    parts = fields["x-amz-credential"].split("/")
    if len(parts) != 5 or not all(parts) or parts[4] != "aws4_request" or len(parts[1]) != 8:
        raise S3Error(
            "InvalidArgument",
            "Invalid argument: x-amz-credential must be <AKID>/YYYYMMDD/REGION/s3/aws4_request.",
            400,
            "post-credential",
            {"ArgumentName": "x-amz-credential", "ArgumentValue": fields["x-amz-credential"][:128]},
        )
    timestamp = fields["x-amz-date"].strip()
    parse_timestamp(timestamp)
    auth = Auth(
        parts[0],
        parts[1],
        parts[2],
        parts[3],
        timestamp,
        (),
        fields["x-amz-signature"].strip(),
        fields.get("x-amz-security-token"),
        False,
        None,
        UNSIGNED,
    )

    def bad_credential(message: str, check: str) -> S3Error:
        detail = {"ArgumentName": "x-amz-credential", "ArgumentValue": fields["x-amz-credential"][:128]}
        return S3Error("InvalidArgument", message, 400, check, detail)

    if auth.date != timestamp[:8]:
        raise bad_credential(
            f'Invalid credential date "{auth.date}". This date is not the same as X-Amz-Date: "{timestamp[:8]}".',
            "post-credential-date",
        )
    if auth.service != "s3":
        raise bad_credential(
            f'Invalid credential scope: incorrect service "{auth.service}". This endpoint belongs to "s3".',
            "post-credential-service",
        )
    return auth


def check_region(auth: Auth, region: str | None) -> None:
    if region is not None and auth.region != region:
        raise S3Error(
            "AuthorizationQueryParametersError",
            f"Error parsing the X-Amz-Credential parameter; the region '{auth.region}' is wrong; expecting '{region}'",
            400,
            "post-credential-region",
            {"Region": region},
        )


def verify_signature(policy_b64: str, key: bytes, auth: Auth) -> None:
    """SigV4 POST: the string to sign is the base64 policy exactly as sent."""
    if not hmac.compare_digest(sign(key, policy_b64), auth.signature):
        raise signature_mismatch(
            "post-signature", AWSAccessKeyId=auth.access_key, StringToSign=policy_b64, SignatureProvided=auth.signature
        )


@dataclass(frozen=True)
class Condition:
    #: "eq", "starts-with" or "content-length-range"
    op: str
    #: Lower-case form field without ``$`` (empty for content-length-range).
    field: str
    value: str = ""
    low: int = 0
    high: int = 0

    @property
    def text(self) -> str:
        """As AWS quotes a failed condition: ``["eq", "$key", "a.txt"]``."""
        if self.op == "content-length-range":
            return f'["content-length-range", {self.low}, {self.high}]'
        return json.dumps([self.op, f"${self.field}", self.value])


@dataclass(frozen=True)
class PostPolicy:
    expiration: float
    conditions: tuple[Condition, ...]

    @property
    def length_range(self) -> tuple[int, int] | None:
        ranges = [c for c in self.conditions if c.op == "content-length-range"]
        if not ranges:
            return None
        return max(c.low for c in ranges), min(c.high for c in ranges)


def _expiration(value: Any) -> float:
    if not isinstance(value, str):
        raise invalid_policy("Invalid 'expiration' value: must be an ISO 8601 date-time string.")
    text = value.strip()
    for layout in ("%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return dt.datetime.strptime(text, layout).replace(tzinfo=dt.UTC).timestamp()
        except ValueError:
            continue
    raise invalid_policy(f"Invalid 'expiration' value: '{text[:64]}'")


def _field(raw: Any) -> str:
    if not isinstance(raw, str) or not raw.startswith("$") or len(raw) < 2:
        raise invalid_policy('Invalid Condition: the field must be a string of the form "$name".')
    return raw[1:].lower()


def _int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise invalid_policy("Invalid content-length-range: the bounds must be integers.")
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    raise invalid_policy("Invalid content-length-range: the bounds must be integers.")


def _condition(raw: Any) -> Condition:
    if isinstance(raw, dict):
        if len(raw) != 1:
            raise invalid_policy(
                "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."
            )
        ((name, value),) = raw.items()
        if not isinstance(value, str):
            raise invalid_policy("Invalid Simple-Condition: value must be a string.")
        return Condition("eq", str(name).lower(), value)
    if isinstance(raw, list) and raw:
        op = str(raw[0]).lower()
        if op == "content-length-range" and len(raw) == 3:
            low, high = _int(raw[1]), _int(raw[2])
            if low > high:
                raise invalid_policy("Invalid content-length-range: the minimum is larger than the maximum.")
            return Condition(op, "", low=low, high=high)
        if op in ("eq", "starts-with") and len(raw) == 3:
            if not isinstance(raw[2], str):
                raise invalid_policy(f"Invalid Condition: the value of a {op} condition must be a string.")
            return Condition(op, _field(raw[1]), raw[2])
        raise invalid_policy(f"Invalid Condition: unknown or malformed condition {json.dumps(raw)[:128]}")
    raise invalid_policy("Invalid Condition: each condition is an object or an array.")


def decode_policy(policy_b64: str) -> PostPolicy:
    if len(policy_b64) > MAX_POLICY:
        raise invalid_policy(f"Policy is larger than {MAX_POLICY} bytes.")
    try:
        doc = json.loads(base64.b64decode(policy_b64.strip(), validate=True))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise invalid_policy("Invalid JSON.") from None
    if not isinstance(doc, dict):
        raise invalid_policy("Invalid JSON.")
    if "expiration" not in doc:
        raise invalid_policy("Policy missing expiration.")
    if not isinstance(doc.get("conditions"), list):
        raise invalid_policy("Policy missing conditions.")
    return PostPolicy(_expiration(doc["expiration"]), tuple(_condition(c) for c in doc["conditions"]))


def substitute_key(key: str, filename: str) -> str:
    """``${filename}`` in the key is the uploaded file's name (without any path a browser sent)."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    return key.replace("${filename}", name)


def _holds(cond: Condition, value: str) -> bool:
    if cond.op == "eq":
        return value == cond.value
    if cond.field == "content-type":  # AWS: each comma-separated Content-Type must start with the prefix
        return all(v.strip().startswith(cond.value) for v in value.split(","))
    return value.startswith(cond.value)


def check_policy(policy: PostPolicy, fields: Mapping[str, str], *, bucket: str, now: float) -> None:
    """Expiration, every condition, and no form field the policy does not name."""
    if now > policy.expiration:
        raise policy_denied("Policy expired.", "post-policy-expired")
    values = {**fields, "bucket": bucket}
    named: set[str] = set()
    for cond in policy.conditions:
        if cond.op == "content-length-range":
            continue
        named.add(cond.field)
        if not _holds(cond, values.get(cond.field, "")):
            raise policy_denied(f"Policy Condition failed: {cond.text}", "post-policy-condition")
    extra = [n for n in fields if n not in _EXEMPT and n not in named and not n.startswith("x-ignore-")]
    if extra:
        raise policy_denied(f"Extra input fields: {', '.join(extra)}", "post-policy-extra-fields")


def check_length(policy: PostPolicy, size: int) -> None:
    """content-length-range against the file's size (known before its first byte is sent on)."""
    bounds = policy.length_range
    if bounds is None:
        return
    low, high = bounds
    if size > high:
        raise S3Error(
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            400,
            "post-content-length-range",
            {"ProposedSize": str(size), "MaxSizeAllowed": str(high)},
        )
    if size < low:
        raise S3Error(
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size",
            400,
            "post-content-length-range",
            {"ProposedSize": str(size), "MinSizeAllowed": str(low)},
        )


def tagging_header(xml_text: str) -> str:
    """The form's ``tagging`` field (a Tagging XML document) as an ``x-amz-tagging`` value."""
    import xml.etree.ElementTree as ET  # noqa: S405 - the field is inside the bounded pre-file data
    from urllib.parse import quote

    try:
        root = ET.fromstring(xml_text)  # noqa: S314 - see the import
    except ET.ParseError:
        raise S3Error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
            400,
            "post-tagging",
        ) from None
    pairs = []
    for tag in root.iter():
        if tag.tag.rsplit("}", 1)[-1] == "Tag":
            parts = {c.tag.rsplit("}", 1)[-1]: (c.text or "") for c in tag}
            pairs.append(f"{quote(parts.get('Key', ''), safe='')}={quote(parts.get('Value', ''), safe='')}")
    return "&".join(pairs)


def object_headers(fields: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """The headers a PutObject of this form carries (for classify's actions/condition keys and the backend)."""
    out: dict[str, tuple[str, ...]] = {}
    for name, value in fields.items():
        if name in FORWARDED or name.startswith("x-amz-meta-") or name.startswith("x-amz-grant-"):
            out[name] = (value,)
    if "acl" in fields:
        out["x-amz-acl"] = (fields["acl"],)
    if "tagging" in fields:
        out["x-amz-tagging"] = (tagging_header(fields["tagging"]),)
    return out


def success(fields: Mapping[str, str]) -> tuple[int, str | None]:
    """(status, redirect URL) for success_action_redirect / success_action_status (default 204)."""
    redirect = fields.get("success_action_redirect") or fields.get("redirect")
    if redirect and redirect.startswith(("http://", "https://")):
        return 303, redirect
    status = fields.get("success_action_status", "")
    return (int(status) if status in ("200", "201") else 204), None


def post_response(location: str, bucket: str, key: str, etag: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<PostResponse><Location>{escape(location)}</Location><Bucket>{escape(bucket)}</Bucket>"
        f"<Key>{escape(key)}</Key><ETag>{escape(etag)}</ETag></PostResponse>"
    ).encode()
