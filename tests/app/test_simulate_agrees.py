"""Simulation and the real STS agree, because simulation runs the STS's own steps.

Both cases disagreed before simulation became an adapter over stsproxy.steps:
a revoked token was allowed by the simulator and refused by the STS, and
``sts:DurationSeconds`` was computed differently (a role default above the
role's maximum, a requested duration above the maximum).
"""

from __future__ import annotations

from typing import Any

import pytest
import requests
from botocore.exceptions import ClientError


def _simulate(server: Any, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        server.url + "/admin/simulate",
        json=body,
        timeout=10,
        headers={"Authorization": f"Bearer {server.admin_token}"},
    )


def _sts_error(stsmock: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        stsmock.sts_client().assume_role_with_web_identity(**kwargs)
    return raised.value.response["Error"]


def test_revoked_token_refused_by_both(stsmock, stsmock_server):
    token = stsmock.token("revoked-in-simulation")
    role = stsmock.default_role_arn
    body = {"role_arn": role, "token": token, "action": "s3:GetObject", "resource": "arn:aws:s3:::b/k"}
    assert _simulate(stsmock_server, body).json()["allowed"] is True
    stsmock.assume(role, token)  # and the STS agrees: allowed

    stsmock.revoke("sub", "revoked-in-simulation")
    error = _sts_error(stsmock, RoleArn=role, RoleSessionName="sim", WebIdentityToken=token)
    result = _simulate(stsmock_server, body).json()
    assert result["allowed"] is False
    assert result["token"]["valid"] is False and result["token"]["check"] == "revoked"
    assert result["token"]["code"] == error["Code"]
    assert result["trust"]["decision"] == "NotEvaluated"
    # unsigned claims for the same subject, issued before the revocation's cut-off, are revoked too
    issued = int(stsmock.runtime.clock.now()) - 60
    claims = {"role_arn": role, "claims": {"sub": "revoked-in-simulation", "iat": issued}, "action": "s3:GetObject"}
    result = _simulate(stsmock_server, claims).json()
    assert result["allowed"] is False and result["token"]["check"] == "revoked" and result["token"]["synthetic"]


def test_duration_seconds_is_the_sts_value(stsmock, stsmock_server):
    trust = stsmock.web_identity_trust()
    # the trust policy only admits sessions of at most an hour
    trust["Statement"][0]["Condition"]["NumericLessThanEquals"] = {"sts:DurationSeconds": "3600"}
    role = stsmock.add_role("duration-agrees", trust, max_session_duration=3600, default_session_duration=7200)
    token = stsmock.token("alice")
    body = {"role_arn": role, "token": token, "action": "s3:GetObject"}

    # no DurationSeconds: the role default, capped at the maximum (3600), which the condition allows
    stsmock.assume(role, token)
    result = _simulate(stsmock_server, body).json()
    assert result["trust"]["decision"] == "Allow", result["trust"]
    assert result["duration_seconds"] == 3600

    # more than the maximum: the STS refuses with ValidationError, and so does the simulation
    error = _sts_error(stsmock, RoleArn=role, RoleSessionName="sim", WebIdentityToken=token, DurationSeconds=7200)
    assert error["Code"] == "ValidationError"
    resp = _simulate(stsmock_server, {**body, "duration_seconds": 7200})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    assert (
        "ValidationError" in resp.json()["error_description"]
        and "MaxSessionDuration" in resp.json()["error_description"]
    )

    # within the maximum: both use exactly the requested value
    stsmock.assume(role, token, duration=1800)
    assert _simulate(stsmock_server, {**body, "duration_seconds": 1800}).json()["duration_seconds"] == 1800
