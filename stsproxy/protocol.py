"""The STS Query protocol on the wire: request parameters in, XML out.

Pure functions only. Parsing follows what botocore/minio-go/minio-py send
(form body and/or URL query, ``.member.N`` lists); rendering follows what
botocore's QueryParser, minio-go's namespaced decoder and minio-py's
ElementTree walk accept. The ``minio`` profile reproduces MinIO's Go
``encoding/xml`` output byte for byte (prolog, no indentation, never
self-closed, struct field order); the ``aws`` profile mirrors the AWS API
reference samples.
"""

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from .errors import InvalidParameterValue, WireError

STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
STS_VERSION = "2011-06-15"
XML_PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'

_FORM_TYPE = "application/x-www-form-urlencoded"
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# XML 1.0 cannot carry these even as character references; they are replaced.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

Credentials = tuple[str, str, str, "float | int | str | datetime"]


# --------------------------------------------------------------------------- parsing


_SURROGATE = re.compile("[\udc80-\udcff]")


def merge_params(query: Iterable[tuple[str, str]], body: Iterable[tuple[str, str]]) -> dict[str, str]:
    """One parameter map from URL query and form body.

    Query values win over body values (MinIO's ``parseForm`` only adds body keys
    missing from the query; AWS never sees both); within one source the first
    occurrence wins, like Go's ``Form.Get``.
    """
    # a MultiDict iterates keys; its items() keeps duplicates (lists, the usual case, skip the ABC check)
    if type(query) is not list and isinstance(query, Mapping):
        query = query.items()
    if type(body) is not list and isinstance(body, Mapping):
        body = body.items()
    merged: dict[str, str] = {}
    for key, value in query:
        if _SURROGATE.search(key) or _SURROGATE.search(value):  # web.py decodes with surrogateescape
            raise InvalidParameterValue(
                f"Malformed query string: parameter '{_SURROGATE.sub('?', key)[:40]}' is not valid UTF-8",
                check="query-string",
            )
        merged.setdefault(key, value)
    for key, value in body:
        merged.setdefault(key, value)
    return merged


def _unquote(text: str) -> str:
    """``unquote_plus`` (strict UTF-8); text without ``%`` or ``+`` (a JWT, an ARN) is already decoded."""
    if "%" not in text and "+" not in text:
        return text
    if len(text) <= 256:
        return _unquote_short(text)
    return unquote_plus(text, errors="strict")


@functools.lru_cache(maxsize=1024)
def _unquote_short(text: str) -> str:
    """A short encoded value (botocore's ``arn%3Aaws%3Aiam...``) repeats across requests: decode it once."""
    return unquote_plus(text, errors="strict")


def parse_form_body(body: bytes, content_type: str | None) -> list[tuple[str, str]]:
    """Decode an ``application/x-www-form-urlencoded`` body strictly as UTF-8.

    Other content types are ignored (their body is not parameters). A missing
    Content-Type is treated as a form, because hand-written clients (curl
    ``--data-raw`` behind proxies, some SDK shims) omit it. Blank values are kept:
    ``PolicyArns=`` is how botocore says "empty list".
    """
    if not body:
        return []
    if content_type is not None:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != _FORM_TYPE:
            return []
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidParameterValue(
            f"Malformed query string: the request body is not valid UTF-8 (byte {exc.start})",
            check="form-body",
        ) from None
    pairs: list[tuple[str, str]] = []
    for field in text.split("&"):
        if not field:
            continue
        if "%" in field and _BAD_PERCENT.search(field):  # a JWT field has no %: no regex over it
            raise InvalidParameterValue(
                "Malformed query string: invalid percent-encoding in the request body", check="form-body"
            )
        name, _, value = field.partition("=")
        try:
            pairs.append((_unquote(name), _unquote(value)))
        except UnicodeDecodeError:
            raise InvalidParameterValue(
                "Malformed query string: a percent-encoded value is not valid UTF-8", check="form-body"
            ) from None
    return pairs


