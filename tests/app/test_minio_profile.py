"""`profile: minio` — stsmock speaking MinIO's STS dialect, with the shipped configs/minio.yaml."""

from __future__ import annotations

import re
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "minio.yaml")
NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"

pytestmark = pytest.mark.stsmock_config(CONFIG)


def _post_query(url: str, params: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """minio-py's way: everything in the query string of an empty POST."""
    request = urllib.request.Request(url + "/?" + urllib.parse.urlencode(params), data=b"", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_claim_policy_mode_without_role_arn(stsmock):
    token = stsmock.token("minio-user", aud="minio", policy="readwrite", ttl=1800)
    status, headers, body = _post_query(
        stsmock.url, {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "WebIdentityToken": token}
    )
    assert status == 200, body
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<AssumeRoleWithWebIdentityResponse')
    assert re.fullmatch(r"[0-9A-F]{16}", headers["x-amz-request-id"])
    root = ET.fromstring(body)
    result = root.find(f"{NS}AssumeRoleWithWebIdentityResult")
    assert result.find(f"{NS}AssumedRoleUser/{NS}Arn").text is None  # MinIO sends it empty
    assert result.find(f"{NS}SubjectFromWebIdentityToken").text == "minio-user"
    expiration = result.find(f"{NS}Credentials/{NS}Expiration").text
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", expiration)
    # expiry is the token's own exp when DurationSeconds is absent
    import calendar
    import time

    exp = calendar.timegm(time.strptime(expiration, "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(exp - (stsmock.runtime.clock.now() + 1800)) < 5


def test_minio_py_provider_without_role(stsmock):
    from minio.credentials.providers import WebIdentityProvider

    token = stsmock.token("minio-py-user", aud="minio", policy="readonly")
    creds = WebIdentityProvider(jwt_provider_func=lambda: {"access_token": token}, sts_endpoint=stsmock.url).retrieve()
    assert creds.access_key.startswith("ASIA") and creds.session_token


def test_token_failures_are_invalid_parameter_value(stsmock):
    token = stsmock.token("x", aud="minio", policy="readwrite", ttl=1)
    stsmock.advance(400)
    status, _, body = _post_query(
        stsmock.url, {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "WebIdentityToken": token}
    )
    assert status == 400
    error = ET.fromstring(body).find(f"{NS}Error")
    assert error.find(f"{NS}Code").text == "InvalidParameterValue"
    assert error.find(f"{NS}Type").text is None  # MinIO's Type is always empty
    assert stsmock.audit(decision="deny")[-1]["check"] == "exp"


def test_missing_or_unknown_policy_claim(stsmock):
    for claims, fragment in (({}, "policy claim missing"), ({"policy": "nope"}, "are defined")):
        token = stsmock.token("y", aud="minio", **claims)
        status, _, body = _post_query(
            stsmock.url, {"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15", "WebIdentityToken": token}
        )
        assert status == 400 and fragment.encode() in body


def test_role_policy_mode_and_long_durations(stsmock):
    from minio.credentials.providers import WebIdentityProvider

    token = stsmock.token("app", aud="minio")
    provider = WebIdentityProvider(
        jwt_provider_func=lambda: {"access_token": token},
        sts_endpoint=stsmock.url,
        role_arn="arn:aws:iam::000000000000:role/minio-app",
        duration_seconds=30 * 86400,  # minio-py clamps this to 7 days
    )
    creds = provider.retrieve()
    session = stsmock.runtime.sts.session_for(creds.access_key)
    assert session["exp"] - session["iat"] == 7 * 86400
    # MinIO (and this profile) accept up to 365 days; beyond that: InvalidParameterValue
    base = {
        "Action": "AssumeRoleWithWebIdentity",
        "Version": "2011-06-15",
        "WebIdentityToken": token,
        "RoleArn": "arn:aws:iam::000000000000:role/minio-app",
    }
    status, _, body = _post_query(stsmock.url, {**base, "DurationSeconds": str(300 * 86400)})
    assert status == 200, body
    status, _, body = _post_query(stsmock.url, {**base, "DurationSeconds": str(400 * 86400)})
    assert status == 400 and b"InvalidParameterValue" in body
