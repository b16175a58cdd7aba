"""The wrong behaviours of issue 11, each against the running app with real HTTP clients."""

from __future__ import annotations

import json
import subprocess
import sys

import requests


def test_a_fault_rule_that_never_matches_leaves_the_token_endpoint_working(stsmock, stsmock_server):
    """The fault middleware reads the token form to match on it; the handler must still see the body."""
    stsmock.fault("token", error="invalid_client", client_id="nobody-has-this-id")
    try:
        resp = requests.post(
            stsmock.url + "/token",
            data={"grant_type": "client_credentials"},
            auth=("stsmock-dev", "stsmock-dev-secret"),
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["access_token"]
        post = requests.post(
            stsmock.url + "/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "stsmock-dev",
                "client_secret": "stsmock-dev-secret",
            },
            timeout=10,
        )
        assert post.status_code == 200, post.text
    finally:
        stsmock.clear_faults()


def _id_token(url: str) -> str:
    resp = requests.post(
        url + "/token",
        data={"grant_type": "password", "username": "dev", "password": "dev", "scope": "openid"},
        auth=("stsmock-dev", "stsmock-dev-secret"),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id_token"])


def test_logout_under_the_default_wildcard_accepts_real_uris_and_never_redirects_to_a_star(stsmock):
    """Default config: post_logout_redirect_uris: ["*"]."""
    hint = _id_token(stsmock.url)
    ok = requests.get(
        stsmock.url + "/logout",
        params={"id_token_hint": hint, "post_logout_redirect_uri": "https://app.example/bye", "state": "s1"},
        allow_redirects=False,
        timeout=10,
    )
    assert ok.status_code == 302 and ok.headers["Location"] == "https://app.example/bye?state=s1"
    for bad in ("*", "not a url", "https://app.example/bye#frag", "javascript:alert(1)"):
        resp = requests.get(
            stsmock.url + "/logout",
            params={"client_id": "stsmock-dev", "post_logout_redirect_uri": bad},
            allow_redirects=False,
            timeout=10,
        )
        assert resp.status_code == 400, (bad, resp.status_code)
        assert "Location" not in resp.headers


def test_authorize_never_redirects_to_a_literal_star(stsmock):
    resp = requests.get(
        stsmock.url + "/authorize",
        params={"response_type": "code", "client_id": "stsmock-dev", "redirect_uri": "*", "login_hint": "dev"},
        allow_redirects=False,
        timeout=10,
    )
    assert resp.status_code == 400 and "Location" not in resp.headers


def test_key_events_are_high_severity(stsmock_server):
    requests.post(
        stsmock_server.url + "/admin/keys/rotate",
        json={"issuer": "default"},
        headers={"Authorization": f"Bearer {stsmock_server.admin_token}"},
        timeout=10,
    ).raise_for_status()
    created = stsmock_server.runtime.audit.query(event="key.created")
    assert created and {r["severity"] for r in created} == {"high"}


def test_stsmock_audit_shows_the_newest_records(stsmock_server):
    for i in range(30):
        stsmock_server.runtime.audit.record("test.marker", n=i)
    args = [sys.executable, "-m", "cli.main", "audit", "--event", "test.marker", "--limit", "5", "--json"]
    args += ["--url", stsmock_server.url, "--admin-token", stsmock_server.admin_token]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True).stdout
    shown = [json.loads(line)["n"] for line in out.splitlines()]
    assert shown == [25, 26, 27, 28, 29]  # the newest five, oldest of them first


def test_console_cookie_stops_working_after_sign_out(stsmock_server):
    import re

    url = stsmock_server.url
    browser = requests.Session()
    login = browser.post(
        url + "/ui/login", data={"token": stsmock_server.admin_token}, allow_redirects=False, timeout=10
    )
    assert login.status_code == 303
    cookie = browser.cookies.get("stsmock_console")
    page = browser.get(url + "/ui", timeout=10)
    assert page.status_code == 200
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    out = browser.post(url + "/ui/logout", data={"csrf": csrf}, allow_redirects=False, timeout=10)
    assert out.status_code == 303
    replay = requests.get(url + "/ui", cookies={"stsmock_console": cookie}, allow_redirects=False, timeout=10)
    assert replay.status_code == 303 and replay.headers["Location"] == "/ui/login"  # the stolen cookie is dead
    again = requests.Session()
    again.post(url + "/ui/login", data={"token": stsmock_server.admin_token}, timeout=10)
    assert again.cookies.get("stsmock_console") != cookie  # each sign-in is a new session
    assert again.get(url + "/ui", allow_redirects=False, timeout=10).status_code == 200
