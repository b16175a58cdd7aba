"""Every hostile input of issue 11 (and each case the fuzzers found), kept as a regression test.

Each answers with the protocol's own error and status < 500: STS XML, OAuth JSON, admin JSON,
HTML pages for the browser endpoints.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from .conftest import FuzzHttp

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"
STS = {"Version": "2011-06-15"}
BASIC = ("stsmock-dev", "stsmock-dev-secret")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def deep_jwt(depth: int = 1000, where: str = "header") -> str:
    deep = ("[" * depth + "]" * depth).encode()
    header = deep if where == "header" else b'{"alg":"RS256","kid":"x"}'
    payload = deep if where == "payload" else b'{"sub":"a"}'
    return f"{b64(header)}.{b64(payload)}.{b64(b'sig')}"


def sts_xml_error(resp: Any, status: int | None = None) -> str:
    assert resp.status_code < 500, resp.text[:300]
    if status is not None:
        assert resp.status_code == status, resp.text[:300]
    assert "<ErrorResponse" in resp.text, resp.text[:300]
    return str(resp.text)


def oauth_error(resp: Any) -> dict:
    assert 400 <= resp.status_code < 500, resp.text[:300]
    body = resp.json()
    assert isinstance(body.get("error"), str)
    return dict(body)


@pytest.mark.parametrize("where", ["header", "payload"])
def test_deep_jwt_at_every_endpoint_that_parses_tokens(fuzz_http: FuzzHttp, where: str) -> None:
    token = deep_jwt(where=where)
    sts = fuzz_http.request(
        "POST",
        "/",
        data={
            **STS,
            "Action": "AssumeRoleWithWebIdentity",
            "RoleArn": ROLE,
            "RoleSessionName": "ss",
            "WebIdentityToken": token,
        },
    )
    sts_xml_error(sts)
    introspect = fuzz_http.request("POST", "/introspect", data={"token": token}, auth=BASIC)
    assert introspect.status_code == 200 and introspect.json() == {"active": False}  # RFC 7662: not an error
    revoke = fuzz_http.request("POST", "/revoke", data={"token": token}, auth=BASIC)
    assert revoke.status_code == 200  # RFC 7009: unknown tokens are not an error
    oauth_error(fuzz_http.request("GET", "/userinfo", headers={"Authorization": f"Bearer {token}"}))
    exchange = {
        "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
        "subject_token": token,
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
    }
    oauth_error(fuzz_http.request("POST", "/token", data=exchange, auth=BASIC))
    logout = fuzz_http.request("GET", "/logout", params={"id_token_hint": token})
    assert logout.status_code == 400
    minted = fuzz_http.request("POST", "/admin/tokens", json={"sub": "a"}, headers=_admin(fuzz_http))
    console = fuzz_http.session.get(fuzz_http.base + "/ui/login", timeout=10)
    assert console.status_code == 200 and minted.status_code == 200


def _admin(http: FuzzHttp) -> dict[str, str]:
    from stsmock.runtime import RUNTIME  # noqa: F401 - the token is the server's

    return {"Authorization": f"Bearer {http.admin_token}"}  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _token(fuzz_http: FuzzHttp, stsmock_server: Any) -> None:
    fuzz_http.admin_token = stsmock_server.admin_token  # type: ignore[attr-defined]


def test_deep_json_at_admin_tokens_names_the_limit(fuzz_http: FuzzHttp) -> None:
    body = '{"sub":"a","claims":{"x":' + "[" * 5000 + "]" * 5000 + "}}"
    resp = fuzz_http.request(
        "POST", "/admin/tokens", data=body, headers={**_admin(fuzz_http), "Content-Type": "application/json"}
    )
    assert resp.status_code == 400 and "nests deeper than 32 levels" in resp.json()["error_description"]


def test_admin_lone_surrogate_and_huge_numbers(fuzz_http: FuzzHttp) -> None:
    headers = {**_admin(fuzz_http), "Content-Type": "application/json"}
    surrogate = '{"role_arn":"\\ud800","token":"x"}'
    resp = fuzz_http.request("POST", "/admin/simulate", data=surrogate, headers=headers)
    assert resp.status_code == 400 and "lone surrogate" in resp.json()["error_description"]
    digits = '{"sub":"a","ttl":' + "9" * 5000 + "}"
    resp = fuzz_http.request("POST", "/admin/tokens", data=digits, headers=headers)
    assert resp.status_code == 400 and "digits" in resp.json()["error_description"]


def test_admin_keys_rotate_with_an_empty_body(fuzz_http: FuzzHttp) -> None:
    resp = fuzz_http.request("POST", "/admin/keys/rotate", json={}, headers=_admin(fuzz_http))
    assert resp.status_code == 200, resp.text
    assert resp.json()["kid"]


def test_clock_nan_and_infinity_never_reach_the_clock(fuzz_http: FuzzHttp) -> None:
    headers = {**_admin(fuzz_http), "Content-Type": "application/json"}
    for body in ('{"action":"set","at":NaN}', '{"action":"advance","seconds":Infinity}', '{"action":"set","at":1e999}'):
        assert fuzz_http.request("POST", "/admin/clock", data=body, headers=headers).status_code == 400
    token = fuzz_http.request("POST", "/token", data={"grant_type": "client_credentials"}, auth=BASIC)
    assert token.status_code == 200  # the clock still works
    sts = fuzz_http.request(
        "POST",
        "/",
        data={
            **STS,
            "Action": "AssumeRoleWithWebIdentity",
            "RoleArn": ROLE,
            "RoleSessionName": "ss",
            "WebIdentityToken": token.json()["access_token"],
        },
    )
    assert sts.status_code == 200, sts.text


@pytest.mark.parametrize(
    "params",
    [
        {"DurationSeconds": "9" * 5000},
        {"PolicyArns.member." + "9" * 5000 + ".arn": "arn:aws:iam::aws:policy/x"},
        {"Tags.member." + "1" * 5000 + ".Key": "k", "Tags.member.1.Value": "v"},
        {"DurationSeconds": "1e9999"},
    ],
    ids=["duration-digits", "policyarns-index", "tags-index", "duration-float"],
)
def test_sts_digit_counts(fuzz_http: FuzzHttp, params: dict[str, str]) -> None:
    body = {**STS, "Action": "AssumeRoleWithWebIdentity", "RoleArn": ROLE, "RoleSessionName": "ss"}
    body["WebIdentityToken"] = "e30.e30.sig"
    sts_xml_error(fuzz_http.request("POST", "/", data={**body, **params}))


def test_sts_presigned_expires_digits_and_extreme_dates(fuzz_http: FuzzHttp) -> None:
    query = {
        **STS,
        "Action": "GetCallerIdentity",
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": "ASIAEXAMPLEEXAMPLE00/20261201/us-east-1/sts/aws4_request",
        "X-Amz-Date": "20261201T000000Z",
        "X-Amz-Expires": "9" * 5000,
        "X-Amz-SignedHeaders": "host",
        "X-Amz-Signature": "0" * 64,
    }
    sts_xml_error(fuzz_http.request("GET", "/", params=query))
    auth = (
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE00/99991231/us-east-1/sts/aws4_request, "
        "SignedHeaders=date;host, Signature=" + "0" * 64
    )
    for date in ("Fri, 31 Dec 9999 23:59:59 -2359", "Mon, 01 Jan 0001 00:00:00 +2359", "x" * 300):
        sts_xml_error(
            fuzz_http.request(
                "POST",
                "/",
                data={**STS, "Action": "GetCallerIdentity"},
                headers={"Authorization": auth, "Date": date},
            )
        )
    query["X-Amz-Expires"] = "900"
    query["X-Amz-Date"] = "99991231T235959Z"
    sts_xml_error(fuzz_http.request("GET", "/", params=query))


def test_non_utf8_bytes_in_signed_headers(fuzz_http: FuzzHttp) -> None:
    auth = (
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLEEXAMPLE00/20261201/us-east-1/sts/aws4_request, "
        "SignedHeaders=host;x-amz-date;x-custom, Signature=" + "0" * 64
    )
    headers = {
        "Authorization": auth,
        "X-Amz-Date": "20261201T000000Z",
        "X-Custom": b"\xff\xfe\x80bad".decode("latin-1"),
    }
    sts_xml_error(fuzz_http.request("POST", "/", data={**STS, "Action": "GetCallerIdentity"}, headers=headers))


def test_invalid_utf8_in_the_sts_query_is_an_error_not_dropped_params(fuzz_http: FuzzHttp) -> None:
    path = "/?Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleSessionName=%FF%FE&RoleArn=x"
    text = sts_xml_error(fuzz_http.request("POST", path, data=b"", headers={"Content-Type": "text/plain"}), 400)
    assert "UTF-8" in text and "MissingAction" not in text  # not "every parameter silently dropped"


def test_invalid_utf8_in_the_token_form_and_basic_auth(fuzz_http: FuzzHttp) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    oauth_error(fuzz_http.request("POST", "/token", data=b"grant_type=%FF%FE", headers=form))
    oauth_error(fuzz_http.request("POST", "/token", data=b"grant_type=\xff", headers=form))
    basic = "Basic " + base64.b64encode(b"\xff\xfe:\x80").decode()
    resp = fuzz_http.request(
        "POST", "/token", data={"grant_type": "client_credentials"}, headers={"Authorization": basic}
    )
    assert oauth_error(resp)["error"] == "invalid_client"
    many = "&".join(f"p{i}=v" for i in range(500))
    assert (
        "more than 100"
        in oauth_error(fuzz_http.request("POST", "/token", data=many, headers=form))["error_description"]
    )


def test_authorize_hostile_queries(fuzz_http: FuzzHttp) -> None:
    for query in ("client_id=%FF&response_type=code", "claims=" + "%5B" * 3000, "prompt=none&" + "a=b&" * 300):
        resp = fuzz_http.request("GET", "/authorize?" + query)
        assert resp.status_code < 500


def test_login_page_claims_json_is_bounded(fuzz_http: FuzzHttp) -> None:
    from boundedjson import loads_bounded

    with pytest.raises(ValueError, match="nests deeper"):
        loads_bounded("[" * 100 + "]" * 100, max_bytes=10_000)
    assert loads_bounded(json.dumps({"a": [1, {"b": 2}]}), max_bytes=100) == {"a": [1, {"b": 2}]}


@pytest.mark.parametrize("where", ["header", "payload"])
def test_console_decoder_with_a_deep_jwt(fuzz_http: FuzzHttp, stsmock_server: Any, where: str) -> None:
    import re

    login = fuzz_http.request("POST", "/ui/login", data={"token": stsmock_server.admin_token})
    assert login.status_code == 303
    page = fuzz_http.request("GET", "/ui/decode")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    resp = fuzz_http.request("POST", "/ui/decode", data={"csrf": csrf, "token": deep_jwt(where=where)})
    assert resp.status_code == 200 and "nests deeper than 32 levels" in resp.text


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1e300},
        {"exp": 10**30},
        {"iat": -1e300},
        {"nbf": 1e300},
        {"exp": -5},
        {"iat": 10**30, "exp": 10**31},
        {"auth_time": 1e300},
        {"exp": "tomorrow"},
        {"exp": True},
    ],
    ids=lambda c: "-".join(f"{k}={str(v)[:8]}" for k, v in c.items()),
)
@pytest.mark.parametrize("profile_role", ["stsmock-dev"])
def test_signed_tokens_with_extreme_dates(
    fuzz_http: FuzzHttp, stsmock_server: Any, claims: dict, profile_role: str
) -> None:
    """Correctly signed tokens whose time claims are extreme: a protocol error (or success), never a 500."""
    service = stsmock_server.runtime.issuers["default"]
    token = service.mint(
        {"sub": "alice", "aud": "sts.amazonaws.com", **claims}, alg=None, ttl=None, typ=None, client_id=None
    )
    resp = fuzz_http.request(
        "POST",
        "/",
        data={
            **STS,
            "Action": "AssumeRoleWithWebIdentity",
            "RoleArn": f"arn:aws:iam::000000000000:role/{profile_role}",
            "RoleSessionName": "ss",
            "WebIdentityToken": token,
        },
    )
    assert resp.status_code < 500, resp.text[:300]
    for path in ("/userinfo",):
        assert fuzz_http.request("GET", path, headers={"Authorization": f"Bearer {token}"}).status_code < 500
    basic = ("stsmock-dev", "stsmock-dev-secret")
    assert fuzz_http.request("POST", "/introspect", data={"token": token}, auth=basic).status_code == 200


def test_request_line_beyond_8190_bytes_is_a_400_not_a_traceback(fuzz_http: FuzzHttp) -> None:
    """Found by test_sts_query_parser: aiohttp refuses the line itself (400) and we log no traceback."""
    resp = fuzz_http.request("POST", "/?Action=" + "9" * 9000, data=b"", headers={"Content-Type": "text/plain"})
    assert resp.status_code == 400
