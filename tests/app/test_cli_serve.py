"""The command line against a real `stsmock serve` process: ready line, signals, restart, keys, token."""

from __future__ import annotations

import json
import signal
import urllib.request

import jwt
import pytest
from click.testing import CliRunner
from serve_process import ServeProcess  # tests/app is on sys.path (pytest rootdir import mode)

from cli.main import cli


class Serve(ServeProcess):
    def cli(self, *args: str) -> str:
        result = CliRunner().invoke(cli, [*args, "--data-dir", str(self.data_dir)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output


def _verify(url: str, token: str, issuer: str | None = None) -> dict:
    client = jwt.PyJWKClient(url + "/jwks", cache_keys=False, cache_jwk_set=False)
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=["RS256"], audience="X", issuer=issuer or url)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_ready_line_healthz_and_clean_stop(tmp_path, sig):
    server = Serve(tmp_path)
    assert str(tmp_path / "admin-token") in server.line
    with urllib.request.urlopen(server.url + "/healthz", timeout=5) as response:
        assert response.status == 200
    assert server.stop(sig) == 0


def test_token_keys_restart_and_rotation(tmp_path):
    public = "http://127.0.0.1:8400"  # the issuer URL stays put across restarts even if the port moves
    server = Serve(tmp_path, "--public-url", public)
    old = server.cli(
        "token", "--sub", "alice", "--aud", "X", "--claim", 'groups=["a"]', "--ttl", "600", "--url", server.url
    ).strip()
    assert _verify(server.url, old, public)["groups"] == ["a"]
    server.stop()

    server = Serve(tmp_path, "--public-url", public)  # same data dir: same keys
    assert _verify(server.url, old, public)["sub"] == "alice"
    listing = server.cli("keys", "list", "--url", server.url)
    old_kid = listing.split()[1]
    rotated = json.loads(server.cli("keys", "rotate", "--url", server.url))
    assert rotated["kid"] != old_kid
    new = server.cli("token", "--sub", "bob", "--aud", "X", "--url", server.url).strip()
    assert jwt.get_unverified_header(new)["kid"] == rotated["kid"]
    assert _verify(server.url, old, public) and _verify(server.url, new, public)  # both verify during the overlap
    server.cli("keys", "retire", old_kid, "--now", "--url", server.url)
    with pytest.raises(jwt.PyJWKClientError):
        _verify(server.url, old, public)
    assert _verify(server.url, new, public)["sub"] == "bob"
    server.stop()


def test_assume_env_and_credential_process(tmp_path):
    server = Serve(tmp_path)
    role = "arn:aws:iam::000000000000:role/stsmock-dev"
    creds = json.loads(server.cli("assume", "--role-arn", role, "--session-name", "cli-test"))
    assert creds["AssumedRoleUser"]["Arn"].endswith("assumed-role/stsmock-dev/cli-test")
    process = json.loads(server.cli("assume", "--role-arn", role, "--format", "credential-process"))
    assert process["Version"] == 1 and process["Expiration"].endswith("Z")
    env = server.cli("env", "--role-arn", role)
    assert "export AWS_ACCESS_KEY_ID=ASIA" in env and "export AWS_ENDPOINT_URL_STS=" in env
    server.stop()


def test_config_commands(tmp_path):
    runner = CliRunner()
    shown = runner.invoke(cli, ["config", "show"])
    assert shown.exit_code == 0 and "stsmock-dev-secret" in shown.output
    schema = json.loads(runner.invoke(cli, ["config", "schema"]).output)
    assert schema["title"] == "stsmock configuration" and "issuers" in schema["properties"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("issuers:\n  - clients:\n      - {client_id: a}\n      - {client_id: b, grant_types: [foo]}\n")
    result = runner.invoke(cli, ["config", "validate", str(bad)])
    assert result.exit_code != 0
    assert "issuers[0].clients[1].grant_types[0]: unknown grant 'foo'" in result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("issuers: [\n")
    result = runner.invoke(cli, ["config", "validate", str(broken)])
    assert result.exit_code != 0 and "invalid YAML" in result.output
