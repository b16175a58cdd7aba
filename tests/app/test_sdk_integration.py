"""boto3 finds stsmock credentials with no code changes: token file, `stsmock env`, credential_process."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from serve_process import ServeProcess  # tests/app is on sys.path (pytest rootdir import mode)

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"
WHOAMI = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"


def _clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-creds"),
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    env.update(extra)
    return env


def _whoami(env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-c", WHOAMI], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def served(tmp_path: Path):
    token_file = tmp_path / "token"
    with ServeProcess(tmp_path / "data", "--token-file", str(token_file), "--token-refresh", "1s") as server:
        yield server.url, token_file, tmp_path / "data"


def test_token_file_is_kept_fresh_and_used_by_boto3(served, tmp_path):
    url, token_file, _ = served
    first = token_file.read_text()
    deadline = time.time() + 10
    while token_file.read_text() == first and time.time() < deadline:
        time.sleep(0.2)
    assert token_file.read_text() != first, "the token file must be rewritten on schedule"
    assert oct(token_file.stat().st_mode & 0o777) == "0o600"
    env = _clean_env(
        tmp_path,
        AWS_WEB_IDENTITY_TOKEN_FILE=str(token_file),
        AWS_ROLE_ARN=ROLE,
        AWS_ROLE_SESSION_NAME="k8s-pod",
        AWS_ENDPOINT_URL_STS=url,
    )
    assert _whoami(env) == "arn:aws:sts::000000000000:assumed-role/stsmock-dev/k8s-pod"


def test_stsmock_env_exports(served, tmp_path):
    url, _, data = served
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "env", "--role-arn", ROLE, "--session-name", "from-env", "--url", url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    exported = dict(shlex.split(line[len("export ") :])[0].split("=", 1) for line in out.stdout.splitlines())
    env = _clean_env(tmp_path, **exported)
    assert _whoami(env) == "arn:aws:sts::000000000000:assumed-role/stsmock-dev/from-env"


def test_credential_process_profile(served, tmp_path):
    url, _, _ = served
    command = f"{sys.executable} -m cli.main assume --role-arn {ROLE} --session-name via-process --format credential-process --url {url}"
    config = tmp_path / "aws-config"
    config.write_text(f"[profile stsmock]\ncredential_process = {command}\nregion = us-east-1\n")
    env = _clean_env(tmp_path, AWS_CONFIG_FILE=str(config), AWS_PROFILE="stsmock", AWS_ENDPOINT_URL_STS=url)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    assert _whoami(env) == "arn:aws:sts::000000000000:assumed-role/stsmock-dev/via-process"


def test_web_identity_token_file_from_env_command(served, tmp_path):
    url, _, _ = served
    token_path = tmp_path / "env-token"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "env",
            "--role-arn",
            ROLE,
            "--url",
            url,
            "--web-identity-token-file",
            str(token_path),
            "--session-name",
            "wif",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    exported = dict(shlex.split(line[len("export ") :])[0].split("=", 1) for line in out.stdout.splitlines())
    assert exported["AWS_WEB_IDENTITY_TOKEN_FILE"] == str(token_path.resolve())
    assert _whoami(_clean_env(tmp_path, **exported)) == "arn:aws:sts::000000000000:assumed-role/stsmock-dev/wif"


def test_token_file_follows_the_virtual_clock(tmp_path):
    """A refresh interval of an hour passes when the clock is advanced an hour, as on a kubelet."""
    import json
    import urllib.request

    token_file = tmp_path / "token"
    server = ServeProcess(
        tmp_path / "data", "--token-file", str(token_file), "--token-refresh", "1h", "--log-format", "json"
    )
    try:
        first = token_file.read_text()
        time.sleep(1.5)
        assert token_file.read_text() == first  # an hour has not passed
        request = urllib.request.Request(
            server.url + "/admin/clock",
            data=json.dumps({"action": "advance", "seconds": 3600}).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {server.admin_token}", "Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).read()
        deadline = time.time() + 5
        while token_file.read_text() == first and time.time() < deadline:
            time.sleep(0.2)
        assert token_file.read_text() != first
    finally:
        server.stop()
    # --log-format json: every log line on stderr is a JSON object
    lines = [line for line in server.proc.stderr.read().splitlines() if line.strip()]
    assert lines and all(json.loads(line)["level"] for line in lines)
