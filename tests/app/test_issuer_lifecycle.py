"""Refresh rotation, device flow, token exchange, introspection, revocation, userinfo and logout."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
AT = "urn:ietf:params:oauth:token-type:access_token"
IDT = "urn:ietf:params:oauth:token-type:id_token"


async def _introspect(env, h, token: str) -> dict:
    resp = await env.client.post("/introspect", data={"token": token}, headers=h.web)
    assert resp.status == 200
    return await resp.json()


async def _password(env, h, scope="openid offline_access") -> dict:
    resp = await env.client.post(
        "/token",
        data={"grant_type": "password", "username": "alice", "password": "alice-pw", "scope": scope},
        headers=h.web,
    )
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_refresh_rotation_and_reuse_revokes_family(issuer_env, issuer_h):
    env, h = issuer_env, issuer_h
    first = await _password(env, h)

    def refresh(rt: str):  # noqa: ANN202
        return env.client.post("/token", data={"grant_type": "refresh_token", "refresh_token": rt}, headers=h.web)

    second = await (await refresh(first["refresh_token"])).json()
    assert second["refresh_token"] != first["refresh_token"]
    third = await (await refresh(second["refresh_token"])).json()
    assert (await _introspect(env, h, third["refresh_token"]))["active"] is True
    assert (await _introspect(env, h, third["access_token"]))["active"] is True
    # scope can narrow but not widen
    resp = await env.client.post(
        "/token",
        data={"grant_type": "refresh_token", "scope": "openid s3", "refresh_token": third["refresh_token"]},
        headers=h.web,
    )
    assert (await resp.json())["error"] == "invalid_scope"
    # reuse of an already-rotated token
    resp = await refresh(first["refresh_token"])
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"
    for token in (first["access_token"], second["access_token"], third["access_token"], third["refresh_token"]):
        assert await _introspect(env, h, token) == {"active": False}
    resp = await refresh(third["refresh_token"])
    assert (await resp.json())["error"] == "invalid_grant"
    assert "token.family_revoked" in env.audit.names()
    # refresh token of another client
    other = await _password(env, h)
    resp = await env.client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": other["refresh_token"]},
        headers=h.basic("tmpl", "tmpl-secret"),
    )
    assert (await resp.json())["error"] in ("invalid_grant", "unauthorized_client")


async def test_refresh_token_expiry_follows_clock(issuer_env, issuer_h):
    env, h = issuer_env, issuer_h
    first = await _password(env, h)
    env.clock.advance(env.svc.settings.refresh_token_ttl + 1)
    resp = await env.client.post(
        "/token", data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}, headers=h.web
    )
    assert (await resp.json())["error"] == "invalid_grant"


async def _device_start(env, h) -> dict:
    resp = await env.client.post("/device_authorization", data={"scope": "openid"}, headers=h.web)
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    return await resp.json()


async def _poll(env, h, device_code: str):
    return await env.client.post("/token", data={"grant_type": DEVICE, "device_code": device_code}, headers=h.web)


async def test_device_flow_pending_slow_down_approve(issuer_factory, issuer_h, issuer_verify):
    env = await issuer_factory(issuer_h.settings(device_poll_interval=5), second=False)
    h = issuer_h
    dev = await _device_start(env, h)
    assert dev["interval"] == 5 and dev["expires_in"] == 600
    assert dev["verification_uri"] == env.base_url + "/device"
    assert (await (await _poll(env, h, dev["device_code"])).json())["error"] == "authorization_pending"
    assert (await (await _poll(env, h, dev["device_code"])).json())["error"] == "slow_down"
    env.clock.advance(11)
    assert (await (await _poll(env, h, dev["device_code"])).json())["error"] == "authorization_pending"
    # verification page: entry form, then the login form via verification_uri_complete
    entry = await env.client.get("/device")
    assert entry.status == 200 and 'name="user_code"' in await entry.text()
    bad = await env.client.get("/device", params={"user_code": "BBBB-BBBB"})
    assert bad.status == 400
    complete = dev["verification_uri_complete"].removeprefix(env.base_url)
    page = await env.client.get(complete)
    fields = h.form_fields(await page.text())
    resp = await env.client.post(
        "/device", data={**fields, "username": "alice", "password": "alice-pw", "action": "approve"}
    )
    assert resp.status == 200 and "approved" in (await resp.text()).lower()
    resp = await _poll(env, h, dev["device_code"])
    body = await resp.json()
    claims = await issuer_verify(env.base_url + "/jwks", body["access_token"], audience="sts")
    assert claims["sub"] == "alice" and body["refresh_token"] and body["id_token"]
    assert (await (await _poll(env, h, dev["device_code"])).json())["error"] == "invalid_grant"


async def test_device_flow_deny_and_expiry(issuer_env, issuer_h):
    env, h = issuer_env, issuer_h
    dev = await _device_start(env, h)
    page = await env.client.get("/device", params={"user_code": dev["user_code"].replace("-", "").lower()})
    fields = h.form_fields(await page.text())
    await env.client.post("/device", data={**fields, "action": "deny"})
    assert (await (await _poll(env, h, dev["device_code"])).json())["error"] == "access_denied"

    dev = await _device_start(env, h)
    env.clock.advance(env.svc.settings.device_code_ttl + 1)
    resp = await _poll(env, h, dev["device_code"])
    assert resp.status == 400 and (await resp.json())["error"] == "expired_token"
    assert (await env.client.get("/device", params={"user_code": dev["user_code"]})).status == 400
    # device code bound to its client
    dev = await _device_start(env, h)
    resp = await env.client.post(
        "/token", data={"grant_type": DEVICE, "device_code": dev["device_code"]}, headers=h.basic("svc", "svc s3cr:t/+")
    )
    assert (await resp.json())["error"] == "unauthorized_client"


async def test_token_exchange_own_issuer(issuer_env, issuer_h, issuer_verify):
    env, h = issuer_env, issuer_h
    subject = await _password(env, h, scope="openid s3")
    resp = await env.client.post(
        "/token",
        data=[
            ("grant_type", EXCHANGE),
            ("subject_token", subject["id_token"]),
            ("subject_token_type", IDT),
            ("audience", "minio"),
            ("resource", "https://s3.example/"),
            ("scope", "s3"),
            ("actor_token", subject["access_token"]),
            ("actor_token_type", AT),
        ],
        headers=h.web,
    )
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["issued_token_type"] == AT and body["token_type"] == "Bearer" and body["scope"] == "s3"
    claims = await issuer_verify(env.base_url + "/jwks", body["access_token"], audience="minio")
    assert claims["aud"] == ["minio", "https://s3.example/"]
    assert claims["sub"] == "alice" and claims["email"] == "alice@example.org"
    assert claims["act"]["sub"] == "alice"
    # expired / revoked / foreign subject tokens are invalid_request (RFC 8693 §2.2.2)
    await env.client.post("/revoke", data={"token": subject["access_token"]}, headers=h.web)
    resp = await env.client.post(
        "/token",
        data={"grant_type": EXCHANGE, "subject_token": subject["access_token"], "subject_token_type": AT},
        headers=h.web,
    )
    assert (await resp.json())["error"] == "invalid_request"
    b = env.services["b"].mint({"sub": "mallory"})
    resp = await env.client.post(
        "/token", data={"grant_type": EXCHANGE, "subject_token": b, "subject_token_type": AT}, headers=h.web
    )
    assert (await resp.json())["error"] == "invalid_request"
    resp = await env.client.post(
        "/token",
        data={"grant_type": EXCHANGE, "subject_token": subject["id_token"], "subject_token_type": "urn:x:saml"},
        headers=h.web,
    )
    assert (await resp.json())["error"] == "invalid_request"
    env.clock.advance(7200)
    resp = await env.client.post(
        "/token",
        data={"grant_type": EXCHANGE, "subject_token": subject["id_token"], "subject_token_type": IDT},
        headers=h.web,
    )
    assert (await resp.json())["error"] == "invalid_request"


async def test_token_exchange_external_issuer(issuer_factory, issuer_h, issuer_verify):
    seen: list[str] = []

    async def verifier(token: str) -> dict:
        seen.append(token)
        if token.endswith("bad"):
            raise ValueError("signature mismatch")
        return {"iss": "https://ext.example", "sub": "ext-user", "groups": ["g1"], "aud": "whatever"}

    import base64
    import json

    def fake_jwt(iss: str, tail: str = "sig") -> str:
        enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
        return f"{enc({'alg': 'RS256'})}.{enc({'iss': iss, 'sub': 'ext-user'})}.{tail}"

    env = await issuer_factory(
        issuer_h.settings(trusted_subject_issuers=["https://ext.example"]),
        second=False,
        external_token_verifier=verifier,
    )
    resp = await env.client.post(
        "/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": fake_jwt("https://ext.example"),
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        },
        headers=issuer_h.web,
    )
    assert resp.status == 200, await resp.text()
    claims = await issuer_verify(env.base_url + "/jwks", (await resp.json())["access_token"], audience="sts")
    assert claims["sub"] == "ext-user" and claims["groups"] == ["g1"] and claims["iss"] == env.base_url
    resp = await env.client.post(
        "/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": fake_jwt("https://ext.example", "bad"),
            "subject_token_type": AT,
        },
        headers=issuer_h.web,
    )
    body = await resp.json()
    assert body["error"] == "invalid_request" and "signature mismatch" in body["error_description"]
    resp = await env.client.post(
        "/token",
        data={"grant_type": EXCHANGE, "subject_token": fake_jwt("https://untrusted.example"), "subject_token_type": AT},
        headers=issuer_h.web,
    )
    assert (await resp.json())["error"] == "invalid_request"
    assert len(seen) == 2


async def test_introspection_and_revocation(issuer_env, issuer_h):
    env, h = issuer_env, issuer_h
    tokens = await _password(env, h)
    info = await _introspect(env, h, tokens["access_token"])
    assert info["active"] is True and info["sub"] == "alice" and info["client_id"] == "web"
    assert info["scope"] == "openid offline_access" and info["iss"] == env.base_url
    rt = await _introspect(env, h, tokens["refresh_token"])
    assert rt["active"] is True and rt["token_type"] == "refresh_token"
    assert await _introspect(env, h, "garbage") == {"active": False}
    assert await _introspect(env, h, env.services["b"].mint({"sub": "x"})) == {"active": False}
    # introspection requires client authentication
    resp = await env.client.post("/introspect", data={"token": tokens["access_token"]})
    assert resp.status == 401
    # revocation: unknown tokens are 200; revoking an access token makes it inactive and tells the registry
    assert (await env.client.post("/revoke", data={"token": "unknown"}, headers=h.web)).status == 200
    resp = await env.client.post(
        "/revoke", data={"token": tokens["access_token"], "token_type_hint": "access_token"}, headers=h.web
    )
    assert resp.status == 200
    assert await _introspect(env, h, tokens["access_token"]) == {"active": False}
    jti = h.claims(tokens["access_token"])["jti"]
    assert {"by": "jti", "value": jti, "source": "oauth-revoke"}.items() <= env.revocations.records[-1].items()
    # revoking a refresh token revokes its family
    fresh = await _password(env, h)
    await env.client.post("/revoke", data={"token": fresh["refresh_token"]}, headers=h.web)
    assert await _introspect(env, h, fresh["refresh_token"]) == {"active": False}
    assert await _introspect(env, h, fresh["access_token"]) == {"active": False}
    # another client cannot revoke web's tokens
    other = await _password(env, h)
    await env.client.post("/revoke", data={"token": other["access_token"]}, headers=h.basic("tmpl", "tmpl-secret"))
    assert (await _introspect(env, h, other["access_token"]))["active"] is True
    # shared registry revocations (e.g. by sub from the admin API) are honoured
    env.revocations.revoke("sub", "alice", reason="admin")
    assert await _introspect(env, h, other["access_token"]) == {"active": False}
    # expiry follows the clock
    cc = await (await env.client.post("/token", data={"grant_type": "client_credentials"}, headers=h.web)).json()
    env.clock.advance(3601)
    assert await _introspect(env, h, cc["access_token"]) == {"active": False}
    resp = await env.client.post("/revoke", data={"token": "x", "token_type_hint": "weird"}, headers=h.web)
    assert (await resp.json())["error"] == "unsupported_token_type"


async def test_userinfo(issuer_env, issuer_h):
    env, h = issuer_env, issuer_h
    tokens = await _password(env, h)
    for method in ("GET", "POST"):
        resp = await env.client.request(
            method, "/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        )
        assert resp.status == 200
        body = await resp.json()
        assert body["sub"] == "alice" and body["email"] == "alice@example.org" and "exp" not in body
    resp = await env.client.post("/userinfo", data={"access_token": tokens["access_token"]})
    assert resp.status == 200
    resp = await env.client.get("/userinfo", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401 and resp.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    resp = await env.client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['id_token']}"})
    assert resp.status == 401  # an ID token is not an access token
    resp = await env.client.get("/userinfo")
    assert resp.status == 401 and "Bearer" in resp.headers["WWW-Authenticate"]
    cc = await (await env.client.post("/token", data={"grant_type": "client_credentials"}, headers=h.web)).json()
    resp = await env.client.get("/userinfo", headers={"Authorization": f"Bearer {cc['access_token']}"})
    assert resp.status == 403 and (await resp.json())["error"] == "insufficient_scope"


async def test_logout(issuer_env, issuer_h):
    env, h = issuer_env, issuer_h
    tokens = await _password(env, h)
    env.clock.advance(7200)  # expired hints are still acceptable
    resp = await env.client.get(
        "/logout",
        params={
            "id_token_hint": tokens["id_token"],
            "state": "s1",
            "post_logout_redirect_uri": "http://127.0.0.1:9999/bye",
        },
        allow_redirects=False,
    )
    assert resp.status == 302
    loc = urlsplit(resp.headers["Location"])
    assert loc.path == "/bye" and parse_qs(loc.query) == {"state": ["s1"]}
    resp = await env.client.get(
        "/logout",
        params={"client_id": "web", "post_logout_redirect_uri": "http://127.0.0.1:9999/bye"},
        allow_redirects=False,
    )
    assert resp.status == 302 and resp.headers["Location"] == "http://127.0.0.1:9999/bye"
    for params in (
        {"id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "http://evil/"},
        {"post_logout_redirect_uri": "http://127.0.0.1:9999/bye"},
        {"id_token_hint": "forged.token.x"},
        {"id_token_hint": tokens["id_token"], "client_id": "tmpl"},
    ):
        resp = await env.client.get("/logout", params=params, allow_redirects=False)
        assert resp.status == 400 and "Location" not in resp.headers, params
    resp = await env.client.get("/logout")
    assert resp.status == 200 and "signed out" in (await resp.text()).lower()


async def test_restart_and_rotation_against_live_jwks(issuer_factory, issuer_h, issuer_verify, tmp_path):
    first = await issuer_factory(data_dir=tmp_path / "data", second=False)
    before = await _password(first, issuer_h)
    # a new service (new KeyManager) on the same data dir: the old token still verifies via the live JWKS
    second = await issuer_factory(data_dir=tmp_path / "data", second=False)
    await issuer_verify(second.base_url + "/jwks", before["access_token"], audience="sts")
    old_kid = issuer_h.header(before["access_token"])["kid"]
    second.svc.keys.rotate()
    after = await _password(second, issuer_h)
    assert issuer_h.header(after["access_token"])["kid"] != old_kid
    jwks = await (await second.client.get("/jwks")).json()
    assert jwks["keys"][0]["kid"] == issuer_h.header(after["access_token"])["kid"]
    await issuer_verify(second.base_url + "/jwks", before["access_token"], audience="sts")
    await issuer_verify(second.base_url + "/jwks", after["access_token"], audience="sts")
    second.svc.keys.retire(old_kid, immediately=True)
    import jwt as pyjwt
    import pytest

    with pytest.raises(pyjwt.PyJWKClientError):
        await issuer_verify(second.base_url + "/jwks", before["access_token"], audience="sts")
    await issuer_verify(second.base_url + "/jwks", after["access_token"], audience="sts")
