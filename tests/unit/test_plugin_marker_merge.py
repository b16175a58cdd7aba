"""The ``stsmock_config`` marker merges a dict into the embedded default (named items by name)."""

from __future__ import annotations

import pytest

from stsmock.pytest_plugin import merge_config


def test_merge_keeps_the_default_and_merges_named_items():
    base = {
        "server": {"port": 8400, "host": "127.0.0.1"},
        "issuers": [{"name": "default", "clients": [{"client_id": "dev", "secret": "s"}], "debug": False}],
        "sts": {"roles": [{"name": "dev"}]},
    }
    overlay = {
        "server": {"port": 0},
        "issuers": [{"name": "default", "debug": True, "clients": [{"client_id": "c1"}]}],
        "sts": {"roles": [{"name": "bg"}]},
    }
    merged = merge_config(base, overlay)
    assert merged["server"] == {"port": 0, "host": "127.0.0.1"}
    issuer = merged["issuers"][0]
    assert issuer["debug"] is True
    assert [c["client_id"] for c in issuer["clients"]] == ["dev", "c1"]
    assert [r["name"] for r in merged["sts"]["roles"]] == ["dev", "bg"]


_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Deny", "Principal": {"Federated": "x"}, "Action": "sts:AssumeRoleWithWebIdentity"}],
}


@pytest.mark.stsmock_config({"sts": {"roles": [{"name": "extra", "trust_policy": _TRUST}]}})
def test_marker_adds_to_the_default_config(stsmock_server):
    config = stsmock_server.runtime.config
    assert {r.name for r in config.sts.roles} == {"stsmock-dev", "extra"}
    assert config.issuer("default").client("stsmock-dev") is not None  # the default client is still there
