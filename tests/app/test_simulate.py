"""Policy simulation: trust + permissions for a token or claims, without minting anything."""

from __future__ import annotations

import json

import requests
from click.testing import CliRunner

from cli.main import cli

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"


def _simulate(server, body, token=None):
    return requests.post(
        server.url + "/admin/simulate",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {token or server.admin_token}"},
    )


def test_allowed_with_real_token_mints_nothing(stsmock, stsmock_server):
    before = len(stsmock.runtime.store.items("sts-session"))
    resp = _simulate(
        stsmock_server,
        {
            "role_arn": ROLE,
            "token": stsmock.token("alice"),
            "action": "s3:GetObject",
            "resource": "arn:aws:s3:::bucket/key",
        },
    )
    assert resp.status_code == 200, resp.text
    result = resp.json()
    assert result["allowed"] is True
    assert result["token"]["valid"] is True and result["token"]["sub"] == "alice"
    assert result["trust"]["decision"] == "Allow"
    assert result["trust"]["statements"][0]["sid"] == "TrustBuiltInIssuer"
    assert result["permissions"]["decision"] == "Allow"
    assert result["permissions"]["statements"][0]["sid"] == "AllowS3"
    assert len(stsmock.runtime.store.items("sts-session")) == before
    assert not stsmock.audit(event="sts.decision")


def test_trust_denied_wrong_aud_names_condition(stsmock, stsmock_server):
    result = _simulate(
        stsmock_server,
        {
            "role_arn": ROLE,
            "claims": {"sub": "alice", "aud": "not-sts"},
            "action": "s3:GetObject",
            "resource": "arn:aws:s3:::b/k",
        },
    ).json()
    assert result["allowed"] is False
    assert result["trust"]["decision"] == "ImplicitDeny"
    reason = result["trust"]["reason"]
    assert "StringEquals" in reason and ":aud" in reason and "TrustBuiltInIssuer" in reason
    assert result["token"]["synthetic"] is True
    # permissions are still evaluated, so both halves are explained
    assert result["permissions"]["decision"] == "Allow"


def test_invalid_token_is_explained(stsmock, stsmock_server):
    stsmock.freeze()
    token = stsmock.token("alice", ttl=60)
    stsmock.advance(3600)
    result = _simulate(stsmock_server, {"role_arn": ROLE, "token": token, "action": "s3:GetObject"}).json()
    assert result["allowed"] is False
    assert result["token"]["valid"] is False and result["token"]["code"] == "ExpiredTokenException"
    assert result["trust"]["decision"] == "NotEvaluated"


