"""Parameter validation: AWS's exact ValidationError texts and MinIO's lenient reading."""

from __future__ import annotations

from typing import Any

import pytest

from stsproxy.errors import (
    InvalidAction,
    InvalidParameterValue,
    MissingAction,
    MissingParameter,
    ValidationError,
    wire_error,
)
from stsproxy.validation import (
    ECHO_LIMIT,
    AssumeRoleRequest,
    SessionTokenRequest,
    WebIdentityRequest,
    check_version_and_action,
    parse_arn,
    validate_assume_role,
    validate_session_token,
    validate_web_identity,
)

ROLE_ARN = "arn:aws:iam::123456789012:role/app"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
SESSION_PATTERN = r"[\w+=,.@-]*"
ARN_PATTERN = r"[\u0009\u000A\u000D\u0020-\u007E\u0085\u00A0-\uD7FF\uE000-\uFFFD\u10000-\u10FFFF]+"
POLICY_PATTERN = r"[\u0009\u000A\u000D\u0020-\u00FF]+"
PAT = "Member must satisfy regular expression pattern: "
TAG_KEY_PATTERN = r"[\p{L}\p{Z}\p{N}_.:/=+\-@]+"


def wi(**overrides: Any) -> dict[str, str]:
    params = {"RoleArn": ROLE_ARN, "RoleSessionName": "sess", "WebIdentityToken": TOKEN}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def ar(**overrides: Any) -> dict[str, str]:
    params = {"RoleArn": ROLE_ARN, "RoleSessionName": "sess"}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def aws_error(params: dict[str, str], validate: Any = validate_web_identity) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate(params, profile="aws")
    return info.value


# --------------------------------------------------------------------------- Version / Action


