"""STS request parameters checked the way AWS (or MinIO) checks them.

AWS validates every member against the service model's constraints and reports
all failures in one ``ValidationError`` ("N validation errors detected: …"),
naming members in lowerCamel. botocore only checks minimums client-side, so
too-long and pattern-violating values do arrive here. MinIO validates almost
nothing and answers ``InvalidParameterValue``. Pure functions over the merged
parameter map produced by :mod:`stsproxy.protocol`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .errors import InvalidAction, InvalidParameterValue, MissingAction, MissingParameter, ValidationError
from .protocol import STS_VERSION, member_list, tags_from_params

#: Echoed values are cut here (AWS echoes whole values; a 20 000-char token or
#: policy does not belong in an error message or the audit log).
ECHO_LIMIT = 128

MINIO_MIN_DURATION = 900
MINIO_MAX_DURATION = 31_536_000

_ARN_PATTERN = r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+"
_ARN_RE = re.compile(r"[\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]+")
_POLICY_PATTERN = r"[\u0009\u000A\u000D\u0020-\u00FF]+"
_POLICY_RE = re.compile(r"[\t\n\r\x20-\xff]+")
# AWS's regexes are Java's: ``\w`` is ASCII-only there.
_SESSION_NAME_PATTERN = r"[\w+=,.@-]*"
_SESSION_NAME_RE = re.compile(r"[\w+=,.@-]*", re.ASCII)
_EXTERNAL_ID_PATTERN = r"[\w+=,.@:\/-]*"
_EXTERNAL_ID_RE = re.compile(r"[\w+=,.@:/-]*", re.ASCII)
_SERIAL_PATTERN = r"[\w+=/:,.@-]*"
_SERIAL_RE = re.compile(r"[\w+=/:,.@-]*", re.ASCII)
_TOKEN_CODE_PATTERN = r"[\d]*"
_TOKEN_CODE_RE = re.compile(r"[0-9]*")
_TAG_KEY_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"
_TAG_VALUE_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]*"
_INT_RE = re.compile(r"-?[0-9]+")
#: Every integer parameter of the Query API fits in int64 (19 digits); longer values are refused by length.
MAX_INT_DIGITS = 18

_SENSITIVE = frozenset({"webIdentityToken", "policy"})


def _tag_chars_ok(value: str) -> bool:
    """``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]``; Python's ``re`` has no Unicode property classes."""
    return all(ch in "_.:/=+-@" or unicodedata.category(ch)[0] in "LZN" for ch in value)


@dataclass(slots=True)  # one per request: not frozen (a frozen __init__ is ~3x slower)
class WebIdentityRequest:
    role_arn: str | None
    role_session_name: str | None
    web_identity_token: str
    provider_id: str | None = None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    duration_seconds: int | None = None
    #: MinIO extensions (TokenRevokeType, WebIdentityAccessToken) when present.
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class AssumeRoleRequest:
    role_arn: str | None
    role_session_name: str | None
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    duration_seconds: int | None = None
    external_id: str | None = None
    source_identity: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    serial_number: str | None = None
    token_code: str | None = None
    extra: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class SessionTokenRequest:
    duration_seconds: int | None = None
    serial_number: str | None = None
    token_code: str | None = None


# --------------------------------------------------------------------------- message building


def _echo(value: str) -> str:
    return value if len(value) <= ECHO_LIMIT else value[:ECHO_LIMIT] + "…"


