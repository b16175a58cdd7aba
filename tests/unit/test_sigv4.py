"""SigV4 verification against requests signed by the real botocore signer (and a real boto3 client)."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import boto3
import pytest
from aiohttp import ClientSession, web
from botocore.auth import S3SigV4Auth, SigV4QueryAuth
from botocore.auth import SigV4Auth as BotoSigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from multidict import CIMultiDict
from yarl import URL

from stsproxy.credentials import MintedCredentials, SessionTokenCodec, generate_key, mint
from stsproxy.errors import (
    ExpiredToken,
    IncompleteSignature,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
    StsError,
)
from stsproxy.sigv4 import (
    SignedRequest,
    authenticate,
    parse_auth,
    session_credential_resolver,
    verify,
)

STS_BODY = b"Action=GetCallerIdentity&Version=2011-06-15"
FORM = "application/x-www-form-urlencoded; charset=utf-8"
ENDPOINT = "http://127.0.0.1:8943"
STATIC_AK, STATIC_SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


@pytest.fixture
def codec() -> SessionTokenCodec:
    return SessionTokenCodec(generate_key())


@pytest.fixture
def creds(codec: SessionTokenCodec) -> MintedCredentials:
    return mint(codec, now=time.time(), duration=43200, session={"sid": "s-1", "role_arn": "arn:aws:iam::1:role/r"})


@pytest.fixture
def resolver(codec: SessionTokenCodec) -> Any:
    return session_credential_resolver(codec, static_keys={STATIC_AK: (STATIC_SK, {"user": "alice"})})


_KEEP = object()


def boto_creds(c: MintedCredentials, *, secret: str | None = None, token: str | None | object = _KEEP) -> Credentials:
    """botocore credentials for ``c``, optionally with another secret or session token."""
    return Credentials(c.access_key_id, secret or c.secret_access_key, c.session_token if token is _KEEP else token)


def other_secret(secret: str) -> str:
    """The same secret with its first character changed (never equal to the original)."""
    return ("A" if secret[0] != "A" else "B") + secret[1:]


def to_signed(prepared: Any) -> SignedRequest:
    """What the server sees: raw path, decoded query pairs, headers incl. Host as urllib3 sends it, body."""
    parts = urllib.parse.urlsplit(prepared.url)
    headers = CIMultiDict(prepared.headers.items())
    headers.setdefault("Host", parts.netloc)
    return SignedRequest(
        method=prepared.method,
        path=parts.path or "/",
        query=urllib.parse.parse_qsl(parts.query, keep_blank_values=True),
        headers=headers,
        body=prepared.body or b"",
    )


def sign(
    credentials: Credentials,
    *,
    url: str = ENDPOINT + "/",
    method: str = "POST",
    body: bytes = STS_BODY,
    headers: Mapping[str, str] | None = None,
    params: Any = None,
    service: str = "sts",
    region: str = "us-east-1",
    signer: type = BotoSigV4Auth,
) -> SignedRequest:
    """Sign like boto3 does for STS GetCallerIdentity (query protocol POST with a form body)."""
    hdrs = {"Content-Type": FORM} if headers is None else dict(headers)
    request = AWSRequest(method=method, url=url, headers=hdrs, data=body, params=params or {})
    signer(credentials, service, region).add_auth(request)
    return to_signed(request.prepare())


def presign(credentials: Credentials, *, expires: int = 3600, url: str = ENDPOINT + "/") -> SignedRequest:
    request = AWSRequest(method="GET", url=url, params={"Action": "GetCallerIdentity", "Version": "2011-06-15"})
    SigV4QueryAuth(credentials, "sts", "us-east-1", expires=expires).add_auth(request)
    return to_signed(request.prepare())


def replace(req: SignedRequest, **changes: Any) -> SignedRequest:
    fields = {"method": req.method, "path": req.path, "query": req.query, "headers": req.headers, "body": req.body}
    fields.update(changes)
    return SignedRequest(**fields)


def with_header(req: SignedRequest, name: str, value: str | None) -> SignedRequest:
    headers = CIMultiDict(req.headers)
    headers.popall(name, None)
    if value is not None:
        headers[name] = value
    return replace(req, headers=headers)


def expect(exc: type[StsError], req: SignedRequest, resolver: Any, **kw: Any) -> StsError:
    with pytest.raises(exc) as info:
        authenticate(req, resolver, now=kw.pop("now", time.time()), **kw)
    return info.value


# --------------------------------------------------------------------------- success paths


def test_sts_post_with_session_credentials(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds))
    auth, session = authenticate(req, resolver, now=time.time(), expected_service="sts")
    assert auth.access_key == creds.access_key_id
    assert auth.service == "sts" and auth.region == "us-east-1" and not auth.presigned
    assert auth.signed_headers == ("content-type", "host", "x-amz-date", "x-amz-security-token")
    assert auth.session_token == creds.session_token
    assert session["sid"] == "s-1" and session["ak"] == creds.access_key_id
    assert "sk" not in session  # the secret never leaves the resolver


def test_static_key(resolver: Any) -> None:
    req = sign(Credentials(STATIC_AK, STATIC_SK))
    _, session = authenticate(req, resolver, now=time.time())
    assert session == {"user": "alice"}


@pytest.mark.parametrize("path", ["/", "/sts/", "/api/v1/sts", "/a%20b/c~d", "/x/./y/../z"])
def test_paths(creds: MintedCredentials, resolver: Any, path: str) -> None:
    authenticate(sign(boto_creds(creds), url=ENDPOINT + path), resolver, now=time.time())


@pytest.mark.parametrize(
    "params",
    [
        {"a b": "c/d+e=f&g", "empty": "", "ünï": "☃", "tilde~": "x.y_z-"},
        [("dup", "2"), ("dup", "1"), ("z", "%41"), ("A", "a")],
    ],
)
def test_query_strings_with_special_chars(creds: MintedCredentials, resolver: Any, params: Any) -> None:
    authenticate(sign(boto_creds(creds), url=ENDPOINT + "/sts/", params=params), resolver, now=time.time())


def test_host_without_port_and_https(creds: MintedCredentials, resolver: Any) -> None:
    authenticate(sign(boto_creds(creds), url="https://sts.example.test/"), resolver, now=time.time())


def test_header_values_are_trimmed_and_multivalued(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds), headers={"Content-Type": FORM, "X-Custom": "  a    b  "})
    assert "x-custom" in parse_auth(req).signed_headers  # type: ignore[union-attr]
    authenticate(req, resolver, now=time.time())


def test_date_header_instead_of_x_amz_date(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds), headers={"Content-Type": FORM, "Date": "Mon, 01 Jan 2024 00:00:00 GMT"})
    assert "X-Amz-Date" not in req.headers and "date" in parse_auth(req).signed_headers  # type: ignore[union-attr]
    authenticate(req, resolver, now=time.time())


def test_path_with_fragment_or_query_chars_is_refused(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds), url=ENDPOINT + "/a")
    for path in ("/a#b", "/a?b", "a"):
        expect(SignatureDoesNotMatch, replace(req, path=path), resolver)


def test_unsigned_headers_may_change(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds))
    req = with_header(with_header(req, "User-Agent", "something/else"), "X-Forwarded-For", "10.0.0.1")
    authenticate(req, resolver, now=time.time())


def test_unsigned_payload_header(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds), headers={"Content-Type": FORM, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    assert "x-amz-content-sha256" in parse_auth(req).signed_headers  # type: ignore[union-attr]
    authenticate(replace(req, body=b"Action=Anything"), resolver, now=time.time())


def test_unsigned_content_sha256_header_is_ignored(creds: MintedCredentials, resolver: Any) -> None:
    req = with_header(sign(boto_creds(creds)), "X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD")
    authenticate(req, resolver, now=time.time())
    with pytest.raises(SignatureDoesNotMatch):
        authenticate(replace(req, body=b"Action=Anything"), resolver, now=time.time())


def test_s3_style_signing(creds: MintedCredentials, resolver: Any) -> None:
    """S3 does not double-encode the path and always signs X-Amz-Content-SHA256."""
    req = sign(
        boto_creds(creds),
        method="PUT",
        url=ENDPOINT + "/bucket/a%2Fb%20c",
        body=b"data",
        headers={},
        service="s3",
        signer=S3SigV4Auth,
    )
    authenticate(req, resolver, now=time.time(), expected_service="s3")


def test_presigned_url(creds: MintedCredentials, resolver: Any) -> None:
    req = presign(boto_creds(creds), expires=300)
    auth, _ = authenticate(req, resolver, now=time.time())
    assert auth.presigned and auth.expires == 300 and auth.session_token == creds.session_token
    assert "Authorization" not in req.headers


def test_presigned_url_static_key_non_root(resolver: Any) -> None:
    authenticate(presign(Credentials(STATIC_AK, STATIC_SK), url=ENDPOINT + "/x/y"), resolver, now=time.time())


def test_verify_directly(creds: MintedCredentials) -> None:
    req = sign(boto_creds(creds))
    auth = parse_auth(req)
    assert auth is not None
    verify(req, auth, creds.secret_access_key, now=time.time())
    with pytest.raises(SignatureDoesNotMatch) as info:
        verify(req, auth, other_secret(creds.secret_access_key), now=time.time())
    assert info.value.check == "sigv4-signature"
    assert info.value.message.startswith("The request signature we calculated does not match")


# --------------------------------------------------------------------------- tampering


def test_wrong_secret(creds: MintedCredentials, resolver: Any) -> None:
    err = expect(SignatureDoesNotMatch, sign(boto_creds(creds, secret="W" * 40)), resolver)
    assert err.check == "sigv4-signature"


def test_wrong_static_secret(resolver: Any) -> None:
    expect(SignatureDoesNotMatch, sign(Credentials(STATIC_AK, STATIC_SK[:-1] + "X")), resolver)


def test_changed_body(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds))
    expect(SignatureDoesNotMatch, replace(req, body=b"Action=GetCallerIdentity&Version=2011-06-16"), resolver)
    expect(SignatureDoesNotMatch, replace(req, body=b""), resolver)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("Content-Type", "application/json"),
        ("Host", "127.0.0.1:8944"),
        ("Host", "evil.example:8943"),
        ("X-Amz-Date", "20200101T000000Z"),
    ],
)
def test_changed_signed_header(creds: MintedCredentials, resolver: Any, name: str, value: str) -> None:
    req = with_header(sign(boto_creds(creds)), name, value)
    expect((SignatureDoesNotMatch, RequestExpired), req, resolver)  # type: ignore[arg-type]
    if name != "X-Amz-Date":
        expect(SignatureDoesNotMatch, req, resolver)


def test_removed_signed_header(creds: MintedCredentials, resolver: Any) -> None:
    expect(SignatureDoesNotMatch, with_header(sign(boto_creds(creds)), "Content-Type", None), resolver)


def test_changed_path_method_query(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds), url=ENDPOINT + "/sts/", params={"a": "1"})
    expect(SignatureDoesNotMatch, replace(req, path="/sts"), resolver)
    expect(SignatureDoesNotMatch, replace(req, path="/other/"), resolver)
    expect(SignatureDoesNotMatch, replace(req, method="PUT"), resolver)
    expect(SignatureDoesNotMatch, replace(req, query=[("a", "2")]), resolver)
    expect(SignatureDoesNotMatch, replace(req, query=[("a", "1"), ("b", "")]), resolver)


def test_changed_signature(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds))
    header = req.headers["Authorization"]
    sig = header.rsplit("=", 1)[1]
    bad_sig = ("0" if sig[0] != "0" else "1") + sig[1:]
    expect(SignatureDoesNotMatch, with_header(req, "Authorization", header.replace(sig, bad_sig)), resolver)
    expect(SignatureDoesNotMatch, with_header(req, "Authorization", header.replace(sig, "é" * 64)), resolver)


def test_scope_service_mismatch(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds), service="iam")
    authenticate(req, resolver, now=time.time())
    err = expect(SignatureDoesNotMatch, req, resolver, expected_service="sts")
    assert err.check == "sigv4-credential-scope"


def test_scope_date_mismatch(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds))
    header = req.headers["Authorization"]
    date = parse_auth(req).date  # type: ignore[union-attr]
    err = expect(SignatureDoesNotMatch, with_header(req, "Authorization", header.replace(date, "20000101")), resolver)
    assert err.check == "sigv4-credential-scope"


# --------------------------------------------------------------------------- credentials / token problems


def test_missing_session_token(creds: MintedCredentials, resolver: Any) -> None:
    err = expect(InvalidClientTokenId, sign(boto_creds(creds, token=None)), resolver)
    assert err.message == "The security token included in the request is invalid."


def test_token_from_another_key(codec: SessionTokenCodec, creds: MintedCredentials, resolver: Any) -> None:
    other = mint(codec, now=time.time(), duration=3600, session={})
    err = expect(InvalidClientTokenId, sign(boto_creds(creds, token=other.session_token)), resolver)
    assert err.check == "sigv4-session-token"


def test_tampered_token(creds: MintedCredentials, resolver: Any) -> None:
    t = creds.session_token
    tampered = t[:10] + ("A" if t[10] != "A" else "B") + t[11:]
    err = expect(InvalidClientTokenId, sign(boto_creds(creds, token=tampered)), resolver)
    assert err.check == "session-token-integrity"


def test_token_from_another_codec(creds: MintedCredentials) -> None:
    resolver = session_credential_resolver(SessionTokenCodec(generate_key()))
    expect(InvalidClientTokenId, sign(boto_creds(creds)), resolver)


def test_unknown_keys(resolver: Any) -> None:
    expect(InvalidClientTokenId, sign(Credentials("AKIAUNKNOWNKEY000000", "x" * 40)), resolver)
    expect(InvalidClientTokenId, sign(Credentials("ASIAUNKNOWNKEY000000", "x" * 40)), resolver)
    expect(InvalidClientTokenId, sign(Credentials("ASIAUNKNOWNKEY000000", "x" * 40, "garbage")), resolver)


def test_static_key_with_token(creds: MintedCredentials, resolver: Any) -> None:
    err = expect(InvalidClientTokenId, sign(Credentials(STATIC_AK, STATIC_SK, creds.session_token)), resolver)
    assert err.check == "sigv4-static-key-token"


def test_expired_credentials(codec: SessionTokenCodec, resolver: Any) -> None:
    now = time.time()
    old = mint(codec, now=now - 3600, duration=900, session={})
    err = expect(ExpiredToken, sign(boto_creds(old)), resolver, now=now)
    assert err.message == "The security token included in the request is expired"
    assert err.check == "sigv4-expired"


def test_expiry_boundary(codec: SessionTokenCodec) -> None:
    c = mint(codec, now=time.time(), duration=900, session={})
    resolver = session_credential_resolver(codec)
    resolver.resolve(c.access_key_id, c.session_token, c.expiration - 1)
    with pytest.raises(ExpiredToken):
        resolver.resolve(c.access_key_id, c.session_token, c.expiration)


# --------------------------------------------------------------------------- time


@pytest.mark.parametrize("offset", [-910, -3600, 910, 86400])
def test_clock_skew(creds: MintedCredentials, resolver: Any, offset: int) -> None:
    req = sign(boto_creds(creds))
    # ``offset`` is how far the client clock is ahead of the server's; shift the server clock instead.
    now = time.time() - offset
    err = expect(RequestExpired, req, resolver, now=now)
    assert err.check == "sigv4-date-skew"
    assert ("Signature not yet current" if offset > 0 else "Signature expired") in err.message


def test_small_skew_is_fine(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds))
    authenticate(req, resolver, now=time.time() + 800)
    authenticate(req, resolver, now=time.time() - 800)


def test_presigned_url_expired(creds: MintedCredentials, resolver: Any) -> None:
    req = presign(boto_creds(creds), expires=60)
    authenticate(req, resolver, now=time.time() + 30)
    err = expect(RequestExpired, req, resolver, now=time.time() + 120)
    assert err.message == "Request has expired"


def test_presigned_url_tampered(creds: MintedCredentials, resolver: Any) -> None:
    req = presign(boto_creds(creds))
    query = [(k, "GetSessionToken" if k == "Action" else v) for k, v in req.query]
    expect(SignatureDoesNotMatch, replace(req, query=query), resolver)
    query = [(k, "999" if k == "X-Amz-Expires" else v) for k, v in req.query]
    expect(SignatureDoesNotMatch, replace(req, query=query), resolver)


# --------------------------------------------------------------------------- malformed / unsigned


def test_unsigned_request(resolver: Any) -> None:
    req = SignedRequest("POST", "/", [], {"Host": "h", "Content-Type": FORM}, STS_BODY)
    assert parse_auth(req) is None
    err = expect(MissingAuthenticationToken, req, resolver)
    assert err.message == "Request is missing Authentication Token"


CRED = "ASIAAAAAAAAAAAAAAAAA/20240101/us-east-1/sts/aws4_request"


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256",
        "AWS4-HMAC-SHA256 ",
        f"AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=host;x-amz-date",
        "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abc",
        f"AWS4-HMAC-SHA256 Credential={CRED}, Signature=abc",
        f"AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=, Signature=abc",
        f"AWS4-HMAC-SHA256 Credential={CRED} SignedHeaders=host Signature=abc",
        f"AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=host, Signature=abc, Credential={CRED}",
        f"AWS4-HMAC-SHA256 Credential={CRED}, garbage, SignedHeaders=host, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=ASIA/20240101/us-east-1/sts, SignedHeaders=host, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=ASIA/20240101/us-east-1/sts/aws5_request, SignedHeaders=host, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=ASIA/2024-01-01/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=abc",
        "AWS4-HMAC-SHA256 Credential=ASIA//us-east-1/sts/aws4_request, SignedHeaders=host, Signature=abc",
        f"AWS4-HMAC-SHA512 Credential={CRED}, SignedHeaders=host, Signature=abc",
        f"AWS4-HMAC-SHA256Credential={CRED}, SignedHeaders=host, Signature=abc",
        "Bearer eyJhbGciOi",
        "AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=",
        "",
    ],
)
def test_malformed_authorization(resolver: Any, authorization: str) -> None:
    req = SignedRequest(
        "POST", "/", [], {"Host": "h", "X-Amz-Date": "20240101T000000Z", "Authorization": authorization}, STS_BODY
    )
    with pytest.raises(IncompleteSignature):
        parse_auth(req)
    expect(IncompleteSignature, req, resolver)


def test_missing_date_header(creds: MintedCredentials, resolver: Any) -> None:
    err = expect(IncompleteSignature, with_header(sign(boto_creds(creds)), "X-Amz-Date", None), resolver)
    assert "'X-Amz-Date' or a 'Date' header" in err.message


def test_malformed_date(creds: MintedCredentials, resolver: Any) -> None:
    expect(IncompleteSignature, with_header(sign(boto_creds(creds)), "X-Amz-Date", "2024-01-01T00:00:00Z"), resolver)


def test_host_must_be_signed(resolver: Any) -> None:
    req = SignedRequest(
        "POST",
        "/",
        [],
        {
            "Host": "h",
            "X-Amz-Date": "20240101T000000Z",
            "Authorization": f"AWS4-HMAC-SHA256 Credential={STATIC_AK}/20240101/us-east-1/sts/aws4_request, "
            "SignedHeaders=x-amz-date, Signature=abc",
        },
        STS_BODY,
    )
    err = expect(IncompleteSignature, req, resolver)
    assert err.check == "sigv4-signed-headers"


def test_header_and_query_auth_together(creds: MintedCredentials, resolver: Any) -> None:
    req = sign(boto_creds(creds))
    expect(IncompleteSignature, replace(req, query=[("X-Amz-Algorithm", "AWS4-HMAC-SHA256")]), resolver)


@pytest.mark.parametrize(
    "change",
    [
        ("drop", "X-Amz-Signature"),
        ("drop", "X-Amz-Credential"),
        ("drop", "X-Amz-Date"),
        ("drop", "X-Amz-SignedHeaders"),
        ("set", "X-Amz-Algorithm", "AWS4-HMAC-SHA1"),
        ("set", "X-Amz-Expires", "0"),
        ("set", "X-Amz-Expires", "-5"),
        ("set", "X-Amz-Expires", "604801"),
        ("set", "X-Amz-Expires", "soon"),
        ("set", "X-Amz-Credential", "ASIA/20240101/us-east-1"),
        ("set", "X-Amz-Date", "yesterday"),
    ],
)
def test_malformed_presigned(creds: MintedCredentials, resolver: Any, change: tuple[str, ...]) -> None:
    req = presign(boto_creds(creds))
    if change[0] == "drop":
        query = [(k, v) for k, v in req.query if k != change[1]]
    else:
        query = [(k, change[2] if k == change[1] else v) for k, v in req.query]
    expect(IncompleteSignature, replace(req, query=query), resolver)


# --------------------------------------------------------------------------- end to end with boto3


def signed_request_from_aiohttp(request: web.Request, body: bytes) -> SignedRequest:
    """The adapter the STS web layer will have: keep the raw path, decoded query pairs, all headers."""
    return SignedRequest(
        method=request.method,
        path=request.raw_path.split("?", 1)[0],
        query=list(request.query.items()),
        headers=request.headers,
        body=body,
    )


CALLER_XML = """<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <GetCallerIdentityResult>
    <Arn>arn:aws:sts::123456789012:assumed-role/r/s</Arn>
    <UserId>AROAEXAMPLEEXAMPLE123:s</UserId>
    <Account>123456789012</Account>
  </GetCallerIdentityResult>
  <ResponseMetadata><RequestId>00000000-0000-0000-0000-000000000000</RequestId></ResponseMetadata>
