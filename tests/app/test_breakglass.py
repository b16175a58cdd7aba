"""Break-glass roles: refused while disarmed, usable when armed with a reason, loudly audited."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import requests
from botocore.exceptions import ClientError
from click.testing import CliRunner

from cli.main import cli

S3_ALL = {"s3": {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}}


def _role(stsmock, name="ops-breakglass", **break_glass):
    return stsmock.add_role(
        name, stsmock.web_identity_trust(), S3_ALL, default_session_duration=900, break_glass=break_glass
    )


def _denied(stsmock, arn, token, **kw):
    with pytest.raises(ClientError) as excinfo:
        stsmock.assume(arn, token, **kw)
    return excinfo.value.response


def _admin(server, method, path, body=None):
    return requests.request(
        method, server.url + path, json=body, timeout=10, headers={"Authorization": f"Bearer {server.admin_token}"}
    )


def test_disarmed_armed_expired(stsmock, stsmock_server):
    arn = _role(stsmock)
    token = stsmock.token("ops", reason="incident-42")
    response = _denied(stsmock, arn, token)
    assert response["Error"]["Code"] == "AccessDenied"
    denied = stsmock.audit(event="sts.decision", decision="deny")[-1]
    assert denied["check"] == "break-glass-disarmed"

    stsmock.freeze()
    resp = _admin(
        stsmock_server,
        "POST",
        "/admin/breakglass/ops-breakglass/arm",
        {"reason": "INC-42 database down", "ttl_seconds": 600},
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["armed"] is True
    armed = stsmock.audit(event="breakglass.armed")[-1]
    assert armed["severity"] == "high" and armed["reason"] == "INC-42 database down"

    creds = stsmock.assume(arn, token)
    assert stsmock.whoami(creds)["Arn"].endswith(":assumed-role/ops-breakglass/test-session")
    used = stsmock.audit(event="breakglass.used")
    assert len(used) == 1
    assert used[0]["severity"] == "critical"
    assert used[0]["role"] == "ops-breakglass" and used[0]["sub"] == "ops" and used[0]["reason"] == "incident-42"
    assert used[0]["armed_reason"] == "INC-42 database down"
    assert _admin(stsmock_server, "GET", "/admin/breakglass").json()["roles"][0]["uses"] == 1

    # still armed (not single-use): a second use works
    stsmock.assume(arn, stsmock.token("ops", reason="incident-42"))
    stsmock.advance(601)
    response = _denied(stsmock, arn, stsmock.token("ops", reason="incident-42"))
    assert response["Error"]["Code"] == "AccessDenied"
    assert stsmock.audit(event="sts.decision", decision="deny")[-1]["check"] == "break-glass-disarmed"
    listed = _admin(stsmock_server, "GET", "/admin/breakglass").json()["roles"]
    assert listed[0]["armed"] is False and listed[0]["uses"] == 2


def test_reason_required_claim_or_session_tag(stsmock):
    arn = _role(stsmock, reason_claim="ticket")
    stsmock.arm("ops-breakglass", reason="drill", ttl=900)
    response = _denied(stsmock, arn, stsmock.token("ops"))
    assert response["Error"]["Code"] == "AccessDenied"
    assert stsmock.audit(event="sts.decision", decision="deny")[-1]["check"] == "break-glass-reason"
    _denied(stsmock, arn, stsmock.token("ops", reason="wrong claim name"))
    # the reason as a session tag of that name
    tags = {"principal_tags": {"ticket": ["INC-7"]}}
    stsmock.assume(arn, stsmock.token("ops", **{"https://aws.amazon.com/tags": tags}))
    assert stsmock.audit(event="breakglass.used")[-1]["reason"] == "INC-7"
    stsmock.assume(arn, stsmock.token("ops", ticket="INC-8"))
    assert stsmock.audit(event="breakglass.used")[-1]["reason"] == "INC-8"


def test_reason_optional(stsmock):
    arn = _role(stsmock, require_reason=False)
    stsmock.arm("ops-breakglass")
    stsmock.assume(arn, stsmock.token("ops"))
    assert stsmock.audit(event="breakglass.used")[-1]["reason"] is None


def test_single_use_disarms(stsmock):
    arn = _role(stsmock, single_use=True)
    stsmock.arm("ops-breakglass", reason="one shot")
    stsmock.assume(arn, stsmock.token("ops", reason="incident-1"))
    response = _denied(stsmock, arn, stsmock.token("ops", reason="incident-1"))
    assert response["Error"]["Code"] == "AccessDenied"
    assert stsmock.audit(event="sts.decision", decision="deny")[-1]["check"] == "break-glass-disarmed"
    disarmed = stsmock.audit(event="breakglass.disarmed")[-1]
    assert disarmed["by"] == "single-use"


def test_duration_capped(stsmock):
    arn = _role(stsmock, max_session_seconds=900)
    stsmock.arm("ops-breakglass", reason="cap")
    token = stsmock.token("ops", reason="incident-9")
    response = _denied(stsmock, arn, token, duration=3600)
    assert response["Error"]["Code"] == "ValidationError"
    assert stsmock.audit(event="sts.decision", decision="deny")[-1]["check"] == "duration-max"
    result = stsmock.sts_client().assume_role_with_web_identity(
        RoleArn=arn, RoleSessionName="capped", WebIdentityToken=token, DurationSeconds=900
    )
    record = stsmock.audit(event="sts.decision", decision="allow")[-1]
    assert record["duration"] == 900
    assert result["Credentials"]["Expiration"]


@pytest.mark.stsmock_config(
    {
        "sts": {
            "roles": [
                {
                    "name": "bg",
                    "trust_policy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {
                                    "Federated": "arn:aws:iam::000000000000:oidc-provider/{provider:default}"
                                },
                                "Action": "sts:AssumeRoleWithWebIdentity",
                                "Condition": {"StringEquals": {"{provider:default}:aud": "sts.amazonaws.com"}},
                            }
                        ],
                    },
                    "default_session_duration": 900,
                    "break_glass": {"max_session_seconds": 900},
                }
            ]
        },
    }
)
def test_config_role_arm_disarm_via_api(stsmock, stsmock_server):
    arn = "arn:aws:iam::000000000000:role/bg"
    assert _admin(stsmock_server, "POST", "/admin/breakglass/bg/arm", {"reason": "x"}).json()["armed"] is True
    stsmock.assume(arn, stsmock.token("ops", reason="r"))
    resp = _admin(stsmock_server, "POST", "/admin/breakglass/bg/disarm")
    assert resp.status_code == 200 and resp.json()["armed"] is False
    _denied(stsmock, arn, stsmock.token("ops", reason="r"))


def test_admin_errors(stsmock, stsmock_server):
    _role(stsmock)
    for body in (
        {},
        {"reason": ""},
        {"reason": "   "},
        {"reason": "x", "ttl_seconds": 30},
        {"reason": "x", "ttl_seconds": 86_401},
        {"reason": "x", "extra": 1},
    ):
        resp = _admin(stsmock_server, "POST", "/admin/breakglass/ops-breakglass/arm", body)
        assert resp.status_code == 400, (body, resp.text)
    assert _admin(stsmock_server, "POST", "/admin/breakglass/nope/arm", {"reason": "x"}).status_code == 404
    resp = _admin(stsmock_server, "POST", "/admin/breakglass/stsmock-dev/arm", {"reason": "x"})
    assert resp.status_code == 400 and "not a break-glass role" in resp.json()["error_description"]
    assert requests.get(stsmock_server.url + "/admin/breakglass", timeout=10).status_code == 401


def test_webhook_receives_record_and_failures_do_not_break(stsmock):
    received: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        arn = _role(stsmock, webhook=f"http://127.0.0.1:{server.server_port}/hook")
        stsmock.arm("ops-breakglass", reason="hooked")
        stsmock.assume(arn, stsmock.token("ops", reason="incident-5"))
        import json
        import time

        deadline = time.time() + 5
        while not received and time.time() < deadline:
            time.sleep(0.05)
        assert received, "webhook was not called"
        payload = json.loads(received[0])
        assert payload["event"] == "breakglass.used" and payload["reason"] == "incident-5"
    finally:
        server.shutdown()
    # an unreachable webhook is logged, never raised
    arn = _role(stsmock, name="ops2", webhook="http://127.0.0.1:9/unreachable")
    stsmock.arm("ops2", reason="x")
    stsmock.assume(arn, stsmock.token("ops", reason="y"))


def test_cli_arm_list_disarm(stsmock, stsmock_server):
    arn = _role(stsmock)
    opts = ["--url", stsmock_server.url, "--admin-token", stsmock_server.admin_token]
    runner = CliRunner()
    result = runner.invoke(cli, ["breakglass", "arm", "ops-breakglass", "--reason", "INC-1", "--ttl", "15m", *opts])
    assert result.exit_code == 0, result.output
    assert "ARMED" in result.output and "INC-1" in result.output
    assert stsmock.audit(event="breakglass.armed")[-1]["ttl_seconds"] == 900
    listed = runner.invoke(cli, ["breakglass", "list", *opts])
    assert "ops-breakglass" in listed.output and "ARMED" in listed.output
    stsmock.assume(arn, stsmock.token("ops", reason="incident"))
    result = runner.invoke(cli, ["breakglass", "disarm", "ops-breakglass", *opts])
    assert result.exit_code == 0 and "disarmed" in result.output and "uses=1" in result.output
    bad = runner.invoke(cli, ["breakglass", "arm", "stsmock-dev", "--reason", "x", *opts])
    assert bad.exit_code != 0 and "HTTP 400" in bad.output
