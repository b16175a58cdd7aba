"""The STS actions over fakes of the plane's ports: clock, store, audit, revocations.

No server, no data dir: a :class:`StsService` built on in-memory fakes, driven
through its one entry point (``handle``) and through the ``ACTIONS`` registry
directly. Success and failure paths, with the check each failure names, the
audit record it leaves and the session records it does (not) write.
"""

from __future__ import annotations

import json
import time
import warnings
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree as ET

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from joserfc import jws
from joserfc.jwk import RSAKey

from stsproxy.actions import ACTIONS
from stsproxy.credentials import SessionTokenCodec, generate_key
from stsproxy.decision import DecisionRecord
from stsproxy.errors import AccessDenied, IDPRejectedClaim, StsError, ValidationError
from stsproxy.plane import ActionCall, HttpRequest
from stsproxy.ports import StsExtensions
from stsproxy.service import StsService
from stsproxy.sessions import SESSION_KIND
from stsproxy.settings import StsSettings
from stsproxy.verify import StaticJwksSource, TokenVerifier, TrustedIssuer

ISS = "https://idp.test"
AUD = "sts.amazonaws.com"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
FORM = "application/x-www-form-urlencoded; charset=utf-8"
ROLE = "arn:aws:iam::000000000000:role/reader"
STRICT = "arn:aws:iam::000000000000:role/strict"
USER_AK, USER_SK = "AKIAUSERUSERUSER0001", "user-secret-key-0000000000000000000000"


# --------------------------------------------------------------------------- fakes of the ports


class FakeClock:
    def __init__(self) -> None:
        self.t = time.time()  # SigV4 signatures carry the real time; the STS compares with this clock

    def now(self) -> float:
        return self.t


class FakeStore:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], dict[str, Any]] = {}

    def put(self, kind: str, key: str, value: dict[str, Any], expires_at: float | None = None) -> None:
        self.data[(kind, key)] = dict(value)

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self.data.get((kind, key))


class FakeAudit:
    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    def record(self, event: str, **fields: Any) -> None:
        self.records.append((event, fields))

    def last(self) -> dict[str, Any]:
        event, fields = self.records[-1]
        assert event == "sts.decision"
        return fields


class FakeRevocations:
    def __init__(self) -> None:
        self.rules: list[dict[str, Any]] = []

    def revoke(self, by: str, value: str) -> None:
        self.rules.append({"id": len(self.rules) + 1, "by": by, "value": value})

    def check(self, facts: dict[str, Any]) -> dict[str, Any] | None:
        return next((r for r in self.rules if facts.get(r["by"]) == r["value"]), None)


# --------------------------------------------------------------------------- the plane


def trust(**condition: Any) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": f"arn:aws:iam::000000000000:oidc-provider/{ISS[8:]}"},
        "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}


def user_trust() -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:root"}, "Action": "sts:AssumeRole"}
        ],
    }


S3_READ = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]}


class Plane:
    def __init__(self, **ext: Any) -> None:
        self.clock, self.store, self.audit, self.revocations = FakeClock(), FakeStore(), FakeAudit(), FakeRevocations()
        settings = StsSettings.model_validate(
            {
                "roles": [
                    {"name": "reader", "trust_policy": trust(), "policies": {"read": S3_READ}},
                    {
                        "name": "strict",
                        "trust_policy": trust(StringEquals={f"{ISS[8:]}:sub": "alice"}),
                        "max_session_duration": 3600,
                    },
                    {"name": "assumable", "trust_policy": user_trust(), "policies": {"read": S3_READ}},
                ],
                "users": [{"access_key": USER_AK, "secret_key": USER_SK, "name": "ci"}],
            }
        )
        jwks = {"keys": [KEY.as_dict(private=False)]}
        issuer = TrustedIssuer(ISS, (AUD,), ("RS256",), StaticJwksSource(lambda: jwks))
        verifier = TokenVerifier([issuer], settings.validation, clock=self.clock)
        self.service = StsService(
            settings,
            verifier=verifier,
            codec=SessionTokenCodec(generate_key()),
            clock=self.clock,
            store=self.store,
            audit=self.audit,
            revocations=self.revocations,
            extensions=StsExtensions(**ext),
        )

    def token(self, sub: str = "alice", **claims: Any) -> str:
        now = int(self.clock.now())
        payload = {"iss": ISS, "aud": AUD, "sub": sub, "iat": now, "exp": now + 600, "jti": f"j-{sub}", **claims}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return jws.serialize_compact({"alg": "RS256", "kid": "k1"}, json.dumps(payload).encode(), KEY)

    async def call(self, params: dict[str, str], *, creds: Credentials | None = None) -> tuple[int, ET.Element]:
        body = urlencode({"Version": "2011-06-15", **params}).encode()
        headers = {"Content-Type": FORM}
        if creds is not None:
            signed = AWSRequest(method="POST", url="http://127.0.0.1/", data=body, headers=headers)
            SigV4Auth(creds, "sts", "us-east-1").add_auth(signed)
            headers = {"Host": "127.0.0.1", **dict(signed.prepare().headers)}
        response = await self.service.handle(HttpRequest("POST", "/", "/", [], headers, body, "127.0.0.1"))
        root = ET.fromstring(response.body)
        for element in root.iter():
            element.tag = element.tag.rsplit("}", 1)[-1]
        return response.status, root

    async def web_identity(self, token: str, role: str = ROLE, **params: str) -> tuple[int, ET.Element]:
        return await self.call(
            {
                "Action": "AssumeRoleWithWebIdentity",
                "RoleArn": role,
                "RoleSessionName": "s1",
                "WebIdentityToken": token,
                **params,
            }
        )


