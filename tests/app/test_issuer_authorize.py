"""Authorization endpoint: headless and HTML login, the check pipeline, PKCE and code reuse."""

from __future__ import annotations

import secrets
from urllib.parse import parse_qs, urlsplit


def _q(resp) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}


def _params(h, **over):
    verifier = secrets.token_urlsafe(48)
    params = {
        "response_type": "code",
        "client_id": "web",
        "redirect_uri": h.redirect,
        "scope": "openid s3",
        "state": "xyz",
        "nonce": "nn",
        "code_challenge": h.s256(verifier),
        "code_challenge_method": "S256",
    }
    params.update(over)
    return {k: v for k, v in params.items() if v is not None}, verifier


async def test_full_code_flow_headless_with_pkce(issuer_env, issuer_h, issuer_verify):
    code, verifier = await issuer_h.authorize_code(issuer_env)
    resp = await issuer_h.redeem(issuer_env, code, verifier)
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    claims = await issuer_verify(issuer_env.base_url + "/jwks", body["id_token"], audience="web")
    assert claims["sub"] == "alice" and claims["nonce"] == "n-1"
    assert body["scope"] == "openid offline_access s3"


async def test_public_client_plain_pkce_and_wildcard_redirect(issuer_env, issuer_h):
    code, verifier = await issuer_h.authorize_code(
        issuer_env,
        client_id="spa",
        scope="openid",
        redirect_uri="https://anything.example/cb?x=1",
        method="plain",
        login_hint="carol-adhoc",
    )
    resp = await issuer_h.redeem(
        issuer_env, code, verifier, client=("spa", None), redirect_uri="https://anything.example/cb?x=1"
    )
    assert resp.status == 200, await resp.text()
    assert issuer_h.claims((await resp.json())["access_token"])["sub"] == "carol-adhoc"


async def test_login_page_form_flow(issuer_env, issuer_h, issuer_verify):
    env = issuer_env
    params, verifier = _params(issuer_h)
    page = await env.client.get("/authorize", params=params)
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    fields = issuer_h.form_fields(html)
    assert set(fields) == {"req_id", "csrf_token"}
    # wrong password re-renders with an error
    resp = await env.client.post(
        "/authorize",
        data={**fields, "username": "alice", "password": "nope", "action": "approve"},
        allow_redirects=False,
    )
    assert resp.status == 400 and "wrong password" in await resp.text()
    # invalid JSON claims re-render with an error, values escaped
    resp = await env.client.post(
        "/authorize", data={**fields, "subject": "x", "claims": "{<b>oops", "action": "approve"}, allow_redirects=False
    )
    text = await resp.text()
    assert resp.status == 400 and "not valid JSON" in text and "<b>oops" not in text and "&lt;b&gt;oops" in text
    # bad CSRF token is refused
    resp = await env.client.post(
        "/authorize",
        data={**fields, "csrf_token": "forged", "subject": "x", "action": "approve"},
        allow_redirects=False,
    )
    assert resp.status == 403
    # approve as an ad-hoc subject with extra claims
    resp = await env.client.post(
        "/authorize",
        data={**fields, "subject": "dave", "claims": '{"tenant": "t1"}', "action": "approve"},
        allow_redirects=False,
    )
    assert resp.status == 302
    assert resp.headers["Location"].startswith(issuer_h.redirect + "?")
    q = _q(resp)
    assert q["state"] == "xyz" and q["iss"] == env.base_url
    token = await issuer_h.redeem(env, q["code"], verifier)
    body = await token.json()
    claims = await issuer_verify(env.base_url + "/jwks", body["access_token"], audience="sts")
    assert claims["sub"] == "dave" and claims["tenant"] == "t1"
    # the pending request is single-use
    resp = await env.client.post(
        "/authorize", data={**fields, "subject": "x", "action": "approve"}, allow_redirects=False
    )
    assert resp.status == 400


async def test_login_page_configured_user_and_deny(issuer_env, issuer_h):
    env = issuer_env
    params, verifier = _params(issuer_h)
    fields = issuer_h.form_fields(await (await env.client.get("/authorize", params=params)).text())
    resp = await env.client.post(
        "/authorize",
        data={**fields, "username": "bob", "password": "bob-pw", "action": "approve"},
        allow_redirects=False,
    )
    body = await (await issuer_h.redeem(env, _q(resp)["code"], verifier)).json()
    assert issuer_h.claims(body["access_token"])["sub"] == "user-bob"

    fields = issuer_h.form_fields(await (await env.client.get("/authorize", params=params)).text())
    resp = await env.client.post("/authorize", data={**fields, "action": "deny"}, allow_redirects=False)
    assert resp.status == 302
    q = _q(resp)
    assert q["error"] == "access_denied" and q["state"] == "xyz"
    assert "token.denied" in env.audit.names()


