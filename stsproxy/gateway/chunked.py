"""Incremental aws-chunked decoder: signed chunks, unsigned chunks, and both trailer forms.

``feed`` returns the decoded object bytes as they arrive; chunk signatures are checked as each chunk
ends, the trailer (and its signature) by ``finish``. Nothing here does I/O: the proxy decides what
to forward and when (it holds back the last bytes until ``finish`` succeeded).
"""

from __future__ import annotations

import hashlib
import re

from .errors import S3Error, signature_mismatch
from .sigv4 import Auth, chunk_string_to_sign, sign, signatures_match, trailer_string_to_sign

MAX_CHUNK = 16 * 1024 * 1024
MAX_LINE = 4096
MAX_TRAILER = 16 * 1024
_HEADER, _DATA, _DATA_END, _TRAILER, _DONE = range(5)
#: A chunk size: hex digits only (``int(x, 16)`` would also take ``0x``, ``_``, ``+`` and thousands of digits).
_SIZE = re.compile(r"[0-9a-fA-F]{1,16}")


def _malformed(message: str = "The chunked encoding of the request body is malformed.") -> S3Error:
    return S3Error("IncompleteBody", message, 400, "aws-chunked-framing")


class AwsChunkedDecoder:
    def __init__(self, auth: Auth, key: bytes | None, *, signed: bool, trailer: bool) -> None:
        self._auth = auth
        self._key = key
        self._signed = signed
        self._trailer_expected = trailer
        self._previous = auth.signature
        self._buf = bytearray()
        self._state = _HEADER
        self._remaining = 0
        self._chunk_sig = ""
        self._hash = hashlib.sha256()
        self._trailer_lines: list[str] = []
        self.trailers: dict[str, str] = {}
        self.decoded = 0

    def _check_chunk(self, digest: str) -> None:
        if not self._signed:
            return
        assert self._key is not None
        expected = sign(self._key, chunk_string_to_sign(self._auth, self._previous, digest))
        if not signatures_match(expected, self._chunk_sig):
            raise signature_mismatch("aws-chunked-signature")
        self._previous = expected

    def _header(self, line: bytes) -> None:
        text = line.decode("ascii", "replace")
        size_text, _, ext = text.partition(";")
        size_text = size_text.strip()
        if not _SIZE.fullmatch(size_text):
            if size_text and all(c in "0123456789abcdefABCDEF" for c in size_text):
                raise S3Error(
                    "InvalidArgument",
                    f"aws-chunked chunk size of {len(size_text)} hex digits is out of range (max {MAX_CHUNK})",
                    400,
                    "aws-chunked-size",
                )
            raise _malformed()
        size = int(size_text, 16)
        if size > MAX_CHUNK:
            raise S3Error(
                "InvalidArgument",
                f"aws-chunked chunk size {size} is out of range (max {MAX_CHUNK})",
                400,
                "aws-chunked-size",
            )
        name, _, value = ext.partition("=")
        if self._signed:
            if name.strip() != "chunk-signature" or not value:
                raise signature_mismatch("aws-chunked-signature-missing")
            self._chunk_sig = value.strip()
        self._remaining = size
        self._hash = hashlib.sha256()
        if size == 0:
            self._check_chunk(self._hash.hexdigest())
            self._state = _TRAILER if self._trailer_expected else _DATA_END
            self._remaining = -1  # final chunk: _DATA_END then means "the closing CRLF"
        else:
            self._state = _DATA

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        buf = self._buf
        buf += data
        pos = 0
        try:
            while pos < len(buf):
                if self._state == _DATA:
                    n = min(self._remaining, len(buf) - pos)
                    piece = bytes(buf[pos : pos + n])
                    self._hash.update(piece)
                    out.append(piece)
                    self.decoded += n
                    pos += n
                    self._remaining -= n
                    if self._remaining == 0:
                        self._state = _DATA_END
                    continue
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    limit = MAX_TRAILER if self._state == _TRAILER else MAX_LINE
                    if len(buf) - pos > limit:
                        raise _malformed()
                    break
                line = bytes(buf[pos:end])
                pos = end + 2
                if self._state == _HEADER:
                    self._header(line)
                elif self._state == _DATA_END:
                    if line:
                        raise _malformed()
                    if self._remaining == -1:
                        self._state = _DONE
                    else:
                        self._check_chunk(self._hash.hexdigest())
                        self._state = _HEADER
                elif self._state == _TRAILER:
                    if line:
                        self._trailer_lines.append(line.decode("utf-8", "replace"))
                        if sum(len(x) for x in self._trailer_lines) > MAX_TRAILER:
                            raise _malformed()
                    elif self._trailer_lines:
                        self._state = _DONE
                elif self._state == _DONE:
                    if line:
                        raise _malformed("Unexpected data after the final aws-chunked chunk.")
        finally:
            del buf[:pos]
        return out

    def finish(self) -> dict[str, str]:
        """Call at end of body: the framing must be complete; returns the trailers (signature checked)."""
        if self._state == _TRAILER and self._trailer_lines and not self._buf:
            self._state = _DONE  # tolerate a missing final empty line
        if self._state != _DONE or self._buf.strip():
            raise S3Error(
                "IncompleteBody",
                "The request body ended before the final aws-chunked chunk.",
                400,
                "aws-chunked-incomplete",
            )
        signature = None
        lines = []
        for line in self._trailer_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "x-amz-trailer-signature":
                signature = value.strip()
                continue
            self.trailers[name] = value.strip()
            lines.append(f"{name}:{value.strip()}\n")
        if self._signed and self._trailer_expected:
            assert self._key is not None
            expected = sign(self._key, trailer_string_to_sign(self._auth, self._previous, "".join(lines)))
            if signature is None or not signatures_match(expected, signature):
                raise signature_mismatch("aws-chunked-trailer-signature")
        return self.trailers