def credentials_of(root: ET.Element) -> Credentials:
    creds = root.find(".//Credentials")
    assert creds is not None
    return Credentials(creds.findtext("AccessKeyId"), creds.findtext("SecretAccessKey"), creds.findtext("SessionToken"))


def error_code(root: ET.Element) -> str | None:
    return root.findtext(".//Error/Code")


# --------------------------------------------------------------------------- AssumeRoleWithWebIdentity


async def test_web_identity_mints_stores_and_audits() -> None:
    plane = Plane()
    status, root = await plane.web_identity(plane.token())
    assert status == 200
    creds = credentials_of(root)
    assert root.findtext(".//AssumedRoleUser/Arn") == "arn:aws:sts::000000000000:assumed-role/reader/s1"
    stored = plane.store.get(SESSION_KIND, creds.access_key)
    assert stored is not None and stored["sub"] == "alice" and stored["kind"] == "web-identity"
    assert "sk" not in stored and "policy" not in stored
    audit = plane.audit.last()
    assert audit["decision"] == "allow" and audit["action"] == "AssumeRoleWithWebIdentity"
    assert audit["access_key_id"] == creds.access_key and audit["sub"] == "alice" and audit["claims_verified"]
    assert audit["trust"]["decision"] == "Allow"
    # the credential works for a signed call, through the same credential chain the gateway uses
    principal = plane.service.chain.principal(creds.access_key, creds.token, plane.clock.now())
    assert principal.arn.endswith("assumed-role/reader/s1") and principal.source == "sealed-sessions"


@pytest.mark.parametrize(
    ("case", "code", "check"),
    [
        ("revoked", "IDPRejectedClaim", "revoked"),
        ("expired", "ExpiredTokenException", "exp"),
        ("wrong-sub", "AccessDenied", "trust-policy"),
        ("unknown-role", "AccessDenied", "role-exists"),
        ("duration-max", "ValidationError", "duration-max"),
        ("bad-signature", "InvalidIdentityToken", "signature"),
    ],
)
async def test_web_identity_denials_name_their_check(case: str, code: str, check: str) -> None:
    plane = Plane()
    token, role, params = plane.token(), ROLE, {}
    if case == "revoked":
        plane.revocations.revoke("sub", "alice")
    elif case == "expired":
        plane.clock.t += 3600
    elif case == "wrong-sub":
        token, role = plane.token("mallory"), STRICT
    elif case == "unknown-role":
        role = ROLE + "-gone"
    elif case == "duration-max":
        role, params = STRICT, {"DurationSeconds": "7200"}
    elif case == "bad-signature":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    status, root = await plane.web_identity(token, role, **params)
    assert status in (400, 403) and error_code(root) == code
    audit = plane.audit.last()
    assert audit["decision"] == "deny" and audit["check"] == check and audit["code"] == code
    assert not plane.store.data  # nothing minted, nothing stored


async def test_fault_hook_answers_instead_of_the_action() -> None:
    async def fault(**kwargs: Any) -> StsError | None:
        assert kwargs["action"] == "AssumeRoleWithWebIdentity" and kwargs["role_arn"] == ROLE
        return AccessDenied("injected", check="fault-injected")

    plane = Plane(fault=fault)
    status, root = await plane.web_identity(plane.token())
    assert status == 403 and plane.audit.last()["check"] == "fault-injected" and not plane.store.data


