"""Fuzz harness fixtures: a counting HTTP session that fails on any 5xx, and a log watch for tracebacks.

Fixed seeds (``derandomize=True``), no example database, bounded ``max_examples``: the same cases
run on every machine and in CI as part of the normal suite. ``FUZZ_EXAMPLES`` scales the budget
for a longer local run. The terminal summary reports the number of cases and of 5xx answers.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "60"))
#: Fixed seeds, no example database, no deadline: the same cases on every run, CI and local.
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
_TOTALS = {"cases": 0, "server_errors": 0, "tracebacks": 0, "parser_cases": 0, "not_implemented": 0}


def count_parser_case() -> None:
    """One case of a pure-parser property (no HTTP): counted for the terminal summary."""
    _TOTALS["parser_cases"] += 1


def count_http(status: int) -> None:
    """One HTTP case from a harness that does not use FuzzHttp (raw sockets, the S3 sweep)."""
    _TOTALS["cases"] += 1
    if status == 501:
        _TOTALS["not_implemented"] += 1  # S3's own NotImplemented for an operation the gateway does not guess
    elif status >= 500:
        _TOTALS["server_errors"] += 1


def count_tracebacks(n: int) -> None:
    _TOTALS["tracebacks"] += n


@dataclass
class FuzzHttp:
    """requests.Session that counts calls and remembers every 5xx (method, path, status, body head)."""

    base: str
    session: requests.Session = field(default_factory=requests.Session)
    calls: int = 0
    server_errors: list[tuple[str, str, int, str]] = field(default_factory=list)

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        kw.setdefault("timeout", 20)
        kw.setdefault("allow_redirects", False)
        resp = self.session.request(method, self.base + path, **kw)
        self.calls += 1
        _TOTALS["cases"] += 1
        if resp.status_code >= 500:
            _TOTALS["server_errors"] += 1
            self.server_errors.append((method, path[:120], resp.status_code, resp.text[:200]))
        return resp

    def check(self) -> None:
        assert not self.server_errors, f"5xx answers: {self.server_errors[:5]}"


class _Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.records.append(record)


@pytest.fixture
def no_tracebacks() -> Iterator[None]:
    """The in-process server logs no exception with a traceback while the test runs."""
    handler = _Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    _TOTALS["tracebacks"] += len(handler.records)
    assert not handler.records, [f"{r.name}: {r.getMessage()}" for r in handler.records[:3]]


@pytest.fixture
def fuzz_http(stsmock_server: Any, no_tracebacks: None) -> Iterator[FuzzHttp]:
    http = FuzzHttp(stsmock_server.url)
    yield http
    http.check()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _TOTALS["cases"] or _TOTALS["parser_cases"]:
        terminalreporter.write_line(
            f"fuzz: {_TOTALS['cases']} HTTP cases, {_TOTALS['server_errors']} 5xx, "
            f"{_TOTALS['tracebacks']} tracebacks, {_TOTALS['parser_cases']} S3 parser cases "
            f"(S3 NotImplemented 501: {_TOTALS['not_implemented']}; FUZZ_EXAMPLES={EXAMPLES} per property)"
        )
