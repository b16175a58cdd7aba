"""Table-driven evaluation tests for stsproxy.policy (identity, session and trust policies)."""

from __future__ import annotations

from typing import Any

import pytest

from stsproxy.policy import (
    PolicyDecision,
    RequestContext,
    evaluate,
    evaluate_session,
    evaluate_trust,
    parse_policy,
)

V12 = "2012-10-17"
ACCT = "000000000000"
HOST = "127.0.0.1:8400"
PROVIDER = f"arn:aws:iam::{ACCT}:oidc-provider/{HOST}"
FED = {"Federated": (PROVIDER,)}
OBJ = "arn:aws:s3:::b/k"


def st(
    effect: str = "Allow",
    action: Any = "s3:GetObject",
    resource: Any = "*",
    cond: dict[str, Any] | None = None,
    sid: str | None = None,
    *,
    not_action: Any = None,
    not_resource: Any = None,
    principal: Any = None,
) -> dict[str, Any]:
    """One statement; trust statements pass principal= and resource=None."""
    out: dict[str, Any] = {"Effect": effect}
    if sid:
        out["Sid"] = sid
    if not_action is not None:
        out["NotAction"] = not_action
    else:
        out["Action"] = action
    if not_resource is not None:
        out["NotResource"] = not_resource
    elif resource is not None:
        out["Resource"] = resource
    if principal is not None:
        out["Principal"] = principal
    if cond:
        out["Condition"] = cond
    return out


def pol(*statements: dict[str, Any], version: str | None = V12) -> dict[str, Any]:
    doc: dict[str, Any] = {"Statement": list(statements)}
    if version:
        doc["Version"] = version
    return doc


def trust(*statements: dict[str, Any]) -> dict[str, Any]:
    return pol(*statements)


def tst(
    cond: dict[str, Any] | None = None, *, action: Any = "sts:AssumeRoleWithWebIdentity", **kw: Any
) -> dict[str, Any]:
    kw.setdefault("principal", {"Federated": PROVIDER})
    return st(action=action, resource=None, cond=cond, **kw)


def req(action: str = "s3:GetObject", resource: str | None = OBJ, **context: Any) -> RequestContext:
    return RequestContext(action=action, resource=resource, context=context)


def ctx(
    action: str = "s3:GetObject", resource: str | None = OBJ, context: dict[str, Any] | None = None
) -> RequestContext:
    """Like req() but for keys that are not Python identifiers."""
    return RequestContext(action=action, resource=resource, context=context or {})


def treq(context: dict[str, Any] | None = None, action: str = "sts:AssumeRoleWithWebIdentity", principal: Any = FED):
    return RequestContext(action=action, principal=principal, context=context or {})


def one(cond: dict[str, Any]) -> list[dict[str, Any]]:
    """A single identity policy allowing s3:GetObject on * under ``cond``."""
    return [pol(st(cond=cond, sid="C"))]


ALLOW, DENY, IMPLICIT = "Allow", "Deny", "ImplicitDeny"

