"""Grammar validation: every malformed document gives MalformedPolicyDocument with a precise message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stsproxy.errors import MalformedPolicyDocument
from stsproxy.policy import Policy, parse_policy

V12 = "2012-10-17"
ALLOW_ALL = {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}
TRUST_STMT = {
    "Effect": "Allow",
    "Principal": {"Federated": "arn:aws:iam::000000000000:oidc-provider/127.0.0.1:8400"},
    "Action": "sts:AssumeRoleWithWebIdentity",
}


def doc(*statements: dict[str, Any], **top: Any) -> str:
    body: dict[str, Any] = {"Version": V12, "Statement": list(statements)}
    body.update(top)
    return json.dumps(body)


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = {**base, **changes}
    return {k: v for k, v in out.items() if v is not None}


MALFORMED: list[Any] = [
    (
        "bad-json",
        "identity",
        '{"Version": "2012-10-17", "Statement": [',
        "Syntax errors in policy. Invalid JSON at line 1",
    ),
    ("empty", "session", "   ", "The policy document is empty"),
    ("not-object", "identity", "[1, 2]", "must be a JSON object"),
    (
        "duplicate-key",
        "identity",
        '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Effect":"Deny","Action":"s3:*","Resource":"*"}}',
        "Duplicate key 'Effect'",
    ),
    (
        "missing-effect",
        "identity",
        doc({"Action": "s3:*", "Resource": "*"}),
        "Missing required field Effect in statement 0",
    ),
    ("bad-effect-case", "identity", doc(with_(ALLOW_ALL, Effect="allow")), 'Effect must be "Allow" or "Deny"'),
    (
        "action-and-not-action",
        "identity",
        doc(with_(ALLOW_ALL, NotAction="iam:*")),
        "Statement 0 cannot contain both Action and NotAction",
    ),
    ("no-action", "identity", doc(with_(ALLOW_ALL, Action=None)), "Policy statement must contain actions."),
    (
        "resource-and-not-resource",
        "identity",
        doc(with_(ALLOW_ALL, NotResource="*")),
        "cannot contain both Resource and NotResource",
    ),
    (
        "no-resource-identity",
        "identity",
        doc(with_(ALLOW_ALL, Resource=None)),
        "Policy statement must contain resources.",
    ),
    (
        "no-resource-session",
        "session",
        doc(with_(ALLOW_ALL, Resource=None)),
        "Policy statement must contain resources.",
    ),
    (
        "principal-in-identity",
        "identity",
        doc(with_(ALLOW_ALL, Principal="*")),
        "Policy document should not specify a principal.",
    ),
    (
        "principal-in-session",
        "session",
        doc(with_(ALLOW_ALL, Principal={"AWS": "*"})),
        "should not specify a principal",
    ),
    ("resource-in-trust", "trust", doc(with_(TRUST_STMT, Resource="*")), "Has prohibited field Resource"),
    (
        "not-principal-in-trust",
        "trust",
        doc(with_(TRUST_STMT, Principal=None, NotPrincipal={"AWS": "*"})),
        "Has prohibited field NotPrincipal",
    ),
    ("no-principal-in-trust", "trust", doc(with_(TRUST_STMT, Principal=None)), "Missing required field Principal"),
    ("no-principal-in-resource", "resource", doc(ALLOW_ALL), "Missing required field Principal"),
    (
        "unknown-principal-type",
        "trust",
        doc(with_(TRUST_STMT, Principal={"Fed": "x"})),
        "Invalid principal in policy. Unknown principal type 'Fed'",
    ),
    (
        "bad-version",
        "identity",
        doc(ALLOW_ALL, Version="2012-10-18"),
        "Policy document must be version 2012-10-17 or greater.",
    ),
    (
        "version-not-string",
        "identity",
        doc(ALLOW_ALL, Version=2012),
        "Policy document must be version 2012-10-17 or greater.",
    ),
    (
        "unknown-operator",
        "identity",
        doc(with_(ALLOW_ALL, Condition={"StringEqualz": {"aws:username": "a"}})),
        "Unknown condition operator 'StringEqualz'",
    ),
    (
        "null-if-exists",
        "identity",
        doc(with_(ALLOW_ALL, Condition={"NullIfExists": {"aws:username": "true"}})),
        "Unknown condition operator 'NullIfExists'",
    ),
    (
        "condition-key-no-vendor",
        "identity",
        doc(with_(ALLOW_ALL, Condition={"StringEquals": {"username": "a"}})),
        "Actions/Conditions must be prefaced by a vendor",
    ),
    (
        "condition-not-object",
        "identity",
        doc(with_(ALLOW_ALL, Condition=["StringEquals"])),
        "Condition in statement 0 must be an object",
    ),
    (
        "condition-null-value",
        "identity",
        doc(with_(ALLOW_ALL, Condition={"StringEquals": {"aws:username": {"x": 1}}})),
        "needs a string, number, boolean",
    ),
    (
        "non-vendor-action",
        "identity",
        doc(with_(ALLOW_ALL, Action="GetObject")),
        "Actions/Conditions must be prefaced by a vendor",
    ),
    ("empty-action-list", "identity", doc(with_(ALLOW_ALL, Action=[])), "Action in statement 0 must be a non-empty"),
    (
        "bad-resource",
        "identity",
        doc(with_(ALLOW_ALL, Resource="bucket/key")),
        'Resource bucket/key must be in ARN format or "*"',
    ),
    ("bad-sid", "identity", doc(with_(ALLOW_ALL, Sid="my sid")), "Statement IDs (SID) must be alpha-numeric"),
    (
        "duplicate-sid",
        "identity",
        doc(with_(ALLOW_ALL, Sid="A"), with_(ALLOW_ALL, Sid="A")),
        "Statement IDs (SID) in a single policy must be unique.",
    ),
    (
        "unknown-statement-key",
        "identity",
        doc(with_(ALLOW_ALL, Actions="s3:*")),
        "Unknown field 'Actions' in statement 0",
    ),
    ("unknown-top-key", "identity", doc(ALLOW_ALL, Statements=[]), "Unknown top-level field 'Statements'"),
    ("missing-statement", "identity", json.dumps({"Version": V12}), "Missing required field Statement"),
    ("empty-statement-list", "identity", doc(), "Statement must be an object or a non-empty array"),
    (
        "statement-not-object",
        "identity",
        json.dumps({"Version": V12, "Statement": ["x"]}),
        "Statement 0 must be an object",
    ),
    (
        "session-disallowed-char",
        "session",
        doc(with_(ALLOW_ALL, Resource="arn:aws:s3:::b/\u2603")).replace("\\u2603", "\u2603"),
        "Character U+2603",
    ),
    ("session-control-char", "session", doc(ALLOW_ALL).replace(" ", "\x0b", 1), "Character U+000B"),
    (
        "principal-star-in-federated",
        "trust",
        doc(with_(TRUST_STMT, Principal={"Federated": "*"})),
        "only allowed as Principal.AWS",
    ),
]


@pytest.mark.parametrize(("kind", "document", "message"), [pytest.param(*r[1:], id=r[0]) for r in MALFORMED])
def test_malformed(kind: str, document: str, message: str) -> None:
    with pytest.raises(MalformedPolicyDocument) as info:
        parse_policy(document, kind=kind)  # type: ignore[arg-type]
    assert message in info.value.message
    assert info.value.check == "policy-grammar"
    assert info.value.code == "MalformedPolicyDocument"


def test_parse_identity_shape() -> None:
    text = json.dumps(
        {
            "Version": V12,
            "Statement": {
                "Sid": "Read1",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:ListBucket"],
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {"ForAnyValue:StringLikeIfExists": {"jwt:groups": ["a*", 3, True]}},
            },
        },
        indent=2,
    )
    policy = parse_policy(text, kind="identity", name="role:inline")
    assert isinstance(policy, Policy)
    assert policy.name == "role:inline" and policy.kind == "identity" and policy.version == V12
    assert policy.raw_size == len(json.dumps(json.loads(text), separators=(",", ":")))
    (stmt,) = policy.statements
    assert stmt.sid == "Read1" and stmt.effect == "Allow" and stmt.index == 0
    assert stmt.actions == ("s3:GetObject", "s3:ListBucket") and stmt.not_actions is None
    assert stmt.resources == ("arn:aws:s3:::b/*",) and stmt.principal is None
    (cond,) = stmt.conditions
    assert (cond.base, cond.qualifier, cond.if_exists, cond.negated) == ("StringLike", "ForAnyValue", True, False)
    assert cond.values == ("a*", "3", "true") and cond.key_lower == "jwt:groups"


def test_parse_trust_principal_normalised() -> None:
    policy = parse_policy(doc(TRUST_STMT), kind="trust")
    assert policy.statements[0].principal == {"Federated": ("arn:aws:iam::000000000000:oidc-provider/127.0.0.1:8400",)}
    star = parse_policy(doc(with_(TRUST_STMT, Principal="*")), kind="trust")
    assert star.statements[0].principal == "*"


def test_missing_version_is_2008() -> None:
    policy = parse_policy({"Statement": ALLOW_ALL}, kind="session")
    assert policy.version == "2008-10-17" and not policy.variables_enabled


def test_resource_policy_allows_free_sid_and_not_principal() -> None:
    stmt = {"Sid": "Public read", "Effect": "Deny", "NotPrincipal": {"AWS": "111111111111"}, "Action": "s3:*"}
    policy = parse_policy(doc(stmt, Id="bucket-policy"), kind="resource")
    assert policy.statements[0].not_principal == {"AWS": ("111111111111",)}


def test_session_allows_latin1() -> None:
    policy = parse_policy(
        doc(with_(ALLOW_ALL, Resource="arn:aws:s3:::b/caf\u00e9")).replace("\\u00e9", "\u00e9"), kind="session"
    )
    assert policy.statements[0].resources == ("arn:aws:s3:::b/caf\u00e9",)


def test_identity_policy_not_limited_to_latin1() -> None:
    text = doc(with_(ALLOW_ALL, Resource="arn:aws:s3:::b/\u2603")).replace("\\u2603", "\u2603")
    assert parse_policy(text, kind="identity").statements[0].resources == ("arn:aws:s3:::b/\u2603",)


def test_dict_input_and_equality() -> None:
    as_dict = {"Version": V12, "Statement": [ALLOW_ALL]}
    assert parse_policy(as_dict, kind="identity") == parse_policy(json.dumps(as_dict, indent=4), kind="identity")


def test_unknown_kind_is_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown policy kind"):
        parse_policy(doc(ALLOW_ALL), kind="boundary")  # type: ignore[arg-type]
