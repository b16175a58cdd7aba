"""Parse and validate IAM policy documents into frozen dataclasses.

Validation is strict and the messages name the problem: a mock exists to tell
users what real IAM/STS would reject (AWS wording first, then our detail).
Every failure is :class:`stsproxy.errors.MalformedPolicyDocument` with
``check="policy-grammar"``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from stsproxy.errors import MalformedPolicyDocument
from stsproxy.policy.text import minify

PolicyKind = Literal["identity", "trust", "session", "resource"]
PrincipalSpec = dict[str, tuple[str, ...]] | Literal["*"]

SYNTAX = "Syntax errors in policy."
VERSION_MSG = "Policy document must be version 2012-10-17 or greater."
VENDOR_MSG = "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."
NO_ACTIONS = "Policy statement must contain actions."
NO_RESOURCES = "Policy statement must contain resources."
SID_CHARS = (
    "Statement IDs (SID) must be alpha-numeric. Check that your input satisfies the regular expression [0-9A-Za-z]*"
)
SID_UNIQUE = "Statement IDs (SID) in a single policy must be unique."
NO_PRINCIPAL_ALLOWED = "Policy document should not specify a principal."
INVALID_PRINCIPAL = "Invalid principal in policy."

VERSIONS = ("2012-10-17", "2008-10-17")
PRINCIPAL_TYPES = ("AWS", "Federated", "Service", "CanonicalUser")

#: Base operators -> negated?  (IfExists / ForAllValues: / ForAnyValue: are parsed off.)
OPERATORS: dict[str, bool] = {
    "StringEquals": False,
    "StringNotEquals": True,
    "StringEqualsIgnoreCase": False,
    "StringNotEqualsIgnoreCase": True,
    "StringLike": False,
    "StringNotLike": True,
    "NumericEquals": False,
    "NumericNotEquals": True,
    "NumericLessThan": False,
    "NumericLessThanEquals": False,
    "NumericGreaterThan": False,
    "NumericGreaterThanEquals": False,
    "DateEquals": False,
    "DateNotEquals": True,
    "DateLessThan": False,
    "DateLessThanEquals": False,
    "DateGreaterThan": False,
    "DateGreaterThanEquals": False,
    "Bool": False,
    "BinaryEquals": False,
    "IpAddress": False,
    "NotIpAddress": True,
    "ArnEquals": False,
    "ArnLike": False,
    "ArnNotEquals": True,
    "ArnNotLike": True,
    "Null": False,
}

_STATEMENT_KEYS = frozenset(
    {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "NotPrincipal", "Condition"}
)
_TOP_KEYS = frozenset({"Version", "Id", "Statement"})
_SID_RE = re.compile(r"[A-Za-z0-9]*")
_ACTION_RE = re.compile(r"[A-Za-z0-9_.\-*?]+:\S+")
_COND_KEY_RE = re.compile(r"[^:\s]+:\S.*", re.DOTALL)
_SESSION_CHARS = re.compile(r"[^\t\n\r\u0020-\u00ff]")


@dataclass(frozen=True)
class Condition:
    """One ``{Operator: {Key: values}}`` entry; several in a statement are ANDed."""

    operator: str  # as written, e.g. "ForAnyValue:StringLikeIfExists"
    base: str  # e.g. "StringLike"
    qualifier: Literal["ForAllValues", "ForAnyValue"] | None
    if_exists: bool
    negated: bool
    key: str  # as written
    values: tuple[str, ...]
    #: Lower-cased key, precomputed: condition keys are case-insensitive.
    key_lower: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key_lower", self.key.lower())


@dataclass(frozen=True)
class Statement:
    sid: str | None
    effect: str  # "Allow" | "Deny"
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    principal: PrincipalSpec | None
    not_principal: PrincipalSpec | None
    conditions: tuple[Condition, ...]
    index: int


@dataclass(frozen=True)
class Policy:
    name: str
    version: str  # "2012-10-17" or "2008-10-17" (a missing Version is recorded as 2008)
    statements: tuple[Statement, ...]
    kind: str
    raw_size: int  # chars without whitespace (outside strings)
    #: The minified source text, for packed-size computation.
    text: str = field(default="", repr=False, compare=False)

    @property
    def variables_enabled(self) -> bool:
        """Only 2012-10-17 substitutes ``${...}``; older/missing versions keep it literal."""
        return self.version == "2012-10-17"


def _fail(message: str, **detail: Any) -> MalformedPolicyDocument:
    return MalformedPolicyDocument(message, check="policy-grammar", detail=detail)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _fail(f"{SYNTAX} Duplicate key {key!r} in the same JSON object.", key=key)
        out[key] = value
    return out


def _load(doc: str | Mapping[str, Any], kind: PolicyKind) -> tuple[dict[str, Any], str]:
    if isinstance(doc, Mapping):
        return dict(doc), minify(doc)
    if not isinstance(doc, str):
        raise _fail(f"{SYNTAX} Policy must be a JSON string or object, got {type(doc).__name__}.")
    if kind == "session":
        bad = _SESSION_CHARS.search(doc)
        if bad:
            raise _fail(
                f"{SYNTAX} Character U+{ord(bad.group()):04X} at offset {bad.start()} is not allowed; "
                "policies may contain only \\t, \\n, \\r and U+0020-U+00FF.",
                offset=bad.start(),
            )
    if not doc.strip():
        raise _fail(f"{SYNTAX} The policy document is empty.")
    try:
        data = json.loads(doc, object_pairs_hook=_no_duplicates)
    except MalformedPolicyDocument:
        raise
    except (ValueError, RecursionError) as exc:
        line = getattr(exc, "lineno", None)
        col = getattr(exc, "colno", None)
        where = f" at line {line} column {col}" if line is not None else ""
        reason = getattr(exc, "msg", str(exc))
        raise _fail(f"{SYNTAX} Invalid JSON{where}: {reason}.", line=line, column=col) from None
    if not isinstance(data, dict):
        raise _fail(f"{SYNTAX} The policy must be a JSON object, got {type(data).__name__}.")
    return data, minify(doc)


def _string_list(value: Any, what: str, index: int) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _fail(
            f"{SYNTAX} {what} in statement {index} must be a non-empty string or a non-empty array of strings.",
            statement=index,
            field=what,
        )
    return tuple(value)


def _actions(value: Any, what: str, index: int) -> tuple[str, ...]:
    actions = _string_list(value, what, index)
    for action in actions:
        if action != "*" and not _ACTION_RE.fullmatch(action):
            raise _fail(f"{VENDOR_MSG} Bad {what} {action!r} in statement {index}.", statement=index, value=action)
    return actions


def _resources(value: Any, what: str, index: int) -> tuple[str, ...]:
    resources = _string_list(value, what, index)
    for resource in resources:
        if resource != "*" and not (resource.startswith("arn:") and resource.count(":") >= 5):
            raise _fail(
                f'Resource {resource} must be in ARN format or "*". (statement {index})',
                statement=index,
                value=resource,
            )
    return resources


def _principal(value: Any, what: str, index: int) -> PrincipalSpec:
    if value == "*":
        return "*"
    if not isinstance(value, dict) or not value:
        raise _fail(f'{INVALID_PRINCIPAL} {what} in statement {index} must be "*" or a map.', statement=index)
    out: dict[str, tuple[str, ...]] = {}
    for ptype, pvalues in value.items():
        if ptype not in PRINCIPAL_TYPES:
            raise _fail(
                f"{INVALID_PRINCIPAL} Unknown principal type {ptype!r} in statement {index}; "
                f"use one of {', '.join(PRINCIPAL_TYPES)}.",
                statement=index,
            )
        values = _string_list(pvalues, f"{what}.{ptype}", index)
        if ptype != "AWS" and "*" in values:
            raise _fail(f'{INVALID_PRINCIPAL} "*" is only allowed as {what}.AWS (statement {index}).')
        out[ptype] = values
    return out


def _condition_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    return None


def _split_operator(operator: str, index: int) -> tuple[str, Literal["ForAllValues", "ForAnyValue"] | None, bool]:
    qualifier: Literal["ForAllValues", "ForAnyValue"] | None = None
    base = operator
    if base.startswith("ForAllValues:"):
        qualifier, base = "ForAllValues", base[len("ForAllValues:") :]
    elif base.startswith("ForAnyValue:"):
        qualifier, base = "ForAnyValue", base[len("ForAnyValue:") :]
    if_exists = base.endswith("IfExists") and base != "IfExists"
    if if_exists:
        base = base[: -len("IfExists")]
    if base not in OPERATORS or (if_exists and base == "Null"):
        raise _fail(f"{SYNTAX} Unknown condition operator {operator!r} in statement {index}.", statement=index)
    return base, qualifier, if_exists


def _conditions(value: Any, index: int) -> tuple[Condition, ...]:
    if not isinstance(value, dict):
        raise _fail(f"{SYNTAX} Condition in statement {index} must be an object.", statement=index)
    out: list[Condition] = []
    for operator, block in value.items():
        base, qualifier, if_exists = _split_operator(operator, index)
        if not isinstance(block, dict) or not block:
            raise _fail(
                f"{SYNTAX} Condition operator {operator!r} in statement {index} must map keys to values.",
                statement=index,
            )
        for key, raw in block.items():
            if not _COND_KEY_RE.fullmatch(key):
                raise _fail(f"{VENDOR_MSG} Bad condition key {key!r} in statement {index}.", statement=index)
            raw_values = raw if isinstance(raw, list) else [raw]
            values = [_condition_value(v) for v in raw_values]
            if not values or any(v is None for v in values):
                raise _fail(
                    f"{SYNTAX} Condition {operator} {key!r} in statement {index} needs a string, number, "
                    "boolean or a non-empty array of them.",
                    statement=index,
                )
            texts = tuple(v for v in values if v is not None)
            out.append(Condition(operator, base, qualifier, if_exists, OPERATORS[base], key, texts))
    return tuple(out)


def _exclusive(stmt: dict[str, Any], a: str, b: str, index: int) -> None:
    if a in stmt and b in stmt:
        raise _fail(f"{SYNTAX} Statement {index} cannot contain both {a} and {b}.", statement=index)


def _statement(raw: Any, index: int, kind: PolicyKind) -> Statement:
    if not isinstance(raw, dict):
        raise _fail(f"{SYNTAX} Statement {index} must be an object.", statement=index)
    unknown = sorted(set(raw) - _STATEMENT_KEYS)
    if unknown:
        raise _fail(f"{SYNTAX} Unknown field {unknown[0]!r} in statement {index}.", statement=index)
    sid = raw.get("Sid")
    if sid is not None:
        if not isinstance(sid, str):
            raise _fail(f"{SYNTAX} Sid in statement {index} must be a string.", statement=index)
        if kind != "resource" and not _SID_RE.fullmatch(sid):
            raise _fail(f"{SID_CHARS} Bad Sid {sid!r} in statement {index}.", statement=index)
    if "Effect" not in raw:
        raise _fail(f"Missing required field Effect in statement {index}.", statement=index)
    effect = raw["Effect"]
    if effect not in ("Allow", "Deny"):
        raise _fail(f'{SYNTAX} Effect must be "Allow" or "Deny", got {effect!r} (statement {index}).', statement=index)

    _exclusive(raw, "Action", "NotAction", index)
    _exclusive(raw, "Resource", "NotResource", index)
    _exclusive(raw, "Principal", "NotPrincipal", index)
    if "Action" not in raw and "NotAction" not in raw:
        raise _fail(f"{NO_ACTIONS} (statement {index})", statement=index)

    has_resource = "Resource" in raw or "NotResource" in raw
    has_principal = "Principal" in raw or "NotPrincipal" in raw
    if kind in ("identity", "session"):
        if has_principal:
            raise _fail(f"{NO_PRINCIPAL_ALLOWED} Remove Principal from statement {index}.", statement=index)
        if not has_resource:
            raise _fail(f"{NO_RESOURCES} (statement {index})", statement=index)
    else:
        if not has_principal:
            raise _fail(f"Missing required field Principal in statement {index}.", statement=index)
        if kind == "trust":
            if has_resource:
                field_name = "Resource" if "Resource" in raw else "NotResource"
                raise _fail(
                    f"Has prohibited field {field_name}: trust policies do not use it (statement {index}).",
                    statement=index,
                )
            if "NotPrincipal" in raw:
                raise _fail(
                    f"Has prohibited field NotPrincipal: not allowed in trust policies (statement {index}).",
                    statement=index,
                )

    return Statement(
        sid=sid,
        effect=effect,
        actions=_actions(raw["Action"], "Action", index) if "Action" in raw else None,
        not_actions=_actions(raw["NotAction"], "NotAction", index) if "NotAction" in raw else None,
        resources=_resources(raw["Resource"], "Resource", index) if "Resource" in raw else None,
        not_resources=_resources(raw["NotResource"], "NotResource", index) if "NotResource" in raw else None,
        principal=_principal(raw["Principal"], "Principal", index) if "Principal" in raw else None,
        not_principal=_principal(raw["NotPrincipal"], "NotPrincipal", index) if "NotPrincipal" in raw else None,
        conditions=_conditions(raw["Condition"], index) if "Condition" in raw else (),
        index=index,
    )


def parse_policy(doc: str | Mapping[str, Any], *, kind: PolicyKind, name: str = "") -> Policy:
    """Parse and validate ``doc`` as a policy of ``kind``; raise MalformedPolicyDocument if invalid."""
    if kind not in ("identity", "trust", "session", "resource"):
        raise ValueError(f"unknown policy kind {kind!r}")
    data, text = _load(doc, kind)
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise _fail(f"{SYNTAX} Unknown top-level field {unknown[0]!r}.")
    version = data.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise _fail(f'{VERSION_MSG} Unsupported Version {version!r}; use "2012-10-17".', version=version)
    if "Id" in data and not isinstance(data["Id"], str):
        raise _fail(f"{SYNTAX} Id must be a string.")
    if "Statement" not in data:
        raise _fail("Missing required field Statement.")
    raw_statements = data["Statement"]
    if isinstance(raw_statements, dict):
        raw_statements = [raw_statements]
    if not isinstance(raw_statements, list) or not raw_statements:
        raise _fail(f"{SYNTAX} Statement must be an object or a non-empty array of objects.")
    statements = tuple(_statement(raw, i, kind) for i, raw in enumerate(raw_statements))
    seen: set[str] = set()
    for stmt in statements:
        if stmt.sid:
            if stmt.sid in seen:
                raise _fail(f"{SID_UNIQUE} Duplicate Sid {stmt.sid!r}.", sid=stmt.sid)
            seen.add(stmt.sid)
    return Policy(name=name, version=version, statements=statements, kind=kind, raw_size=len(text), text=text)
