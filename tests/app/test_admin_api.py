"""The admin API: auth, tokens, keys, roles, revocations, clock, audit — and bad bodies never 500."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest


def _call(server, method, path, body=None, token=None):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(
        server.url + path,
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token or server.admin_token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, (json.loads(raw) if raw else None)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def test_admin_needs_the_token(stsmock_server):
    status, body = _call(stsmock_server, "GET", "/admin/info", token="wrong-token-wrong-token")
    assert status == 401 and body["error"] == "invalid_token"
    status, body = _call(stsmock_server, "GET", "/admin/info")
    assert status == 200 and body["base_url"] == stsmock_server.url


def test_admin_token_file_is_private(stsmock_server):
    path = stsmock_server.data_dir / "admin-token"
    assert path.read_text().strip() == stsmock_server.admin_token
    assert path.stat().st_mode & 0o777 == 0o600


def test_mint_token_with_arbitrary_claims_verifies(stsmock_server):
    import jwt

    status, body = _call(
        stsmock_server, "POST", "/admin/tokens", {"sub": "alice", "aud": "X", "claims": {"groups": ["a"]}, "ttl": 60}
    )
    assert status == 200
    client = jwt.PyJWKClient(stsmock_server.url + "/jwks")
    key = client.get_signing_key_from_jwt(body["token"])
    claims = jwt.decode(body["token"], key.key, algorithms=["RS256"], audience="X", issuer=stsmock_server.url)
    assert claims["groups"] == ["a"] and claims["exp"] - claims["iat"] == 60


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/admin/tokens", b"{not json"),
        ("POST", "/admin/tokens", {"ttl": "soon"}),
        ("POST", "/admin/tokens", {"unknown": 1}),
        ("POST", "/admin/tokens", {"issuer": "nope"}),
        ("POST", "/admin/revocations", {"by": "everything", "value": "x"}),
        ("POST", "/admin/clock", {"action": "advance"}),
        ("PUT", "/admin/roles/bad", {"trust_policy": {"Statement": "nope"}}),
        (
            "PUT",
            "/admin/roles/bad",
            {"trust_policy": {"Version": "2012-10-17", "Statement": []}, "max_session_duration": 5},
        ),
        ("DELETE", "/admin/revocations/abc", None),
    ],
)
def test_bad_admin_bodies_get_400_or_404(stsmock_server, method, path, body):
    status, payload = _call(stsmock_server, method, path, body)
    assert status in (400, 404), payload
    assert payload["error"] and payload["error_description"]


def test_roles_at_runtime(stsmock, stsmock_server):
    trust = stsmock.web_identity_trust(sub="carol")
    status, role = _call(
        stsmock_server, "PUT", "/admin/roles/carol-role", {"trust_policy": trust, "max_session_duration": 7200}
    )
    assert status == 200 and role["arn"] == "arn:aws:iam::000000000000:role/carol-role"
    creds = stsmock.assume(role["arn"], stsmock.token("carol"))
    assert stsmock.whoami(creds)["Arn"].endswith("assumed-role/carol-role/test-session")
    status, listing = _call(stsmock_server, "GET", "/admin/roles")
    assert "carol-role" in {r["name"] for r in listing["roles"]}
    assert _call(stsmock_server, "DELETE", "/admin/roles/carol-role")[0] == 204
    assert _call(stsmock_server, "DELETE", "/admin/roles/carol-role")[0] == 404


def test_clock_and_keys_and_audit(stsmock_server):
    status, state = _call(stsmock_server, "POST", "/admin/clock", {"action": "freeze"})
    assert status == 200 and state["frozen"]
    status, advanced = _call(stsmock_server, "POST", "/admin/clock", {"action": "advance", "seconds": 7200})
    assert advanced["now"] == pytest.approx(state["now"] + 7200)
    _call(stsmock_server, "POST", "/admin/clock", {"action": "reset"})
    status, keys = _call(stsmock_server, "GET", "/admin/keys")
    assert keys["default"][0]["state"] == "active"
    status, rotated = _call(stsmock_server, "POST", "/admin/keys/rotate", {"issuer": "default"})
    assert status == 200
    status, audit = _call(stsmock_server, "GET", "/admin/audit?event=admin")
    events = [r["event"] for r in audit["records"]]
    assert "admin.clock" in events and "admin.key_rotated" in events


@pytest.mark.stsmock_config(
    {"issuers": [{"name": "default", "debug": True, "clients": [{"client_id": "c1", "client_secret": "right-secret"}]}]}
)
def test_issuer_debug_mode_names_the_failed_check(stsmock_server):
    import base64
    import urllib.parse

    basic = base64.b64encode(b"c1:right-secret").decode()
    request = urllib.request.Request(
        stsmock_server.url + "/token",
        data=urllib.parse.urlencode({"grant_type": "password", "username": "nobody", "password": "x"}).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
    )
    try:
        urllib.request.urlopen(request, timeout=10)
        raise AssertionError("expected an OAuth error")
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read())
    assert body["error"] == "invalid_grant"
    assert "[check: " in body["error_description"]
    denied = stsmock_server.runtime.audit.query(event="token.denied")[-1]
    assert denied["check"] and f"[check: {denied['check']}]" in body["error_description"]


def test_sts_and_token_endpoint_share_one_group_commit(stsmock_server):
    """Durable writes of concurrent requests share a transaction; a wiring slip would lose that."""
    runtime = stsmock_server.runtime
    assert runtime.group_commit is not None
    assert runtime.sts.ext.commit == runtime.group_commit.run
    assert runtime.audit._commit == runtime.group_commit.run
