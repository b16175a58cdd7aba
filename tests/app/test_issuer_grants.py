"""Every grant, for every algorithm, verified against the live JWKS with PyJWT and joserfc."""

from __future__ import annotations

import pytest

ALGS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
DEVICE = "urn:ietf:params:oauth:grant-type:device_code"
AT = "urn:ietf:params:oauth:token-type:access_token"


@pytest.mark.parametrize("alg", ALGS)
async def test_every_grant_verifies_for_every_alg(issuer_factory, issuer_verify, issuer_h, alg):
    settings = issuer_h.settings()
    settings.clients[0].signing_alg = alg
    settings.clients[0].grant_types = ["all"]
    env = await issuer_factory(settings, second=False)
    jwks_url = env.base_url + "/jwks"
    tokens: dict[str, dict] = {}

    web = issuer_h.web
    resp = await env.client.post("/token", data={"grant_type": "client_credentials", "scope": "s3"}, headers=web)
    tokens["client_credentials"] = await resp.json()
    resp = await env.client.post(
        "/token",
        data={"grant_type": "password", "username": "alice", "password": "alice-pw", "scope": "openid"},
        headers=issuer_h.web,
    )
    tokens["password"] = await resp.json()
    code, verifier = await issuer_h.authorize_code(env)
    tokens["authorization_code"] = await (await issuer_h.redeem(env, code, verifier)).json()
    resp = await env.client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["authorization_code"]["refresh_token"]},
        headers=issuer_h.web,
    )
    tokens["refresh_token"] = await resp.json()
    resp = await env.client.post(
        "/token",
        data={
            "grant_type": EXCHANGE,
            "subject_token": tokens["password"]["access_token"],
            "subject_token_type": AT,
            "audience": "other-service",
        },
        headers=issuer_h.web,
    )
    tokens["token_exchange"] = await resp.json()
    resp = await env.client.post("/device_authorization", data={"scope": "openid"}, headers=issuer_h.web)
    dev = await resp.json()
    page = await env.client.get("/device", params={"user_code": dev["user_code"]})
    await env.client.post(
        "/device",
        data={
            **issuer_h.form_fields(await page.text()),
            "username": "alice",
            "password": "alice-pw",
            "action": "approve",
        },
    )
    resp = await env.client.post("/token", data={"grant_type": DEVICE, "device_code": dev["device_code"]}, headers=web)
    tokens["device_code"] = await resp.json()

    for grant, body in tokens.items():
        assert "access_token" in body, (grant, body)
        assert body["token_type"] == "Bearer"
        header = issuer_h.header(body["access_token"])
        assert header["alg"] == alg and header["typ"] == "at+jwt" and header["kid"]
        aud = "other-service" if grant == "token_exchange" else "sts"
        claims = await issuer_verify(jwks_url, body["access_token"], audience=aud, issuer=env.base_url)
        assert claims["azp"] == "web" and claims["client_id"] == "web"
        for c in ("exp", "iat", "nbf", "jti", "sub", "iss"):
            assert c in claims
        assert claims["policy"] == "readwrite"
        if "id_token" in body:
            assert issuer_h.header(body["id_token"])["typ"] == "JWT"
            id_claims = await issuer_verify(jwks_url, body["id_token"], audience="web", issuer=env.base_url)
            assert id_claims["sub"] == claims["sub"]
    assert (await issuer_verify(jwks_url, tokens["client_credentials"]["access_token"]))["sub"] == "web"
    assert "refresh_token" not in tokens["client_credentials"]
    for grant in ("password", "authorization_code", "refresh_token", "device_code"):
        assert tokens[grant]["refresh_token"], grant
        assert "id_token" in tokens[grant], grant
    code_id = await issuer_verify(jwks_url, tokens["authorization_code"]["id_token"], audience="web")
    assert code_id["nonce"] == "n-1" and code_id["email"] == "alice@example.org" and "auth_time" in code_id
    assert tokens["token_exchange"]["issued_token_type"] == AT


async def test_client_credentials_claims_and_secret_encoding(issuer_env, issuer_verify, issuer_h):
    env = issuer_env
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding
    header = issuer_h.basic("svc", "svc s3cr:t/+")
    resp = await env.client.post("/token", data={"grant_type": "client_credentials"}, headers=header)
    assert resp.status == 200, await resp.text()
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    claims = await issuer_verify(env.base_url + "/jwks", body["access_token"], audience="svc")
    assert claims["sub"] == "svc" and claims["aud"] == "svc" and "scope" not in claims
    # client_secret_post works too
    resp = await env.client.post(
        "/token", data={"grant_type": "client_credentials", "client_id": "svc", "client_secret": "svc s3cr:t/+"}
    )
    assert resp.status == 200
    # second issuer signs with its own ES256 key
    resp = await env.client.post(
        "/issuers/b/token", data={"grant_type": "client_credentials"}, headers=issuer_h.basic("bc", "bc-secret")
    )
    token = (await resp.json())["access_token"]
    assert issuer_h.header(token)["alg"] == "ES256"
    claims = await issuer_verify(env.base_url + "/issuers/b/jwks", token, issuer=env.base_url + "/issuers/b")
    assert claims["sub"] == "bc"


async def test_claim_templates(issuer_env, issuer_verify, issuer_h):
    auth = issuer_h.basic("tmpl", "tmpl-secret")
    resp = await issuer_env.client.post(
        "/token",
        data={"grant_type": "password", "username": "bob", "password": "bob-pw", "tenant": "acme"},
        headers=auth,
    )
    body = await resp.json()
    claims = await issuer_verify(issuer_env.base_url + "/jwks", body["access_token"])
    assert claims["tenant"] == "acme" and claims["who"] == "user:bob" and claims["cid"] == "tmpl"
    assert claims["sub"] == "user-bob"
    resp = await issuer_env.client.post("/token", data={"grant_type": "client_credentials"}, headers=auth)
    assert resp.status == 400
    assert (await resp.json())["error"] == "invalid_request"


async def test_audience_as_list_and_resource(issuer_factory, issuer_verify, issuer_h):
    env = await issuer_factory(issuer_h.settings(audience_as_list=True), second=False)
    resp = await env.client.post("/token", data={"grant_type": "client_credentials"}, headers=issuer_h.web)
    claims = await issuer_verify(env.base_url + "/jwks", (await resp.json())["access_token"], audience="sts")
    assert claims["aud"] == ["sts"]
    resp = await env.client.post(
        "/token",
        data=[("grant_type", "client_credentials"), ("audience", "a"), ("resource", "https://r.example/")],
        headers=issuer_h.web,
    )
    claims = await issuer_verify(env.base_url + "/jwks", (await resp.json())["access_token"], audience="a")
    assert claims["aud"] == ["a", "https://r.example/"]
