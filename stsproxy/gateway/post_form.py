"""multipart/form-data of a browser POST upload, parsed without ever holding the file.

S3 wants every form field before the ``file`` part (fields after it are ignored), so the parse has
two phases: :func:`parse_pre_file` reads the small, bounded fields and the file part's headers from
a growing buffer; :class:`FileData` then passes the file bytes through as they arrive and stops at
the closing delimiter. Pure: bytes in, fields and bytes out, S3 errors on hostile input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from .errors import S3Error

#: Fields before the file (the policy carries the session token twice, base64 once): S3's limit is
#: documented only as "too large"; a sealed stsmock session token is a few KiB.
MAX_PRE_DATA = 64 * 1024
_BOUNDARY = re.compile(r"^[0-9A-Za-z'()+_,\-./:=? ]{1,70}$")
_HEADER_NAME = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def malformed(detail: str = "") -> S3Error:
    return S3Error(
        "MalformedPOSTRequest",
        "The body of your POST request is not well-formed multipart/form-data.",
        400,
        f"post-form{'-' + detail if detail else ''}",
    )


def too_large_pre_data() -> S3Error:
    return S3Error(
        "MaxPostPreDataLengthExceeded",
        "Your POST request fields preceding the upload file were too large.",
        400,
        "post-pre-data",
    )


def no_file() -> S3Error:
    return S3Error(
        "IncorrectNumberOfFilesInPostRequest", "POST requires exactly one file upload per request.", 400, "post-file"
    )


def boundary_of(content_type: str | None) -> str:
    """The boundary of a ``multipart/form-data`` body; any other enclosure type is S3's 412."""
    msg = Message()
    msg["content-type"] = content_type or ""
    if msg.get_content_type() != "multipart/form-data":
        raise S3Error(
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold",
            412,
            "post-enclosure-type",
            {"Condition": "Bucket POST must be of the enclosure-type multipart/form-data"},
        )
    boundary = msg.get_param("boundary")
    if not isinstance(boundary, str) or not _BOUNDARY.match(boundary) or boundary.endswith(" "):
        raise malformed("boundary")
    return boundary


@dataclass(frozen=True)
class FilePart:
    filename: str
    content_type: str | None
    #: Bytes of the body before the file's first byte (the fields and the file part's headers).
    offset: int


@dataclass(frozen=True)
class PreFile:
    #: Lower-case field name → value, in form order.
    fields: dict[str, str]
    file: FilePart
    #: File bytes that arrived with the fields (not yet checked for the closing delimiter).
    rest: bytes


def _disposition(value: str) -> tuple[str, str | None]:
    msg = Message()
    msg["content-disposition"] = value
    if msg.get_content_disposition() != "form-data":
        raise malformed("disposition")
    name = msg.get_param("name", header="content-disposition")
    filename = msg.get_param("filename", header="content-disposition")
    if not isinstance(name, str) or not name:
        raise malformed("field-name")
    return name, filename if isinstance(filename, str) else None


def _part_headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.split(b"\r\n") if block else ():
        name, sep, value = line.partition(b":")
        if not sep or not _HEADER_NAME.match(name):
            raise malformed("part-header")
        try:
            headers[name.decode().lower()] = value.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise malformed("part-header") from exc
    return headers


def _need_more(buf: bytes, limit: int) -> None:
    if len(buf) > limit:
        raise too_large_pre_data()


def parse_pre_file(buf: bytes, boundary: str, *, limit: int = MAX_PRE_DATA) -> PreFile | None:
    """Fields and the file part's headers from the body's first bytes; None = send more bytes."""
    dash = b"--" + boundary.encode("latin-1")
    if buf.startswith(dash):
        pos = 0
    else:  # a preamble before the first delimiter is legal (and ignored)
        found = buf.find(b"\r\n" + dash)
        if found < 0:
            _need_more(buf, limit)
            return None
        pos = found + 2
    fields: dict[str, str] = {}
    while True:
        pos += len(dash)
        if len(buf) < pos + 2:
            _need_more(buf, limit)
            return None
        if buf[pos : pos + 2] == b"--":
            raise no_file()
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            _need_more(buf, limit)
            return None
        if buf[pos:eol].strip(b" \t"):
            raise malformed("delimiter")
        end_headers = buf.find(b"\r\n\r\n", eol)
        if end_headers < 0:
            _need_more(buf, limit)
            return None
        headers = _part_headers(buf[eol + 2 : end_headers])
        start = end_headers + 4
        if "content-disposition" not in headers:
            raise malformed("disposition")
        name, filename = _disposition(headers["content-disposition"])
        if name.lower() == "file":
            if start > limit:
                raise too_large_pre_data()
            part = FilePart(filename or "", headers.get("content-type"), start)
            return PreFile(fields, part, bytes(buf[start:]))
        end = buf.find(b"\r\n" + dash, start)
        if end < 0:
            _need_more(buf, limit)
            return None
        try:
            value = buf[start:end].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise malformed("field-value") from exc
        key = name.lower()
        if key in fields:
            raise S3Error(
                "InvalidArgument",
                f"The form field '{name}' appears more than once.",
                400,
                "post-duplicate-field",
                {"ArgumentName": name},
            )
        fields[key] = value
        pos = end + 2


class FileData:
    """The file part's bytes, passed through up to the delimiter that ends them."""

    def __init__(self, boundary: str) -> None:
        self._marker = b"\r\n--" + boundary.encode("latin-1")
        self._tail = b""
        self.done = False
        self.length = 0
        self._after = b""

    def feed(self, data: bytes) -> bytes:
        """The file bytes that are certainly file bytes (a possible delimiter start is held back)."""
        if self.done:
            if len(self._after) < 4:
                self._after += data[:4]
            return b""
        buf = self._tail + data if self._tail else data
        found = buf.find(self._marker)
        if found >= 0:
            self.done = True
            self._after = buf[found + len(self._marker) : found + len(self._marker) + 4]
            out = buf[:found]
            self._tail = b""
        else:
            keep = min(len(buf), len(self._marker) - 1)
            out, self._tail = buf[: len(buf) - keep], buf[len(buf) - keep :]
        self.length += len(out)
        return out

    def finish(self) -> None:
        """The body ended: the file must have been closed by its delimiter (``--`` or another part)."""
        if not self.done:
            raise malformed("unterminated")
        if not (self._after.startswith(b"--") or self._after.lstrip(b" \t").startswith(b"\r\n")):
            raise malformed("delimiter")
