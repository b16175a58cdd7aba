"""The Query protocol: what real clients send, and whether they can read what we render."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.utils import parse_timestamp

from stsproxy import protocol
from stsproxy.errors import (
    ExpiredTokenException,
    IDPCommunicationError,
    InvalidIdentityToken,
    InvalidParameterValue,
    StsError,
    ValidationError,
    wire_error,
)
from stsproxy.protocol import (
    STS_NS,
    assume_role_result,
    caller_identity_result,
    format_expiration,
    member_list,
    merge_params,
    new_request_id,
    parse_form_body,
    render_error,
    render_result,
    response_headers,
    session_token_result,
    tags_from_params,
    web_identity_result,
)

ROLE_ARN = "arn:aws:iam::123456789012:role/app"
EXP = 4102444800  # 2100-01-01T00:00:00Z
CREDS = ("ASIAEXAMPLEEXAMPLE01", "s3cr3t/Key+With=Chars", "token<&>\"'", EXP)
STS_MODEL = botocore.session.get_session().get_service_model("sts")


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def sts_client(handler: Callable[[Any], tuple[int, dict[str, str], bytes]]) -> Any:
    """A real botocore STS client whose HTTP layer is ``handler`` (request -> status, headers, body)."""
    client = botocore.session.get_session().create_client(
        "sts",
        region_name="us-east-1",
        endpoint_url="http://sts.local",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=Config(retries={"total_max_attempts": 1}),
    )

    def before_send(request: Any, **_: Any) -> AWSResponse:
        status, headers, body = handler(request)
        return AWSResponse(request.url, status, headers, _Raw(body))

    client.meta.events.register("before-send.sts.*", before_send)
    return client


def request_params(request: Any) -> dict[str, str]:
    """What the service does with a request: body form + URL query, query wins."""
    body = request.body.encode() if isinstance(request.body, str) else (request.body or b"")
    ctype = request.headers.get("Content-Type")
    ctype = ctype.decode() if isinstance(ctype, bytes) else ctype
    query = parse_qsl(urlsplit(request.url).query, keep_blank_values=True)
    return merge_params(query, parse_form_body(body, ctype))


def capture(call: Callable[[Any], Any]) -> dict[str, str]:
    seen: list[dict[str, str]] = []

    def handler(request: Any) -> tuple[int, dict[str, str], bytes]:
        seen.append(request_params(request))
        wire = wire_error(InvalidParameterValue("captured"), "aws")
        return 400, {}, render_error(wire, request_id="rid", profile="aws")

    with pytest.raises(ClientError):
        call(sts_client(handler))
    assert len(seen) == 1
    return seen[0]


def _xml(body: bytes | str) -> ET.Element:
    return ET.fromstring(body)  # noqa: S314 - our own rendered output


def parse_output(action: str, body: bytes, status: int = 200) -> dict[str, Any]:
    shape = STS_MODEL.operation_model(action).output_shape
    return create_parser("query").parse({"body": body, "headers": {}, "status_code": status}, shape)


# --------------------------------------------------------------------------- what clients send


def test_parses_boto3_web_identity_body_with_policy_arns() -> None:
    params = capture(
        lambda c: c.assume_role_with_web_identity(
            RoleArn=ROLE_ARN,
            RoleSessionName="botocore-session-1",
            WebIdentityToken="eyJ.a.b\n",
            PolicyArns=[{"arn": "arn:aws:iam::aws:policy/A"}, {"arn": "arn:aws:iam::aws:policy/B ü"}],
            Policy='{"Version": "2012-10-17", "x": "é & +"}',
            DurationSeconds=900,
        )
    )
    assert params["Action"] == "AssumeRoleWithWebIdentity"
    assert params["Version"] == "2011-06-15"
    assert params["RoleArn"] == ROLE_ARN
    assert params["WebIdentityToken"] == "eyJ.a.b\n"
    assert params["Policy"] == '{"Version": "2012-10-17", "x": "é & +"}'
    assert params["DurationSeconds"] == "900"
    assert member_list(params, "PolicyArns", "arn") == ["arn:aws:iam::aws:policy/A", "arn:aws:iam::aws:policy/B ü"]


def test_empty_policy_arns_list_is_sent_as_blank_value() -> None:
    params = capture(
        lambda c: c.assume_role_with_web_identity(
            RoleArn=ROLE_ARN, RoleSessionName="ss", WebIdentityToken="tokn", PolicyArns=[]
        )
    )
    assert params["PolicyArns"] == ""
    assert member_list(params, "PolicyArns", "arn") == []


def test_parses_boto3_assume_role_body_with_tags() -> None:
    params = capture(
        lambda c: c.assume_role(
            RoleArn=ROLE_ARN,
            RoleSessionName="sess",
            Tags=[{"Key": "team", "Value": "a b"}, {"Key": "env", "Value": ""}],
            TransitiveTagKeys=["team"],
            ExternalId="ext-1",
            SourceIdentity="alice",
        )
    )
    assert params["Action"] == "AssumeRole"
    assert tags_from_params(params) == [("team", "a b"), ("env", "")]
    assert member_list(params, "TransitiveTagKeys") == ["team"]
    assert params["ExternalId"] == "ext-1"


def test_parses_boto3_get_caller_identity_and_session_token() -> None:
    assert capture(lambda c: c.get_caller_identity()) == {"Action": "GetCallerIdentity", "Version": "2011-06-15"}
    params = capture(lambda c: c.get_session_token(DurationSeconds=1800, SerialNumber="arn:aws:iam::1:mfa/u"))
    assert params["DurationSeconds"] == "1800"
    assert params["SerialNumber"] == "arn:aws:iam::1:mfa/u"


def test_merge_query_wins_and_first_occurrence_wins() -> None:
    query = [("Action", "AssumeRoleWithWebIdentity"), ("Token", "q1"), ("Token", "q2")]
    body = [("Token", "b1"), ("Version", "2011-06-15"), ("Version", "x"), ("Policy", "p")]
    assert merge_params(query, body) == {
        "Action": "AssumeRoleWithWebIdentity",
        "Token": "q1",
        "Version": "2011-06-15",
        "Policy": "p",
    }
    from multidict import MultiDict

    assert merge_params(MultiDict([("A", "1"), ("A", "2")]), {"A": "b", "B": "2"}) == {"A": "1", "B": "2"}


# --------------------------------------------------------------------------- form body


def test_form_body_edge_cases() -> None:
    form = "application/x-www-form-urlencoded; charset=utf-8"
    assert parse_form_body(b"", form) == []
    assert parse_form_body(b"a=1&b=2", "application/json") == []
    assert parse_form_body(b"a=1", None) == [("a", "1")]
    assert parse_form_body(b"a=x+y%2B&&flag&b=&c=%C3%A9&", form) == [
        ("a", "x y+"),
        ("flag", ""),
        ("b", ""),
        ("c", "é"),
    ]
    assert parse_form_body(b"A=1", "Application/X-WWW-Form-Urlencoded") == [("A", "1")]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"a=\xff\xfe", "not valid UTF-8 (byte 2)"),
        (b"a=%ZZ", "invalid percent-encoding"),
        (b"a=%E9", "percent-encoded value is not valid UTF-8"),
    ],
)
def test_form_body_garbage_is_rejected(body: bytes, fragment: str) -> None:
    with pytest.raises(InvalidParameterValue) as info:
        parse_form_body(body, "application/x-www-form-urlencoded")
    assert info.value.check == "form-body"
    assert info.value.message.startswith("Malformed query string")
    assert fragment in info.value.message


def test_member_lists_sort_numerically_and_tags_keep_gaps() -> None:
    params = {f"PolicyArns.member.{i}.arn": f"arn{i}" for i in (10, 2, 1)}
    params["PolicyArns.member.x.arn"] = "ignored"
    assert member_list(params, "PolicyArns", "arn") == ["arn1", "arn2", "arn10"]
    assert member_list({"TransitiveTagKeys.member.1": "k"}, "TransitiveTagKeys") == ["k"]
    assert tags_from_params({"Tags.member.2.Value": "v", "Tags.member.1.Key": "k"}) == [("k", ""), ("", "v")]


# --------------------------------------------------------------------------- headers, ids, times


def test_request_ids_and_headers() -> None:
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}", new_request_id("aws"))
    minio_id = new_request_id("minio")
    assert re.fullmatch(r"[0-9A-F]{16}", minio_id)
    assert response_headers("aws", "r1") == {"x-amzn-RequestId": "r1"}
    assert response_headers("minio", "r2")["x-amz-request-id"] == "r2"
    assert protocol.content_type("aws") == "text/xml"
    assert protocol.content_type("minio") == "application/xml"


def test_format_expiration_is_whole_seconds_utc_z() -> None:
    assert format_expiration(1624482335.987) == "2021-06-23T21:05:35Z"
    assert format_expiration(0) == "1970-01-01T00:00:00Z"
    assert format_expiration(datetime(2030, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)) == "2030-01-02T03:04:05Z"
    value = format_expiration(EXP)
    assert value == "2100-01-01T00:00:00Z"
    # botocore gives a tz-aware datetime (a naive one breaks credential refresh) ...
    assert parse_timestamp(value).tzinfo is not None
    # ... and minio-py's strict strptime formats accept it.
    assert datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp() == EXP


# --------------------------------------------------------------------------- results parsed by botocore


def _results(profile: str) -> dict[str, dict[str, Any]]:
    return {
        "AssumeRoleWithWebIdentity": web_identity_result(
            profile,
            credentials=CREDS,
            subject="user<1>",
            audience="client-a",
            assumed_role_arn="arn:aws:sts::123456789012:assumed-role/app/sess",
            assumed_role_id="AROAEXAMPLEEXAMPLE01:sess",
            provider="arn:aws:iam::123456789012:oidc-provider/idp.example.com",
            packed_policy_size=6,
            source_identity="alice",
        ),
        "AssumeRole": assume_role_result(
            profile,
            credentials=CREDS,
            assumed_role_arn="arn:aws:sts::123456789012:assumed-role/app/sess",
            assumed_role_id="AROAEXAMPLEEXAMPLE01:sess",
            packed_policy_size=None,
            source_identity=None,
        ),
        "GetCallerIdentity": caller_identity_result(
            "AROAEXAMPLEEXAMPLE01:sess", "123456789012", "arn:aws:sts::123456789012:assumed-role/app/sess"
        ),
        "GetSessionToken": session_token_result(profile, credentials=CREDS),
    }


def _assert_credentials(parsed: dict[str, Any]) -> None:
    creds = parsed["Credentials"]
    assert creds["AccessKeyId"] == CREDS[0]
    assert creds["SecretAccessKey"] == CREDS[1]
    assert creds["SessionToken"] == CREDS[2]
    assert creds["Expiration"] == datetime.fromtimestamp(EXP, tz=UTC)


@pytest.mark.parametrize("profile", ["aws", "minio"])
@pytest.mark.parametrize("action", ["AssumeRoleWithWebIdentity", "AssumeRole", "GetCallerIdentity", "GetSessionToken"])
def test_botocore_parses_every_result(profile: str, action: str) -> None:
    body = render_result(action, _results(profile)[action], request_id="req-1", profile=profile)
    parsed = parse_output(action, body)
    assert parsed["ResponseMetadata"]["RequestId"] == "req-1"
    if action == "GetCallerIdentity":
        assert parsed["UserId"] == "AROAEXAMPLEEXAMPLE01:sess"
        assert parsed["Account"] == "123456789012"
        assert parsed["Arn"] == "arn:aws:sts::123456789012:assumed-role/app/sess"
        return
    _assert_credentials(parsed)
    if action == "AssumeRoleWithWebIdentity":
        assert parsed["SubjectFromWebIdentityToken"] == "user<1>"
        if profile == "aws":
            assert parsed["Audience"] == "client-a"
            assert parsed["Provider"].endswith("oidc-provider/idp.example.com")
            assert parsed["PackedPolicySize"] == 6
            assert parsed["SourceIdentity"] == "alice"
            assert parsed["AssumedRoleUser"]["AssumedRoleId"] == "AROAEXAMPLEEXAMPLE01:sess"
        else:  # MinIO leaves AssumedRoleUser empty and names its id element AssumeRoleId
            assert parsed["AssumedRoleUser"] == {"Arn": ""}
            assert "Audience" not in parsed and "PackedPolicySize" not in parsed
    if action == "AssumeRole" and profile == "aws":
        assert parsed["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/app/sess"
        assert "PackedPolicySize" not in parsed and "SourceIdentity" not in parsed


def test_aws_result_shape_and_omissions() -> None:
    fields = web_identity_result(
        "aws", credentials=CREDS, subject="s", audience=None, assumed_role_arn="a", assumed_role_id="b"
    )
    body = render_result("AssumeRoleWithWebIdentity", fields, request_id="r", profile="aws").decode()
    root = _xml(body)
    assert root.tag == f"{{{STS_NS}}}AssumeRoleWithWebIdentityResponse"
    result = root.find(f"{{{STS_NS}}}AssumeRoleWithWebIdentityResult")
    assert result is not None
    assert [child.tag.split("}")[1] for child in result] == [
        "SubjectFromWebIdentityToken",
        "AssumedRoleUser",
        "Credentials",
    ]
    assert "<PackedPolicySize>" not in body and "<Audience>" not in body and "<Provider>" not in body
    assert "<SessionToken>token&lt;&amp;&gt;\"'</SessionToken>" in body
    assert "<?xml" not in body


def test_generic_rendering_of_ints_bools_and_lists() -> None:
    body = render_result(
        "Thing", {"N": 0, "B": True, "L": ["x", {"K": "v"}], "Skip": None}, request_id="r", profile="aws"
    )
    root = _xml(body)
    ns = {"s": STS_NS}
    assert root.findtext("s:ThingResult/s:N", namespaces=ns) == "0"
    assert root.findtext("s:ThingResult/s:B", namespaces=ns) == "true"
    members = root.findall("s:ThingResult/s:L/s:member", ns)
    assert members[0].text == "x" and members[1].findtext("s:K", namespaces=ns) == "v"
    assert root.find("s:ThingResult/s:Skip", ns) is None


def test_minio_success_body_is_byte_exact() -> None:
    fields = web_identity_result(
        "minio",
        credentials=("AK", "SK", "TOK", EXP),
        subject="user-1",
        audience="ignored",
        assumed_role_arn="ignored",
        assumed_role_id="ignored",
        provider="ignored",
        packed_policy_size=3,
    )
    body = render_result("AssumeRoleWithWebIdentity", fields, request_id="1829C6F5D1A3B2E4", profile="minio")
    assert body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        b"<AssumeRoleWithWebIdentityResult>"
        b"<AssumedRoleUser><Arn></Arn><AssumeRoleId></AssumeRoleId></AssumedRoleUser>"
        b"<Credentials><AccessKeyId>AK</AccessKeyId><SecretAccessKey>SK</SecretAccessKey>"
        b"<SessionToken>TOK</SessionToken><Expiration>2100-01-01T00:00:00Z</Expiration></Credentials>"
        b"<SubjectFromWebIdentityToken>user-1</SubjectFromWebIdentityToken>"
        b"</AssumeRoleWithWebIdentityResult>"
        b"<ResponseMetadata><RequestId>1829C6F5D1A3B2E4</RequestId></ResponseMetadata>"
        b"</AssumeRoleWithWebIdentityResponse>"
    )


def test_minio_shape_is_enforced_even_for_aws_ordered_fields() -> None:
    aws_fields = _results("aws")["AssumeRole"]
    body = render_result("AssumeRole", aws_fields, request_id="R", profile="minio")
    empty_user = b"<AssumedRoleUser><Arn></Arn><AssumeRoleId></AssumeRoleId></AssumedRoleUser>"
    assert empty_user + b"<Credentials><AccessKeyId>" in body
    assert b"\n<" not in body.split(b"\n", 1)[1]  # no indentation after the prolog
    assert b"/>" not in body


@pytest.mark.parametrize("profile", ["aws", "minio"])
def test_minio_py_parses_our_credentials(profile: str) -> None:
    from minio.credentials.providers import _parse_credentials

    for action in ("AssumeRoleWithWebIdentity", "AssumeRole"):
        body = render_result(action, _results(profile)[action], request_id="r", profile=profile)
        creds = _parse_credentials(body.decode(), f"{action}Result")
        assert creds.access_key == CREDS[0]
        assert creds.session_token == CREDS[2]
        assert creds.expiration is not None
        assert creds.expiration.replace(tzinfo=UTC) == datetime.fromtimestamp(EXP, tz=UTC)  # minio-py stores naive UTC


# --------------------------------------------------------------------------- errors


ERRORS: list[StsError] = [
    InvalidIdentityToken("No OpenIDConnect provider found in your account for https://x", check="issuer-trusted"),
    ExpiredTokenException("Token expired: current date/time 2 must be before the expiration date/time1"),
    IDPCommunicationError("Couldn't retrieve verification key"),
    ValidationError("1 validation error detected: Value 'a:b' at 'roleSessionName' <&>"),
]


@pytest.mark.parametrize("profile", ["aws", "minio"])
@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_botocore_parses_errors(profile: str, error: StsError) -> None:
    wire = wire_error(error, profile)
    body = render_error(wire, request_id="req-9", profile=profile)
    parsed = parse_output("AssumeRoleWithWebIdentity", body, status=wire.status)
    assert parsed["Error"]["Code"] == wire.code
    assert parsed["Error"]["Message"] == error.message
    assert (parsed["Error"].get("Type") or "") == ("" if profile == "minio" else "Sender")
    assert parsed["ResponseMetadata"]["RequestId"] == "req-9"
    if profile == "minio":
        assert wire.code == "InvalidParameterValue"
        assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ErrorResponse xmlns=')
        assert b"<Error><Type></Type><Code>InvalidParameterValue</Code>" in body


def test_error_body_layout_aws() -> None:
    wire = wire_error(InvalidIdentityToken("bad"), "aws")
    root = _xml(render_error(wire, request_id="rid", profile="aws"))
    assert root.tag == f"{{{STS_NS}}}ErrorResponse"
    assert [c.tag.split("}")[1] for c in root] == ["Error", "RequestId"]
    assert [c.tag.split("}")[1] for c in root[0]] == ["Type", "Code", "Message"]


def test_control_characters_never_break_the_xml() -> None:
    wire = wire_error(ValidationError("Value 'a\x00b\x1b\r\n' at 'x' & <y>"), "aws")
    root = _xml(render_error(wire, request_id="r", profile="aws"))
    assert root.findtext(f"{{{STS_NS}}}Error/{{{STS_NS}}}Message") == "Value 'a\ufffdb\ufffd\r\n' at 'x' & <y>"


# --------------------------------------------------------------------------- the whole round trip through a client


@pytest.mark.parametrize("profile", ["aws", "minio"])
def test_boto3_round_trip(profile: str) -> None:
    from stsproxy.validation import check_version_and_action, validate_web_identity

    def handler(request: Any) -> tuple[int, dict[str, str], bytes]:
        params = request_params(request)
        rid = new_request_id(profile)
        action = check_version_and_action(params, profile=profile)
        if action == "GetCallerIdentity":
            fields = caller_identity_result("AIDAEXAMPLE", "123456789012", "arn:aws:iam::123456789012:user/u")
        else:
            req = validate_web_identity(params, profile=profile)
            if req.web_identity_token == "bad-token":
                wire = wire_error(InvalidIdentityToken("Incorrect token audience", check="aud"), profile)
                return wire.status, response_headers(profile, rid), render_error(wire, request_id=rid, profile=profile)
            fields = web_identity_result(
                profile,
                credentials=CREDS,
                subject="sub-1",
                audience="aud",
                assumed_role_arn="arn:aws:sts::123456789012:assumed-role/app/s",
                assumed_role_id="AROAX:s",
                provider="p",
            )
        headers = {"Content-Type": protocol.content_type(profile), **response_headers(profile, rid)}
        return 200, headers, render_result(action, fields, request_id=rid, profile=profile)

    client = sts_client(handler)
    out = client.assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="ss", WebIdentityToken="tok.en\n")
    _assert_credentials(out)
    assert out["SubjectFromWebIdentityToken"] == "sub-1"
    assert client.get_caller_identity()["Account"] == "123456789012"
    with pytest.raises(ClientError) as info:
        client.assume_role_with_web_identity(RoleArn=ROLE_ARN, RoleSessionName="ss", WebIdentityToken="bad-token")
    expected = "InvalidIdentityToken" if profile == "aws" else "InvalidParameterValue"
    assert info.value.response["Error"]["Code"] == expected
    assert info.value.response["Error"]["Message"] == "Incorrect token audience"
    if profile == "aws":
        assert isinstance(info.value, client.exceptions.InvalidIdentityTokenException)
