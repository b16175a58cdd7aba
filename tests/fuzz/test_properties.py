"""Hypothesis properties over every parser a client can reach, through real HTTP to the in-process server.

The property is the same everywhere: whatever the bytes, the answer is the protocol's own error
or success (status < 500) and the server logs no traceback. Fixed seeds (``derandomize``), no
example database, ``FUZZ_EXAMPLES`` cases per property. Cases found once stay as ``@example``s
here and as named tests in test_regressions.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote_from_bytes

from hypothesis import example, given
from hypothesis import strategies as st

from .conftest import FUZZ, FuzzHttp

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"
STS_NAMES = [
    "Action",
    "Version",
    "RoleArn",
    "RoleSessionName",
    "WebIdentityToken",
    "DurationSeconds",
    "Policy",
    "PolicyArns.member.1.arn",
    "Tags.member.1.Key",
    "Tags.member.1.Value",
    "TransitiveTagKeys.member.1",
    "ExternalId",
    "SerialNumber",
    "TokenCode",
    "SourceIdentity",
    "ProviderId",
    "X-Amz-Expires",
]
ACTIONS = ["AssumeRoleWithWebIdentity", "AssumeRole", "GetCallerIdentity", "GetSessionToken", "Nope"]
raw_bytes = st.binary(max_size=64)
digits = st.integers(min_value=1, max_value=6000).map(lambda n: "9" * n)
hostile_text = st.one_of(
    st.text(max_size=40),
    digits,
    st.sampled_from(["NaN", "Infinity", "-1", "0", "1e999", "43200", "\x00", "ü", "../", "%", "*"]),
)


def _encode(pairs: list[tuple[bytes, bytes]]) -> str:
    return "&".join(f"{quote_from_bytes(k, safe='.-_')}={quote_from_bytes(v, safe='.-_')}" for k, v in pairs)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _http_layer_refusal(resp: Any) -> bool:
    """aiohttp's own 400 for a request line or header beyond 8190 bytes (before any route runs)."""
    return resp.status_code == 400 and resp.text.startswith(("Got more than", "Bad Request", "400"))


def _sts_ok(resp: Any) -> None:
    assert resp.status_code < 500, resp.text[:300]
    xml = resp.text.lstrip().startswith("<")
    assert xml or resp.status_code in (404, 405, 413) or _http_layer_refusal(resp), resp.text[:200]


sts_pairs = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(STS_NAMES).map(str.encode), raw_bytes),
        st.one_of(hostile_text.map(lambda t: t.encode("utf-8", "surrogatepass")), raw_bytes),
    ),
    max_size=12,
)


def test_sts_query_parser(fuzz_http: FuzzHttp) -> None:
    @FUZZ
    @given(action=st.sampled_from(ACTIONS), pairs=sts_pairs, in_query=st.booleans())
    @example(action="AssumeRoleWithWebIdentity", pairs=[(b"RoleSessionName", b"\xff\xfe")], in_query=True)
    @example(action="AssumeRoleWithWebIdentity", pairs=[(b"DurationSeconds", b"9" * 5000)], in_query=False)
    @example(action="AssumeRole", pairs=[(b"PolicyArns.member." + b"9" * 5000 + b".arn", b"x")], in_query=False)
    @example(action="AssumeRoleWithWebIdentity", pairs=[(b"Action", b"9" * 9000)], in_query=True)  # found: line > 8190
    def run(action: str, pairs: list[tuple[bytes, bytes]], in_query: bool) -> None:
        encoded = _encode([(b"Action", action.encode()), (b"Version", b"2011-06-15"), *pairs])
        if in_query:
            resp = fuzz_http.request("POST", "/?" + encoded, data=b"", headers={"Content-Type": "text/plain"})
        else:
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            resp = fuzz_http.request("POST", "/", data=encoded.encode(), headers=form)
        _sts_ok(resp)

    run()


latin1 = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=60)
dates = st.one_of(
    st.sampled_from(
        [
            "Fri, 31 Dec 9999 23:59:59 -2359",
            "Mon, 01 Jan 0001 00:00:00 +2359",
            "99991231T235959Z",
            "00010101T000000Z",
            "20261201T000000Z",
        ]
    ),
    latin1,
)


def test_sigv4_parser(fuzz_http: FuzzHttp) -> None:
    @FUZZ
    @given(
        scheme=st.sampled_from(["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512", "Bearer", ""]),
        key=st.one_of(st.just("AKIAEXAMPLEEXAMPLE00"), st.just("ASIAEXAMPLEEXAMPLE00"), latin1),
        scope=st.one_of(st.just("20261201/us-east-1/sts/aws4_request"), latin1),
        signed=st.one_of(st.just("host;x-amz-date"), st.just("date;host;x-odd"), latin1),
        signature=st.one_of(st.just("0" * 64), latin1),
        date=dates,
        odd=latin1,
        presigned=st.booleans(),
        expires=st.one_of(digits, st.sampled_from(["900", "0", "604801", "-1", "1.5"])),
    )
    def run(**f: Any) -> None:
        if f["presigned"]:
            query = {
                "Action": "GetCallerIdentity",
                "Version": "2011-06-15",
                "X-Amz-Algorithm": f["scheme"],
                "X-Amz-Credential": f"{f['key']}/{f['scope']}",
                "X-Amz-Date": f["date"],
                "X-Amz-Expires": f["expires"],
                "X-Amz-SignedHeaders": f["signed"],
                "X-Amz-Signature": f["signature"],
            }
            _sts_ok(fuzz_http.request("GET", "/", params=query, headers={"X-Odd": f["odd"].strip()}))
            return
        auth = (
            f"{f['scheme']} Credential={f['key']}/{f['scope']}, SignedHeaders={f['signed']}, Signature={f['signature']}"
        )
        raw = {"Authorization": auth, "X-Amz-Date": f["date"], "Date": f["date"], "X-Odd": f["odd"]}
        headers = {k: v.strip() for k, v in raw.items()}  # what an HTTP client can send (no edge whitespace)
        _sts_ok(
            fuzz_http.request(
                "POST", "/", data={"Action": "GetCallerIdentity", "Version": "2011-06-15"}, headers=headers
            )
        )

    run()


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)
claims = st.dictionaries(
    st.sampled_from(["sub", "aud", "iss", "exp", "nbf", "iat", "jti", "kid", "alg", "typ", "scope", "x"]),
    json_values,
    max_size=8,
)


