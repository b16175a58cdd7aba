"""Fault injection against the in-process server: boto3, the token endpoint, the JWKS, dropped sockets."""

from __future__ import annotations

import time

import pytest
import requests
from botocore.exceptions import ClientError
from click.testing import CliRunner

from cli.main import cli

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"


def _admin(server, method, path, body=None, token=None):
    headers = {"Authorization": f"Bearer {token or server.admin_token}"}
    return requests.request(method, server.url + path, json=body, headers=headers, timeout=10)


def _sts(stsmock):
    """One attempt per call. (The plugin's ``retries={'max_attempts': 1}`` means one *retry* in botocore's
    legacy mode, so a retryable injected error such as Throttling or IDPCommunicationError would be
    consumed twice per boto3 call.)"""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, signature_version=UNSIGNED)
    return boto3.client("sts", endpoint_url=stsmock.url, region_name="us-east-1", config=config)


def _assume(stsmock, sub="alice"):
    return _sts(stsmock).assume_role_with_web_identity(
        RoleArn=ROLE, RoleSessionName="ss", WebIdentityToken=stsmock.token(sub)
    )


def _outcome(stsmock):
    try:
        _assume(stsmock)
        return "ok"
    except ClientError as exc:
        return exc.response["Error"]["Code"]


def test_next_two_calls_fail_then_success(stsmock, stsmock_server):
    resp = _admin(
        stsmock_server,
        "POST",
        "/admin/faults",
        {
            "match": {"endpoint": "sts", "action": "AssumeRoleWithWebIdentity"},
            "effect": {"error": "IDPCommunicationError"},
            "count": 2,
        },
    )
    assert resp.status_code == 201, resp.text
    rule = resp.json()
    assert rule["id"] and rule["remaining"] == 2

    for _ in range(2):
        with pytest.raises(ClientError) as excinfo:
            _assume(stsmock)
        assert excinfo.value.response["Error"]["Code"] == "IDPCommunicationError"
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert _assume(stsmock)["Credentials"]["AccessKeyId"].startswith("ASIA")

    injected = stsmock.audit(event="fault.injected")
    assert len(injected) == 2 and all(r["rule_id"] == rule["id"] for r in injected)
    denied = [r for r in stsmock.audit(event="sts.decision", decision="deny")]
    assert [r["check"] for r in denied] == ["fault-injected", "fault-injected"]
    # an exhausted rule disappears
    assert _admin(stsmock_server, "GET", "/admin/faults").json()["faults"] == []


def test_match_on_other_action_or_role_does_not_fire(stsmock):
    stsmock.fault("sts", error="Throttling", action="AssumeRole")
    stsmock.fault("sts", error="Throttling", role_arn="arn:aws:iam::000000000000:role/other")
    assert _outcome(stsmock) == "ok"
    stsmock.clear_faults()
    stsmock.fault("sts", error="Throttling", role_arn=ROLE, count=1)
    assert _outcome(stsmock) == "Throttling"


@pytest.mark.parametrize(
    "code,status",
    [("InvalidIdentityToken", 400), ("ServiceUnavailable", 503), ("InternalFailure", 500), ("Throttling", 400)],
)
def test_error_classes_map_to_their_wire_codes(stsmock, code, status):
    stsmock.fault("sts", error=code, count=1)
    with pytest.raises(ClientError) as excinfo:
        _assume(stsmock)
    assert excinfo.value.response["Error"]["Code"] == code
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == status


def test_jwks_outage_on_sts_is_idp_communication_error(stsmock):
    stsmock.fault("sts", jwks_outage=True, count=1)
    with pytest.raises(ClientError) as excinfo:
        _assume(stsmock)
    assert excinfo.value.response["Error"]["Code"] == "IDPCommunicationError"
    record = stsmock.audit(event="sts.decision", decision="deny")[-1]
    assert record["check"] == "jwks-fetch"
    assert "fault rule" in record["message"]


def test_probability_with_seed_is_deterministic(stsmock):
    def run() -> list[str]:
        stsmock.clear_faults()
        stsmock.fault("sts", error="Throttling", probability=0.5, seed=42)
        return [_outcome(stsmock) for _ in range(16)]

    first, second = run(), run()
    assert first == second
    assert "ok" in first and "Throttling" in first


def test_latency_adds_delay(stsmock):
    start = time.perf_counter()
    _assume(stsmock)
    baseline = time.perf_counter() - start
    stsmock.fault("sts", latency_ms=400, count=1)
    start = time.perf_counter()
    assert _assume(stsmock)["Credentials"]  # latency only: the call still succeeds
    slow = time.perf_counter() - start
    assert slow >= 0.35 and slow > baseline


def test_clear_and_delete(stsmock, stsmock_server):
    a = stsmock.fault("sts", error="Throttling")
    stsmock.fault("token", error="server_error")
    assert len(_admin(stsmock_server, "GET", "/admin/faults").json()["faults"]) == 2
    assert _admin(stsmock_server, "DELETE", f"/admin/faults/{a['id']}").status_code == 204
    assert _admin(stsmock_server, "DELETE", f"/admin/faults/{a['id']}").status_code == 404
    assert _outcome(stsmock) == "ok"
    assert _admin(stsmock_server, "DELETE", "/admin/faults").json() == {"removed": 1}
    assert _admin(stsmock_server, "GET", "/admin/faults").json()["faults"] == []


