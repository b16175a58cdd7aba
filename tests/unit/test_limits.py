"""Pure pieces of the bounded-resources work: the descriptor-aware connection limit and /healthz's probe."""

from __future__ import annotations

import resource

from stsmock.connections import Limits
from stsmock.health import store_problem
from stsmock.store import Store


def test_connection_limit_fits_the_descriptor_limit(monkeypatch) -> None:
    monkeypatch.setattr(resource, "getrlimit", lambda which: (256, 4096))
    assert Limits(max_connections=512).effective_max() == 192  # 300 idle sockets can no longer starve accept()
    assert Limits(max_connections=100).effective_max() == 100
    monkeypatch.setattr(resource, "getrlimit", lambda which: (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    assert Limits(max_connections=512).effective_max() == 512


def test_healthz_probe_reports_a_read_only_store(tmp_path) -> None:
    store = Store(tmp_path / "state.db", now=lambda: 0.0)
    try:
        assert store_problem(store) is None
        store._db.execute("PRAGMA query_only = 1")  # SQLite refuses every write, as for a read-only file
        problem = store_problem(store)
        assert problem is not None and "state.db cannot be written" in problem and "readonly" in problem
    finally:
        store.close()