</GetCallerIdentityResponse>"""

ERROR_XML = """<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>
  <RequestId>00000000-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>"""


async def test_end_to_end_with_boto3(aiohttp_server: Any, codec: SessionTokenCodec, creds: MintedCredentials) -> None:
    resolver = session_credential_resolver(codec)
    seen: list[dict[str, Any]] = []

    async def handler(request: web.Request) -> web.Response:
        req = signed_request_from_aiohttp(request, await request.read())
        try:
            auth, session = authenticate(req, resolver, now=time.time(), expected_service="sts")
        except StsError as exc:
            return web.Response(
                status=exc.status, content_type="text/xml", text=ERROR_XML.format(code=exc.code, message=exc.message)
            )
        seen.append({"auth": auth, "session": session})
        return web.Response(content_type="text/xml", text=CALLER_XML)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    server = await aiohttp_server(app)
    endpoint = str(server.make_url("/"))

    def client(secret: str, path: str = "/") -> Any:
        return boto3.client(
            "sts",
            endpoint_url=endpoint.rstrip("/") + path,
            region_name="eu-west-1",
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=secret,
            aws_session_token=creds.session_token,
            config=Config(retries={"max_attempts": 1}),
        )

    def calls() -> list[Any]:
        results: list[Any] = [client(creds.secret_access_key).get_caller_identity()]
        results.append(client(creds.secret_access_key, "/sts/v1/").get_caller_identity())
        try:
            client(other_secret(creds.secret_access_key)).get_caller_identity()
        except ClientError as exc:
            results.append(exc.response)
        results.append(
            client(creds.secret_access_key).generate_presigned_url(
                "get_caller_identity", ExpiresIn=60, HttpMethod="GET"
            )
        )
        return results

    ok, ok_path, denied, presigned_url = await asyncio.to_thread(calls)
    assert ok["Account"] == "123456789012"
    assert ok_path["Arn"].endswith("assumed-role/r/s")
    assert denied["Error"]["Code"] == "SignatureDoesNotMatch"
    assert denied["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert seen[0]["auth"].region == "eu-west-1"
    assert seen[0]["session"]["sid"] == "s-1"

    # The presigned URL, fetched byte-for-byte as generated by a plain HTTP client.
    async with ClientSession() as http:
        async with http.get(URL(presigned_url, encoded=True)) as resp:
            assert resp.status == 200, await resp.text()
    assert seen[-1]["auth"].presigned
