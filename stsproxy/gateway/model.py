"""The S3 request as the gateway reasons about it: bucket, key, subresources, headers.

Built from the *raw* request target (aiohttp's ``request.path`` merges ``%2F`` into ``/`` and
yarl would collapse ``..``), so keys such as ``a/../b`` or ``a//b`` survive verbatim.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, unquote_to_bytes

from .errors import S3Error

#: DNS-compatible bucket names plus the legacy forms real stores still accept (upper case, ``_``).
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")
MAX_KEY_BYTES = 1024


def split_query(raw_query: str) -> tuple[tuple[str, str], ...]:
    """Decoded ``(name, value)`` pairs in order; ``?uploads`` and ``?uploads=`` are the same."""
    pairs: list[tuple[str, str]] = []
    if not raw_query:
        return ()
    for item in raw_query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return tuple(pairs)


@dataclass(frozen=True)
class S3Request:
    method: str
    #: Path exactly as sent (percent-encoding kept), without the query string.
    raw_path: str
    raw_query: str
    query: tuple[tuple[str, str], ...]
    #: Lower-case header name → every value, in order.
    headers: Mapping[str, tuple[str, ...]]
    bucket: str | None
    key: str | None
    virtual_host: bool = False
    _params: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        params: dict[str, str] = {}
        for name, value in self.query:
            params.setdefault(name, value)
        object.__setattr__(self, "_params", params)

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None

    def param(self, name: str) -> str | None:
        return self._params.get(name)

    def has(self, name: str) -> bool:
        return name in self._params

    @property
    def resource(self) -> str:
        """The ``Resource`` element of an error: ``/bucket/key``."""
        if not self.bucket:
            return "/"
        return f"/{self.bucket}/{self.key}" if self.key else f"/{self.bucket}"

    @property
    def backend_path(self) -> str:
        """The raw path-style path toward a backend (``/bucket/raw-key``)."""
        if not self.virtual_host:
            return self.raw_path or "/"
        return f"/{self.bucket}{self.raw_path if self.raw_path.startswith('/') else '/' + self.raw_path}"


def lower_headers(items: Iterable[tuple[str, str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, list[str]] = {}
    for name, value in items:
        out.setdefault(name.lower(), []).append(value)
    return {k: tuple(v) for k, v in out.items()}


def _bucket_from_host(host: str, domains: Iterable[str]) -> str | None:
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    name = name.lower().rstrip(".")
    for domain in domains:
        suffix = "." + domain.lower().strip(".")
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def _decode_key(raw: str) -> str:
    try:
        return unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise S3Error("InvalidURI", "Couldn't parse the specified URI.", 400, "request-uri") from exc


def parse_request(
    method: str, raw_target: str, headers: Iterable[tuple[str, str]], *, domains: Iterable[str] = ()
) -> S3Request:
    """Path-style (``/bucket/key``) or virtual-hosted (``Host: bucket.<domain>``) addressing."""
    raw_path, _, raw_query = raw_target.partition("?")
    if not raw_path.startswith("/"):
        raise S3Error("InvalidURI", "Couldn't parse the specified URI.", 400, "request-uri")
    lowered = lower_headers(headers)
    host = (lowered.get("host") or ("",))[0]
    vhost_bucket = _bucket_from_host(host, domains)
    if vhost_bucket is not None:
        bucket: str | None = vhost_bucket
        key_raw = raw_path[1:]
    else:
        first, sep, rest = raw_path[1:].partition("/")
        bucket = _decode_key(first) if first else None
        key_raw = rest if sep else ""
    key = _decode_key(key_raw) if key_raw else None
    if bucket is not None and not _BUCKET.match(bucket):
        raise S3Error(
            "InvalidBucketName", "The specified bucket is not valid.", 400, "bucket-name", {"BucketName": bucket}
        )
    if key is not None and len(key.encode()) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", "Your key is too long", 400, "key-length")
    return S3Request(
        method=method.upper(),
        raw_path=raw_path,
        raw_query=raw_query,
        query=split_query(raw_query),
        headers=lowered,
        bucket=bucket,
        key=key,
        virtual_host=vhost_bucket is not None,
    )