def test_token_endpoint_fault_is_rfc6749_json(stsmock_server):
    _admin(stsmock_server, "POST", "/admin/faults", {"match": {"endpoint": "token"}, "effect": {}, "count": 1})
    resp = _admin(
        stsmock_server,
        "POST",
        "/admin/faults",
        {
            "match": {"endpoint": "token", "action": "client_credentials", "client_id": "stsmock-dev"},
            "effect": {"error": "temporarily_unavailable"},
            "count": 1,
        },
    )
    assert resp.status_code == 201
    form = {"grant_type": "client_credentials"}
    auth = ("stsmock-dev", "stsmock-dev-secret")
    failed = requests.post(stsmock_server.url + "/token", data=form, auth=auth, timeout=10)
    assert failed.status_code == 503
    assert failed.headers["Content-Type"].startswith("application/json")
    assert failed.headers["Cache-Control"] == "no-store"
    assert failed.json()["error"] == "temporarily_unavailable"
    assert "error_description" in failed.json()
    ok = requests.post(stsmock_server.url + "/token", data=form, auth=auth, timeout=10)
    assert ok.status_code == 200, ok.text
    assert "access_token" in ok.json()


def test_token_endpoint_invalid_grant_and_sts_code_mapping(stsmock, stsmock_server):
    stsmock.fault("token", error="invalid_grant", count=1)
    stsmock.fault("token", error="InternalFailure", count=1)
    form = {"grant_type": "client_credentials"}
    auth = ("stsmock-dev", "stsmock-dev-secret")
    first = requests.post(stsmock_server.url + "/token", data=form, auth=auth, timeout=10)
    assert (first.status_code, first.json()["error"]) == (400, "invalid_grant")
    second = requests.post(stsmock_server.url + "/token", data=form, auth=auth, timeout=10)
    assert (second.status_code, second.json()["error"]) == (500, "server_error")


def test_jwks_outage(stsmock, stsmock_server):
    stsmock.fault("jwks", jwks_outage=True, count=1)
    down = requests.get(stsmock_server.url + "/jwks", timeout=10)
    assert down.status_code == 503
    assert down.json()["error"] == "temporarily_unavailable"
    up = requests.get(stsmock_server.url + "/jwks", timeout=10)
    assert up.status_code == 200 and up.json()["keys"]
    # the STS is not affected by a jwks-endpoint rule (only by a rule on the sts endpoint)
    assert _outcome(stsmock) == "ok"


def test_drop_connection_sts_and_token(stsmock, stsmock_server):
    stsmock.fault("sts", drop_connection=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            stsmock_server.url + "/",
            data={
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": ROLE,
                "RoleSessionName": "ss",
                "WebIdentityToken": stsmock.token(),
            },
            timeout=10,
        )
    assert _outcome(stsmock) == "ok"  # the server survives
    stsmock.fault("token", drop_connection=True, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.post(
            stsmock_server.url + "/token",
            data={"grant_type": "client_credentials"},
            auth=("stsmock-dev", "stsmock-dev-secret"),
            timeout=10,
        )
    assert [r["endpoint"] for r in stsmock.audit(event="fault.injected")] == ["sts", "token"]


def test_drop_connection_seen_by_boto3(stsmock):
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

    stsmock.fault("sts", drop_connection=True, count=1)
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        _assume(stsmock)


def test_bad_bodies_are_400_and_auth_required(stsmock_server):
    for body in (
        {"effect": {}},
        {"effect": {"error": "NoSuchCode"}},
        {"match": {"endpoint": "elsewhere"}, "effect": {"error": "Throttling"}},
        {"effect": {"error": "Throttling"}, "count": 0},
        {"effect": {"error": "Throttling"}, "probability": 2},
        {"effect": {"error": "Throttling"}, "bogus": 1},
        [1, 2],
    ):
        resp = _admin(stsmock_server, "POST", "/admin/faults", body)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["error"] == "invalid_request"
    resp = requests.post(
        stsmock_server.url + "/admin/faults",
        data=b"{not json",
        timeout=10,
        headers={"Authorization": f"Bearer {stsmock_server.admin_token}"},
    )
    assert resp.status_code == 400
    assert _admin(stsmock_server, "GET", "/admin/faults", token="wrong").status_code == 401
    assert requests.delete(stsmock_server.url + "/admin/faults", timeout=10).status_code == 401


def test_cli_add_list_clear(stsmock, stsmock_server):
    opts = ["--url", stsmock_server.url, "--admin-token", stsmock_server.admin_token]
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "faults",
            "add",
            "--endpoint",
            "sts",
            "--action",
            "AssumeRoleWithWebIdentity",
            "--error",
            "IDPCommunicationError",
            "--count",
            "2",
            *opts,
        ],
    )
    assert result.exit_code == 0, result.output
    assert '"remaining": 2' in result.output
    listed = runner.invoke(cli, ["faults", "list", *opts])
    assert listed.exit_code == 0 and "IDPCommunicationError" in listed.output and "remaining=2" in listed.output
    assert [_outcome(stsmock) for _ in range(3)] == ["IDPCommunicationError", "IDPCommunicationError", "ok"]
    runner.invoke(cli, ["faults", "add", "--error", "Throttling", *opts])
    cleared = runner.invoke(cli, ["faults", "clear", *opts])
    assert cleared.exit_code == 0 and "removed 1" in cleared.output
    assert "no fault rules" in runner.invoke(cli, ["faults", "list", *opts]).output
    bad = runner.invoke(cli, ["faults", "add", "--error", "Nope", *opts])
    assert bad.exit_code != 0 and "HTTP 400" in bad.output