async def test_bad_client_or_redirect_renders_page_never_redirects(issuer_env, issuer_h):
    env = issuer_env
    for over in (
        {"client_id": "nope"},
        {"client_id": None},
        {"redirect_uri": "http://evil.example/cb"},
        {"redirect_uri": "http://127.0.0.1:9999/cb#frag"},
    ):
        params, _ = _params(issuer_h, **over)
        resp = await env.client.get("/authorize", params=params, allow_redirects=False)
        assert resp.status == 400, over
        assert "Location" not in resp.headers
        assert "<script" not in await resp.text()
    # repeated redirect_uri is also refused without redirecting
    params, _ = _params(issuer_h)
    resp = await env.client.get(
        "/authorize", params=[*params.items(), ("redirect_uri", "http://evil/")], allow_redirects=False
    )
    assert resp.status == 400 and "Location" not in resp.headers


async def test_pipeline_errors_redirect_with_state(issuer_env, issuer_h):
    env = issuer_env
    cases = [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"code_challenge_method": "S512"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
        ({"response_mode": "fragment"}, "invalid_request"),
        ({"request": "eyJ..."}, "request_not_supported"),
        ({"prompt": "none"}, "login_required"),
        ({"prompt": "bogus"}, "invalid_request"),
    ]
    for over, error in cases:
        params, _ = _params(issuer_h, **over)
        resp = await env.client.get("/authorize", params=params, allow_redirects=False)
        assert resp.status == 302, (over, await resp.text())
        q = _q(resp)
        assert q["error"] == error, over
        assert q["state"] == "xyz" and q["iss"] == env.base_url
    # public client without PKCE
    params, _ = _params(
        issuer_h,
        client_id="spa",
        redirect_uri="http://x.example/cb",
        code_challenge=None,
        scope="openid",
        code_challenge_method=None,
    )
    q = _q(await env.client.get("/authorize", params=params, allow_redirects=False))
    assert q["error"] == "invalid_request" and "PKCE" in q["error_description"]
    # prompt=none with login_hint is headless success
    params, _ = _params(issuer_h, prompt="none", login_hint="alice")
    assert "code" in _q(await env.client.get("/authorize", params=params, allow_redirects=False))
    # client without the authorization_code grant
    params, _ = _params(issuer_h, client_id="svc", redirect_uri="http://x/cb")
    resp = await env.client.get("/authorize", params=params, allow_redirects=False)
    assert resp.status == 400  # svc has no registered redirect URIs at all -> page


async def test_pkce_and_code_errors(issuer_env, issuer_h):
    env = issuer_env
    code, verifier = await issuer_h.authorize_code(env)
    resp = await issuer_h.redeem(env, code, "x" * 43)
    assert resp.status == 400 and (await resp.json())["error"] == "invalid_grant"
    # the failed attempt consumed the code
    resp = await issuer_h.redeem(env, code, verifier)
    assert (await resp.json())["error"] == "invalid_grant"
    code, verifier = await issuer_h.authorize_code(env)
    resp = await issuer_h.redeem(env, code, verifier, redirect_uri="http://127.0.0.1:9999/other")
    assert (await resp.json())["error"] == "invalid_grant"
    code, verifier = await issuer_h.authorize_code(env)
    resp = await env.client.post(
        "/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": issuer_h.redirect},
        headers=issuer_h.web,
    )
    assert (await resp.json())["error"] == "invalid_grant"  # verifier missing
    # expired code (clock-driven)
    code, verifier = await issuer_h.authorize_code(env)
    env.clock.advance(env.svc.settings.authorization_code_ttl + 1)
    assert (await (await issuer_h.redeem(env, code, verifier)).json())["error"] == "invalid_grant"


async def test_code_reuse_revokes_issued_tokens(issuer_env, issuer_h):
    env = issuer_env
    code, verifier = await issuer_h.authorize_code(env)
    first = await (await issuer_h.redeem(env, code, verifier)).json()
    intro = await env.client.post("/introspect", data={"token": first["access_token"]}, headers=issuer_h.web)
    assert (await intro.json())["active"] is True
    again = await issuer_h.redeem(env, code, verifier)
    assert again.status == 400
    assert (await again.json())["error"] == "invalid_grant"
    for token in (first["access_token"], first["refresh_token"]):
        intro = await env.client.post("/introspect", data={"token": token}, headers=issuer_h.web)
        assert (await intro.json()) == {"active": False}
    jti = issuer_h.claims(first["access_token"])["jti"]
    assert any(r["by"] == "jti" and r["value"] == jti for r in env.revocations.records)