#: Digits of a ``Name.member.N`` index (AWS lists hold at most a few hundred members).
MAX_INDEX_DIGITS = 6


def _member_indexes(params: Mapping[str, str], prefix: str, suffix: str) -> list[tuple[int, str]]:
    if not any(key.startswith(prefix) for key in params):  # the usual case: no such list, no regex to build
        return []
    pattern = re.compile(re.escape(prefix) + r"([0-9]+)" + re.escape(suffix) + r"$")
    found: list[tuple[int, str]] = []
    for key in params:
        match = pattern.match(key)
        if match:
            index = match.group(1)
            if len(index) > MAX_INDEX_DIGITS:  # int() of thousands of digits is a ValueError, not a protocol error
                raise InvalidParameterValue(
                    f"{prefix}N: the member index has more than {MAX_INDEX_DIGITS} digits", check="member-index"
                )
            found.append((int(index), key))
    found.sort()
    return found


def member_list(params: Mapping[str, str], name: str, field: str | None = None) -> list[str]:
    """Values of a flattened Query list (``Name.member.N[.field]``), in index order.

    ``Name=`` alone (botocore's encoding of an empty list) yields ``[]``.
    """
    suffix = f".{field}" if field else ""
    return [params[key] for _, key in _member_indexes(params, f"{name}.member.", suffix)]


def tags_from_params(params: Mapping[str, str]) -> list[tuple[str, str]]:
    """Session tags of AssumeRole (``Tags.member.N.Key``/``.Value``), in index order.

    A member with only a Value gets an empty Key so that validation reports it
    instead of it silently vanishing.
    """
    indexes = sorted(
        {index for index, _ in _member_indexes(params, "Tags.member.", ".Key")}
        | {index for index, _ in _member_indexes(params, "Tags.member.", ".Value")}
    )
    return [(params.get(f"Tags.member.{i}.Key", ""), params.get(f"Tags.member.{i}.Value", "")) for i in indexes]


# --------------------------------------------------------------------------- rendering


def new_request_id(profile: str) -> str:
    """A request id in the profile's format: AWS uses a UUID, MinIO upper-hex Unix nanoseconds."""
    if profile == "minio":
        return f"{time.time_ns():016X}"
    # A version-4 UUID from 16 random bytes' hex, without a uuid.UUID per request: the version nibble
    # is "4", the variant nibble 10xx (one of 89ab, its two low bits random).
    h = os.urandom(16).hex()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_ASCII_PRINTABLE = bytes(range(0x20, 0x7F))
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def content_type(profile: str) -> str:
    return "application/xml" if profile == "minio" else "text/xml"


def response_headers(profile: str, request_id: str) -> dict[str, str]:
    """Request-id headers; MinIO clients read ``x-amz-request-id``, AWS SDKs ``x-amzn-RequestId``."""
    if profile == "minio":
        return {"x-amz-request-id": request_id, "x-amzn-RequestId": request_id}
    return {"x-amzn-RequestId": request_id}


