"""s3:ExistingObjectTag/*: fetched only when a statement that applies reads it, then decided with it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from stsproxy.gateway.classify import Check, classify
from stsproxy.gateway.errors import S3Error
from stsproxy.gateway.existing_tags import decide_with_tags, parse_tagging
from stsproxy.gateway.model import parse_request
from stsproxy.gateway.pipeline import RequestState, tag_checks
from stsproxy.gateway.ports import Decision, Principal
from stsproxy.policy import RequestContext, condition_keys, evaluate, parse_policy

OBJ = "arn:aws:s3:::bkt/doc.txt"
POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "ReadPublic",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": "arn:aws:s3:::bkt/*",
            "Condition": {"StringEquals": {"s3:ExistingObjectTag/public": "yes"}},
        },
        {"Sid": "Tagging", "Effect": "Allow", "Action": ["s3:PutObjectTagging", "s3:DeleteObject"], "Resource": "*"},
        {
            "Sid": "KeepLocked",
            "Effect": "Deny",
            "Action": ["s3:PutObjectTagging", "s3:DeleteObject"],
            "Resource": "*",
            "Condition": {"StringEquals": {"s3:ExistingObjectTag/Locked": "true"}},
        },
        {
            "Sid": "OtherBucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": "*",
            "Condition": {"StringEquals": {"s3:ExistingObjectTag/x": "y"}},
        },
        {"Sid": "Plain", "Effect": "Allow", "Action": "s3:PutObject", "Resource": "*"},
    ],
}
PRINCIPAL = Principal(access_key="ASIA", kind="session")


class PolicyAuthorizer:
    def __init__(self, doc: Mapping[str, Any]) -> None:
        self.policy = parse_policy(dict(doc), kind="identity", name="p")

    def decide(self, principal: Principal, action: str, resource: str, context: Mapping[str, Any]) -> Decision:
        d = evaluate([self.policy], RequestContext(action=action, resource=resource, context=context))
        return Decision(d.allowed, d.matched[0].sid if d.matched else None, d.reason)

    def condition_keys(
        self, principal: Principal, action: str, resource: str, context: Mapping[str, Any], *, prefix: str = ""
    ) -> frozenset[str]:
        request = RequestContext(action=action, resource=resource, context=context)
        return condition_keys([self.policy], request, prefix=prefix)


class Response:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self._body = status, body

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        pass


class Backend:
    name = "fake"

    def __init__(self, status: int, body: bytes = b"") -> None:
        self.status, self.body = status, body
        self.calls: list[tuple[str, str, str]] = []

    async def send(self, method: str, path: str, query: str, headers: dict[str, str], **_: Any) -> Response:
        self.calls.append((method, path, query))
        return Response(self.status, self.body)


class Router:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def for_bucket(self, bucket: str | None) -> Backend:
        return self.backend


def tagging(**tags: str) -> bytes:
    items = "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in tags.items())
    return f'<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>{items}</TagSet></Tagging>'.encode()


def test_condition_keys_are_those_of_applicable_statements() -> None:
    policy = parse_policy(POLICY, kind="identity", name="p")

    def keys(action: str, resource: str) -> frozenset[str]:
        return condition_keys([policy], RequestContext(action=action, resource=resource))

    assert keys("s3:GetObject", OBJ) == {"s3:existingobjecttag/public"}
    assert keys("s3:GetObject", "arn:aws:s3:::other/doc.txt") == frozenset()  # resource does not match
    assert keys("s3:DeleteObject", OBJ) == {"s3:existingobjecttag/locked"}
    assert keys("s3:PutObject", OBJ) == frozenset()
    assert condition_keys([policy], RequestContext(action="s3:GetObject", resource=OBJ), prefix="aws:") == frozenset()


def test_tag_checks_only_when_a_statement_reads_them() -> None:
    auth = PolicyAuthorizer(POLICY)
    assert tag_checks([Check("s3:GetObject", OBJ)], PRINCIPAL, auth, {}) == (Check("s3:GetObject", OBJ),)
    assert tag_checks([Check("s3:PutObject", OBJ)], PRINCIPAL, auth, {}) == ()
    assert tag_checks([Check("s3:ListBucket", "arn:aws:s3:::bkt")], PRINCIPAL, auth, {}) == ()  # not an object


def _state(method: str, target: str, auth: PolicyAuthorizer) -> RequestState:
    state = RequestState("R1")
    state.s3 = parse_request(method, target, [("Host", "gw")])
    state.op = classify(state.s3)
    state.principal = PRINCIPAL
    state.tag_checks = tag_checks(state.op.checks, PRINCIPAL, auth, state.context)
    return state


@pytest.mark.parametrize(
    ("method", "target", "status", "body", "allowed", "statement"),
    [
        ("GET", "/bkt/doc.txt", 200, tagging(public="yes"), True, "ReadPublic"),
        ("GET", "/bkt/doc.txt", 200, tagging(public="no"), False, None),
        ("GET", "/bkt/doc.txt", 404, b"<Error/>", False, None),  # no object: no tag keys
        ("DELETE", "/bkt/doc.txt", 200, tagging(Locked="true"), False, "KeepLocked"),
        ("DELETE", "/bkt/doc.txt", 200, tagging(Locked="false"), True, "Tagging"),
        ("PUT", "/bkt/doc.txt?tagging", 404, b"", True, "Tagging"),
    ],
)
async def test_decision_with_the_stored_tags(
    method: str, target: str, status: int, body: bytes, allowed: bool, statement: str | None
) -> None:
    auth = PolicyAuthorizer(POLICY)
    state = _state(method, target, auth)
    assert state.tag_checks
    backend = Backend(status, body)
    if allowed:
        await decide_with_tags(Router(backend), auth, state)  # type: ignore[arg-type]
    else:
        with pytest.raises(S3Error) as exc:
            await decide_with_tags(Router(backend), auth, state)  # type: ignore[arg-type]
        assert exc.value.code == "AccessDenied"
    assert state.decision is not None and state.decision.allowed is allowed
    assert state.decision.statement == statement
    assert backend.calls == [("GET", "/bkt/doc.txt", "tagging=")]
    assert state.notes["existing_tags_fetched"] == 1


async def test_versioned_request_reads_that_versions_tags_and_backend_errors_fail_closed() -> None:
    auth = PolicyAuthorizer(POLICY)
    state = _state("DELETE", "/bkt/doc.txt?versionId=v%201", auth)
    state.op = classify(parse_request("DELETE", "/bkt/doc.txt", [("Host", "gw")]))  # DeleteObject, not …Version
    state.tag_checks = tag_checks(state.op.checks, PRINCIPAL, auth, {})
    backend = Backend(200, tagging())
    await decide_with_tags(Router(backend), auth, state)  # type: ignore[arg-type]
    assert backend.calls == [("GET", "/bkt/doc.txt", "tagging=&versionId=v%201")]
    with pytest.raises(S3Error) as exc:
        await decide_with_tags(Router(Backend(500, b"")), auth, state)  # type: ignore[arg-type]
    assert exc.value.code == "ServiceUnavailable" and exc.value.status == 503


def test_parse_tagging() -> None:
    assert parse_tagging(tagging(a="1", b="")) == {"a": "1", "b": ""}
    assert parse_tagging(b"<Tagging><TagSet/></Tagging>") == {}
    with pytest.raises(S3Error):
        parse_tagging(b"<Tagging")
