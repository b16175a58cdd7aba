"""Contract tests: stsmock in front of MinIO's STS, against a stub that speaks MinIO's wire format.

The MinIO server is AGPL and cannot run here, so a local aiohttp stub reproduces what the fact sheet
(/work/shared/reference/minio-sts.md) documents from MinIO's source:

* §5.1 success: ``<?xml …?>`` prolog + newline, STS namespace on the root, no indentation, empty
  ``AssumedRoleUser`` (``<Arn></Arn><AssumeRoleId></AssumeRoleId>``), Credentials in struct order,
  upper-hex RequestId mirrored in ``x-amz-request-id``;
* §5.2 errors: ``ErrorResponse/Error/{Type(empty),Code,Message}`` + ``RequestId``;
  §5.3: token problems are ``InvalidParameterValue``/400;
* §8: ``POST /minio/admin/v3/revoke-tokens/{provider}`` signed with SigV4 (service ``s3``) — the stub
  verifies the signature with stsmock's own SigV4 verifier.

stsmock runs with ``configs/minio.yaml`` (its ``minio`` upstream and ``minio-broker`` role); the
tests point the upstream at the stub.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import string
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import jwt as pyjwt
import pytest
import requests
from aiohttp import web
from botocore.exceptions import ClientError

from stsproxy.sigv4 import SignedRequest, authenticate
from stsproxy.upstream import UpstreamForwarder

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "minio.yaml"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"
PROLOG = '<?xml version="1.0" encoding="UTF-8"?>\n'
ACCOUNT = "000000000000"
ADMIN_AK, ADMIN_SK = "minioadmin", "minioadmin"
EXPIRATION = "2031-02-12T20:26:12Z"

pytestmark = pytest.mark.stsmock_config(str(CONFIG))


def request_id() -> str:
    return f"{time.time_ns():016X}"


class MinioStub:
    """MinIO's STS + revoke-tokens on 127.0.0.1, in its own thread and loop."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        self.jwks = jwks
        self.sts_calls: list[dict[str, Any]] = []
        self.admin_calls: list[dict[str, Any]] = []
        self.mode = "minio"  # minio | sleep | html403
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True, name="minio-stub")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MinioStub:
        self._thread.start()
        app = web.Application()
        app.router.add_post("/minio/admin/v3/revoke-tokens/{provider}", self._revoke)
        app.router.add_post("/", self._sts)
        self._runner = web.AppRunner(app, access_log=None)

        async def _start() -> None:
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = self._runner.addresses[0][1]

        asyncio.run_coroutine_threadsafe(_start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # -- MinIO's wire format ---------------------------------------------------------
    @staticmethod
    def _xml(body: str, status: int, rid: str) -> web.Response:
        headers = {
            "x-amz-request-id": rid,
            "Server": "MinIO",
            "Accept-Ranges": "bytes",
            "X-Content-Type-Options": "nosniff",
        }
        return web.Response(
            body=(PROLOG + body).encode(), status=status, content_type="application/xml", headers=headers
        )

    def _error(self, code: str, message: str, status: int = 400) -> web.Response:
        rid = request_id()
        body = (
            f'<ErrorResponse xmlns="{STS_NS}"><Error><Type></Type><Code>{code}</Code>'
            f"<Message>{message}</Message></Error><RequestId>{rid}</RequestId></ErrorResponse>"
        )
        return self._xml(body, status, rid)

    async def _sts(self, request: web.Request) -> web.StreamResponse:
        form = dict(parse_qsl((await request.read()).decode(), keep_blank_values=True))
        query = dict(request.query)
        params = {**form, **query}  # MinIO: query values win
        self.sts_calls.append({"form": form, "query": query, "headers": dict(request.headers)})
        if self.mode == "sleep":
            await asyncio.sleep(3)
        if self.mode == "html403":
            return web.Response(
                status=403, text="<html><body>Forbidden by a proxy</body></html>", content_type="text/html"
            )
        if params.get("Version") != "2011-06-15":
            version = params.get("Version")
            return self._error("MissingParameter", f"Invalid STS API version {version}, expecting 2011-06-15")
        if params.get("Action") != "AssumeRoleWithWebIdentity":
            return self._error("InvalidParameterValue", f"Unsupported action {params.get('Action')}")
        token = params.get("Token") or params.get("WebIdentityToken") or ""
        try:  # MinIO §3: kid, signature, exp, aud/azp == client id, sub, policy claim
            header = pyjwt.get_unverified_header(token)
            key = pyjwt.PyJWKSet.from_dict(self.jwks)[header["kid"]]
            claims = pyjwt.decode(token, key.key, algorithms=["RS256"], options={"verify_aud": False})
        except (pyjwt.PyJWTError, KeyError) as exc:
            return self._error("InvalidParameterValue", f"Token verification failed: {exc}")
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if "minio" not in auds and claims.get("azp") != "minio":
            return self._error(
                "InvalidParameterValue",
                "STS JWT Token has `azp` claim invalid, `azp` must match configured OpenID Client ID",
            )
        if not claims.get("policy") and "RoleArn" not in params:
            return self._error(
                "InvalidParameterValue", "policy claim missing from the JWT token, credentials will not be generated"
            )
        access_key = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(20))
        secret_key = "".join(secrets.choice(string.ascii_letters + string.digits + "+") for _ in range(40))
        self.sts_calls[-1]["claims"] = claims
        rid = request_id()
        body = (
            f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NS}"><AssumeRoleWithWebIdentityResult>'
            "<AssumedRoleUser><Arn></Arn><AssumeRoleId></AssumeRoleId></AssumedRoleUser>"
            f"<Credentials><AccessKeyId>{access_key}</AccessKeyId><SecretAccessKey>{secret_key}</SecretAccessKey>"
            f"<SessionToken>eyJhbGciOiJIUzUxMiJ9.stub.{access_key}</SessionToken><Expiration>{EXPIRATION}</Expiration>"
            f"</Credentials><SubjectFromWebIdentityToken>{claims['sub']}</SubjectFromWebIdentityToken>"
            f"</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata>"
            "</AssumeRoleWithWebIdentityResponse>"
        )
        return self._xml(body, 200, rid)

    async def _revoke(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        path, _, _ = request.raw_path.partition("?")
        signed = SignedRequest(
            method=request.method, path=path, query=list(request.query.items()), headers=request.headers, body=body
        )

        class Admin:
            def resolve(self, access_key: str, session_token: str | None, now: float) -> tuple[str, dict]:
                assert access_key == ADMIN_AK and not session_token
                return ADMIN_SK, {"user": access_key}

        try:
            authenticate(signed, Admin(), now=time.time(), expected_service="s3")
            verified: bool | str = True
        except Exception as exc:  # noqa: BLE001 - report to the test
            verified = f"{type(exc).__name__}: {exc}"
        self.admin_calls.append(
            {
                "provider": request.match_info["provider"],
                "query": dict(request.query),
                "path": path,
                "verified": verified,
                "headers": dict(request.headers),
            }
        )
        if verified is not True:
            return web.json_response({"Code": "SignatureDoesNotMatch", "Message": str(verified)}, status=403)
        return web.Response(status=204)


@pytest.fixture
def minio(stsmock) -> Any:
    stub = MinioStub(stsmock.runtime.issuers["default"].jwks()).start()
    forwarder = stsmock.runtime.sts.ext.upstream
    assert isinstance(forwarder, UpstreamForwarder), "configs/minio.yaml configures the minio upstream"
    forwarder.put(forwarder.upstreams["minio"].model_copy(update={"endpoint": stub.url, "timeout_seconds": 1.0}))
    yield stub
    stub.stop()


def arn(role: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{role}"


def decision(stsmock) -> dict:
    return [r for r in stsmock.audit() if r.get("event") == "sts.decision"][-1]


def add_passthrough_role(stsmock, **upstream: Any) -> str:
    trust = stsmock.web_identity_trust(aud="minio", sub="dev")
    trust["Statement"][0]["Action"] = "sts:AssumeRoleWithWebIdentity"
    return stsmock.add_role(
        "minio-pass",
        trust,
        upstream={"name": "minio", "mode": "passthrough", **upstream},
        max_session_duration=31536000,
    )


# --------------------------------------------------------------------------- broker


def test_broker_mints_a_minio_token_and_relays_minio_success_to_boto3(stsmock, minio: MinioStub) -> None:
    caller = stsmock.token("dev", aud="app", groups=["developers"])
    response = stsmock.sts_client().assume_role_with_web_identity(
        RoleArn=arn("minio-broker"), RoleSessionName="brk", WebIdentityToken=caller
    )
    [call] = minio.sts_calls
    form = call["form"]
    assert call["headers"]["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert form["Action"] == "AssumeRoleWithWebIdentity" and form["Version"] == "2011-06-15"
    assert "RoleArn" not in form, "no role_arn for a minio upstream: MinIO's claim-based mode"
    assert "DurationSeconds" not in form, "minio profile without DurationSeconds: expiry = the token's exp"
    assert "Policy" not in form and form["RoleSessionName"] == "brk"
    assert form["WebIdentityToken"] != caller
    claims = call["claims"]
    assert claims["aud"] == "minio" and claims["azp"] == "minio"
    assert claims["policy"] == "readonly" and claims["sub"] == "dev" and claims["groups"] == ["developers"]
    assert claims["iss"] == stsmock.url
    assert pyjwt.get_unverified_header(form["WebIdentityToken"])["kid"]

    creds = response["Credentials"]
    assert len(creds["AccessKeyId"]) == 20 and creds["AccessKeyId"].isalnum()
    assert creds["Expiration"].isoformat().startswith("2031-02-12T20:26:12")
    assert response["SubjectFromWebIdentityToken"] == "dev"

    [forward] = [r for r in stsmock.audit() if r.get("event") == "upstream.forward"]
    assert forward["mode"] == "broker" and forward["kind"] == "minio" and forward["outcome"] == "allow"
    assert forward["status"] == 200 and len(forward["upstream_request_id"]) == 16  # MinIO's x-amz-request-id
    record = decision(stsmock)
    assert record["decision"] == "allow" and record["upstream"] == "minio" and record["upstream_status"] == 200


def test_relayed_success_is_minio_shaped_on_the_wire(stsmock, minio: MinioStub) -> None:
    """The role's profile (minio) renders the upstream credentials: prolog, empty AssumedRoleUser, Z expiry."""
    answer = requests.post(
        stsmock.url,
        data={
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": arn("minio-broker"),
            "WebIdentityToken": stsmock.token("dev", aud="app"),
        },
        timeout=10,
    )
    assert answer.status_code == 200
    body = answer.text
    assert body.startswith(PROLOG + f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NS}">')
    assert "<AssumedRoleUser><Arn></Arn><AssumeRoleId></AssumeRoleId></AssumedRoleUser>" in body
    assert f"<Expiration>{EXPIRATION}</Expiration>" in body
    assert answer.headers["Content-Type"].startswith("application/xml")
    assert answer.headers["x-amz-request-id"]


# --------------------------------------------------------------------------- passthrough + minio-py


def test_passthrough_sends_the_caller_token_and_session_policy_to_minio_py(stsmock, minio: MinioStub) -> None:
    from minio.credentials.providers import WebIdentityProvider

    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::shared/*"]}],
    }
    role = add_passthrough_role(stsmock, session_policy=policy)
    token = stsmock.token("dev", aud="minio", policy="readwrite")
    provider = WebIdentityProvider(
        jwt_provider_func=lambda: {"access_token": token, "expires_in": "3600"},
        sts_endpoint=stsmock.url,
        role_arn=role,
        role_session_name="mpy",
    )
    creds = provider.retrieve()
    [call] = minio.sts_calls
    form = call["form"]
    assert form["WebIdentityToken"] == token, "passthrough: the caller's token, unchanged"
    assert form["Policy"] == json.dumps(policy, separators=(",", ":")), "the role's session policy, compact"
    assert form["DurationSeconds"] == "3600" and form["RoleSessionName"] == "mpy"
    assert "RoleArn" not in form
    assert len(creds.access_key) == 20 and creds.secret_key and creds.session_token


def test_caller_policy_is_refused_when_the_role_injects_one(stsmock, minio: MinioStub) -> None:
    role = add_passthrough_role(
        stsmock,
        session_policy={
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
        },
    )
    with pytest.raises(ClientError) as info:
        stsmock.sts_client().assume_role_with_web_identity(
            RoleArn=role,
            RoleSessionName="pp",
            WebIdentityToken=stsmock.token("dev", aud="minio", policy="readwrite"),
            Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}',
        )
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert decision(stsmock)["check"] == "upstream-session-policy"
    assert minio.sts_calls == []


def test_caller_policy_is_forwarded_compact_when_the_role_has_none(stsmock, minio: MinioStub) -> None:
    role = add_passthrough_role(stsmock)
    stsmock.sts_client().assume_role_with_web_identity(
        RoleArn=role,
        RoleSessionName="pp",
        WebIdentityToken=stsmock.token("dev", aud="minio", policy="readwrite"),
        Policy='{"Version": "2012-10-17", "Statement": '
        '[{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}',
    )
    assert minio.sts_calls[0]["form"]["Policy"] == (
        '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    )


# --------------------------------------------------------------------------- errors


def test_minio_error_is_relayed_with_its_code_message_and_status(stsmock, minio: MinioStub) -> None:
    from minio.credentials.providers import WebIdentityProvider

    role = add_passthrough_role(stsmock)
    token = stsmock.token("dev", aud="minio")  # no policy claim and no RoleArn upstream: MinIO refuses
    with pytest.raises(ClientError) as info:
        stsmock.sts_client().assume_role_with_web_identity(RoleArn=role, RoleSessionName="ee", WebIdentityToken=token)
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "InvalidParameterValue"
    assert error["Error"]["Message"] == "policy claim missing from the JWT token, credentials will not be generated"
    record = decision(stsmock)
    assert record["decision"] == "deny" and record["check"] == "upstream" and record["code"] == "InvalidParameterValue"
    assert record["upstream_status"] == 400 and record["upstream_latency_ms"] >= 0

    raw = requests.post(
        stsmock.url,
        data={
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": role,
            "WebIdentityToken": token,
        },
        timeout=10,
    )
    assert raw.status_code == 400
    assert raw.text.startswith(
        PROLOG + f'<ErrorResponse xmlns="{STS_NS}"><Error><Type></Type><Code>InvalidParameterValue</Code>'
    )

    provider = WebIdentityProvider(
        jwt_provider_func=lambda: {"access_token": token}, sts_endpoint=stsmock.url, role_arn=role
    )
    with pytest.raises(ValueError):  # minio-py raises on any non-200 without parsing the body
        provider.retrieve()


def test_unparsable_upstream_error_keeps_status_and_derives_the_code(stsmock, minio: MinioStub) -> None:
    minio.mode = "html403"
    role = add_passthrough_role(stsmock)
    with pytest.raises(ClientError) as info:
        stsmock.sts_client().assume_role_with_web_identity(
            RoleArn=role, RoleSessionName="hh", WebIdentityToken=stsmock.token("dev", aud="minio", policy="readwrite")
        )
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403 and error["Error"]["Code"] == "AccessDenied"
    assert "Forbidden by a proxy" in error["Error"]["Message"]
    assert decision(stsmock)["check"] == "upstream"


def test_upstream_timeout_is_the_profiles_communication_error(stsmock, minio: MinioStub) -> None:
    minio.mode = "sleep"  # 3 s > the 1 s upstream timeout
    with pytest.raises(ClientError) as info:
        stsmock.sts_client().assume_role_with_web_identity(
            RoleArn=arn("minio-broker"), RoleSessionName="tt", WebIdentityToken=stsmock.token("dev", aud="app")
        )
    # IDPCommunicationError on the wire of the minio profile is InvalidParameterValue/400 (MinIO's catch-all)
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    assert "timed out" in info.value.response["Error"]["Message"]
    assert len(minio.sts_calls) == 1, "timeouts are not retried"
    record = decision(stsmock)
    assert record["check"] == "upstream-unreachable" and record["upstream"] == "minio"
    [forward] = [r for r in stsmock.audit() if r.get("event") == "upstream.forward"]
    assert forward["outcome"] == "error" and forward["code"] == "IDPCommunicationError"


# --------------------------------------------------------------------------- revoke-tokens


def wait_for(predicate: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def test_revocation_by_sub_calls_minio_revoke_tokens_signed_sigv4_s3(stsmock, minio: MinioStub) -> None:
    stsmock.revoke("sub", "dev")
    [call] = wait_for(lambda: minio.admin_calls)
    assert call["verified"] is True, call["verified"]
    assert call["path"] == "/minio/admin/v3/revoke-tokens/builtin"
    assert call["query"] == {"user": "dev", "fullRevoke": "true"}
    assert "/s3/aws4_request" in call["headers"]["Authorization"]
    assert call["headers"]["X-Amz-Content-Sha256"] == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    audit = wait_for(lambda: [r for r in stsmock.audit() if r.get("event") == "upstream.revoke"])
    assert audit[-1]["outcome"] == "revoked" and audit[-1]["status"] == 204 and audit[-1]["by"] == "sub"


def test_revocation_by_access_key_is_forwarded_other_kinds_are_not(stsmock, minio: MinioStub) -> None:
    stsmock.revoke("jti", "abc")
    stsmock.revoke("access_key", "MINIOUSERKEY")
    [call] = wait_for(lambda: minio.admin_calls)
    assert call["query"] == {"user": "MINIOUSERKEY", "fullRevoke": "true"} and call["verified"] is True
    time.sleep(0.1)
    assert len(minio.admin_calls) == 1, "a jti revocation has no MinIO counterpart"