def _segment(value: Any, raw: bytes | None, depth: int) -> str:
    if raw is not None:
        return _b64(raw)
    if depth:
        return _b64(("[" * depth + "]" * depth).encode())
    return _b64(json.dumps(value).encode())


def test_jwt_parsing_everywhere(fuzz_http: FuzzHttp) -> None:
    @FUZZ
    @given(
        header=claims,
        payload=claims,
        raw=st.one_of(st.none(), raw_bytes),
        depth=st.sampled_from([0, 0, 0, 40, 1000, 5000]),
        where=st.sampled_from(["header", "payload"]),
        signature=st.one_of(st.just("sig"), st.text(alphabet="abcAB-_=.", max_size=20)),
    )
    def run(header: dict, payload: dict, raw: bytes | None, depth: int, where: str, signature: str) -> None:
        head = _segment(header, raw if where == "header" else None, depth if where == "header" else 0)
        body = _segment(payload, raw if where == "payload" else None, depth if where == "payload" else 0)
        token = f"{head}.{body}.{signature}"
        sts = {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": ROLE,
            "RoleSessionName": "fuzz",
            "WebIdentityToken": token,
        }
        _sts_ok(fuzz_http.request("POST", "/", data=sts))
        basic = ("stsmock-dev", "stsmock-dev-secret")
        assert fuzz_http.request("POST", "/introspect", data={"token": token}, auth=basic).status_code == 200
        assert fuzz_http.request("GET", "/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code < 500
        assert fuzz_http.request("GET", "/logout", params={"id_token_hint": token}).status_code < 500

    run()


GRANTS = [
    "client_credentials",
    "password",
    "authorization_code",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:token-exchange",
    "urn:ietf:params:oauth:grant-type:device_code",
]
FORM_NAMES = [
    "grant_type",
    "client_id",
    "client_secret",
    "scope",
    "username",
    "password",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "subject_token",
    "subject_token_type",
    "audience",
    "resource",
    "device_code",
    "requested_token_type",
]


def test_token_endpoint_form_and_basic_auth(fuzz_http: FuzzHttp) -> None:
    @FUZZ
    @given(
        grant=st.one_of(st.sampled_from(GRANTS), st.text(max_size=20)),
        pairs=st.lists(st.tuples(st.sampled_from(FORM_NAMES).map(str.encode), raw_bytes), max_size=10),
        basic=st.one_of(st.none(), raw_bytes, st.just(b"stsmock-dev:stsmock-dev-secret")),
        content_type=st.sampled_from(["application/x-www-form-urlencoded", "application/json", "", "text/plain"]),
    )
    @example(
        grant="client_credentials", pairs=[], basic=b"\xff\xfe:\x80", content_type="application/x-www-form-urlencoded"
    )
    def run(grant: str, pairs: list[tuple[bytes, bytes]], basic: bytes | None, content_type: str) -> None:
        body = _encode([(b"grant_type", grant.encode("utf-8", "surrogatepass")), *pairs]).encode()
        headers = {"Content-Type": content_type} if content_type else {}
        if basic is not None:
            headers["Authorization"] = "Basic " + base64.b64encode(basic).decode()
        resp = fuzz_http.request("POST", "/token", data=body, headers=headers)
        assert resp.status_code < 500, resp.text[:200]
        if resp.status_code >= 400:
            assert isinstance(resp.json().get("error"), str)

    run()


AUTHORIZE_NAMES = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "login_hint",
    "prompt",
    "max_age",
    "response_mode",
    "claims",
]


def test_authorize_query(fuzz_http: FuzzHttp) -> None:
    @FUZZ
    @given(
        pairs=st.lists(
            st.tuples(st.sampled_from(AUTHORIZE_NAMES).map(str.encode), st.one_of(raw_bytes, st.just(b"stsmock-dev"))),
            max_size=12,
        ),
        method=st.sampled_from(["GET", "POST"]),
    )
    def run(pairs: list[tuple[bytes, bytes]], method: str) -> None:
        encoded = _encode(pairs)
        if method == "GET":
            resp = fuzz_http.request("GET", "/authorize?" + encoded)
        else:
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            resp = fuzz_http.request("POST", "/authorize", data=encoded.encode(), headers=form)
        assert resp.status_code < 500, resp.text[:200]

    run()
