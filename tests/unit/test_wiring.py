"""The composition root hands every collaborator over at construction; nothing is patched in later."""

from __future__ import annotations

from stsmock.app import app_for_runtime
from stsmock.config import load_config
from stsmock.runtime import RUNTIME
from stsmock.wiring import build_runtime


def test_the_sts_gets_its_hooks_and_shares_the_roles_at_construction(tmp_path):
    runtime = build_runtime(load_config(None), data_dir=tmp_path, base_url="http://stsmock.test/")
    try:
        ext = runtime.sts.ext
        assert ext.observe == runtime.metrics.on_decision  # metrics observe decisions from the start
        assert ext.break_glass == runtime.breakglass.check
        assert ext.break_glass_used == runtime.breakglass.used
        assert ext.commit == runtime.group_commit.run
        assert ext.fault is not None
        assert runtime.breakglass.roles is runtime.sts.roles  # arming sees roles added at run time
        assert runtime.base_url == "http://stsmock.test"
        assert runtime.issuer_urls() == {"default": "http://stsmock.test"}
        assert runtime.revocation_listeners == []  # no upstream configured
    finally:
        runtime.audit.close()
        runtime.store.close()


def test_revocations_are_audited_then_handed_to_every_listener(tmp_path):
    runtime = build_runtime(load_config(None), data_dir=tmp_path, base_url="http://stsmock.test")
    seen: list[object] = []
    runtime.revocation_listeners.append(lambda record: seen.append(record["value"]))
    try:
        runtime.revocations.revoke("sub", "alice", reason="test")
        assert seen == ["alice"]
        assert runtime.audit.query(event="revocation.added")[-1]["revocation"]["value"] == "alice"
    finally:
        runtime.audit.close()
        runtime.store.close()


def test_app_mounts_the_runtime_with_one_middleware_list_and_cleanup_contexts(tmp_path):
    runtime = build_runtime(load_config(None), data_dir=tmp_path, base_url="http://stsmock.test")
    app = app_for_runtime(runtime)
    assert app[RUNTIME] is runtime
    names = [m.__name__ for m in app.middlewares]  # type: ignore[union-attr]
    assert names == ["metrics_middleware", "error_middleware", "admin_auth", "body_timeout", "faults_middleware"]
    assert len(app.cleanup_ctx) == 5  # closing, purging, token files, webhooks, delivery listeners
    runtime.audit.close()
    runtime.store.close()
