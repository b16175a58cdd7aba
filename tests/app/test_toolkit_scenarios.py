"""Architect's toolkit scenarios: revocation, the virtual clock and the audit query."""

from __future__ import annotations

import base64
import json
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError


def _introspect(stsmock, token: str) -> dict:
    basic = base64.b64encode(b"stsmock-dev:stsmock-dev-secret").decode()
    request = urllib.request.Request(
        stsmock.url + "/introspect",
        data=urllib.parse.urlencode({"token": token}).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _client_credentials_token(stsmock) -> str:
    basic = base64.b64encode(b"stsmock-dev:stsmock-dev-secret").decode()
    request = urllib.request.Request(
        stsmock.url + "/token",
        data=b"grant_type=client_credentials",
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["access_token"]


def test_revoke_subject_everywhere_at_once(stsmock):
    token = _client_credentials_token(stsmock)  # sub = stsmock-dev (the client)
    creds = stsmock.assume(token=token)
    assert stsmock.whoami(creds)["Arn"].endswith("/test-session")
    assert _introspect(stsmock, token)["active"] is True

    record = stsmock.revoke("sub", "stsmock-dev", reason="laptop stolen")

    with pytest.raises(ClientError) as excinfo:
        stsmock.whoami(creds)
    assert excinfo.value.response["Error"]["Code"] == "InvalidClientTokenId"
    with pytest.raises(ClientError) as excinfo:
        stsmock.assume(token=token)
    error = excinfo.value.response["Error"]
    assert error["Code"] == "IDPRejectedClaim"
    assert f"revocation #{record['id']}" in error["Message"] and "laptop stolen" in error["Message"]
    assert _introspect(stsmock, token)["active"] is False
    denial = stsmock.audit(event="sts.decision", decision="deny")[-1]
    assert denial["check"] == "revoked"


def test_revoke_access_key_and_session(stsmock):
    creds = stsmock.assume(session_name="s-one")
    other = stsmock.assume(session_name="s-two")
    stsmock.revoke("access_key", creds["aws_access_key_id"])
    with pytest.raises(ClientError):
        stsmock.whoami(creds)
    assert stsmock.whoami(other)["Arn"].endswith("/s-two")
    stsmock.revoke("session", f"{stsmock.default_role_arn}/s-two")
    with pytest.raises(ClientError):
        stsmock.whoami(other)


def test_revoke_role_cutoff_spares_later_sessions(stsmock):
    before = stsmock.assume()
    stsmock.advance(5)
    stsmock.revoke("role_arn", stsmock.default_role_arn)
    stsmock.advance(5)
    after = stsmock.assume(token=stsmock.token("later"))
    with pytest.raises(ClientError):
        stsmock.whoami(before)
    assert stsmock.whoami(after)


def test_revocations_survive_restart(stsmock_server, tmp_path):
    from stsmock.revocations import RevocationRegistry
    from stsmock.store import Store

    stsmock_server.runtime.revocations.revoke("jti", "abc", reason="persist me")
    store = Store(stsmock_server.data_dir / "state.db", now=lambda: 0.0)
    fresh = RevocationRegistry(store, now=lambda: 0.0)
    assert fresh.check({"jti": "abc"})["reason"] == "persist me"


def test_frozen_clock_advanced_two_hours(stsmock):
    stsmock.freeze()
    token = stsmock.token("timetraveller", ttl=3600)
    creds = stsmock.assume(token=token, duration=3600)
    stsmock.advance(2 * 3600)
    with pytest.raises(ClientError) as excinfo:
        stsmock.assume(token=token)
    assert excinfo.value.response["Error"]["Code"] == "ExpiredTokenException"
    with pytest.raises(ClientError) as excinfo:
        stsmock.whoami(creds)
    assert excinfo.value.response["Error"]["Code"] in ("ExpiredToken", "RequestExpired")
    assert _introspect(stsmock, token)["active"] is False


def test_audit_query_returns_the_deny_with_its_check(stsmock, stsmock_server):
    with pytest.raises(ClientError):
        stsmock.assume(token=stsmock.token("mallory", aud="not-allowed"))
    request = urllib.request.Request(
        stsmock.url + "/admin/audit?subject=mallory&decision=deny",
        headers={"Authorization": f"Bearer {stsmock_server.admin_token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        records = json.loads(response.read())["records"]
    assert records and records[-1]["check"] == "aud"
    assert records[-1]["code"] == "InvalidIdentityToken"
    text = json.dumps(records)
    assert "eyJ" not in text  # no whole token ever reaches the audit log
    jsonl = (stsmock_server.data_dir / "audit.jsonl").read_text()
    assert '"check":"aud"' in jsonl and "eyJ" not in jsonl