class _Problems:
    """Collects constraint failures in member order and raises them as one ValidationError."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.members: list[str] = []

    def add(self, member: str, value: str | None, constraint: str) -> None:
        if value is None:
            shown = "Value null"
        elif member.split(".", 1)[0] in _SENSITIVE:
            shown = "Value"
        else:
            shown = f"Value '{_echo(value)}'"
        self.items.append(f"{shown} at '{member}' failed to satisfy constraint: Member {constraint}")
        self.members.append(member)

    def string(
        self,
        member: str,
        value: str | None,
        *,
        required: bool = False,
        min_len: int | None = None,
        max_len: int | None = None,
        pattern: tuple[str, re.Pattern[str] | Callable[[str], bool]] | None = None,
    ) -> None:
        if value is None:
            if required:
                self.add(member, None, "must not be null")
            return
        if min_len is not None and len(value) < min_len:
            self.add(member, value, f"must have length greater than or equal to {min_len}")
        if max_len is not None and len(value) > max_len:
            self.add(member, value, f"must have length less than or equal to {max_len}")
        if pattern is not None:
            text, check = pattern
            ok = check.fullmatch(value) is not None if isinstance(check, re.Pattern) else check(value)
            if not ok:
                self.add(member, value, f"must satisfy regular expression pattern: {text}")

    def integer(self, member: str, value: str | None, low: int, high: int) -> int | None:
        if value is None:
            return None
        if not _INT_RE.fullmatch(value):
            self.add(member, value, "must be an integer")
            return None
        if len(value.lstrip("-")) > MAX_INT_DIGITS:  # before int(): Python refuses > 4300 digits with a ValueError
            self.add(member, value[:24] + "...", f"must be an integer of at most {MAX_INT_DIGITS} digits")
            return None
        number = int(value)
        if number < low:
            self.add(member, value, f"must have value greater than or equal to {low}")
        elif number > high:
            self.add(member, value, f"must have value less than or equal to {high}")
        return number

    def count(self, member: str, values: list[str], limit: int) -> None:
        if len(values) > limit:
            self.add(member, "[" + ", ".join(values) + "]", f"must have length less than or equal to {limit}")

    def raise_if_any(self) -> None:
        if not self.items:
            return
        count = len(self.items)
        head = "1 validation error detected" if count == 1 else f"{count} validation errors detected"
        raise ValidationError(
            f"{head}: " + "; ".join(self.items), check="validation", detail={"members": list(self.members)}
        )


# --------------------------------------------------------------------------- helpers


def parse_arn(arn: str) -> tuple[str, str, str, str, str, str] | None:
    """``arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`` split into six parts, or None.

    Region and account may be empty (IAM ARNs have no region, MinIO's none of
    either); prefix, partition, service and resource may not.
    """
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1] or not parts[2] or not parts[5]:
        return None
    return parts[0], parts[1], parts[2], parts[3], parts[4], parts[5]


def _get(params: Mapping[str, str], name: str) -> str | None:
    return params.get(name)


def _opt(params: Mapping[str, str], name: str) -> str | None:
    """A parameter whose empty value means "not given" (Go's ``Form.Get(...) != ""``)."""
    value = params.get(name)
    return value if value else None


def _check_role_arn(role_arn: str | None) -> None:
    if role_arn is not None and parse_arn(role_arn) is None:
        raise ValidationError("Request ARN is invalid", check="role-arn", detail={"roleArn": _echo(role_arn)})


def check_version_and_action(
    params: Mapping[str, str], *, profile: str, supported: frozenset[str] | set[str] | None = None
) -> str:
    """Return the Action after checking Version; unknown actions fail only if ``supported`` is given.

    AWS reports the missing Action first; MinIO checks Version first and answers
    MissingParameter for a missing *or* wrong Version.
    """
    action = params.get("Action") or ""
    version = params.get("Version")
    if profile == "minio":
        if version != STS_VERSION:
            raise MissingParameter(f"Invalid STS API version {version or ''}, expecting {STS_VERSION}", check="version")
        if not action:
            raise MissingAction("Unsupported action ", check="action")
        if supported is not None and action not in supported:
            raise InvalidAction(f"Unsupported action {action}", check="action")
        return action
    if not action:
        raise MissingAction("Missing Action", check="action")
    if not version:
        raise MissingParameter("The request must contain the parameter Version", check="version")
    if version != STS_VERSION:
        raise InvalidParameterValue(
            f"Invalid Version '{_echo(version)}': this service supports {STS_VERSION}", check="version"
        )
    if supported is not None and action not in supported:
        raise InvalidAction(f"Could not find operation {action} for version {STS_VERSION}", check="action")
    return action


def _token(value: str | None) -> str | None:
    """Tokens are stripped: botocore sends token files verbatim, trailing newline included."""
    return value.strip() if value is not None else None


def _minio_duration(params: Mapping[str, str], default: int | None) -> int | None:
    raw = _opt(params, "DurationSeconds")
    if raw is None:
        return default
    if not _INT_RE.fullmatch(raw) or not MINIO_MIN_DURATION <= int(raw) <= MINIO_MAX_DURATION:
        raise InvalidParameterValue("invalid token expiry", check="duration", detail={"DurationSeconds": _echo(raw)})
    return int(raw)


def _minio_extra(params: Mapping[str, str], names: tuple[str, ...]) -> Mapping[str, str]:
    return MappingProxyType({name: params[name] for name in names if params.get(name)})


def _aws_policy_arns(problems: _Problems, params: Mapping[str, str]) -> tuple[str, ...]:
    arns = member_list(params, "PolicyArns", "arn")
    for index, arn in enumerate(arns, start=1):
        problems.string(
            f"policyArns.{index}.member.arn", arn, min_len=20, max_len=2048, pattern=(_ARN_PATTERN, _ARN_RE)
        )
    problems.count("policyArns", arns, 10)
    return tuple(arns)


def _aws_common(problems: _Problems, params: Mapping[str, str]) -> tuple[str | None, str | None]:
    role_arn, session = _get(params, "RoleArn"), _get(params, "RoleSessionName")
    problems.string("roleArn", role_arn, required=True, min_len=20, max_len=2048, pattern=(_ARN_PATTERN, _ARN_RE))
    problems.string(
        "roleSessionName",
        session,
        required=True,
        min_len=2,
        max_len=64,
        pattern=(_SESSION_NAME_PATTERN, _SESSION_NAME_RE),
    )
    return role_arn, session


# --------------------------------------------------------------------------- actions


def validate_web_identity(params: Mapping[str, str], *, profile: str) -> WebIdentityRequest:
    """AssumeRoleWithWebIdentity parameters; AWS's model constraints or MinIO's lenient reading."""
    if profile == "minio":
        token = _token(_opt(params, "Token") or _opt(params, "WebIdentityToken"))
        if not token:
            raise InvalidParameterValue(
                "WebIdentityToken (or Token) is required and must be a JWT", check="token-format"
            )
        return WebIdentityRequest(
            role_arn=_opt(params, "RoleArn"),
            role_session_name=_opt(params, "RoleSessionName"),
            web_identity_token=token,
            provider_id=None,
            policy=_opt(params, "Policy"),
            policy_arns=(),
            duration_seconds=_minio_duration(params, None),
            extra=_minio_extra(params, ("TokenRevokeType", "WebIdentityAccessToken")),
        )

    problems = _Problems()
    role_arn, session = _aws_common(problems, params)
    token = _token(_get(params, "WebIdentityToken"))
    problems.string("webIdentityToken", token, required=True, min_len=4, max_len=20000)
    provider_id = _get(params, "ProviderId")
    problems.string("providerId", provider_id, min_len=4, max_len=2048)
    policy_arns = _aws_policy_arns(problems, params)
    policy = _get(params, "Policy")
    problems.string("policy", policy, min_len=1, max_len=2048, pattern=(_POLICY_PATTERN, _POLICY_RE))
    duration = problems.integer("durationSeconds", _get(params, "DurationSeconds"), 900, 43200)
    problems.raise_if_any()
    _check_role_arn(role_arn)
    assert token is not None  # required above
    return WebIdentityRequest(
        role_arn=role_arn,
        role_session_name=session,
        web_identity_token=token,
        provider_id=provider_id,
        policy=policy,
        policy_arns=policy_arns,
        duration_seconds=duration,
    )


def validate_assume_role(params: Mapping[str, str], *, profile: str) -> AssumeRoleRequest:
    """AssumeRole parameters (aws-sts.md §2); MinIO ignores all but Policy/DurationSeconds."""
    if profile == "minio":
        return AssumeRoleRequest(
            role_arn=_opt(params, "RoleArn"),
            role_session_name=_opt(params, "RoleSessionName"),
            policy=_opt(params, "Policy"),
            duration_seconds=_minio_duration(params, 3600),
            external_id=_opt(params, "ExternalId"),
            extra=_minio_extra(params, ("TokenRevokeType",)),
        )

    problems = _Problems()
    role_arn, session = _aws_common(problems, params)
    policy_arns = _aws_policy_arns(problems, params)
    policy = _get(params, "Policy")
    problems.string("policy", policy, min_len=1, max_len=2048, pattern=(_POLICY_PATTERN, _POLICY_RE))
    duration = problems.integer("durationSeconds", _get(params, "DurationSeconds"), 900, 43200)

    tags = tags_from_params(params)
    for index, (key, value) in enumerate(tags, start=1):
        problems.string(
            f"tags.{index}.member.key", key, min_len=1, max_len=128, pattern=(_TAG_KEY_PATTERN, _tag_chars_ok)
        )
        problems.string(f"tags.{index}.member.value", value, max_len=256, pattern=(_TAG_VALUE_PATTERN, _tag_chars_ok))
    problems.count("tags", [f"{k}={v}" for k, v in tags], 50)

    transitive = member_list(params, "TransitiveTagKeys")
    for index, key in enumerate(transitive, start=1):
        problems.string(
            f"transitiveTagKeys.{index}.member", key, min_len=1, max_len=128, pattern=(_TAG_KEY_PATTERN, _tag_chars_ok)
        )
    problems.count("transitiveTagKeys", transitive, 50)

    external_id = _get(params, "ExternalId")
    problems.string("externalId", external_id, min_len=2, max_len=1224, pattern=(_EXTERNAL_ID_PATTERN, _EXTERNAL_ID_RE))
    serial, code = _mfa(problems, params)
    source_identity = _get(params, "SourceIdentity")
    problems.string(
        "sourceIdentity", source_identity, min_len=2, max_len=64, pattern=(_SESSION_NAME_PATTERN, _SESSION_NAME_RE)
    )
    problems.raise_if_any()
    _check_role_arn(role_arn)

    lowered = [key.lower() for key, _ in tags]
    if len(set(lowered)) != len(lowered):
        raise InvalidParameterValue(
            "Duplicate tag keys found. Please note that Tag keys are case insensitive.", check="tags"
        )
    if any(key.lower() not in lowered for key in transitive):
        raise InvalidParameterValue(
            "The specified transitive tag key must be included in the requested tags.", check="tags"
        )
    return AssumeRoleRequest(
        role_arn=role_arn,
        role_session_name=session,
        policy=policy,
        policy_arns=policy_arns,
        duration_seconds=duration,
        external_id=external_id,
        source_identity=source_identity,
        tags=tuple(tags),
        transitive_tag_keys=tuple(transitive),
        serial_number=serial,
        token_code=code,
    )


def _mfa(problems: _Problems, params: Mapping[str, str]) -> tuple[str | None, str | None]:
    serial, code = _get(params, "SerialNumber"), _get(params, "TokenCode")
    problems.string("serialNumber", serial, min_len=9, max_len=256, pattern=(_SERIAL_PATTERN, _SERIAL_RE))
    problems.string("tokenCode", code, min_len=6, max_len=6, pattern=(_TOKEN_CODE_PATTERN, _TOKEN_CODE_RE))
    return serial, code


def validate_session_token(params: Mapping[str, str], *, profile: str) -> SessionTokenRequest:
    """GetSessionToken: DurationSeconds 900–129600 plus MFA fields (MinIO has no such action)."""
    problems = _Problems()
    duration = problems.integer("durationSeconds", _get(params, "DurationSeconds"), 900, 129600)
    serial, code = _mfa(problems, params)
    problems.raise_if_any()
    return SessionTokenRequest(duration_seconds=duration, serial_number=serial, token_code=code)
