"""Every way an AssumeRoleWithWebIdentity can fail, through boto3, with AWS's code, status and a named check."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forge(token: str, *, header: dict | None = None, claims: dict | None = None, signature: str | None = None) -> str:
    h, c, s = token.split(".")
    hd = json.loads(base64.urlsafe_b64decode(h + "=="))
    cd = json.loads(base64.urlsafe_b64decode(c + "=="))
    hd.update(header or {})
    cd.update(claims or {})
    return ".".join(
        [_b64(json.dumps(hd).encode()), _b64(json.dumps(cd).encode()), s if signature is None else signature]
    )


def _hs256_with_public_key(stsmock) -> str:
    """The classic alg-confusion attack: HS256 keyed with the issuer's RSA public key."""
    import hashlib
    import hmac

    jwks = stsmock.runtime.issuers["default"].jwks()
    key_bytes = json.dumps(jwks["keys"][0]).encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": jwks["keys"][0]["kid"]}
    now = int(stsmock.runtime.clock.now())
    claims = {"iss": stsmock.url, "sub": "mallory", "aud": "sts.amazonaws.com", "iat": now, "exp": now + 600}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    sig = hmac.new(key_bytes, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(sig)}"


def _call(stsmock, token: str, **overrides):
    kwargs = {"RoleArn": ROLE, "RoleSessionName": "neg", "WebIdentityToken": token, **overrides}
    with pytest.raises(ClientError) as excinfo:
        stsmock.sts_client().assume_role_with_web_identity(**kwargs)
    return excinfo.value.response


def _last_denial(stsmock) -> dict:
    records = stsmock.audit(event="sts.decision", decision="deny")
    assert records, "a denial must be audited"
    return records[-1]


TOKEN_CASES = [
    # id, token factory, code, status, check, message fragment
    (
        "wrong-aud",
        lambda s: s.token(aud="someone-else"),
        "InvalidIdentityToken",
        400,
        "aud",
        "Incorrect token audience",
    ),
    (
        "wrong-iss",
        lambda s: _forge(s.token(), claims={"iss": "https://evil.example.com"}),
        "InvalidIdentityToken",
        400,
        "issuer-trusted",
        "No OpenIDConnect provider found in your account for https://evil.example.com",
    ),
    ("expired", lambda s: s.token(ttl=1), "ExpiredTokenException", 400, "exp", "Token expired"),
    (
        "not-yet-valid",
        lambda s: s.token(nbf=int(s.runtime.clock.now()) + 3600),
        "InvalidIdentityToken",
        400,
        "nbf",
        "not yet valid",
    ),
    (
        "unknown-kid",
        lambda s: _forge(s.token(), header={"kid": "no-such-key"}),
        "InvalidIdentityToken",
        400,
        "kid-known",
        "no-such-key",
    ),
    (
        "alg-none",
        lambda s: _forge(s.token(), header={"alg": "none"}, signature=""),
        "InvalidIdentityToken",
        400,
        "alg-none",
        "none",
    ),
    ("hs256-with-rsa-public-key", _hs256_with_public_key, "InvalidIdentityToken", 400, "alg-allowed", "HS256"),
    (
        "tampered-signature",
        lambda s: _forge(s.token(), claims={"sub": "admin"}),
        "InvalidIdentityToken",
        400,
        "signature",
        "signature",
    ),
    ("missing-sub", lambda s: _forge(s.token(), claims={"sub": ""}), "InvalidIdentityToken", 400, "signature", ""),
    ("not-a-jwt", lambda s: "definitely-not-a-jwt", "InvalidIdentityToken", 400, "token-format", "JWT"),
]


@pytest.mark.parametrize(
    ("factory", "code", "status", "check", "fragment"), [c[1:] for c in TOKEN_CASES], ids=[c[0] for c in TOKEN_CASES]
)
def test_token_failures(stsmock, factory, code, status, check, fragment):
    token = factory(stsmock)
    if code == "ExpiredTokenException":
        stsmock.advance(301 + 5)  # past exp plus AWS's five minutes of leeway
    response = _call(stsmock, token)
    assert response["Error"]["Code"] == code
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert fragment.lower() in response["Error"]["Message"].lower()
    assert _last_denial(stsmock)["check"] == check


