"""Pure wire parsing and rendering for upstream STS answers (MinIO, Ceph RGW, AWS).

No I/O here: the forwarder posts, these functions read what came back (namespace
agnostic, tolerant of RGW's odd error bodies) and render what goes out (compact
policies, broker-token claim templates). Kept pure so tests and other upstream
kinds can reuse them without an HTTP session.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from xml.etree import ElementTree as ET  # noqa: S405 - parsing our configured upstream's answer

from .. import protocol
from ..roles import Role

#: Raw upstream text kept in messages and audit records (RGW's error bodies can be long or odd).
RAW_LIMIT = 300

#: A code for an upstream error whose body has no parsable ``Error/Code``, by HTTP status.
STATUS_CODES: dict[int, str] = {
    400: "InvalidParameterValue",
    401: "AccessDenied",
    403: "AccessDenied",
    404: "NoSuchEntity",
    405: "InvalidAction",
    409: "EntityAlreadyExists",
    413: "ValidationError",
    429: "Throttling",
    500: "InternalFailure",
    502: "ServiceUnavailable",
    503: "ServiceUnavailable",
    504: "ServiceUnavailable",
}

_TEMPLATE = re.compile(r"\{(claims|role)\.([A-Za-z0-9_:.\-/]+)\}")
_WHOLE_TEMPLATE = re.compile(r"^\{(claims|role)\.([A-Za-z0-9_:.\-/]+)\}$")


def compact_json(document: Any) -> str:
    """Policies go upstream as compact JSON: RGW rejects JSON with spaces (MalformedPolicyDocument)."""
    return json.dumps(document, separators=(",", ":"))


def _role_facts(role: Role) -> dict[str, Any]:
    return {"name": role.name, "arn": role.arn, "id": role.role_id, "profile": role.profile}


def render_claims(templates: Mapping[str, Any], claims: Mapping[str, Any], role: Role) -> dict[str, Any]:
    """Fill ``{claims.X}`` / ``{role.name}`` templates (recursively in lists and mappings).

    A value that is exactly one template keeps the referenced value's type (a
    ``groups`` list stays a list) and drops the claim when the reference is
    missing; templates inside longer strings are substituted as text (missing
    ones as the empty string).
    """
    facts = {"claims": dict(claims), "role": _role_facts(role)}
    missing = object()

    def lookup(kind: str, name: str) -> Any:
        return facts[kind].get(name, missing)

    def fill(value: Any) -> Any:
        if isinstance(value, str):
            whole = _WHOLE_TEMPLATE.match(value)
            if whole:
                return lookup(whole.group(1), whole.group(2))
            return _TEMPLATE.sub(lambda m: "" if (v := lookup(m.group(1), m.group(2))) is missing else str(v), value)
        if isinstance(value, list):
            return [v for v in (fill(item) for item in value) if v is not missing]
        if isinstance(value, Mapping):
            return {k: v for k, v in ((k, fill(item)) for k, item in value.items()) if v is not missing}
        return value

    out = {key: fill(value) for key, value in templates.items()}
    return {key: value for key, value in out.items() if value is not missing}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _strip_ns(root: ET.Element) -> ET.Element:
    """Namespaces differ (MinIO: STS ns on the root; RGW: none or another): compare local names only."""
    for element in root.iter():
        element.tag = _local(element.tag)
    return root


def _parse_xml(body: bytes) -> ET.Element | None:
    try:
        return _strip_ns(ET.fromstring(body))  # noqa: S314 - upstream is a configured, trusted endpoint
    except ET.ParseError:
        return None


def _text(element: ET.Element | None, path: str) -> str | None:
    if element is None:
        return None
    found = element.find(path)
    if found is None:
        return None
    return (found.text or "").strip()


def raw_excerpt(body: bytes) -> str:
    text = body.decode("utf-8", errors="replace").strip()
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + "…"


def parse_error(status: int, body: bytes) -> tuple[str, str]:
    """(code, message) of an upstream error answer.

    STS ``ErrorResponse/Error/{Code,Message}`` and S3-style ``Error/{Code,Message}``
    are read namespace-agnostically. Anything else (RGW 16.2 answers STS errors
    with bodies boto3 cannot parse either) gets a code derived from the status
    and the raw text, truncated, as its message.
    """
    root = _parse_xml(body) if body else None
    code = message = None
    if root is not None:
        error = root if root.tag == "Error" else root.find(".//Error")
        if error is not None:
            code = _text(error, "Code") or None
            message = _text(error, "Message") or None
    if code is None:
        code = STATUS_CODES.get(status) or ("InternalFailure" if status >= 500 else "InvalidParameterValue")
        raw = raw_excerpt(body)
        message = f"The upstream STS answered HTTP {status}" + (f": {raw}" if raw else " with an empty body")
    elif message is None:  # RGW 16.2: <Error><Code>AccessDenied</Code><Message></Message>…
        message = f"The upstream STS answered HTTP {status} {code} without a message"
    return code, message


_CLIENT_SAFE_EXPIRATION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
_EXPIRATION_PARTS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def normalize_expiration(value: str) -> str:
    """The upstream's Expiration verbatim when every client parses it, else whole seconds in UTC ``Z``.

    minio-py only parses ``%Y-%m-%dT%H:%M:%SZ`` and ``%Y-%m-%dT%H:%M:%S.%fZ`` (at
    most 6 fraction digits). RGW sends nanoseconds (``…:03.449632151Z``) and some
    servers send ``+00:00``: those are rewritten, truncating (never extending) the lifetime.
    """
    text = value.strip()
    if _CLIENT_SAFE_EXPIRATION.match(text):
        return text
    parts = _EXPIRATION_PARTS.match(text)
    if parts is None:
        return text
    zone = parts.group(3) or "Z"
    try:
        moment = datetime.fromisoformat(parts.group(1) + ("+00:00" if zone == "Z" else zone))
    except ValueError:
        return text
    return protocol.format_expiration(moment.astimezone(UTC))


def parse_success(body: bytes) -> dict[str, Any] | None:
    """The interesting parts of an ``AssumeRoleWithWebIdentityResponse``, or None when unusable."""
    root = _parse_xml(body)
    if root is None:
        return None
    result = root.find("AssumeRoleWithWebIdentityResult")
    if result is None:
        result = next((e for e in root.iter() if e.tag.endswith("Result")), None)
    if result is None:
        return None
    creds = result.find("Credentials")
    if creds is None:
        return None
    out = {
        "AccessKeyId": _text(creds, "AccessKeyId"),
        "SecretAccessKey": _text(creds, "SecretAccessKey"),
        "SessionToken": _text(creds, "SessionToken"),
        "Expiration": _text(creds, "Expiration"),
        "Subject": _text(result, "SubjectFromWebIdentityToken"),
        "Audience": _text(result, "Audience"),
        "Provider": _text(result, "Provider"),
        "PackedPolicySize": _text(result, "PackedPolicySize"),
        "SourceIdentity": _text(result, "SourceIdentity"),
        "Arn": _text(result, "AssumedRoleUser/Arn"),
        # AWS says AssumedRoleId; MinIO's struct says AssumeRoleId.
        "AssumedRoleId": (
            _text(result, "AssumedRoleUser/AssumedRoleId") or _text(result, "AssumedRoleUser/AssumeRoleId")
        ),
        "RequestId": _text(root, "ResponseMetadata/RequestId"),
    }
    if not (out["AccessKeyId"] and out["SecretAccessKey"]):
        return None
    return out


def assumed_role_arn_fallback(role_arn: str | None, session_name: str, kind: str = "aws") -> str | None:
    """``arn:P:iam::A:role/PATH/NAME`` -> ``arn:P:sts::A:assumed-role/NAME/SESSION`` (MinIO sends empty Arns).

    SeaweedFS sends no ``AssumedRoleUser`` at all and names roles without an account
    (``arn:aws:iam::role/NAME``); for ``kind: seaweedfs`` that form gives SeaweedFS's own
    account-less ``arn:aws:sts::assumed-role/NAME/SESSION`` (what its GetCallerIdentity says).
    """
    if not role_arn:
        return None
    match = re.match(r"^arn:([^:]*):iam::([^:]*):role/(?:.*/)?([^/]+)$", role_arn)
    if not match:
        bare = re.match(r"^arn:([^:]*):iam::role/(?:.*/)?([^/]+)$", role_arn) if kind == "seaweedfs" else None
        if bare is None:
            return None
        return f"arn:{bare.group(1)}:sts::assumed-role/{bare.group(2)}/{session_name}"
    partition, account, name = match.groups()
    return f"arn:{partition}:sts::{account}:assumed-role/{name}/{session_name}"
