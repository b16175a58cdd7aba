"""The few S3 XML bodies the gateway reads or writes itself: ListBuckets and DeleteObjects."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET  # noqa: S405 - bodies are size-capped; expat >= 2.4 limits entity amplification
from xml.sax.saxutils import escape

from .errors import S3Error

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_DELETE_KEYS = 1000


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _parse(body: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(body)  # noqa: S314 - see the import
    except ET.ParseError as exc:
        raise S3Error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
            400,
            f"xml-{what}",
        ) from exc


#: For the gateway's other readers of small S3 XML bodies (e.g. GetObjectTagging's answer).
parse = _parse


def parse_bucket_list(body: bytes) -> tuple[list[tuple[str, str]], str, str]:
    """Backend ListAllMyBucketsResult → ([(name, creation date)], owner id, owner display name)."""
    root = _parse(body, "list-buckets")
    buckets: list[tuple[str, str]] = []
    owner_id = owner_name = ""
    for el in root.iter():
        tag = _local(el.tag)
        if tag == "Bucket":
            fields = {_local(c.tag): (c.text or "") for c in el}
            buckets.append((fields.get("Name", ""), fields.get("CreationDate", "")))
        elif tag == "Owner":
            fields = {_local(c.tag): (c.text or "") for c in el}
            owner_id, owner_name = fields.get("ID", ""), fields.get("DisplayName", "")
    return buckets, owner_id, owner_name


def render_bucket_list(buckets: list[tuple[str, str]], owner_id: str, owner_name: str) -> bytes:
    items = "".join(
        f"<Bucket><Name>{escape(n)}</Name><CreationDate>{escape(d)}</CreationDate></Bucket>" for n, d in buckets
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListAllMyBucketsResult xmlns="{NS}"><Owner><ID>{escape(owner_id)}</ID>'
        f"<DisplayName>{escape(owner_name)}</DisplayName></Owner><Buckets>{items}</Buckets></ListAllMyBucketsResult>"
    ).encode()


def parse_delete(body: bytes) -> tuple[list[tuple[str, str | None]], bool]:
    """DeleteObjects body → ([(key, version id)], quiet)."""
    root = _parse(body, "delete")
    if _local(root.tag) != "Delete":
        raise S3Error(
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema.",
            400,
            "xml-delete",
        )
    keys: list[tuple[str, str | None]] = []
    quiet = False
    for el in root:
        tag = _local(el.tag)
        if tag == "Quiet":
            quiet = (el.text or "").strip().lower() == "true"
        elif tag == "Object":
            fields = {_local(c.tag): (c.text or "") for c in el}
            if "Key" not in fields:
                raise S3Error("MalformedXML", "Each Object needs a Key.", 400, "xml-delete")
            keys.append((fields["Key"], fields.get("VersionId") or None))
    if not keys or len(keys) > MAX_DELETE_KEYS:
        raise S3Error(
            "MalformedXML", f"A DeleteObjects request lists 1 to {MAX_DELETE_KEYS} keys.", 400, "xml-delete-count"
        )
    return keys, quiet


def render_delete(keys: list[tuple[str, str | None]], quiet: bool) -> tuple[bytes, str]:
    """A DeleteObjects body for ``keys`` and its Content-MD5."""
    objects = "".join(
        f"<Object><Key>{escape(k)}</Key>" + (f"<VersionId>{escape(v)}</VersionId>" if v else "") + "</Object>"
        for k, v in keys
    )
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="{NS}"><Quiet>{str(quiet).lower()}</Quiet>{objects}</Delete>'.encode()
    return body, base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()


def denied_entries(keys: list[tuple[str, str | None]]) -> str:
    return "".join(
        f"<Error><Key>{escape(k)}</Key>"
        + (f"<VersionId>{escape(v)}</VersionId>" if v else "")
        + "<Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        for k, v in keys
    )


def merge_delete_result(backend_body: bytes | None, denied: list[tuple[str, str | None]]) -> bytes:
    """Add AccessDenied entries for the keys the caller may not delete to the backend's DeleteResult."""
    extra = denied_entries(denied)
    if backend_body:
        text = backend_body.decode("utf-8", "replace")
        end = text.rfind("</DeleteResult>")
        if end >= 0:
            return (text[:end] + extra + text[end:]).encode()
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<DeleteResult xmlns="{NS}">{extra}</DeleteResult>'.encode()
