"""Fixtures every test directory may use: a real PostgreSQL cluster (session-wide, started once)."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "tooling"))

from postgres import PgCluster  # noqa: E402  (tests/tooling, put on the path just above)

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL for the whole run. On CI its absence fails the run: nothing skips."""
    try:
        cluster = PgCluster()
    except RuntimeError as exc:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL here: {exc}")
    yield cluster
    cluster.close()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh, empty database per test (isolated state, one server)."""
    return pg_cluster.fresh_database(f"t{os.getpid()}_{next(_databases)}")
