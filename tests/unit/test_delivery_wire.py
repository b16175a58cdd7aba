"""Pure parts of credential delivery: rotation timing, wire formats, environments, allowed hosts."""

from __future__ import annotations

import json

import pytest

from stsmock.delivery import envs, timing, wire
from stsmock.delivery.container import host_allowed

CREDS = wire.Credentials("ASIAEXAMPLE", "secret", "token", expiration=1_800_003_600.9, issued_at=1_800_000_000.0)


def test_rotation_keeps_served_credentials_outside_every_sdk_window():
    # one hour: rotate with 30 min left, i.e. more than botocore's 15 min + 10 min IMDS jitter
    assert timing.rotation_margin(3600) == 1800
    assert timing.needs_rotation(1_000 + 1799, 1_000 + 3600, 3600) is False
    assert timing.needs_rotation(1_000 + 1800, 1_000 + 3600, 3600) is True
    # short sessions rotate at half-life, long ones with a quarter left; an override wins
    assert timing.rotation_margin(900) == 450
    assert timing.rotation_margin(20) == 10
    assert timing.rotation_margin(43_200) == 10_800
    assert timing.rotation_margin(3600, override=600) == 600


def test_expiration_is_whole_seconds_with_a_literal_z():
    assert wire.iso_z(CREDS.expiration) == "2027-01-15T09:00:00Z"
    assert wire.parse_iso_z("2027-01-15T09:00:00Z") == 1_800_003_600.0
    assert wire.parse_iso_z("2027-01-15T09:00:00.123Z") == 1_800_003_600.0


def test_container_and_imds_bodies():
    body = json.loads(wire.container_body(CREDS, account_id="000000000000", role_arn="arn:aws:iam::0:role/r"))
    assert body == {
        "AccessKeyId": "ASIAEXAMPLE",
        "SecretAccessKey": "secret",
        "Token": "token",
        "Expiration": "2027-01-15T09:00:00Z",
        "AccountId": "000000000000",
        "RoleArn": "arn:aws:iam::0:role/r",
    }
    imds = json.loads(wire.imds_body(CREDS, last_updated=CREDS.issued_at))
    assert imds["Code"] == "Success" and imds["Type"] == "AWS-HMAC" and imds["Expiration"] == "2027-01-15T09:00:00Z"
    short = wire.Credentials("A", "s", "t", expiration=1000.0, issued_at=980.0)  # a drill-only 20 s session
    assert json.loads(wire.imds_body(short, last_updated=980.0))["Expiration"] == "1970-01-01T00:16:40.000Z"


def test_sts_answers_parse_in_both_dialects_and_errors_keep_their_code():
    ok = (
        b'<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
        b"<AssumeRoleWithWebIdentityResult><Credentials><AccessKeyId>ASIA1</AccessKeyId>"
        b"<SecretAccessKey>s</SecretAccessKey><SessionToken>t</SessionToken>"
        b"<Expiration>2027-01-15T08:40:03Z</Expiration></Credentials>"
        b"<AssumedRoleUser><Arn>arn:aws:sts::0:assumed-role/r/s</Arn></AssumedRoleUser>"
        b"</AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"
    )
    creds = wire.parse_sts_answer(200, ok, now=5.0)
    assert (creds.access_key_id, creds.issued_at, creds.assumed_role_arn) == (
        "ASIA1",
        5.0,
        "arn:aws:sts::0:assumed-role/r/s",
    )
    error = b"<ErrorResponse><Error><Code>AccessDenied</Code><Message>Not authorized</Message></Error></ErrorResponse>"
    with pytest.raises(wire.StsFailure) as failure:
        wire.parse_sts_answer(403, error, now=0)
    assert (failure.value.code, failure.value.message, failure.value.status) == ("AccessDenied", "Not authorized", 403)


def test_env_renders_for_eval_and_for_docker_env_file():
    values = {"AWS_REGION": "us-east-1", "AWS_SESSION_TOKEN": "a+b/c=", "X": "has space"}
    assert wire.render_env(values, "docker") == "AWS_REGION=us-east-1\nAWS_SESSION_TOKEN=a+b/c=\nX=has space\n"
    assert wire.render_env(values, "shell").splitlines()[-1] == "export X='has space'"
    with pytest.raises(ValueError):
        wire.render_env({"X": "two\nlines"})


@pytest.mark.parametrize("kind", envs.KINDS)
def test_every_kind_sets_region_and_an_explicit_sts_endpoint(kind):
    binding = {
        "name": "b",
        "role_arn": "arn:aws:iam::0:role/r",
        "container": {"url": "http://127.0.0.1:1/v1/credentials"},
        "container_token": "tok",
        "imds": {"url": "http://127.0.0.1:2/"},
        "token_file": "/t",
        "files": {"credentials": "/c", "profile": "default"},
    }
    extra = {"config_file": "/cfg", "profile": "p"} if kind == "credential-process" else {}
    if kind == "static":
        extra = {"static_credentials": {"AccessKeyId": "A", "SecretAccessKey": "S", "Token": "T", "Expiration": "E"}}
    values = envs.environment(kind, binding, sts_url="http://127.0.0.1:8400", region="eu-west-1", **extra)
    assert values["AWS_REGION"] == values["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert values["AWS_ENDPOINT_URL_STS"] == "http://127.0.0.1:8400"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8080", True),
        ("127.9.9.9", True),
        ("localhost:1", True),
        ("[::1]:9", True),
        ("169.254.170.2", True),
        ("169.254.170.23:80", True),
        ("[fd00:ec2::23]", True),
        ("stsmock:8080", False),
        ("10.0.0.1", False),
        ("evil.example", False),
    ],
)
def test_allowed_hosts_follow_the_sdks(host, allowed):
    assert host_allowed(host) is allowed
