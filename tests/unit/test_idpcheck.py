"""``stsmock check`` rules: every preset x relying-party pair, the docs table, live facts."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import cli
from issuer.presets import PRESET_NAMES
from stsmock.idpcheck import PROFILES, check, from_documents, from_preset, markdown_table

#: The answer for each pair, written from the fact sheets (identity-providers.md, seaweedfs.md,
#: real-servers.md §2, minio-sts.md, aws-sts.md) independently of the rules module.
W, S, C = "works", "works-with-setting", "cannot"
EXPECTED: dict[str, dict[str, str]] = {
    #                 aws  minio ceph seaweedfs
    "keycloak": dict(zip(PROFILES, (S, S, S, S), strict=True)),
    "authelia": dict(zip(PROFILES, (S, S, S, S), strict=True)),
    "dex": dict(zip(PROFILES, (S, S, C, W), strict=True)),
    "kubernetes": dict(zip(PROFILES, (W, S, C, S), strict=True)),
    "github-actions": dict(zip(PROFILES, (W, S, C, W), strict=True)),
    "gitlab": dict(zip(PROFILES, (W, S, C, W), strict=True)),
    "entra": dict(zip(PROFILES, (W, S, C, W), strict=True)),
    "google": dict(zip(PROFILES, (S, S, C, S), strict=True)),
}
#: A phrase the answer must contain, for the pairs the issue names.
MUST_SAY = {
    ("authelia", "aws"): "present the ID token",
    ("keycloak", "minio"): "policy claim",
    ("keycloak", "ceph-rgw"): "first",
    ("dex", "ceph-rgw"): "x5c",
    ("kubernetes", "seaweedfs"): "oidc:aud",
    ("keycloak", "aws"): "audience mapper",
    ("github-actions", "aws"): "token.actions.githubusercontent.com:repository",
    ("google", "aws"): "accounts.google.com:oaud",
}


@pytest.mark.parametrize("preset", PRESET_NAMES)
@pytest.mark.parametrize("profile", PROFILES)
def test_every_preset_profile_pair(preset: str, profile: str) -> None:
    verdict = check(from_preset(preset), profile)
    assert verdict.status == EXPECTED[preset][profile], (preset, profile, verdict)
    if verdict.status == "works-with-setting":
        assert verdict.settings
    if verdict.status == "cannot":
        assert verdict.reasons and not verdict.settings
    phrase = MUST_SAY.get((preset, profile))
    if phrase:
        blob = " ".join(verdict.settings + verdict.reasons + verdict.condition_keys + verdict.notes)
        assert phrase in blob, blob


def test_docs_table_is_generated_from_the_rules() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "identity-providers.md").read_text()
    block = re.search(r"<!-- check-table:start -->\n(.*?)\n<!-- check-table:end -->", doc, re.S)
    assert block, "docs/identity-providers.md lost its table markers"
    assert block.group(1) == markdown_table(), "regenerate with: stsmock check --table"


def test_live_documents_give_facts() -> None:
    jwks_dex_like = {"keys": [{"kty": "RSA", "kid": "a" * 40, "alg": "RS256", "use": "sig", "n": "x", "e": "AQAB"}]}
    facts = from_documents("http://127.0.0.1:5556/dex", {"issuer": "http://127.0.0.1:5556/dex"}, jwks_dex_like)
    assert not facts.jwks_x5c and not facts.public_https
    assert check(facts, "ceph-rgw").status == "cannot"
    assert check(facts, "seaweedfs").status == "works"
    two = {"keys": [{**jwks_dex_like["keys"][0], "x5c": ["MII"]}, {"kty": "RSA", "use": "enc", "alg": "RSA-OAEP"}]}
    facts = from_documents("https://kc.example.com/realms/x", {"issuer": "https://kc.example.com/realms/x"}, two)
    assert facts.jwks_x5c and facts.signing_key_first and facts.public_https
    assert check(facts, "ceph-rgw").status == "works-with-setting"
    es512 = {"keys": [{"kty": "EC", "kid": "k", "alg": "ES512", "use": "sig", "x5c": ["MII"]}]}
    assert check(from_documents("https://x", {"issuer": "https://x"}, es512), "seaweedfs").status == "works"
    ps = {"keys": [{"kty": "RSA", "kid": "k", "alg": "PS256", "use": "sig"}]}
    assert check(from_documents("https://x", {"issuer": "https://x"}, ps), "aws").status == "cannot"


def test_cli_text_json_table_and_errors() -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["check", "--issuer", "authelia", "--profile", "seaweedfs"])
    assert out.exit_code == 0 and "authelia -> seaweedfs: works with a setting" in out.output
    out = runner.invoke(cli, ["check", "--issuer", "dex", "--format", "json"])
    assert out.exit_code == 0 and '"status": "cannot"' in out.output
    out = runner.invoke(cli, ["check", "--table"])
    assert out.output.strip() == markdown_table()
    out = runner.invoke(cli, ["check", "--issuer", "okta"])
    assert out.exit_code == 1 and "unknown preset 'okta'" in out.output
    out = runner.invoke(cli, ["check", "--issuer", "http://127.0.0.1:9"])
    assert out.exit_code == 1 and "cannot read" in out.output
