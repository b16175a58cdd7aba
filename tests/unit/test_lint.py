"""`stsmock check`: the architecture lint rules, through the pure function and the CLI."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli.main import cli
from stsmock.config import parse_config
from stsmock.lint import lint

ROOT = Path(__file__).resolve().parents[2]


def _trust(provider: str = "{provider:default}", **conditions: str) -> dict:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Federated": f"arn:aws:iam::000000000000:oidc-provider/{provider}"},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {"StringEquals": {f"{provider}:{k}": v for k, v in conditions.items()}},
            }
        ],
    }


BASE = {
    "issuers": [
        {"name": "default", "clients": [{"client_id": "c", "client_secret": "s", "audience": "sts.amazonaws.com"}]}
    ],
    "sts": {"roles": [{"name": "app", "trust_policy": _trust(aud="sts.amazonaws.com")}]},
}


def _rules(data: dict, **kwargs) -> set[str]:
    return {f.rule for f in lint(parse_config(data), **kwargs)}


def test_clean_config_has_no_findings():
    assert _rules(BASE) == set()


def test_untrusted_issuer():
    data = copy.deepcopy(BASE)
    data["sts"]["roles"][0]["trust_policy"] = _trust("idp.nowhere.example", aud="x")
    assert "untrusted-issuer" in _rules(data)


def test_shared_audience_without_sub():
    data = copy.deepcopy(BASE)
    data["sts"]["roles"].append({"name": "other", "trust_policy": _trust(aud="sts.amazonaws.com")})
    assert "shared-audience" in _rules(data)
    data["sts"]["roles"][0]["trust_policy"] = _trust(aud="sts.amazonaws.com", sub="a")
    data["sts"]["roles"][1]["trust_policy"] = _trust(aud="sts.amazonaws.com", sub="b")
    assert "shared-audience" not in _rules(data)


def test_session_too_long_and_break_glass_without_reason():
    data = copy.deepcopy(BASE)
    data["sts"]["roles"][0]["max_session_duration"] = 43200
    data["sts"]["roles"][0]["break_glass"] = {"require_reason": False}
    rules = _rules(data, max_session_seconds=3600)
    assert {"session-too-long", "break-glass-without-reason"} <= rules


def test_condition_key_aws_would_not_honour():
    data = copy.deepcopy(BASE)
    data["sts"]["roles"][0]["trust_policy"] = _trust(aud="sts.amazonaws.com", groups="admins")
    assert "condition-key-not-honoured" in _rules(data, profile="aws")


def test_minio_rejects_ps256_and_eddsa():
    data = copy.deepcopy(BASE)
    data["issuers"][0]["signing_alg"] = "PS256"
    findings = lint(parse_config(data), profile="minio")
    assert any(f.rule == "key-rejected-by-profile" and "PS256" in f.message for f in findings)


def test_ceph_rgw_first_key_only_and_eddsa():
    data = copy.deepcopy(BASE)
    data["issuers"][0]["algorithms"] = ["RS256", "EdDSA"]
    rules = _rules(data, profile="ceph-rgw")
    assert {"rgw-first-key-only", "key-rejected-by-profile"} <= rules


@pytest.mark.parametrize("name", ["default.yaml", "external-issuer.yaml", "break-glass.yaml"])
def test_shipped_configs_pass_aws_lint(name):
    result = CliRunner().invoke(cli, ["check", "--config", str(ROOT / "configs" / name)])
    assert result.exit_code == 0, result.output


def test_cli_minio_profile(tmp_path):
    ok = CliRunner().invoke(cli, ["check", "--config", str(ROOT / "configs" / "minio.yaml"), "--profile", "minio"])
    assert ok.exit_code == 0, ok.output
    data = yaml.safe_load((ROOT / "configs" / "minio.yaml").read_text())
    data["issuers"][0]["signing_alg"] = "PS256"
    bad = tmp_path / "ps256.yaml"
    bad.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["check", "--config", str(bad), "--profile", "minio", "--format", "json"])
    assert result.exit_code == 1
    assert "key-rejected-by-profile" in result.output