def test_session_policy_intersection_denies(stsmock, stsmock_server):
    session_policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "OnlyPublic", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::public/*"}
        ],
    }
    body = {
        "role_arn": ROLE,
        "claims": {"sub": "alice"},
        "action": "s3:GetObject",
        "resource": "arn:aws:s3:::private/key",
        "session_policy": session_policy,
    }
    result = _simulate(stsmock_server, body).json()
    assert result["trust"]["decision"] == "Allow"
    assert result["permissions"]["decision"] == "ImplicitDeny"
    assert "session policy" in result["permissions"]["reason"]
    assert result["allowed"] is False
    body["resource"] = "arn:aws:s3:::public/key"
    body["session_policy"] = json.dumps(session_policy)  # a string works too
    assert _simulate(stsmock_server, body).json()["allowed"] is True


def test_explicit_deny_statement_named(stsmock, stsmock_server):
    arn = stsmock.add_role(
        "deny-role",
        stsmock.web_identity_trust(),
        {
            "main": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Sid": "AllowAll", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                    {
                        "Sid": "NoSecrets",
                        "Effect": "Deny",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::secrets/*",
                    },
                ],
            }
        },
    )
    result = _simulate(
        stsmock_server,
        {"role_arn": arn, "claims": {"sub": "bob"}, "action": "s3:GetObject", "resource": "arn:aws:s3:::secrets/db"},
    ).json()
    assert result["permissions"]["decision"] == "Deny"
    assert "NoSecrets" in result["permissions"]["reason"]
    assert result["permissions"]["statements"] == [
        {"policy": "deny-role:main", "sid": "NoSecrets", "index": 1, "effect": "Deny"}
    ]
    assert result["allowed"] is False


def test_claim_conditions_and_context(stsmock, stsmock_server):
    arn = stsmock.add_role(
        "team",
        stsmock.web_identity_trust(team="blue"),
        {
            "main": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "s3:GetObject",
                        "Resource": "*",
                        "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                    }
                ],
            }
        },
    )
    body = {"role_arn": arn, "claims": {"sub": "c", "team": "red"}, "action": "s3:GetObject", "resource": "*"}
    assert _simulate(stsmock_server, body).json()["trust"]["decision"] == "ImplicitDeny"
    body["claims"]["team"] = "blue"
    result = _simulate(stsmock_server, body).json()
    assert result["trust"]["decision"] == "Allow" and result["permissions"]["decision"] == "ImplicitDeny"
    body["context"] = {"aws:SecureTransport": True}
    assert _simulate(stsmock_server, body).json()["allowed"] is True


def test_bad_requests(stsmock, stsmock_server):
    for body in (
        {},
        {"role_arn": ROLE, "action": "s3:GetObject"},  # neither token nor claims
        {"role_arn": ROLE, "action": "s3:GetObject", "token": "x", "claims": {}},
        {"role_arn": ROLE, "claims": {}, "action": "s3:GetObject", "session_policy": "{not json"},
        {"role_arn": ROLE, "claims": {}, "action": "s3:GetObject", "session_policy": {"Statement": "bad"}},
        {"role_arn": ROLE, "claims": {}, "action": "s3:GetObject", "bogus": 1},
    ):
        resp = _simulate(stsmock_server, body)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["error"] == "invalid_request"
    resp = _simulate(stsmock_server, {"role_arn": ROLE + "x", "claims": {}, "action": "s3:GetObject"})
    assert resp.status_code == 404
    resp = _simulate(stsmock_server, {"role_arn": ROLE, "claims": {}, "issuer": "nope", "action": "s3:GetObject"})
    assert resp.status_code == 404
    assert _simulate(stsmock_server, {"role_arn": ROLE, "claims": {}, "action": "s3:X"}, token="bad").status_code == 401


def test_cli_simulate(stsmock, stsmock_server, tmp_path):
    opts = ["--url", stsmock_server.url, "--admin-token", stsmock_server.admin_token]
    runner = CliRunner()
    result = runner.invoke(
        cli,
        [
            "policy",
            "simulate",
            "--role",
            ROLE,
            "--token",
            stsmock.token("alice"),
            "--action",
            "s3:GetObject",
            "--resource",
            "arn:aws:s3:::b/k",
            *opts,
        ],
    )
    assert result.exit_code == 0, result.output
    assert "trust:       Allow" in result.output and "allowed:     yes" in result.output
    policy_file = tmp_path / "session.json"
    policy_file.write_text(
        json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}]}
        )
    )
    result = runner.invoke(
        cli,
        [
            "policy",
            "simulate",
            "--role",
            ROLE,
            "--claims",
            '{"sub": "alice"}',
            "--action",
            "s3:GetObject",
            "--resource",
            "arn:aws:s3:::b/k",
            "--session-policy",
            str(policy_file),
            "--json",
            *opts,
        ],
    )
    assert result.exit_code == 0, result.output
    parsed = json.loads(result.output)
    assert parsed["allowed"] is False and parsed["permissions"]["decision"] == "ImplicitDeny"
    usage = runner.invoke(cli, ["policy", "simulate", "--role", ROLE, "--action", "s3:GetObject", *opts])
    assert usage.exit_code != 0
