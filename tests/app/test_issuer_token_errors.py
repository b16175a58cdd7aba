"""RFC 6749 error behaviour of the token-side endpoints: JSON, right status, never a 500."""

from __future__ import annotations

import pytest


async def _err(resp, status: int, error: str) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    assert body["error"] == error, body
    return body


async def test_wrong_or_missing_secret_is_401_with_challenge(issuer_env, issuer_h):
    c = issuer_env.client
    for headers, data in [
        (issuer_h.basic("web", "wrong"), {}),
        ({}, {"client_id": "web"}),
        ({}, {"client_id": "web", "client_secret": "wrong"}),
        ({}, {"client_id": "ghost", "client_secret": "x"}),
        ({"Authorization": "Basic !!!notbase64"}, {}),
        ({}, {}),
    ]:
        resp = await c.post("/token", data={"grant_type": "client_credentials", **data}, headers=headers)
        await _err(resp, 401, "invalid_client")
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="stsmock"'
    assert any(e == "token.denied" and f["error"] == "invalid_client" for e, f in issuer_env.audit.events)


async def test_grant_errors(issuer_env, issuer_h):
    c, web = issuer_env.client, issuer_h.web
    await _err(await c.post("/token", data={"grant_type": "urn:x:unknown"}, headers=web), 400, "unsupported_grant_type")
    await _err(await c.post("/token", data={}, headers=web), 400, "invalid_request")
    await _err(
        await c.post("/token", data={"grant_type": "password", "username": "alice"}, headers=web),
        400,
        "invalid_request",
    )
    await _err(
        await c.post("/token", data={"grant_type": "password", "username": "alice", "password": "x"}, headers=web),
        400,
        "invalid_grant",
    )
    await _err(
        await c.post("/token", data={"grant_type": "password", "username": "nobody", "password": "x"}, headers=web),
        400,
        "invalid_grant",
    )
    await _err(
        await c.post(
            "/token",
            data={"grant_type": "password", "username": "alice", "password": "alice-pw"},
            headers=issuer_h.basic("svc", "svc s3cr:t/+"),
        ),
        400,
        "unauthorized_client",
    )
    await _err(
        await c.post("/token", data={"grant_type": "client_credentials", "client_id": "spa"}),
        400,
        "unauthorized_client",
    )
    await _err(
        await c.post("/token", data={"grant_type": "client_credentials", "scope": "root"}, headers=web),
        400,
        "invalid_scope",
    )
    await _err(
        await c.post(
            "/token", data=[("grant_type", "client_credentials"), ("scope", "s3"), ("scope", "s3")], headers=web
        ),
        400,
        "invalid_request",
    )
    await _err(
        await c.post("/token", data={"grant_type": "refresh_token", "refresh_token": "nope"}, headers=web),
        400,
        "invalid_grant",
    )
    await _err(
        await c.post(
            "/token",
            data={"grant_type": "authorization_code", "code": "nope", "redirect_uri": issuer_h.redirect},
            headers=web,
        ),
        400,
        "invalid_grant",
    )


@pytest.mark.parametrize(
    "body,ctype",
    [
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
        (b"grant_type=%ZZ%E0%A4%A", "application/x-www-form-urlencoded"),
        (b'{"grant_type": "client_credentials"}', "application/json"),
        (b"grant_type=client_credentials&" + b"x=" + b"A" * 70_000, "application/x-www-form-urlencoded"),
        (b"a=" + b"B" * 300_000, "application/x-www-form-urlencoded"),
        (b"&&&===&&", "application/x-www-form-urlencoded"),
    ],
)
async def test_malformed_and_huge_bodies_never_500(issuer_env, issuer_h, body, ctype):
    for path in (
        "/token",
        "/introspect",
        "/revoke",
        "/device_authorization",
        "/authorize",
        "/device",
        "/logout",
        "/userinfo",
    ):
        resp = await issuer_env.client.post(path, data=body, headers={**issuer_h.web, "Content-Type": ctype})
        assert resp.status < 500, (path, resp.status, await resp.text())
        if path in ("/token", "/introspect", "/revoke"):
            assert 400 <= resp.status < 500 and (await resp.json())["error"]
        assert "Traceback" not in await resp.text()


async def test_huge_and_odd_query_inputs_never_500(issuer_env, issuer_h):
    c = issuer_env.client
    for params in (
        {"client_id": "web", "redirect_uri": issuer_h.redirect, "response_type": "code", "state": "s" * 5000},
        {"client_id": "x" * 5000},
        {
            "client_id": "web",
            "redirect_uri": issuer_h.redirect,
            "response_type": "code",
            "login_hint": "\x00\u202e",
            "scope": "openid",
        },
        {"user_code": "ÄÖÜ" * 100},
    ):
        for path in ("/authorize", "/device", "/logout"):
            resp = await c.get(path, params=params, allow_redirects=False)
            assert resp.status < 500, (path, params)
    resp = await c.get("/userinfo", headers={"Authorization": "Bearer " + "a.b.c" * 1500})
    assert resp.status == 401
    resp = await c.get("/token")
    assert resp.status == 405 and (await resp.json())["error"] == "invalid_request"
    resp = await c.post(
        "/token",
        data={
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "subject_token": "x" * 60_000,
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        },
        headers=issuer_h.web,
    )
    await _err(resp, 400, "invalid_request")