def test_missing_sub_is_named(stsmock):
    """A correctly signed token without sub (minted through the admin path) fails the sub check."""
    service = stsmock.runtime.issuers["default"]
    token = service.mint({"aud": "sts.amazonaws.com"})
    response = _call(stsmock, token)
    assert response["Error"]["Code"] == "InvalidIdentityToken"
    assert "sub" in response["Error"]["Message"]
    assert _last_denial(stsmock)["check"] == "sub"


def test_role_not_found(stsmock):
    response = _call(stsmock, stsmock.token(), RoleArn="arn:aws:iam::000000000000:role/nope")
    assert response["Error"]["Code"] == "AccessDenied"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert response["Error"]["Message"] == "Not authorized to perform sts:AssumeRoleWithWebIdentity"
    assert _last_denial(stsmock)["check"] == "role-exists"


def test_failing_trust_condition_is_explained(stsmock):
    arn = stsmock.add_role("only-bob", stsmock.web_identity_trust(sub="bob"))
    response = _call(stsmock, stsmock.token("alice"), RoleArn=arn)
    assert response["Error"]["Code"] == "AccessDenied"
    record = _last_denial(stsmock)
    assert record["check"] == "trust-policy"
    assert ":sub" in record["detail"]["reason"]


def test_duration_above_role_maximum(stsmock):
    arn = stsmock.add_role("one-hour", stsmock.web_identity_trust(), max_session_duration=3600)
    response = _call(stsmock, stsmock.token(), RoleArn=arn, DurationSeconds=7200)
    assert response["Error"]["Code"] == "ValidationError"
    assert (
        response["Error"]["Message"]
        == "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."
    )
    assert _last_denial(stsmock)["check"] == "duration-max"


def test_bad_session_name(stsmock):
    response = _call(stsmock, stsmock.token(), RoleSessionName="a:b")
    assert response["Error"]["Code"] == "ValidationError"
    assert response["Error"]["Message"] == (
        "1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy constraint: "
        "Member must satisfy regular expression pattern: [\\w+=,.@-]*"
    )


def test_several_validation_errors_in_one_message(stsmock):
    response = _call(stsmock, stsmock.token(), RoleSessionName="a:b", DurationSeconds=50000)
    assert response["Error"]["Message"].startswith("2 validation errors detected: ")
    assert "durationSeconds" in response["Error"]["Message"]


@pytest.mark.parametrize(
    ("policy", "code", "fragment"),
    [
        ("{not json", "MalformedPolicyDocument", ""),
        (
            json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}),
            "MalformedPolicyDocument",
            "action",
        ),
        (
            json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "x" * 2100}]}
            ),
            "ValidationError",
            "2048",
        ),
    ],
    ids=["bad-json", "no-action", "oversized"],
)
def test_malformed_or_oversized_policy(stsmock, policy, code, fragment):
    response = _call(stsmock, stsmock.token(), Policy=policy)
    assert response["Error"]["Code"] == code
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert fragment.lower() in response["Error"]["Message"].lower()


def test_debug_mode_names_the_check_in_the_response(stsmock):
    stsmock.runtime.sts.settings.debug = True
    response = _call(stsmock, stsmock.token(aud="nope"))
    assert "[check: aud]" in response["Error"]["Message"]


def _raw_post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=body, headers=headers or {"Content-Type": "application/x-www-form-urlencoded"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"Version=2011-06-15", b"MissingAction"),
        (b"Action=AssumeRoleWithWebIdentity", b"MissingParameter"),
        (b"\xff\xfe\x00garbage=%%%", b"<ErrorResponse"),
        (b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&" + b"x" * 300_000, b"ValidationError"),
    ],
    ids=["no-action", "no-version", "binary-garbage", "oversized-body"],
)
def test_hostile_requests_get_protocol_errors(stsmock, body, code):
    status, payload = _raw_post(stsmock.url + "/", body)
    assert 400 <= status < 500
    assert code in payload
    assert b"Traceback" not in payload


def test_query_string_form_and_query_wins(stsmock):
    token = stsmock.token("query-user")
    query = urllib.parse.urlencode(
        {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": ROLE,
            "RoleSessionName": "fromquery",
            "WebIdentityToken": token,
        }
    )
    status, payload = _raw_post(stsmock.url + "/?" + query, b"RoleSessionName=frombody")
    assert status == 200, payload
    assert b"assumed-role/stsmock-dev/fromquery" in payload