def format_expiration(epoch: float | int | datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ``: whole seconds and a ``Z``, which every client parses.

    minio-py's strptime rejects ``+00:00`` and botocore turns a zone-less value into
    a naive datetime that later breaks credential refresh.
    """
    if isinstance(epoch, datetime):
        moment = epoch.astimezone(UTC) if epoch.tzinfo else epoch.replace(tzinfo=UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return _format_second(int(epoch // 1))


@functools.lru_cache(maxsize=64)
def _format_second(second: int) -> str:
    """Every credential minted in the same second expires in the same second: format it once."""
    return datetime.fromtimestamp(second, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _escape(text: str) -> str:
    """Text content: most values (keys, ARNs, tokens) need no change, so each replace runs only when needed."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text or ">" in text:
        text = text.replace("<", "&lt;").replace(">", "&gt;")
    # Only non-printable text can hold characters XML 1.0 forbids, or a \r. For ASCII (an O(1) flag) a
    # C-level delete of the printable range answers that ~2.5x faster than isprintable() (a session token
    # is ~830 characters).
    printable = not text.encode("ascii").translate(None, _ASCII_PRINTABLE) if text.isascii() else text.isprintable()
    if not printable:
        text = _XML_INVALID.sub("\ufffd", text).replace("\r", "&#xD;")
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_expiration(value)
    return str(value)


def _render_fields(fields: Mapping[str, Any], out: list[str], indent: str | None, depth: int) -> None:
    pad = "" if indent is None else "\n" + indent * depth
    for name, value in fields.items():
        if value is None:
            continue
        if type(value) is str:  # most fields: skip the ABC checks below (Mapping isinstance is slow)
            out.append(f"{pad}<{name}>{_escape(value)}</{name}>")
        elif type(value) is dict or isinstance(value, Mapping):
            out.append(f"{pad}<{name}>")
            _render_fields(value, out, indent, depth + 1)
            out.append(f"{pad}</{name}>")
        elif isinstance(value, list | tuple):
            out.append(f"{pad}<{name}>")
            for item in value:
                if isinstance(item, Mapping):
                    inner = "" if indent is None else "\n" + indent * (depth + 1)
                    out.append(f"{inner}<member>")
                    _render_fields(item, out, indent, depth + 2)
                    out.append(f"{inner}</member>")
                else:
                    _render_fields({"member": item}, out, indent, depth + 1)
            out.append(f"{pad}</{name}>")
        else:
            out.append(f"{pad}<{name}>{_escape(_text(value))}</{name}>")


def _credentials_minio(creds: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "AccessKeyId": creds.get("AccessKeyId", ""),
        "SecretAccessKey": creds.get("SecretAccessKey", ""),
        "SessionToken": creds.get("SessionToken", ""),
        "Expiration": creds.get("Expiration", ""),
    }


def _minio_shape(action: str, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Project a result onto MinIO's Go struct: fixed order, empty AssumedRoleUser, no extras."""
    creds = _credentials_minio(fields.get("Credentials") or {})
    empty_user = {"Arn": "", "AssumeRoleId": ""}
    if action == "AssumeRoleWithWebIdentity":
        subject = fields.get("SubjectFromWebIdentityToken")
        return {"AssumedRoleUser": empty_user, "Credentials": creds, "SubjectFromWebIdentityToken": subject or ""}
    if action == "AssumeRoleWithClientGrants":
        subject = fields.get("SubjectFromToken", fields.get("SubjectFromWebIdentityToken"))
        return {"AssumedRoleUser": empty_user, "Credentials": creds, "SubjectFromToken": subject or ""}
    if action == "AssumeRole":
        return {"AssumedRoleUser": empty_user, "Credentials": creds}
    if action in ("AssumeRoleWithLDAPIdentity", "AssumeRoleWithCertificate"):
        return {"Credentials": creds}
    # Actions MinIO does not have (GetCallerIdentity, GetSessionToken): keep as given.
    return dict(fields)


def render_result(action: str, fields: Mapping[str, Any], *, request_id: str, profile: str) -> bytes:
    """``<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…`` for a success.

    ``fields`` is ordered; nested mappings become nested elements, ``None`` is
    omitted. With the minio profile ``None`` inside MinIO's fixed shape renders
    as an empty element, as Go does for a zero string.
    """
    out: list[str] = []
    if profile == "minio":
        shaped = _minio_shape(action, fields)
        out.append(f'{XML_PROLOG}<{action}Response xmlns="{STS_NS}"><{action}Result>')
        _render_fields(shaped, out, None, 0)
        out.append(
            f"</{action}Result><ResponseMetadata><RequestId>{_escape(request_id)}</RequestId>"
            f"</ResponseMetadata></{action}Response>"
        )
        return "".join(out).encode("utf-8")
    out.append(f'<{action}Response xmlns="{STS_NS}">\n  <{action}Result>')
    _render_fields(fields, out, "  ", 2)
    out.append(
        f"\n  </{action}Result>\n  <ResponseMetadata>\n    <RequestId>{_escape(request_id)}</RequestId>"
        f"\n  </ResponseMetadata>\n</{action}Response>\n"
    )
    return "".join(out).encode("utf-8")


def render_error(wire: WireError, *, request_id: str, profile: str) -> bytes:
    """``ErrorResponse/Error{Type,Code,Message}`` with ``RequestId`` as a sibling of ``Error``."""
    code, message, rid = _escape(wire.code), _escape(wire.message), _escape(request_id)
    if profile == "minio":
        return (
            f'{XML_PROLOG}<ErrorResponse xmlns="{STS_NS}"><Error><Type></Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
        ).encode()
    return (
        f'<ErrorResponse xmlns="{STS_NS}">\n  <Error>\n    <Type>{_escape(wire.type)}</Type>\n'
        f"    <Code>{code}</Code>\n    <Message>{message}</Message>\n  </Error>\n"
        f"  <RequestId>{rid}</RequestId>\n</ErrorResponse>\n"
    ).encode()


# --------------------------------------------------------------------------- result builders


def _credentials(credentials: Credentials, profile: str) -> dict[str, str]:
    access_key, secret_key, token, expiration = credentials
    exp = expiration if isinstance(expiration, str) else format_expiration(expiration)
    if profile == "minio":
        return {"AccessKeyId": access_key, "SecretAccessKey": secret_key, "SessionToken": token, "Expiration": exp}
    # Order of the AWS API reference samples; parsers do not care.
    return {"SessionToken": token, "SecretAccessKey": secret_key, "Expiration": exp, "AccessKeyId": access_key}


def web_identity_result(
    profile: str,
    *,
    credentials: Credentials,
    subject: str,
    audience: str | None = None,
    assumed_role_arn: str | None = None,
    assumed_role_id: str | None = None,
    provider: str | None = None,
    packed_policy_size: int | None = None,
    source_identity: str | None = None,
) -> dict[str, Any]:
    """AssumeRoleWithWebIdentityResult fields; PackedPolicySize only when a session policy was given."""
    creds = _credentials(credentials, profile)
    if profile == "minio":
        return _minio_shape("AssumeRoleWithWebIdentity", {"Credentials": creds, "SubjectFromWebIdentityToken": subject})
    return {
        "SubjectFromWebIdentityToken": subject,
        "Audience": audience,
        "AssumedRoleUser": {"Arn": assumed_role_arn, "AssumedRoleId": assumed_role_id},
        "Credentials": creds,
        "PackedPolicySize": packed_policy_size,
        "SourceIdentity": source_identity,
        "Provider": provider,
    }


def assume_role_result(
    profile: str,
    *,
    credentials: Credentials,
    assumed_role_arn: str | None = None,
    assumed_role_id: str | None = None,
    packed_policy_size: int | None = None,
    source_identity: str | None = None,
) -> dict[str, Any]:
    creds = _credentials(credentials, profile)
    if profile == "minio":
        return _minio_shape("AssumeRole", {"Credentials": creds})
    return {
        "SourceIdentity": source_identity,
        "AssumedRoleUser": {"Arn": assumed_role_arn, "AssumedRoleId": assumed_role_id},
        "Credentials": creds,
        "PackedPolicySize": packed_policy_size,
    }


def caller_identity_result(user_id: str, account: str, arn: str) -> dict[str, Any]:
    """GetCallerIdentityResult in the order of the AWS sample (Arn, UserId, Account)."""
    return {"Arn": arn, "UserId": user_id, "Account": account}


def session_token_result(profile: str, *, credentials: Credentials) -> dict[str, Any]:
    return {"Credentials": _credentials(credentials, profile)}
