"""The few S3 XML bodies the gateway reads or writes itself (ListBuckets, DeleteObjects), and the
screen every XML request body passes before a backend sees it.

Why a screen: an XML body a backend parses (CompleteMultipartUpload, Put*Configuration, ...) is
streamed on, and a backend's XML parser is not ours to trust with a billion-laughs document. So
every XML body here goes through :class:`XmlScreen` (expat, incremental): a DOCTYPE (hence any
entity declaration), more than ``MAX_DEPTH`` levels or more than ``MAX_XML_BYTES`` is refused with
S3's MalformedXML / MaxMessageLengthExceeded before the body's last byte is forwarded.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET  # noqa: S405 - built from XmlScreen's events: no DTD, bounded depth and size
from typing import Any
from xml.parsers import expat  # noqa: S410 - DOCTYPE refused before any entity is declared
from xml.sax.saxutils import escape

from .errors import S3Error

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_DELETE_KEYS = 1000
#: S3's request documents nest a handful of levels (lifecycle rules: ~6); 32 is generous.
MAX_DEPTH = 32
#: CompleteMultipartUpload with 10,000 parts is ~1 MiB; nothing S3 accepts as XML is larger.
MAX_XML_BYTES = 2 * 1024 * 1024
_MALFORMED = "The XML you provided was not well-formed or did not validate against our published schema."
#: Operations whose request body is an XML document (forwarded ones are screened while streaming).
_XML_BODY_OPERATIONS = frozenset({"CreateBucket", "CompleteMultipartUpload", "RestoreObject", "SelectObjectContent"})
_NOT_XML_PUTS = frozenset({"PutObject", "PutBucketPolicy"})  # an object's bytes; a JSON policy


def xml_body(operation: str) -> bool:
    """Whether ``operation``'s request body is an S3 XML document."""
    return operation in _XML_BODY_OPERATIONS or (operation.startswith("Put") and operation not in _NOT_XML_PUTS)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _clark(name: str) -> str:
    """expat's ``ns}local`` → ElementTree's ``{ns}local``."""
    return "{" + name if "}" in name else name


class _Refused(Exception):
    def __init__(self, error: S3Error) -> None:
        self.error = error


class XmlScreen:
    """Incremental, bounded XML parse: ``feed`` bytes, ``close`` at the end; S3Error on refusal.

    ``build=True`` also builds the ElementTree (for the bodies the gateway reads itself)."""

    def __init__(self, what: str, *, build: bool = False, max_bytes: int = MAX_XML_BYTES) -> None:
        self._what = what
        self._max = max_bytes
        self._seen = 0
        self._depth = 0
        self._builder = ET.TreeBuilder() if build else None
        parser = expat.ParserCreate(namespace_separator="}")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self._doctype
        parser.EntityDeclHandler = self._entity
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        if self._builder is not None:
            parser.CharacterDataHandler = self._builder.data
        self._parser: Any = parser

    def _refuse(self, message: str, check: str) -> None:
        raise _Refused(S3Error("MalformedXML", message, 400, f"xml-{self._what}-{check}"))

    def _doctype(self, *_: object) -> None:
        self._refuse("XML documents with a DOCTYPE (DTDs, entity declarations) are not accepted.", "doctype")

    def _entity(self, *_: object) -> None:
        self._refuse("XML entity declarations are not accepted.", "entity")

    def _start(self, name: str, attrs: dict[str, str]) -> None:
        self._depth += 1
        if self._depth > MAX_DEPTH:
            self._refuse(f"The XML nests deeper than {MAX_DEPTH} levels.", "depth")
        if self._builder is not None:
            self._builder.start(_clark(name), attrs)

    def _end(self, name: str) -> None:
        self._depth -= 1
        if self._builder is not None:
            self._builder.end(_clark(name))

    def _run(self, data: bytes, final: bool) -> None:
        try:
            self._parser.Parse(data, final)
        except _Refused as exc:
            raise exc.error from None
        except (expat.ExpatError, ValueError, RecursionError) as exc:
            raise S3Error("MalformedXML", _MALFORMED, 400, f"xml-{self._what}") from exc

    def feed(self, data: bytes) -> None:
        self._seen += len(data)
        if self._seen > self._max:
            raise S3Error(
                "MaxMessageLengthExceeded",
                f"Your request was too big: XML request bodies are at most {self._max} bytes.",
                400,
                f"xml-{self._what}-size",
            )
        self._run(data, False)

    def close(self) -> ET.Element | None:
        self._run(b"", True)
        return self._builder.close() if self._builder is not None else None


def _parse(body: bytes, what: str) -> ET.Element:
    screen = XmlScreen(what, build=True)
    screen.feed(body)
    root = screen.close()
    assert root is not None
    return root


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
        raise S3Error("MalformedXML", _MALFORMED, 400, "xml-delete")
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
