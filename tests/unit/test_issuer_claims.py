"""Claim templates, audiences, scopes and the form parser's rules."""

from __future__ import annotations

import pytest

from issuer.claims import audience_value, extra_claims, render_templates
from issuer.clients import Form, authenticate_client
from issuer.errors import OAuthError
from issuer.settings import ClientSettings, IssuerSettings
from issuer.tokens import parse_scope


def client(**kw) -> ClientSettings:
    return ClientSettings.model_validate({"client_id": "c1", "client_secret": "s", **kw})


def test_templates_fill_and_keep_types():
    c = client(claims={"env": "dev"})
    out = render_templates(
        {
            "tenant": "{form.tenant}",
            "who": "u={user.username}/{client.client_id}",
            "groups": "{user.groups}",
            "env": "{client.env}",
        },
        form={"tenant": "acme"},
        user={"username": "al", "groups": ["a", "b"]},
        client=c,
    )
    assert out == {"tenant": "acme", "who": "u=al/c1", "groups": ["a", "b"], "env": "dev"}


@pytest.mark.parametrize("template", ["{form.missing}", "{secret.x}", "pre {oops", "{user.nope} x"])
def test_bad_templates_are_invalid_request(template):
    with pytest.raises(OAuthError) as err:
        render_templates({"x": template}, form={}, user={"username": "u"}, client=client())
    assert err.value.error == "invalid_request"


def test_protocol_claims_cannot_be_forged():
    c = client(claims={"iss": "evil", "policy": "p"}, claim_templates={"sub": "{form.sub}"})
    out = extra_claims(client=c, user_claims={"aud": "x", "email": "e"}, form={"sub": "root"}, user_view={})
    assert out == {"policy": "p", "email": "e"}


def test_audience_value():
    assert audience_value(["a"], as_list=False) == "a"
    assert audience_value(["a"], as_list=True) == ["a"]
    assert audience_value(["a", "b", "a"], as_list=False) == ["a", "b"]


def test_scope_rules():
    c = client(scopes=["openid", "s3"])
    assert parse_scope(c, None) == []
    assert parse_scope(c, "s3  openid s3") == ["s3", "openid"]
    with pytest.raises(OAuthError) as err:
        parse_scope(c, "admin")
    assert err.value.error == "invalid_scope"


def test_form_and_client_auth_rules():
    settings = IssuerSettings.model_validate(
        {"clients": [{"client_id": "c1", "client_secret": "s"}, {"client_id": "pub"}]}
    )
    with pytest.raises(OAuthError):
        Form([("a", "1"), ("a", "2")]).one("a")
    assert Form([("audience", "x"), ("audience", "y")]).many("audience") == ["x", "y"]
    assert authenticate_client(settings, {}, Form([("client_id", "pub")])).client_id == "pub"
    assert authenticate_client(settings, {}, Form([("client_id", "c1"), ("client_secret", "s")])).client_id == "c1"
    for form, headers in [
        (Form([("client_id", "c1")]), {}),
        (Form([("client_id", "c1"), ("client_secret", "x")]), {}),
        (Form([]), {"Authorization": "Basic Yzpz"}),  # "c:s" unknown client
        (Form([("client_id", "other")]), {"Authorization": "Basic YzE6cw=="}),
    ]:
        with pytest.raises(OAuthError) as err:
            authenticate_client(settings, headers, form)
        assert err.value.error == "invalid_client" and err.value.status == 401
    # both Basic and client_secret_post: more than one method
    with pytest.raises(OAuthError) as err:
        authenticate_client(settings, {"Authorization": "Basic YzE6cw=="}, Form([("client_secret", "s")]))
    assert err.value.error == "invalid_request"