def test_version_and_action_aws() -> None:
    ok = {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15"}
    assert check_version_and_action(ok, profile="aws") == "AssumeRoleWithWebIdentity"
    with pytest.raises(MissingAction) as missing_action:
        check_version_and_action({"Version": "2011-06-15"}, profile="aws")
    assert missing_action.value.message == "Missing Action"
    with pytest.raises(MissingParameter) as missing_version:
        check_version_and_action({"Action": "AssumeRole"}, profile="aws")
    assert missing_version.value.message == "The request must contain the parameter Version"
    with pytest.raises(InvalidParameterValue) as wrong:
        check_version_and_action({"Action": "AssumeRole", "Version": "2012-01-01"}, profile="aws")
    assert wrong.value.message == "Invalid Version '2012-01-01': this service supports 2011-06-15"
    assert wrong.value.check == "version"
    with pytest.raises(InvalidAction) as unknown:
        check_version_and_action({"Action": "Nope", "Version": "2011-06-15"}, profile="aws", supported={"AssumeRole"})
    assert unknown.value.message == "Could not find operation Nope for version 2011-06-15"


def test_version_and_action_minio_checks_version_first() -> None:
    for version, shown in ((None, ""), ("2012-01-01", "2012-01-01")):
        params = {"Version": version} if version else {}
        with pytest.raises(MissingParameter) as info:
            check_version_and_action(params, profile="minio")
        assert info.value.message == f"Invalid STS API version {shown}, expecting 2011-06-15"
    with pytest.raises(MissingAction) as missing:
        check_version_and_action({"Version": "2011-06-15"}, profile="minio")
    assert wire_error(missing.value, "minio").code == "InvalidParameterValue"
    with pytest.raises(InvalidAction) as unknown:
        check_version_and_action({"Action": "X", "Version": "2011-06-15"}, profile="minio", supported=set())
    assert unknown.value.message == "Unsupported action X"


# --------------------------------------------------------------------------- AssumeRoleWithWebIdentity (aws)


def test_web_identity_happy_path_strips_token_and_reads_lists() -> None:
    params = wi(
        WebIdentityToken=TOKEN + "\n",
        ProviderId="www.amazon.com",
        Policy='{"Version":"2012-10-17"}',
        DurationSeconds="3600",
        **{"PolicyArns.member.1.arn": "arn:aws:iam::aws:policy/ReadOnly", "PolicyArns.member.2.arn": ROLE_ARN},
    )
    req = validate_web_identity(params, profile="aws")
    assert req == WebIdentityRequest(
        role_arn=ROLE_ARN,
        role_session_name="sess",
        web_identity_token=TOKEN,
        provider_id="www.amazon.com",
        policy='{"Version":"2012-10-17"}',
        policy_arns=("arn:aws:iam::aws:policy/ReadOnly", ROLE_ARN),
        duration_seconds=3600,
    )
    assert dict(req.extra) == {}
    assert validate_web_identity(wi(), profile="aws").duration_seconds is None


def test_session_name_pattern_exact_message() -> None:
    err = aws_error(wi(RoleSessionName="a:b"))
    assert err.message == (
        "1 validation error detected: Value 'a:b' at 'roleSessionName' failed to satisfy constraint: "
        rf"Member must satisfy regular expression pattern: {SESSION_PATTERN}"
    )
    assert err.check == "validation"
    assert err.detail["members"] == ["roleSessionName"]
    assert wire_error(err, "aws").code == "ValidationError"
    assert wire_error(err, "aws").status == 400


def test_session_name_lengths() -> None:
    name = "x" * 65
    assert aws_error(wi(RoleSessionName=name)).message == (
        f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64"
    )
    assert aws_error(wi(RoleSessionName="x")).message == (
        "1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: "
        "Member must have length greater than or equal to 2"
    )
    validate_web_identity(wi(RoleSessionName="x" * 64), profile="aws")
    validate_web_identity(wi(RoleSessionName="a+=,.@-_Z9"), profile="aws")


def test_session_name_word_class_is_ascii_like_java() -> None:
    err = aws_error(wi(RoleSessionName="sessé"))
    assert "Member must satisfy regular expression pattern" in err.message


def test_several_failures_are_aggregated_in_model_order() -> None:
    name = "bad:" + "n" * 70
    err = aws_error(wi(RoleSessionName=name, DurationSeconds="899"))
    assert err.message == (
        "3 validation errors detected: "
        f"Value '{name}' at 'roleSessionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64; "
        f"Value '{name}' at 'roleSessionName' failed to satisfy constraint: "
        rf"Member must satisfy regular expression pattern: {SESSION_PATTERN}; "
        "Value '899' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value greater than or equal to 900"
    )


def test_missing_required_members_are_null() -> None:
    err = aws_error({})
    assert err.message == (
        "3 validation errors detected: "
        "Value null at 'roleArn' failed to satisfy constraint: Member must not be null; "
        "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null; "
        "Value null at 'webIdentityToken' failed to satisfy constraint: Member must not be null"
    )


def test_token_is_sensitive_and_never_echoed() -> None:
    short = aws_error(wi(WebIdentityToken="ab\n"))
    assert short.message == (
        "1 validation error detected: Value at 'webIdentityToken' failed to satisfy constraint: "
        "Member must have length greater than or equal to 4"
    )
    huge = "A" * 20001
    long_err = aws_error(wi(WebIdentityToken=huge))
    assert long_err.message.endswith("Member must have length less than or equal to 20000")
    assert "AAAA" not in long_err.message
    assert validate_web_identity(wi(WebIdentityToken="A" * 20000 + "\r\n"), profile="aws").web_identity_token == (
        "A" * 20000
    )


def test_policy_length_and_pattern_without_echo() -> None:
    too_long = aws_error(wi(Policy="p" * 2049))
    assert too_long.message == (
        "1 validation error detected: Value at 'policy' failed to satisfy constraint: "
        "Member must have length less than or equal to 2048"
    )
    bad_chars = aws_error(wi(Policy='{"x":"\u0100 secret"}'))
    assert bad_chars.message == (
        "1 validation error detected: Value at 'policy' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {POLICY_PATTERN}"
    )
    assert "secret" not in bad_chars.message
    assert "Member must have length greater than or equal to 1" in aws_error(wi(Policy="")).message
    assert validate_web_identity(wi(Policy="\t{ é }\n"), profile="aws").policy == "\t{ é }\n"


def test_policy_arns_members_and_count() -> None:
    err = aws_error(wi(**{"PolicyArns.member.1.arn": "arn:aws:iam::1:p"}))
    assert err.message == (
        "1 validation error detected: Value 'arn:aws:iam::1:p' at 'policyArns.1.member.arn' failed to satisfy "
        "constraint: Member must have length greater than or equal to 20"
    )
    many = {f"PolicyArns.member.{i}.arn": f"arn:aws:iam::aws:policy/P{i:02d}" for i in range(1, 12)}
    err = aws_error(wi(**many))
    assert err.message.startswith("1 validation error detected: Value '[arn:aws:iam::aws:policy/P01, ")
    assert err.message.endswith(
        "at 'policyArns' failed to satisfy constraint: Member must have length less than or equal to 10"
    )
    assert validate_web_identity(wi(PolicyArns=""), profile="aws").policy_arns == ()


@pytest.mark.parametrize(
    ("value", "constraint"),
    [
        ("899", "Member must have value greater than or equal to 900"),
        ("43201", "Member must have value less than or equal to 43200"),
        ("abc", "Member must be an integer"),
        ("1e3", "Member must be an integer"),
        ("", "Member must be an integer"),
        ("3600.0", "Member must be an integer"),
    ],
)
def test_duration_seconds(value: str, constraint: str) -> None:
    assert aws_error(wi(DurationSeconds=value)).message == (
        f"1 validation error detected: Value '{value}' at 'durationSeconds' failed to satisfy constraint: {constraint}"
    )


def test_duration_bounds_inclusive() -> None:
    assert validate_web_identity(wi(DurationSeconds="900"), profile="aws").duration_seconds == 900
    assert validate_web_identity(wi(DurationSeconds="43200"), profile="aws").duration_seconds == 43200


def test_provider_id_length() -> None:
    assert aws_error(wi(ProviderId="abc")).message == (
        "1 validation error detected: Value 'abc' at 'providerId' failed to satisfy constraint: "
        "Member must have length greater than or equal to 4"
    )


def test_role_arn_constraints_then_syntax() -> None:
    assert aws_error(wi(RoleArn="arn:aws:iam::1:role")).message == (
        "1 validation error detected: Value 'arn:aws:iam::1:role' at 'roleArn' failed to satisfy constraint: "
        "Member must have length greater than or equal to 20"
    )
    bad = aws_error(wi(RoleArn="arn:aws:iam::123456789012:role/a\x01b"))
    assert bad.message.endswith(f"Member must satisfy regular expression pattern: {ARN_PATTERN}")
    for not_an_arn in ("this-is-not-an-arn-at-all", "arn:aws:iam:123456789012:role/x", "arn::iam::123456789012:role/x"):
        err = aws_error(wi(RoleArn=not_an_arn))
        assert err.message == "Request ARN is invalid"
        assert err.check == "role-arn"


def test_echoed_values_are_capped() -> None:
    name = "y" * 300
    err = aws_error(wi(RoleSessionName=name))
    assert f"Value '{'y' * ECHO_LIMIT}…' at 'roleSessionName'" in err.message
    assert "y" * (ECHO_LIMIT + 1) not in err.message


# --------------------------------------------------------------------------- AssumeRoleWithWebIdentity (minio)


def test_minio_web_identity_is_lenient() -> None:
    req = validate_web_identity(
        {
            "Token": " tok-1\n",
            "WebIdentityToken": "tok-2",
            "RoleSessionName": "a:b",
            "TokenRevokeType": "t1",
            "WebIdentityAccessToken": "at",
            "PolicyArns.member.1.arn": "x",
            "ProviderId": "x",
        },
        profile="minio",
    )
    assert req.web_identity_token == "tok-1"  # Token first, like MinIO
    assert req.role_arn is None
    assert req.role_session_name == "a:b"
    assert req.policy_arns == ()
    assert req.provider_id is None
    assert req.duration_seconds is None  # credential expiry follows the token's exp
    assert dict(req.extra) == {"TokenRevokeType": "t1", "WebIdentityAccessToken": "at"}
    assert validate_web_identity({"WebIdentityToken": "tok-2", "RoleArn": ""}, profile="minio").web_identity_token == (
        "tok-2"
    )


def test_minio_missing_token() -> None:
    with pytest.raises(InvalidParameterValue) as info:
        validate_web_identity({"Token": "", "WebIdentityToken": "  "}, profile="minio")
    assert info.value.check == "token-format"
    assert wire_error(info.value, "minio").code == "InvalidParameterValue"


@pytest.mark.parametrize("value", ["899", "31536001", "0", "abc", "-900"])
def test_minio_duration_invalid(value: str) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        validate_web_identity({"WebIdentityToken": "t", "DurationSeconds": value}, profile="minio")
    assert info.value.message == "invalid token expiry"
    assert info.value.check == "duration"


def test_minio_duration_range() -> None:
    assert validate_web_identity({"Token": "t", "DurationSeconds": "31536000"}, profile="minio").duration_seconds == (
        31536000
    )
    assert validate_web_identity({"Token": "t", "DurationSeconds": ""}, profile="minio").duration_seconds is None


# --------------------------------------------------------------------------- AssumeRole


def test_assume_role_happy_path() -> None:
    params = ar(
        DurationSeconds="43200",
        ExternalId="ext:1/2",
        SourceIdentity="alice",
        SerialNumber="arn:aws:iam::123456789012:mfa/alice",
        TokenCode="123456",
        **{
            "Tags.member.1.Key": "Team",
            "Tags.member.1.Value": "a b:c/d",
            "Tags.member.2.Key": "ключ",
            "Tags.member.2.Value": "",
            "TransitiveTagKeys.member.1": "team",
        },
    )
    req = validate_assume_role(params, profile="aws")
    assert req == AssumeRoleRequest(
        role_arn=ROLE_ARN,
        role_session_name="sess",
        duration_seconds=43200,
        external_id="ext:1/2",
        source_identity="alice",
        serial_number="arn:aws:iam::123456789012:mfa/alice",
        token_code="123456",
        tags=(("Team", "a b:c/d"), ("ключ", "")),
        transitive_tag_keys=("team",),
    )


def test_assume_role_requires_arn_and_session() -> None:
    err = aws_error({}, validate_assume_role)
    assert err.message.startswith("2 validation errors detected: Value null at 'roleArn'")


def test_assume_role_tag_rules() -> None:
    err = aws_error(
        ar(**{"Tags.member.1.Key": "k" * 129, "Tags.member.1.Value": "v" * 257, "Tags.member.2.Key": "bad#key"}),
        validate_assume_role,
    )
    assert err.message == (
        "3 validation errors detected: "
        f"Value '{'k' * ECHO_LIMIT}…' at 'tags.1.member.key' failed to satisfy constraint: "
        "Member must have length less than or equal to 128; "
        f"Value '{'v' * ECHO_LIMIT}…' at 'tags.1.member.value' failed to satisfy constraint: "
        "Member must have length less than or equal to 256; "
        "Value 'bad#key' at 'tags.2.member.key' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {TAG_KEY_PATTERN}"
    )
    many = {}
    for i in range(1, 52):
        many[f"Tags.member.{i}.Key"] = f"k{i}"
        many[f"Tags.member.{i}.Value"] = "v"
    assert aws_error(ar(**many), validate_assume_role).message.endswith(
        "at 'tags' failed to satisfy constraint: Member must have length less than or equal to 50"
    )
    assert "at 'tags.1.member.key'" in aws_error(ar(**{"Tags.member.1.Value": "v"}), validate_assume_role).message


def test_assume_role_duplicate_and_transitive_tags() -> None:
    with pytest.raises(InvalidParameterValue) as dup:
        validate_assume_role(
            ar(**{"Tags.member.1.Key": "Team", "Tags.member.1.Value": "a", "Tags.member.2.Key": "team"}),
            profile="aws",
        )
    assert dup.value.message == "Duplicate tag keys found. Please note that Tag keys are case insensitive."
    with pytest.raises(InvalidParameterValue) as transitive:
        validate_assume_role(
            ar(**{"Tags.member.1.Key": "Team", "Tags.member.1.Value": "a", "TransitiveTagKeys.member.1": "Env"}),
            profile="aws",
        )
    assert transitive.value.message == "The specified transitive tag key must be included in the requested tags."


@pytest.mark.parametrize(
    ("param", "value", "member", "constraint"),
    [
        ("ExternalId", "x", "externalId", "Member must have length greater than or equal to 2"),
        ("ExternalId", "a b", "externalId", PAT + r"[\w+=,.@:\/-]*"),
        ("ExternalId", "e" * 1225, "externalId", "Member must have length less than or equal to 1224"),
        ("SerialNumber", "12345678", "serialNumber", "Member must have length greater than or equal to 9"),
        ("SerialNumber", "arn:aws:iam::1:mfa/a b", "serialNumber", PAT + r"[\w+=/:,.@-]*"),
        ("TokenCode", "12345", "tokenCode", "Member must have length greater than or equal to 6"),
        ("TokenCode", "12345a", "tokenCode", PAT + r"[\d]*"),
        ("SourceIdentity", "a", "sourceIdentity", "Member must have length greater than or equal to 2"),
        ("SourceIdentity", "a/b", "sourceIdentity", PAT + SESSION_PATTERN),
        ("DurationSeconds", "43201", "durationSeconds", "Member must have value less than or equal to 43200"),
        ("Policy", "p" * 2049, "policy", "Member must have length less than or equal to 2048"),
    ],
)
def test_assume_role_member_constraints(param: str, value: str, member: str, constraint: str) -> None:
    err = aws_error(ar(**{param: value}), validate_assume_role)
    assert err.message.startswith("1 validation error detected: ")
    assert f"at '{member}' failed to satisfy constraint: {constraint}" in err.message
    assert err.message.endswith(constraint)


def test_assume_role_bad_arn_syntax() -> None:
    assert aws_error(ar(RoleArn="role/definitely-not-an-arn"), validate_assume_role).message == "Request ARN is invalid"


def test_assume_role_minio() -> None:
    req = validate_assume_role({"RoleArn": "whatever", "Policy": "{}", "TokenRevokeType": "x"}, profile="minio")
    assert req.duration_seconds == 3600
    assert req.policy == "{}"
    assert req.role_arn == "whatever"
    assert dict(req.extra) == {"TokenRevokeType": "x"}
    assert validate_assume_role({"DurationSeconds": "31536000"}, profile="minio").duration_seconds == 31536000
    with pytest.raises(InvalidParameterValue, match="invalid token expiry"):
        validate_assume_role({"DurationSeconds": "600"}, profile="minio")


# --------------------------------------------------------------------------- GetSessionToken


def test_session_token() -> None:
    assert validate_session_token({}, profile="aws") == SessionTokenRequest()
    assert validate_session_token({"DurationSeconds": "129600"}, profile="aws").duration_seconds == 129600
    assert aws_error({"DurationSeconds": "129601"}, validate_session_token).message == (
        "1 validation error detected: Value '129601' at 'durationSeconds' failed to satisfy constraint: "
        "Member must have value less than or equal to 129600"
    )
    err = aws_error({"DurationSeconds": "100", "TokenCode": "abc"}, validate_session_token)
    assert err.message.startswith("3 validation errors detected: Value '100' at 'durationSeconds'")
    with pytest.raises(ValidationError) as info:
        validate_session_token({"DurationSeconds": "1"}, profile="minio")
    assert wire_error(info.value, "minio").code == "InvalidParameterValue"


# --------------------------------------------------------------------------- ARNs


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        ("arn:aws:iam::123456789012:role/path/app", ("arn", "aws", "iam", "", "123456789012", "role/path/app")),
        ("arn:minio:iam:::role/dummy-internal", ("arn", "minio", "iam", "", "", "role/dummy-internal")),
        ("arn:aws:s3:::bucket:with:colons", ("arn", "aws", "s3", "", "", "bucket:with:colons")),
        ("arn:aws:iam::123456789012", None),
        ("arn:aws:iam::123456789012:", None),
        ("arn::iam::1:role/x", None),
        ("ARN:aws:iam::1:role/x", None),
        ("", None),
    ],
)
def test_parse_arn(arn: str, expected: tuple[str, ...] | None) -> None:
    assert parse_arn(arn) == expected
