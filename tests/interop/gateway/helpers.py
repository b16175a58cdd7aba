"""A real `stsmock serve` with its S3 gateway, in front of the embedded SeaweedFS or a real Ceph RGW.

The ``gateway`` fixture (conftest, session scope, parametrised ``embedded`` / ``rgw``) yields a
:class:`GatewayServer`: URLs, credentials for test roles, the admin API, the audit log.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore
import pytest
import yaml
from botocore.config import Config

REPO = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
READY = re.compile(r"stsmock ready at (\S+) .*s3 gateway at (http://[\d.:]+)")
DEV_ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"
LIMITED_ROLE = "arn:aws:iam::000000000000:role/gw-limited"
#: The statement every "denied action" test hits: deleting under protected/ is explicitly denied.
DENY_SID = "DenyProtectedDelete"
#: ... and writing under readonly/ (for clients that never delete single keys, e.g. restic init).
DENY_WRITE_SID = "DenyReadonlyWrites"


def on_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def need(tool: str, hint: str) -> str:
    """Path of ``tool`` (venv first); skip locally, fail on CI."""
    path = BIN / tool if (BIN / tool).exists() else shutil.which(tool)
    if path is None:
        message = f"{tool} not installed: {hint}"
        if on_ci():
            pytest.fail(f"[CI] {message}", pytrace=False)
        pytest.skip(message)
    return str(path)


def _config(backend: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    from stsmock.config import default_config_text, load_yaml_text

    config = load_yaml_text(default_config_text(), source="default")
    trust = config["sts"]["roles"][0]["trust_policy"]
    config["sts"]["roles"].append(
        {
            "name": "gw-limited",
            "max_session_duration": 43200,
            "trust_policy": trust,
            "policies": {
                "gw-limited": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Sid": "AllowS3", "Effect": "Allow", "Action": "s3:*", "Resource": "*"},
                        {
                            "Sid": DENY_SID,
                            "Effect": "Deny",
                            "Action": "s3:DeleteObject",
                            "Resource": "arn:aws:s3:::*/protected/*",
                        },
                        {
                            "Sid": DENY_WRITE_SID,
                            "Effect": "Deny",
                            "Action": "s3:PutObject",
                            "Resource": "arn:aws:s3:::*/readonly/*",
                        },
                    ],
                }
            },
        }
    )
    if backend is not None:
        config["gateway"] = {"backends": [backend]}
    for section, values in (extra or {}).items():
        config.setdefault(section, {}).update(values)
    return config


@dataclass
class GatewayServer:
    kind: str
    url: str
    s3_url: str
    data_dir: Path
    proc: subprocess.Popen[str]

    @property
    def admin_token(self) -> str:
        return (self.data_dir / "admin-token").read_text(encoding="utf-8").strip()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
        return json.loads(raw) if raw else None

    def creds(
        self, role_arn: str = DEV_ROLE, *, policy: str | None = None, session_name: str | None = None
    ) -> dict[str, str]:
        token = self.admin("POST", "/admin/tokens", {"sub": "gw-tester", "aud": "sts.amazonaws.com"})["token"]
        sts = boto3.client(
            "sts", endpoint_url=self.url, region_name="us-east-1", config=Config(signature_version=botocore.UNSIGNED)
        )
        extra = {"Policy": policy} if policy else {}
        c = sts.assume_role_with_web_identity(
            RoleArn=role_arn,
            RoleSessionName=session_name or f"s-{uuid.uuid4().hex[:10]}",
            WebIdentityToken=token,
            **extra,
        )["Credentials"]
        return {
            "aws_access_key_id": c["AccessKeyId"],
            "aws_secret_access_key": c["SecretAccessKey"],
            "aws_session_token": c["SessionToken"],
        }

    def env(self, creds: dict[str, str]) -> dict[str, str]:
        """An environment in which any SDK finds these credentials and the gateway."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(
            AWS_ACCESS_KEY_ID=creds["aws_access_key_id"],
            AWS_SECRET_ACCESS_KEY=creds["aws_secret_access_key"],
            AWS_SESSION_TOKEN=creds["aws_session_token"],
            AWS_DEFAULT_REGION="us-east-1",
            AWS_REGION="us-east-1",
            AWS_ENDPOINT_URL_S3=self.s3_url,
        )
        return env

    def s3(self, creds: dict[str, str], **config: Any) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            config=Config(retries={"total_max_attempts": 1}, **config),
            **creds,
        )

    def audit(self, **query: Any) -> list[dict[str, Any]]:
        from urllib.parse import urlencode

        query.setdefault("event", "s3.request")
        query.setdefault("limit", 500)
        return list(self.admin("GET", "/admin/audit?" + urlencode(query))["records"])

    def last_audit(self, **match: Any) -> dict[str, Any]:
        for record in sorted(self.audit(), key=lambda r: r["id"], reverse=True):
            if all(record.get(k) == v for k, v in match.items()):
                return record
        raise AssertionError(f"no s3.request audit record matching {match}")

    def revoke(self, by: str, value: str, reason: str = "test") -> dict[str, Any]:
        return dict(self.admin("POST", "/admin/revocations", {"by": by, "value": value, "reason": reason}))


def start_gateway(
    kind: str,
    data_dir: Path,
    backend: dict[str, Any] | None,
    *,
    extra: dict[str, Any] | None = None,
    args: tuple[str, ...] = (),
) -> GatewayServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    config_path = data_dir.parent / f"{data_dir.name}-config.yaml"
    config_path.write_text(yaml.safe_dump(_config(backend, extra)), encoding="utf-8")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--config",
            str(config_path),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    match = READY.search(line)
    if not match:
        proc.kill()
        raise AssertionError(f"stsmock serve did not start: {line!r} {proc.stderr.read() if proc.stderr else ''}")
    return GatewayServer(kind, match.group(1), match.group(2), data_dir, proc)


def stop_gateway(server: GatewayServer) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.proc.kill()


def run(
    cmd: list[str], env: dict[str, str], *, ok: bool = True, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a client; with ``ok`` it must succeed (its output is in the assertion message)."""
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)
    if ok:
        assert proc.returncode == 0, (
            f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def same_file(a: Path, b: Path) -> bool:
    import hashlib

    return hashlib.sha256(a.read_bytes()).digest() == hashlib.sha256(b.read_bytes()).digest()


def new_bucket(prefix: str = "gw") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def wait_for(predicate: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)
