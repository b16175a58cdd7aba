"""Container credentials endpoint and IMDS on the wire: formats, rotation, and every refusal."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.app.serve_process import ServeProcess

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _http(method: str, url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("delivery")
    with ServeProcess(tmp / "data") as proc:
        proc.tmp = tmp  # type: ignore[attr-defined]
        yield proc


@pytest.fixture(scope="module")
def binding(server):
    return server.admin(
        "POST",
        "/admin/bindings",
        {"name": "web", "role_arn": ROLE, "identity": {"sub": "system:serviceaccount:shop:web"}, "imds": {}},
    )


def test_container_endpoint_answers_the_format_every_sdk_accepts(server, binding):
    status, headers, body = _http("GET", binding["container"]["url"], {"Authorization": binding["container_token"]})
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    doc = json.loads(body)
    assert set(doc) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration", "AccountId", "RoleArn"}
    assert doc["AccessKeyId"].startswith("ASIA") and ISO_Z.match(doc["Expiration"])
    assert doc["AccountId"] == "000000000000" and doc["RoleArn"] == ROLE
    # the same credentials until rotation, and they are real: the STS knows the workload's subject
    again = json.loads(_http("GET", binding["container"]["url"], {"Authorization": binding["container_token"]})[2])
    assert again["AccessKeyId"] == doc["AccessKeyId"]
    records = server.admin("GET", "/admin/audit?event=delivery.credentials&limit=100")["records"]
    assert [r["channel"] for r in records if r["binding"] == "web"][-2:] == ["container", "container"]
    assert all("Token" not in json.dumps(r) or "[redacted]" in json.dumps(r) for r in records)
    decisions = server.admin("GET", "/admin/audit?event=sts.decision&subject=system:serviceaccount:shop:web")
    assert decisions["records"] and decisions["records"][-1]["decision"] == "allow"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 401, "AccessDenied"),
        ({"Authorization": "not-the-token-of-any-binding"}, 403, "AccessDenied"),
    ],
)
def test_container_endpoint_refuses_missing_and_wrong_tokens(binding, headers, status, code):
    got, response_headers, body = _http("GET", binding["container"]["url"], headers)
    assert got == status and response_headers["Content-Type"].startswith("application/json")
    doc = json.loads(body)
    assert doc["Code"] == code and doc["Message"]


def test_container_endpoint_refuses_a_non_loopback_host_header(binding):
    """DNS-rebinding guard: SDKs only call loopback / 169.254.170.x hosts, so any other Host is foreign."""
    status, _, body = _http(
        "GET", binding["container"]["url"], {"Authorization": binding["container_token"], "Host": "attacker.example"}
    )
    assert status == 403 and "not an allowed address" in json.loads(body)["Message"]
    ok, _, _ = _http(
        "GET", binding["container"]["url"], {"Authorization": binding["container_token"], "Host": "169.254.170.23"}
    )
    assert ok == 200


def test_container_endpoint_answers_get_only(binding):
    status, _, body = _http("POST", binding["container"]["url"], {"Authorization": binding["container_token"]})
    assert status == 405 and json.loads(body)["Code"] == "MethodNotAllowed"


def test_imds_v2_token_flow_and_credentials_json(binding):
    base = binding["imds"]["url"].rstrip("/")
    for bad in ({}, {"X-aws-ec2-metadata-token-ttl-seconds": "0"}, {"X-aws-ec2-metadata-token-ttl-seconds": "21601"}):
        assert _http("PUT", base + "/latest/api/token", bad)[0] == 400
    assert (
        _http(
            "PUT",
            base + "/latest/api/token",
            {"X-aws-ec2-metadata-token-ttl-seconds": "60", "X-Forwarded-For": "1.2.3.4"},
        )[0]
        == 403
    )
    status, headers, token = _http("PUT", base + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
    assert status == 200 and headers["X-aws-ec2-metadata-token-ttl-seconds"] == "21600"
    auth = {"X-aws-ec2-metadata-token": token.decode()}
    status, _, role = _http("GET", base + "/latest/meta-data/iam/security-credentials/", auth)
    assert status == 200 and role == b"stsmock-dev"  # exactly one role name, no newline
    status, _, body = _http("GET", base + "/latest/meta-data/iam/security-credentials/stsmock-dev", auth)
    doc = json.loads(body)
    assert status == 200 and doc["Code"] == "Success" and doc["Type"] == "AWS-HMAC"
    assert ISO_Z.match(doc["Expiration"]) and ISO_Z.match(doc["LastUpdated"])
    assert {"AccessKeyId", "SecretAccessKey", "Token"} <= set(doc)
    assert _http("GET", base + "/latest/meta-data/iam/security-credentials/other-role", auth)[0] == 404


def test_imds_v1_is_refused_unless_the_binding_allows_it(server, binding):
    base = binding["imds"]["url"].rstrip("/")
    assert _http("GET", base + "/latest/meta-data/iam/security-credentials/")[0] == 401
    assert (
        _http("GET", base + "/latest/meta-data/iam/security-credentials/", {"X-aws-ec2-metadata-token": "forged"})[0]
        == 401
    )
    v1 = server.admin("POST", "/admin/bindings", {"name": "legacy", "role_arn": ROLE, "imds": {"v1": True}})
    status, _, role = _http("GET", v1["imds"]["url"] + "latest/meta-data/iam/security-credentials/")
    assert status == 200 and role == b"stsmock-dev"
    refusals = server.admin("GET", "/admin/audit?event=delivery.refused&limit=100")["records"]
    assert any(r.get("reason") == "imdsv1-disabled" and r["binding"] == "web" for r in refusals)


def test_botocore_refuses_a_token_file_with_a_trailing_newline_and_takes_ours(server, binding, tmp_path):
    """The pitfall of hand-written token files; the file `stsmock env` writes has no newline."""
    script = "import boto3; print(boto3.client('sts').get_caller_identity()['Arn'])"
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": binding["container"]["url"],
        "AWS_ENDPOINT_URL_STS": server.url,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    newline = tmp_path / "with-newline"
    newline.write_text(binding["container_token"] + "\n")
    bad = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": str(newline)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0 and "not a legal header value" in bad.stderr
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "env",
            "--delivery",
            "container",
            "--role-arn",
            ROLE,
            "--sub",
            "system:serviceaccount:shop:web",
            "--auth-token-file",
            str(tmp_path / "token"),
            "--url",
            server.url,
            "--data-dir",
            str(server.data_dir),
            "--format",
            "docker",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    values = dict(line.split("=", 1) for line in out.splitlines())
    assert (tmp_path / "token").read_bytes() and not (tmp_path / "token").read_bytes().endswith(b"\n")
    good = subprocess.run(
        [sys.executable, "-c", script], env={**env, **values}, capture_output=True, text=True, timeout=60
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip().startswith("arn:aws:sts::000000000000:assumed-role/stsmock-dev/")


def test_an_expired_binding_is_refused_on_every_channel(server):
    short = server.admin("POST", "/admin/bindings", {"name": "job", "role_arn": ROLE, "imds": {}, "ttl_seconds": 60})
    assert _http("GET", short["container"]["url"], {"Authorization": short["container_token"]})[0] == 200
    server.admin("POST", "/admin/clock", {"action": "advance", "seconds": 61})
    try:
        status, _, body = _http("GET", short["container"]["url"], {"Authorization": short["container_token"]})
        assert status == 403 and json.loads(body)["Code"] == "ExpiredBinding"
        base = short["imds"]["url"].rstrip("/")
        token = _http("PUT", base + "/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": "60"})[2].decode()
        status, _, body = _http(
            "GET", base + "/latest/meta-data/iam/security-credentials/stsmock-dev", {"X-aws-ec2-metadata-token": token}
        )
        assert status == 404 and json.loads(body)["Code"] == "ExpiredBinding"
    finally:
        server.admin("POST", "/admin/clock", {"action": "reset"})


def test_a_binding_whose_role_refuses_the_workload_gets_the_sts_error(server):
    bad = server.admin(
        "POST", "/admin/bindings", {"name": "wrong-aud", "role_arn": ROLE, "identity": {"aud": "elsewhere"}}
    )
    status, _, body = _http("GET", bad["container"]["url"], {"Authorization": bad["container_token"]})
    doc = json.loads(body)
    # aud "elsewhere" is not in the issuer's ClientIDList (IAM checks aud only, not azp): the STS's own
    # refusal, relayed as {"Code","Message"}
    assert status == 400 and doc["Code"] == "InvalidIdentityToken" and doc["Message"].startswith("the STS refused: ")
    assert "Incorrect token audience" in doc["Message"]


def test_bindings_admin_api_validates_and_removes(server):
    for body in ({"name": "x"}, {"name": "bad name", "role_arn": ROLE}, {"name": "y", "role_arn": ROLE, "extra": 1}):
        request = urllib.request.Request(
            server.url + "/admin/bindings",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {server.admin_token}"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 400 and json.loads(err.value.read())["error"] == "invalid_request"
    made = server.admin("POST", "/admin/bindings", {"name": "temp", "role_arn": ROLE})
    server.admin("DELETE", "/admin/bindings/temp")
    assert _http("GET", made["container"]["url"], {"Authorization": made["container_token"]})[0] == 403


def test_config_bindings_and_secret_controller_files(tmp_path):
    """A binding from the config file: credentials and env files rewritten atomically, mode 0600."""
    from stsmock.config import default_config_text

    config = yaml.safe_load(default_config_text())
    config["delivery"] = {
        "bindings": [
            {
                "name": "batch",
                "role_arn": ROLE,
                "files": {"credentials": str(tmp_path / "credentials"), "env": str(tmp_path / "aws.env")},
            }
        ]
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    with ServeProcess(tmp_path / "data", "--config", str(path)) as proc:
        listing = proc.admin("GET", "/admin/bindings")
        assert [b["name"] for b in listing["bindings"]] == ["batch"]
        text = (tmp_path / "credentials").read_text()
        assert "[default]" in text and "aws_session_token = " in text
        assert (tmp_path / "credentials").stat().st_mode & 0o777 == 0o600
        env = dict(line.split("=", 1) for line in (tmp_path / "aws.env").read_text().splitlines())
        assert env["AWS_REGION"] == "us-east-1" and env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
        result = subprocess.run(
            [sys.executable, "-m", "awscli", "sts", "get-caller-identity", "--output", "json"],
            env={
                "PATH": "/usr/bin:/bin",
                "HOME": str(tmp_path),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
                "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_ENDPOINT_URL_STS": proc.url,
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["Arn"].endswith("assumed-role/stsmock-dev/batch")
    assert not list(Path(tmp_path).glob(".credentials.*.tmp"))
