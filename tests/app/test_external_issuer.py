"""Trusting an external issuer over real HTTP: discovery, JWKS, audiences, rotation, outage.

The external IdP is a second stsmock process (a "company IdP"); the STS under test only knows its
URL and fetches discovery and JWKS like it would from Keycloak or GitHub Actions.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import yaml
from botocore.exceptions import ClientError
from serve_process import ServeProcess  # tests/app is on sys.path (pytest rootdir import mode)

from stsmock.config import parse_config
from stsmock.pytest_plugin import StsmockHelper, start_server


@pytest.fixture
def company_idp(tmp_path: Path):
    config = tmp_path / "idp.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "issuers": [
                    {
                        "name": "default",
                        "signing_alg": "ES256",
                        "algorithms": ["ES256"],
                        "clients": [{"client_id": "storage", "client_secret": "storage-secret", "audience": "storage"}],
                    }
                ],
            }
        )
    )
    server = ServeProcess(tmp_path / "idp", "--config", str(config))
    yield server.url, lambda path, body: server.admin("POST", path, body), server.proc
    server.stop()


@pytest.fixture
def sts_trusting(company_idp, tmp_path: Path, _stsmock_loop):
    url, _, _ = company_idp
    provider = url.split("://", 1)[1]
    config = parse_config(
        {
            "sts": {
                "trusted_issuers": [{"issuer": url, "audiences": ["storage"], "algorithms": ["ES256"]}],
                "validation": {"jwks_refetch_min_interval_seconds": 0},
                "roles": [
                    {
                        "name": "company-storage",
                        "trust_policy": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Principal": {"Federated": url},
                                    "Action": "sts:AssumeRoleWithWebIdentity",
                                    "Condition": {
                                        "StringEquals": {f"{provider}:aud": "storage"},
                                        "StringLike": {f"{provider}:sub": "emp-*"},
                                    },
                                }
                            ],
                        },
                        "policies": {
                            "s3": {
                                "Version": "2012-10-17",
                                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
                            }
                        },
                    }
                ],
            },
        }
    )
    server = start_server(config, tmp_path / "sts", _stsmock_loop)
    yield StsmockHelper(server)
    server.stop()


ROLE = "arn:aws:iam::000000000000:role/company-storage"


def test_external_token_is_verified_through_discovery_and_jwks(company_idp, sts_trusting):
    _, idp, _ = company_idp
    token = idp("/admin/tokens", {"sub": "emp-42", "aud": "storage"})["token"]
    creds = sts_trusting.assume(ROLE, token)
    assert sts_trusting.whoami(creds)["Arn"].endswith("assumed-role/company-storage/test-session")

    wrong_aud = idp("/admin/tokens", {"sub": "emp-42", "aud": "something-else"})["token"]
    with pytest.raises(ClientError) as excinfo:
        sts_trusting.assume(ROLE, wrong_aud)
    assert excinfo.value.response["Error"]["Code"] == "InvalidIdentityToken"

    contractor = idp("/admin/tokens", {"sub": "ext-7", "aud": "storage"})["token"]
    with pytest.raises(ClientError) as excinfo:
        sts_trusting.assume(ROLE, contractor)
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"


def test_rotation_at_the_idp_triggers_one_refetch(company_idp, sts_trusting):
    _, idp, _ = company_idp
    sts_trusting.assume(ROLE, idp("/admin/tokens", {"sub": "emp-1", "aud": "storage"})["token"])
    idp("/admin/keys/rotate", {"issuer": "default", "alg": "ES256"})
    fresh = idp("/admin/tokens", {"sub": "emp-2", "aud": "storage"})["token"]
    assert sts_trusting.assume(ROLE, fresh)  # unknown kid -> refetch -> verified


def test_idp_outage_is_idp_communication_error(company_idp, sts_trusting):
    _, idp, proc = company_idp
    token = idp("/admin/tokens", {"sub": "emp-3", "aud": "storage"})["token"]
    sts_trusting.runtime.sts.verifier.invalidate(company_idp[0])  # nothing cached
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=15)
    with pytest.raises(ClientError) as excinfo:
        sts_trusting.assume(ROLE, token)
    assert excinfo.value.response["Error"]["Code"] == "IDPCommunicationError"
    assert sts_trusting.audit(decision="deny")[-1]["check"] == "jwks-fetch"
