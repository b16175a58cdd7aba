"""Expired console sessions are deleted by the sweep job (they were refused, but stayed in the store)."""

from __future__ import annotations

import time
from pathlib import Path

from stsmock.app import sweep_once
from stsmock.config import load_config
from stsmock.console.auth import KIND, SESSION_SECONDS, ConsoleAuth, console_key, sweep_sessions
from stsmock.wiring import build_runtime


def test_the_sweep_job_deletes_console_sessions_past_their_lifetime(tmp_path: Path) -> None:
    runtime = build_runtime(load_config(None), data_dir=tmp_path, base_url="http://stsmock.test")
    try:
        auth = ConsoleAuth(console_key(tmp_path), runtime.admin_token, secure=False, store=runtime.store)
        old = auth.start_session().split(".", 1)[0]
        fresh = auth.start_session().split(".", 1)[0]
        runtime.store.put(KIND, old, {"created": time.time() - SESSION_SECONDS - 60})
        runtime.store.put(KIND, "damaged", {"created": "not a number"})
        assert sweep_once(runtime) >= 2
        assert runtime.store.get(KIND, old) is None
        assert runtime.store.get(KIND, "damaged") is None
        assert runtime.store.get(KIND, fresh) is not None  # a live session stays
        assert sweep_sessions(runtime.store) == 0
    finally:
        runtime.store.close()


def test_moving_the_virtual_clock_does_not_sweep_live_sessions(tmp_path: Path) -> None:
    """Sessions are real-time bounded: a test that advances stsmock's clock by days keeps its console login."""
    runtime = build_runtime(load_config(None), data_dir=tmp_path, base_url="http://stsmock.test")
    try:
        auth = ConsoleAuth(console_key(tmp_path), runtime.admin_token, secure=False, store=runtime.store)
        sid = auth.start_session().split(".", 1)[0]
        runtime.clock.advance(30 * 86400)
        sweep_once(runtime)
        assert runtime.store.get(KIND, sid) is not None
    finally:
        runtime.store.close()