async def test_failed_commit_never_hands_out_credentials() -> None:
    async def commit(ops: list[Any]) -> None:
        raise OSError("disk full")

    plane = Plane(commit=commit)
    status, root = await plane.web_identity(plane.token())
    assert status == 500 and error_code(root) == "InternalFailure"
    assert root.find(".//Credentials") is None


async def test_action_registry_called_directly_raises_the_named_step() -> None:
    plane = Plane()
    record = DecisionRecord(action="AssumeRoleWithWebIdentity", request_id="r-1", profile="aws")
    params = {"RoleArn": ROLE, "RoleSessionName": "s1", "WebIdentityToken": plane.token(), "Version": "2011-06-15"}
    plane.revocations.revoke("jti", "j-alice")
    call = ActionCall(HttpRequest("POST", "/", "/", [], {}, b""), params, "aws", record)
    with pytest.raises(IDPRejectedClaim) as raised:
        await ACTIONS["AssumeRoleWithWebIdentity"](plane.service.plane, call)
    assert raised.value.check == "revoked" and not record.writes
    plane.revocations.rules.clear()
    fields = await ACTIONS["AssumeRoleWithWebIdentity"](plane.service.plane, call)
    assert fields and len(record.writes) == 1  # the session record waits for the commit
    assert record.trust is not None and record.trust.allowed


# --------------------------------------------------------------------------- the signed actions


async def test_signed_calls_follow_the_credential_chain() -> None:
    plane = Plane()
    _, root = await plane.web_identity(plane.token())
    creds = credentials_of(root)
    status, root = await plane.call({"Action": "GetCallerIdentity"}, creds=creds)
    assert status == 200 and root.findtext(".//Arn", "").endswith("assumed-role/reader/s1")
    # not revoked: revoking the access key denies its next call
    plane.revocations.revoke("access_key", creds.access_key)
    status, root = await plane.call({"Action": "GetCallerIdentity"}, creds=creds)
    assert status == 403 and error_code(root) == "InvalidClientTokenId" and plane.audit.last()["check"] == "revoked"
    # known: a session whose store record is gone is refused
    plane.revocations.rules.clear()
    plane.store.data.clear()
    status, root = await plane.call({"Action": "GetCallerIdentity"}, creds=creds)
    assert status == 403 and plane.audit.last()["check"] == "session-known"
    # unknown key
    status, root = await plane.call({"Action": "GetCallerIdentity"}, creds=Credentials("AKIANOTKNOWN00000000", "x"))
    assert status == 403 and plane.audit.last()["check"] == "sigv4-unknown-key"


async def test_get_session_token_and_assume_role() -> None:
    plane = Plane()
    user = Credentials(USER_AK, USER_SK)
    status, root = await plane.call({"Action": "GetSessionToken", "DurationSeconds": "900"}, creds=user)
    assert status == 200
    temporary = credentials_of(root)
    # session credentials cannot call GetSessionToken again
    status, root = await plane.call({"Action": "GetSessionToken"}, creds=temporary)
    assert status == 403 and plane.audit.last()["check"] == "caller-long-term"
    # a long-term user assumes a role its trust policy allows
    role = "arn:aws:iam::000000000000:role/assumable"
    status, root = await plane.call({"Action": "AssumeRole", "RoleArn": role, "RoleSessionName": "ci"}, creds=user)
    assert status == 200, ET.tostring(root)
    chained = credentials_of(root)
    # role chaining is limited to one hour
    status, root = await plane.call(
        {"Action": "AssumeRole", "RoleArn": role, "RoleSessionName": "again", "DurationSeconds": "7200"}, creds=chained
    )
    assert status == 400 and plane.audit.last()["check"] == "duration-role-chaining"


async def test_permissions_are_role_intersect_session_policy() -> None:
    plane = Plane()
    deny_all = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "s3:*", "Resource": "*"}]}
    )
    _, root = await plane.web_identity(plane.token(), Policy=deny_all)
    creds = credentials_of(root)
    session = plane.service.chain.principal(creds.access_key, creds.token, plane.clock.now()).session
    decision = plane.service.permissions.evaluate(session, "s3:GetObject", "arn:aws:s3:::b/k", {})
    assert decision is not None and not decision.allowed
    _, root = await plane.web_identity(plane.token())
    creds = credentials_of(root)
    session = plane.service.chain.principal(creds.access_key, creds.token, plane.clock.now()).session
    decision = plane.service.permissions.evaluate(session, "s3:GetObject", "arn:aws:s3:::b/k", {})
    assert decision is not None and decision.allowed
    with pytest.raises(ValidationError):
        from stsproxy import steps

        steps.session_duration(7200, plane.service.roles.by_arn(STRICT), "aws", now=0, token_exp=None)