# (id, identity policies, session policies | None, request, decision, matched sids | None, reason substring | None)
IDENTITY_CASES: list[Any] = [
    # --- actions ---
    ("allow-exact", [pol(st(sid="A", resource=OBJ))], None, req(), ALLOW, ["A"], "allowed by statement 'A'"),
    ("action-case-insensitive", [pol(st(action="S3:getOBJECT"))], None, req(), ALLOW, None, None),
    ("action-star-middle", [pol(st(action="s3:*Object*"))], None, req("s3:PutObjectAcl"), ALLOW, None, None),
    ("action-question", [pol(st(action="s3:Get?bject"))], None, req(), ALLOW, None, None),
    ("action-question-one-char", [pol(st(action="s3:Get?bject"))], None, req("s3:GetXXbject"), IMPLICIT, [], None),
    ("action-star-all", [pol(st(action="*"))], None, req("iam:CreateUser"), ALLOW, None, None),
    ("action-vendor-mismatch", [pol(st(action="ec2:*", sid="E"))], None, req(), IMPLICIT, [], "action does not match"),
    ("action-list", [pol(st(action=["ec2:*", "s3:List*", "s3:GetObject"]))], None, req(), ALLOW, None, None),
    # --- resources ---
    ("resource-case-sensitive", [pol(st(resource="arn:aws:s3:::B/*"))], None, req(), IMPLICIT, [], "resource"),
    (
        "resource-star-spans-slash",
        [pol(st(resource="arn:aws:s3:::b/*/test/*"))],
        None,
        req(resource="arn:aws:s3:::b/x/y/test/z/w"),
        ALLOW,
        None,
        None,
    ),
    (
        "resource-question",
        [pol(st(resource="arn:aws:s3:::b/k?"))],
        None,
        req(resource="arn:aws:s3:::b/k1"),
        ALLOW,
        None,
        None,
    ),
    (
        "resource-question-exactly-one",
        [pol(st(resource="arn:aws:s3:::b/k?"))],
        None,
        req(resource="arn:aws:s3:::b/k12"),
        IMPLICIT,
        [],
        None,
    ),
    (
        "resource-star-in-account-segment",
        [pol(st(action="iam:GetRole", resource="arn:aws:iam::*:role/x"))],
        None,
        req("iam:GetRole", "arn:aws:iam::123456789012:role/x"),
        ALLOW,
        None,
        None,
    ),
    (
        "resource-star-not-crossing-colon",
        [pol(st(action="iam:GetRole", resource="arn:aws:iam::*:role/x"))],
        None,
        req("iam:GetRole", "arn:aws:iam::123:456:role/x"),
        IMPLICIT,
        [],
        None,
    ),
    (
        "resource-star-alone",
        [pol(st(resource="*"))],
        None,
        req(resource="arn:aws:s3:::any/deep/key"),
        ALLOW,
        None,
        None,
    ),
    ("resource-exact-prefix-only", [pol(st(resource="arn:aws:s3:::b"))], None, req(), IMPLICIT, [], None),
    # --- NotAction / NotResource ---
    ("not-action-allows-others", [pol(st(not_action="iam:*"))], None, req(), ALLOW, None, None),
    (
        "not-action-excludes",
        [pol(st(not_action="iam:*"))],
        None,
        req("IAM:CreateUser", "*"),
        IMPLICIT,
        [],
        "excluded by NotAction",
    ),
    ("not-resource-allows-others", [pol(st(not_resource="arn:aws:s3:::secret/*"))], None, req(), ALLOW, None, None),
    (
        "not-resource-excludes",
        [pol(st(not_resource="arn:aws:s3:::secret/*"))],
        None,
        req(resource="arn:aws:s3:::secret/a/b"),
        IMPLICIT,
        [],
        "excluded by NotResource",
    ),
    (
        "deny-not-action",
        [pol(st(action="*"), st("Deny", not_action="s3:Get*", sid="OnlyReads"))],
        None,
        req("s3:PutObject"),
        DENY,
        ["OnlyReads"],
        None,
    ),
    # --- precedence ---
    (
        "deny-beats-allow",
        [pol(st(action="s3:*", sid="All"), st("Deny", "s3:DeleteObject", sid="DenyDelete"))],
        None,
        req("s3:DeleteObject"),
        DENY,
        ["DenyDelete"],
        "explicitly denied by statement 'DenyDelete' (index 1) of policy 'p0'",
    ),
    (
        "deny-other-resource-keeps-allow",
        [pol(st(action="s3:*"), st("Deny", "s3:*", "arn:aws:s3:::other/*"))],
        None,
        req(),
        ALLOW,
        None,
        None,
    ),
    (
        "deny-across-policies",
        [pol(st(action="s3:*")), pol(st("Deny", "s3:GetObject", OBJ, sid="D"))],
        None,
        req(),
        DENY,
        ["D"],
        "policy 'p1'",
    ),
    (
        "implicit-deny-reason",
        [pol(st())],
        None,
        req("s3:PutObject"),
        IMPLICIT,
        [],
        "no statement allows s3:PutObject on arn:aws:s3:::b/k",
    ),
    ("all-allows-listed", [pol(st(sid="A"), st(action="s3:*", sid="B"))], None, req(), ALLOW, ["A", "B"], None),
    # --- String operators ---
    (
        "string-equals",
        one({"StringEquals": {"aws:username": "alice"}}),
        None,
        req(**{"aws:username": "alice"}),
        ALLOW,
        None,
        None,
    ),
    (
        "string-equals-case-sensitive",
        one({"StringEquals": {"aws:username": "alice"}}),
        None,
        ctx(context={"aws:username": "Alice"}),
        IMPLICIT,
        [],
        "condition StringEquals on 'aws:username'",
    ),
    (
        "string-equals-missing-key",
        one({"StringEquals": {"aws:username": "alice"}}),
        None,
        req(),
        IMPLICIT,
        [],
        None,
    ),
    (
        "string-not-equals-other",
        one({"StringNotEquals": {"aws:username": "bob"}}),
        None,
        ctx(context={"aws:username": "alice"}),
        ALLOW,
        None,
        None,
    ),
    (
        "string-not-equals-missing-key",
        one({"StringNotEquals": {"aws:username": "bob"}}),
        None,
        req(),
        ALLOW,
        None,
        None,
    ),
    (
        "string-not-equals-any-listed",
        one({"StringNotEquals": {"aws:username": ["bob", "alice"]}}),
        None,
        ctx(context={"aws:username": "alice"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "string-equals-ignore-case",
        one({"StringEqualsIgnoreCase": {"aws:username": "ALICE"}}),
        None,
        ctx(context={"aws:username": "alice"}),
        ALLOW,
        None,
        None,
    ),
    (
        "string-not-equals-ignore-case",
        one({"StringNotEqualsIgnoreCase": {"aws:username": "ALICE"}}),
        None,
        ctx(context={"aws:username": "alice"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "string-like",
        one({"StringLike": {"s3:prefix": "home/*/docs/?"}}),
        None,
        ctx(context={"s3:prefix": "home/a/b/docs/1"}),
        ALLOW,
        None,
        None,
    ),
    (
        "string-not-like",
        one({"StringNotLike": {"s3:prefix": "home/*"}}),
        None,
        ctx(context={"s3:prefix": "home/x"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "string-values-or",
        one({"StringEquals": {"aws:username": ["bob", "alice"]}}),
        None,
        ctx(context={"aws:username": "alice"}),
        ALLOW,
        None,
        None,
    ),
    (
        "keys-and",
        one({"StringEquals": {"aws:username": "alice", "aws:userid": "AID1"}}),
        None,
        ctx(context={"aws:username": "alice", "aws:userid": "AID2"}),
        IMPLICIT,
        [],
        "aws:userid",
    ),
    (
        "operators-and",
        one({"StringEquals": {"aws:username": "alice"}, "NumericLessThan": {"s3:max-keys": "10"}}),
        None,
        ctx(context={"aws:username": "alice", "s3:max-keys": "10"}),
        IMPLICIT,
        [],
        "NumericLessThan",
    ),
    (
        "condition-key-case-insensitive",
        one({"StringEquals": {"AWS:UserName": "alice"}}),
        None,
        ctx(context={"aws:username": "alice"}),
        ALLOW,
        None,
        None,
    ),
    # --- Numeric ---
    (
        "numeric-less-than",
        one({"NumericLessThan": {"s3:max-keys": "10"}}),
        None,
        ctx(context={"s3:max-keys": 9}),
        ALLOW,
        None,
        None,
    ),
    (
        "numeric-gte-boundary",
        one({"NumericGreaterThanEquals": {"s3:max-keys": 10}}),
        None,
        ctx(context={"s3:max-keys": "10"}),
        ALLOW,
        None,
        None,
    ),
    (
        "numeric-equals-decimal",
        one({"NumericEquals": {"s3:n": "1.0"}}),
        None,
        ctx(context={"s3:n": 1}),
        ALLOW,
        None,
        None,
    ),
    (
        "numeric-not-equals",
        one({"NumericNotEquals": {"s3:n": ["1", "2"]}}),
        None,
        ctx(context={"s3:n": 2}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "numeric-greater-than",
        one({"NumericGreaterThan": {"s3:n": "5"}}),
        None,
        ctx(context={"s3:n": 5.5}),
        ALLOW,
        None,
        None,
    ),
    (
        "numeric-lte-fails",
        one({"NumericLessThanEquals": {"s3:n": "5"}}),
        None,
        ctx(context={"s3:n": 6}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "numeric-malformed-policy",
        one({"NumericLessThan": {"s3:n": "ten"}}),
        None,
        ctx(context={"s3:n": 1}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "numeric-malformed-request-negated",
        one({"NumericNotEquals": {"s3:n": "1"}}),
        None,
        ctx(context={"s3:n": "x"}),
        IMPLICIT,
        [],
        None,
    ),
    # --- Date ---
    (
        "date-greater-than-iso",
        one({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}),
        None,
        ctx(context={"aws:CurrentTime": "2024-06-01T12:00:00Z"}),
        ALLOW,
        None,
        None,
    ),
    (
        "date-less-than-epoch",
        one({"DateLessThan": {"aws:EpochTime": "1700000000"}}),
        None,
        ctx(context={"aws:EpochTime": 1600000000}),
        ALLOW,
        None,
        None,
    ),
    (
        "date-equals-iso-vs-epoch",
        one({"DateEquals": {"aws:TokenIssueTime": "2021-01-01T00:00:00+00:00"}}),
        None,
        ctx(context={"aws:TokenIssueTime": 1609459200}),
        ALLOW,
        None,
        None,
    ),
    (
        "date-not-equals",
        one({"DateNotEquals": {"aws:TokenIssueTime": "2021-01-01"}}),
        None,
        ctx(context={"aws:TokenIssueTime": "2021-01-01T00:00:00Z"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "date-lte-boundary",
        one({"DateLessThanEquals": {"aws:CurrentTime": "2021-01-01T00:00:00Z"}}),
        None,
        ctx(context={"aws:CurrentTime": "2021-01-01T00:00:00Z"}),
        ALLOW,
        None,
        None,
    ),
    (
        "date-malformed",
        one({"DateGreaterThanEquals": {"aws:CurrentTime": "yesterday"}}),
        None,
        ctx(context={"aws:CurrentTime": "2021-01-01T00:00:00Z"}),
        IMPLICIT,
        [],
        None,
    ),
    # --- Bool / Binary ---
    (
        "bool-true",
        one({"Bool": {"aws:SecureTransport": "true"}}),
        None,
        ctx(context={"aws:SecureTransport": True}),
        ALLOW,
        None,
        None,
    ),
    (
        "bool-json-false",
        one({"Bool": {"aws:SecureTransport": False}}),
        None,
        ctx(context={"aws:SecureTransport": "true"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "binary-equals",
        one({"BinaryEquals": {"s3:bin": "aGVsbG8="}}),
        None,
        ctx(context={"s3:bin": b"hello"}),
        ALLOW,
        None,
        None,
    ),
    (
        "binary-not-equal",
        one({"BinaryEquals": {"s3:bin": "aGVsbG8="}}),
        None,
        ctx(context={"s3:bin": "d29ybGQ="}),
        IMPLICIT,
        [],
        None,
    ),
    # --- IP ---
    (
        "ip-cidr-v4",
        one({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        None,
        ctx(context={"aws:SourceIp": "10.1.2.3"}),
        ALLOW,
        None,
        None,
    ),
    (
        "not-ip-address",
        one({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        None,
        ctx(context={"aws:SourceIp": "10.1.2.3"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "ip-bare-is-32",
        one({"IpAddress": {"aws:SourceIp": "192.0.2.1"}}),
        None,
        ctx(context={"aws:SourceIp": "192.0.2.2"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "ip-v6-cidr",
        one({"IpAddress": {"aws:SourceIp": "2001:db8::/32"}}),
        None,
        ctx(context={"aws:SourceIp": "2001:db8::1"}),
        ALLOW,
        None,
        None,
    ),
    (
        "ip-malformed-request",
        one({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        None,
        ctx(context={"aws:SourceIp": "nope"}),
        IMPLICIT,
        [],
        None,
    ),
    # --- ARN ---
    (
        "arn-like",
        one({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:123456789012:topic-*"}}),
        None,
        ctx(context={"aws:SourceArn": "arn:aws:sns:eu-west-1:123456789012:topic-a"}),
        ALLOW,
        None,
        None,
    ),
    (
        "arn-like-star-stays-in-segment",
        one({"ArnLike": {"aws:SourceArn": "arn:aws:sns:*:topic"}}),
        None,
        ctx(context={"aws:SourceArn": "arn:aws:sns:eu-west-1:123456789012:topic"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "arn-equals-exact",
        one({"ArnEquals": {"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:t"}}),
        None,
        ctx(context={"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:t"}),
        ALLOW,
        None,
        None,
    ),
    (
        "arn-not-like",
        one({"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:*:t"}}),
        None,
        ctx(context={"aws:SourceArn": "arn:aws:sns:us-east-1:123456789012:t"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "arn-not-equals-missing",
        one({"ArnNotEquals": {"aws:SourceArn": "arn:aws:sns:*:*:t"}}),
        None,
        req(),
        ALLOW,
        None,
        None,
    ),
    # --- IfExists / Null ---
    ("if-exists-missing", one({"StringEqualsIfExists": {"aws:username": "alice"}}), None, req(), ALLOW, None, None),
    (
        "if-exists-present-mismatch",
        one({"StringEqualsIfExists": {"aws:username": "alice"}}),
        None,
        ctx(context={"aws:username": "bob"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "numeric-if-exists-missing",
        one({"NumericLessThanIfExists": {"s3:max-keys": "5"}}),
        None,
        req(),
        ALLOW,
        None,
        None,
    ),
    ("null-true-missing", one({"Null": {"aws:TokenIssueTime": "true"}}), None, req(), ALLOW, None, None),
    (
        "null-false-present",
        one({"Null": {"aws:TokenIssueTime": "false"}}),
        None,
        ctx(context={"aws:TokenIssueTime": "x"}),
        ALLOW,
        None,
        None,
    ),
    (
        "null-true-present",
        one({"Null": {"aws:TokenIssueTime": True}}),
        None,
        ctx(context={"aws:TokenIssueTime": "x"}),
        IMPLICIT,
        [],
        None,
    ),
    # --- ForAllValues / ForAnyValue ---
    (
        "for-all-values-subset",
        one({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}),
        None,
        ctx(context={"aws:TagKeys": ["team"]}),
        ALLOW,
        None,
        None,
    ),
    (
        "for-all-values-extra",
        one({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}}),
        None,
        ctx(context={"aws:TagKeys": ["team", "cost"]}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "for-all-values-missing",
        one({"ForAllValues:StringEquals": {"aws:TagKeys": "team"}}),
        None,
        req(),
        ALLOW,
        None,
        None,
    ),
    (
        "for-all-values-empty",
        one({"ForAllValues:StringEquals": {"aws:TagKeys": "team"}}),
        None,
        ctx(context={"aws:TagKeys": []}),
        ALLOW,
        None,
        None,
    ),
    (
        "for-any-value-one",
        one({"ForAnyValue:StringEquals": {"jwt:groups": ["admins", "ops"]}}),
        None,
        ctx(context={"jwt:groups": ["dev", "ops"]}),
        ALLOW,
        None,
        None,
    ),
    (
        "for-any-value-missing",
        one({"ForAnyValue:StringEquals": {"jwt:groups": "ops"}}),
        None,
        req(),
        IMPLICIT,
        [],
        None,
    ),
    (
        "for-any-value-not-equals",
        one({"ForAnyValue:StringNotEquals": {"jwt:groups": "ops"}}),
        None,
        ctx(context={"jwt:groups": ["ops"]}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "for-all-values-not-like",
        one({"ForAllValues:StringNotLike": {"aws:TagKeys": "aws*"}}),
        None,
        ctx(context={"aws:TagKeys": ["team", "awsx"]}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "multivalued-without-qualifier-any",
        one({"StringEquals": {"jwt:groups": "ops"}}),
        None,
        ctx(context={"jwt:groups": ["dev", "ops"]}),
        ALLOW,
        None,
        None,
    ),
    # --- policy variables ---
    (
        "var-principal-tag-resource",
        [pol(st(resource="arn:aws:s3:::b/${aws:PrincipalTag/team}/*"))],
        None,
        ctx(resource="arn:aws:s3:::b/blue/x", context={"aws:PrincipalTag/Team": "blue"}),
        ALLOW,
        None,
        None,
    ),
    (
        "var-principal-tag-other-team",
        [pol(st(resource="arn:aws:s3:::b/${aws:PrincipalTag/team}/*"))],
        None,
        ctx(resource="arn:aws:s3:::b/red/x", context={"aws:PrincipalTag/team": "blue"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "var-provider-sub",
        [pol(st(resource=f"arn:aws:s3:::home/${{{HOST}:sub}}/*"))],
        None,
        ctx(resource="arn:aws:s3:::home/user-1/f", context={f"{HOST}:sub": "user-1"}),
        ALLOW,
        None,
        None,
    ),
    (
        "var-jwt-sub-condition",
        one({"StringLike": {"s3:prefix": "${jwt:sub}/*"}}),
        None,
        ctx(context={"jwt:sub": "alice", "s3:prefix": "alice/docs"}),
        ALLOW,
        None,
        None,
    ),
    (
        "var-default-value",
        [pol(st(resource="arn:aws:s3:::b/${aws:PrincipalTag/team, 'company-wide'}/*"))],
        None,
        req(resource="arn:aws:s3:::b/company-wide/x"),
        ALLOW,
        None,
        None,
    ),
    (
        "var-unresolved-resource",
        [pol(st(resource="arn:aws:s3:::b/${aws:username}/*"))],
        None,
        req(resource="arn:aws:s3:::b//x"),
        IMPLICIT,
        [],
        None,
    ),
    (
        "var-unresolved-negated-matches",
        one({"StringNotEquals": {"s3:prefix": "${aws:username}"}}),
        None,
        ctx(context={"s3:prefix": "x"}),
        ALLOW,
        None,
        None,
    ),
    (
        "var-unresolved-positive-fails",
        one({"StringEquals": {"s3:prefix": "${aws:username}"}}),
        None,
        ctx(context={"s3:prefix": ""}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "var-2008-literal",
        [pol(st(resource="arn:aws:s3:::b/${aws:username}"), version="2008-10-17")],
        None,
        ctx(resource="arn:aws:s3:::b/${aws:username}", context={"aws:username": "alice"}),
        ALLOW,
        None,
        None,
    ),
    (
        "var-missing-version-literal",
        [pol(st(resource="arn:aws:s3:::b/${aws:username}"), version=None)],
        None,
        ctx(resource="arn:aws:s3:::b/alice", context={"aws:username": "alice"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "var-escape-star-literal",
        [pol(st(resource="arn:aws:s3:::b/${*}"))],
        None,
        req(resource="arn:aws:s3:::b/x"),
        IMPLICIT,
        [],
        None,
    ),
    (
        "var-escape-star-matches-star",
        [pol(st(resource="arn:aws:s3:::b/${*}${?}${$}"))],
        None,
        req(resource="arn:aws:s3:::b/*?$"),
        ALLOW,
        None,
        None,
    ),
    (
        "var-value-wildcard-is-literal",
        [pol(st(resource="arn:aws:s3:::b/${aws:PrincipalTag/team}/x"))],
        None,
        ctx(resource="arn:aws:s3:::b/blue/x", context={"aws:PrincipalTag/team": "*"}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "var-multivalued-unresolved",
        [pol(st(resource="arn:aws:s3:::b/${jwt:groups}/x"))],
        None,
        ctx(resource="arn:aws:s3:::b/a/x", context={"jwt:groups": ["a", "b"]}),
        IMPLICIT,
        [],
        None,
    ),
    # --- session policies ---
    (
        "session-intersection-allows",
        [pol(st(action="s3:*", sid="Role"))],
        [pol(st(sid="Sess"))],
        req(),
        ALLOW,
        ["Role", "Sess"],
        None,
    ),
    (
        "session-cannot-add",
        [pol(st(sid="Role"))],
        [pol(st(action="s3:*"))],
        req("s3:PutObject"),
        IMPLICIT,
        [],
        "no statement allows s3:PutObject",
    ),
    (
        "session-narrows",
        [pol(st(action="s3:*", sid="Role"))],
        [pol(st(action="s3:List*"))],
        req(),
        IMPLICIT,
        [],
        "but session policy 'session' does not allow it",
    ),
    (
        "session-deny-wins",
        [pol(st(action="s3:*"))],
        [pol(st(action="s3:*"), st("Deny", "s3:GetObject", sid="NoGet"))],
        req(),
        DENY,
        ["NoGet"],
        "explicitly denied by statement 'NoGet'",
    ),
    ("session-none-identity-decision", [pol(st(sid="A"))], None, req(), ALLOW, ["A"], None),
    ("session-empty-identity-decision", [pol(st(sid="A"))], [], req(), ALLOW, ["A"], None),
    (
        "session-union-of-session-policies",
        [pol(st(action="s3:*"))],
        [pol(st(action="s3:List*")), pol(st(action="s3:GetObject", sid="Two"))],
        req(),
        ALLOW,
        None,
        None,
    ),
    (
        "session-identity-deny-wins",
        [pol(st(action="s3:*"), st("Deny", "s3:GetObject", sid="RoleDeny"))],
        [pol(st(action="s3:*"))],
        req(),
        DENY,
        ["RoleDeny"],
        None,
    ),
]


def _parse_all(docs: list[dict[str, Any]] | None, kind: str, prefix: str):
    if docs is None:
        return None
    names = ["session"] if kind == "session" and len(docs) == 1 else [f"{prefix}{i}" for i in range(len(docs))]
    return [parse_policy(doc, kind=kind, name=name) for doc, name in zip(docs, names, strict=True)]  # type: ignore[arg-type]


def _check(decision: PolicyDecision, expected: str, sids: list[str] | None, reason: str | None) -> None:
    assert decision.decision == expected, decision.reason
    assert decision.allowed is (expected == ALLOW)
    if sids is not None:
        assert [m.sid for m in decision.matched] == sids
    if reason is not None:
        assert reason in decision.reason


@pytest.mark.parametrize(
    ("identity", "session", "request_", "expected", "sids", "reason"),
    [pytest.param(*row[1:], id=row[0]) for row in IDENTITY_CASES],
)
def test_identity_and_session(identity, session, request_, expected, sids, reason) -> None:
    ident = _parse_all(identity, "identity", "p")
    sess = _parse_all(session, "session", "s")
    if session is None:
        decision = evaluate(ident, request_)
    else:
        decision = evaluate_session(ident, sess, request_)
    _check(decision, expected, sids, reason)


AUD = {"StringEquals": {f"{HOST}:aud": "sts.amazonaws.com"}}
GH = "token.actions.githubusercontent.com"

TRUST_CASES: list[Any] = [
    (
        "trust-federated-aud-sub",
        trust(tst({**AUD, "StringLike": {f"{HOST}:sub": "repo:org/*"}}, sid="Web")),
        treq({f"{HOST}:aud": "sts.amazonaws.com", f"{HOST}:sub": "repo:org/app:ref:main"}),
        ALLOW,
        ["Web"],
        None,
    ),
    (
        "trust-wrong-provider",
        trust(tst(AUD)),
        treq(
            {f"{HOST}:aud": "sts.amazonaws.com"}, principal={"Federated": (f"arn:aws:iam::{ACCT}:oidc-provider/other",)}
        ),
        IMPLICIT,
        [],
        "principal does not match",
    ),
    (
        "trust-federated-any-of-values",
        trust(tst(principal={"Federated": ["accounts.google.com", PROVIDER]})),
        treq(principal={"Federated": (PROVIDER, f"http://{HOST}")}),
        ALLOW,
        None,
        None,
    ),
    (
        "trust-aud-mismatch",
        trust(tst(AUD)),
        treq({f"{HOST}:AUD": "other"}),
        IMPLICIT,
        [],
        f"condition StringEquals on '{HOST}:aud' is not satisfied",
    ),
    (
        "trust-sub-like-mismatch",
        trust(
            tst(
                {"StringLike": {f"{GH}:sub": "repo:org/app:*"}},
                principal={"Federated": f"arn:aws:iam::{ACCT}:oidc-provider/{GH}"},
            )
        ),
        treq({f"{GH}:sub": "repo:evil/app:ref"}, principal={"Federated": (f"arn:aws:iam::{ACCT}:oidc-provider/{GH}",)}),
        IMPLICIT,
        [],
        "closest",
    ),
    (
        "trust-wrong-action",
        trust(tst()),
        treq(action="sts:AssumeRole"),
        IMPLICIT,
        [],
        "action does not match",
    ),
    ("trust-principal-star", trust(tst(principal="*")), treq(principal=None), ALLOW, None, None),
    (
        "trust-aws-account-root",
        trust(tst(action="sts:AssumeRole", principal={"AWS": f"arn:aws:iam::{ACCT}:root"})),
        treq(action="sts:AssumeRole", principal={"AWS": (f"arn:aws:iam::{ACCT}:role/caller",)}),
        ALLOW,
        None,
        None,
    ),
    (
        "trust-aws-other-account",
        trust(tst(action="sts:AssumeRole", principal={"AWS": "111111111111"})),
        treq(action="sts:AssumeRole", principal={"AWS": (f"arn:aws:iam::{ACCT}:role/caller",)}),
        IMPLICIT,
        [],
        None,
    ),
    (
        "trust-tag-session-request-tag",
        trust(tst(action="sts:TagSession", cond={"StringEquals": {"aws:RequestTag/Team": "blue"}})),
        treq({"aws:requesttag/team": "blue"}, action="sts:TagSession"),
        ALLOW,
        None,
        None,
    ),
    (
        "trust-tag-keys-for-all-values",
        trust(tst(action="sts:TagSession", cond={"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env"]}})),
        treq({"aws:TagKeys": ["team", "admin"]}, action="sts:TagSession"),
        IMPLICIT,
        [],
        None,
    ),
    (
        "trust-actions-list",
        trust(tst(action=["sts:AssumeRoleWithWebIdentity", "sts:TagSession"])),
        treq(action="sts:TagSession"),
        ALLOW,
        None,
        None,
    ),
    (
        "trust-deny-sub",
        trust(tst(sid="Allow"), tst(effect="Deny", cond={"StringEquals": {f"{HOST}:sub": "mallory"}}, sid="NoMallory")),
        treq({f"{HOST}:sub": "mallory"}),
        DENY,
        ["NoMallory"],
        "explicitly denied by statement 'NoMallory'",
    ),
    (
        "trust-cognito-amr-any-value",
        trust(
            tst(
                {"ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": "authenticated"}},
                principal={"Federated": "cognito-identity.amazonaws.com"},
            )
        ),
        treq(
            {"cognito-identity.amazonaws.com:amr": ["authenticated", "accounts.google.com"]},
            principal={"Federated": ("cognito-identity.amazonaws.com",)},
        ),
        ALLOW,
        None,
        None,
    ),
    (
        "trust-no-principal-in-request",
        trust(tst()),
        treq(principal=None),
        IMPLICIT,
        [],
        "principal does not match",
    ),
]


@pytest.mark.parametrize(
    ("doc", "request_", "expected", "sids", "reason"),
    [pytest.param(*row[1:], id=row[0]) for row in TRUST_CASES],
)
def test_trust(doc, request_, expected, sids, reason) -> None:
    policy = parse_policy(doc, kind="trust", name="role:trust")
    _check(evaluate_trust(policy, request_), expected, sids, reason)


def test_case_count() -> None:
    assert len(IDENTITY_CASES) + len(TRUST_CASES) >= 60


def test_repeated_evaluation_is_stable() -> None:
    """The hot path reuses cached regexes; results must not depend on call order."""
    policy = parse_policy(trust(tst(AUD)), kind="trust", name="t")
    good = treq({f"{HOST}:aud": "sts.amazonaws.com"})
    bad = treq({f"{HOST}:aud": "x"})
    for _ in range(200):
        assert evaluate_trust(policy, good).allowed
        assert not evaluate_trust(policy, bad).allowed
