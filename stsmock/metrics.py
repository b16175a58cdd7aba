"""Prometheus metrics at ``GET /metrics``.

Every app gets its own :class:`prometheus_client.CollectorRegistry` (never the
process-global one), so several stsmock instances can live in one process —
as they do in a test session. HTTP metrics come from an aiohttp middleware and
are labelled with the matched route's canonical path (``/token``,
``/admin/keys/{kid}/retire``), never the raw path, so a client cannot blow up
the label cardinality. Issued tokens come from the audit log subscription
(``token.issued``); STS decisions from the STS's ``observe`` hook, which sees the
same decision record the audit log gets, before redaction.

``/metrics`` is unauthenticated, like most Prometheus endpoints; stsmock binds
to 127.0.0.1 by default. Bind to another interface only on a trusted network.

``serve --workers N``: ``/metrics`` on any worker reports the whole server. Each worker keeps its
counters in a per-process memory-mapped file under ``<data-dir>/metrics/`` (prometheus_client's
multiprocess mode, written at every increment), and ``/metrics`` merges all files: the counts of a
worker that died stay (its file stays), and none is counted twice (one file per process). The parent
empties the directory at start. Replicas are separate scrape targets, each reporting itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REGISTRY: web.AppKey[CollectorRegistry] = web.AppKey("stsmock.metrics.registry", CollectorRegistry)
UNMATCHED = "unmatched"
#: Any label value outside its fixed set (a client must not be able to mint label values).
OTHER = "other"
STS_ACTIONS = frozenset(
    {"AssumeRoleWithWebIdentity", "AssumeRole", "GetCallerIdentity", "GetSessionToken", "AssumeRoleWithClientGrants"}
)
DECISIONS = frozenset({"allow", "deny"})
GRANTS = frozenset(
    {
        "client_credentials",
        "password",
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:token-exchange",
        "urn:ietf:params:oauth:grant-type:device_code",
        "admin-mint",
    }
)


def _sts_codes() -> frozenset[str]:
    """Every error code the STS can answer with (from the error classes), plus "" for success."""
    from stsproxy import errors

    codes = {""}
    stack: list[type] = [errors.StsError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        for attr in ("code", "minio_code"):
            value = getattr(cls, attr, None)
            if isinstance(value, str):
                codes.add(value)
    return frozenset(codes)


def bounded(value: object, allowed: frozenset[str]) -> str:
    text = "" if value is None else str(value)
    return text if text in allowed else OTHER


#: Where this process's counters are shared with the other workers of one ``serve`` (None: not a worker).
_shared_dir: Path | None = None


def metrics_directory(data_dir: Path) -> Path:
    """``serve --workers``' parent: a fresh, empty per-server metrics directory (counts of an earlier run go)."""
    directory = data_dir / "metrics"
    directory.mkdir(mode=0o700, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    return directory


def share_with_workers(directory: Path) -> None:
    """In a worker, before any metric is built: count into ``directory/<type>_<pid>.db`` (mmap)."""
    global _shared_dir
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)
    values.ValueClass = values.MultiProcessValue()
    _shared_dir = directory


_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Metrics:
    """The metric families of one stsmock instance."""

    def __init__(self, issuers: frozenset[str] = frozenset({"default"})) -> None:
        self.issuers = issuers
        self.codes = _sts_codes()
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "stsmock_http_requests",
            "HTTP requests by route, method and status",
            ["endpoint", "method", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "stsmock_http_request_duration_seconds",
            "HTTP request handling time by route",
            ["endpoint", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.sts_decisions = Counter(
            "stsmock_sts_decisions",
            "STS decisions by action, outcome and error code",
            ["action", "decision", "code"],
            registry=r,
        )
        self.sts_latency = Histogram(
            "stsmock_sts_latency_seconds",
            "STS decision latency (request parsed to response built)",
            ["action"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.s3_requests = Counter(
            "stsmock_s3_requests",
            "S3 gateway requests by operation, decision and HTTP status",
            ["operation", "decision", "status"],
            registry=r,
        )
        self.s3_duration = Histogram(
            "stsmock_s3_request_duration_seconds",
            "S3 gateway request time (headers in to last byte out) by operation",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.s3_bytes = Counter(
            "stsmock_s3_bytes",
            "S3 gateway body bytes by direction (in: from clients, out: to clients)",
            ["direction"],
            registry=r,
        )
        self.tokens_issued = Counter(
            "stsmock_tokens_issued",
            "Tokens issued by the built-in issuers, by issuer and grant",
            ["issuer", "grant"],
            registry=r,
        )
        # Label children per label tuple: ``labels()`` costs ~6 µs a call (lock, validation), a dict
        # lookup ~0.1 µs. The label values are bounded sets, so these caches are bounded too.
        self._http: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._decisions: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}

    # -- STS decisions (StsExtensions.observe) ------------------------------------------
    def on_decision(self, record: dict[str, Any]) -> None:
        """One ``sts.decision`` record, before audit redaction (which masks the ``code`` field)."""
        action = bounded(record.get("action"), STS_ACTIONS)
        key = (
            action,
            bounded(record.get("decision") or "deny", DECISIONS),
            bounded(record.get("code") or "", self.codes),
        )
        children = self._decisions.get(key)
        if children is None:
            children = self._decisions[key] = (self.sts_decisions.labels(*key), self.sts_latency.labels(action))
        children[0].inc()
        latency = record.get("latency_ms")
        if isinstance(latency, int | float):
            children[1].observe(float(latency) / 1000.0)

    # -- audit subscriber -------------------------------------------------------------
    def on_audit(self, record: dict[str, Any]) -> None:
        event = record.get("event")
        if event == "s3.request":
            operation = str(record.get("operation") or "unclassified")
            self.s3_requests.labels(
                operation=operation,
                decision=str(record.get("decision") or "deny"),
                status=str(record.get("status") or ""),
            ).inc()
            latency = record.get("latency_ms")
            if isinstance(latency, int | float):
                self.s3_duration.labels(operation=operation).observe(float(latency) / 1000.0)
            for direction in ("in", "out"):
                count = record.get(f"bytes_{direction}")
                if isinstance(count, int) and count > 0:
                    self.s3_bytes.labels(direction=direction).inc(count)
            return
        if event == "token.issued":
            self.tokens_issued.labels(
                issuer=bounded(record.get("issuer"), self.issuers), grant=bounded(record.get("grant"), GRANTS)
            ).inc()

    # -- HTTP ---------------------------------------------------------------------------------
    async def serve(self, request: web.Request) -> web.Response:
        """``GET /metrics``: the text exposition format (every worker's counts, merged, under ``--workers``)."""
        registry = self.registry
        if _shared_dir is not None:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=str(_shared_dir))
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    # -- HTTP middleware ----------------------------------------------------------------
    def middleware(self) -> Middleware:
        @web.middleware
        async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                endpoint = route_name(request)
                method = request.method if request.method in _KNOWN_METHODS else "OTHER"
                code = str(status) if 100 <= status <= 599 else OTHER
                key = (endpoint, method, code)
                children = self._http.get(key)
                if children is None:
                    children = self._http[key] = (
                        self.http_requests.labels(*key),
                        self.http_duration.labels(endpoint, method),
                    )
                children[0].inc()
                children[1].observe(time.perf_counter() - started)

        return metrics_middleware


def route_name(request: web.Request) -> str:
    """The matched route's canonical path (bounded cardinality), or ``unmatched``."""
    try:
        resource = request.match_info.route.resource
    except AttributeError:
        return UNMATCHED
    if resource is None:
        return UNMATCHED
    return resource.canonical or UNMATCHED
