"""The S3 flexible checksums (CRC32, CRC32C, CRC64NVME, SHA1, SHA256), computed incrementally.

CRC32 and the SHAs are native; CRC32C and CRC64NVME use awscrt when installed (``stsmock[s3]``) and
a table-driven fallback otherwise (correct, slower).
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from typing import Protocol

from .errors import S3Error

try:  # pragma: no cover - depends on the environment
    from awscrt import checksums as _crt
except ImportError:  # pragma: no cover
    _crt = None

ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")


class Checksum(Protocol):
    def update(self, data: bytes | memoryview) -> None: ...
    def digest(self) -> bytes: ...


def _table(poly: int, width: int) -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c & ((1 << width) - 1))
    return table


_CRC32C = _table(0x82F63B78, 32)
_CRC64NVME = _table(0x9A6C9329AC4BC9B5, 64)


class _Crc32:
    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes | memoryview) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


class _TableCrc:
    def __init__(self, name: str) -> None:
        self.name = name
        self.width = 64 if name == "crc64nvme" else 32
        self.table = _CRC64NVME if self.width == 64 else _CRC32C
        self.value = 0

    def update(self, data: bytes | memoryview) -> None:
        if _crt is not None:
            fn = _crt.crc64nvme if self.width == 64 else _crt.crc32c
            self.value = fn(bytes(data), self.value)
            return
        mask = (1 << self.width) - 1
        c = self.value ^ mask
        table = self.table
        for byte in bytes(data):
            c = table[(c ^ byte) & 0xFF] ^ (c >> 8)
        self.value = c ^ mask

    def digest(self) -> bytes:
        return self.value.to_bytes(self.width // 8, "big")


def new(algorithm: str) -> Checksum:
    name = algorithm.lower()
    if name == "crc32":
        return _Crc32()
    if name in ("crc32c", "crc64nvme"):
        return _TableCrc(name)
    if name in ("sha1", "sha256"):
        return hashlib.new(name)
    raise S3Error(
        "InvalidRequest",
        f"Value for x-amz-checksum-algorithm header is invalid: {algorithm}",
        400,
        "checksum-algorithm",
    )


def b64(checksum: Checksum) -> str:
    return base64.b64encode(checksum.digest()).decode()
