"""Real identity providers on 127.0.0.1 for the interop tests: Keycloak, Dex, panva's oidc-provider.

Each one is installed (and cached) by ``scripts/idp-tools.sh install``; this module starts it on
free ports in a pytest temp dir, waits until its discovery document answers, gets tokens from it
the way a client would, and stops it by the PID it started.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
TOOLS = REPO / "scripts" / "idp-tools.sh"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def install(tool: str) -> Path:
    """Install ``tool`` into the cache (no-op when cached) and return its path."""
    subprocess.run([str(TOOLS), "install", tool], check=True, timeout=1800)
    out = subprocess.run([str(TOOLS), "path", tool], check=True, capture_output=True, text=True, timeout=60)
    return Path(out.stdout.strip())


def tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return "(no log)"


@dataclass
class Process:
    """A server process we started (stopped by its own PID, never by name)."""

    proc: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    def stop(self, grace: float = 20.0) -> None:
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)

    def wait_http(self, url: str, timeout: float, what: str) -> float:
        """Poll ``url`` until 200; seconds since start. Fails with the log tail if the process died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {self.proc.returncode}:\n{tail(self.log)}")
            try:
                if requests.get(url, timeout=2).status_code == 200:
                    return time.monotonic() - self.started
            except requests.RequestException:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"{what} not ready after {timeout:.0f} s:\n{tail(self.log)}")


def die_with_parent() -> None:
    """Child side of fork: SIGTERM when the test process dies, so no IdP outlives a crashed session."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def spawn(cmd: list[str], log: Path, *, cwd: Path | None = None, env: dict[str, str] | None = None) -> Process:
    out = log.open("wb")
    proc = subprocess.Popen(  # noqa: S603 - our own fixed command lines
        cmd,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        start_new_session=True,
        preexec_fn=die_with_parent,  # only prctl: safe between fork and exec
    )
    return Process(proc, log)


# -- Keycloak -------------------------------------------------------------------------------
KEYCLOAK_REALM = "demo"
KEYCLOAK_CLIENT = ("sts-client", "sts-client-secret")
KEYCLOAK_USER = ("alice", "alice-password")
KEYCLOAK_ADMIN = ("admin", "admin-password")


def keycloak_realm() -> dict[str, Any]:
    """A realm, a confidential client and a user with the MinIO ``policy`` attribute mapped into tokens."""
    policy_mapper = {
        "name": "policy",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-usermodel-attribute-mapper",
        "config": {
            "user.attribute": "policy",
            "claim.name": "policy",
            "jsonType.label": "String",
            "id.token.claim": "true",
            "access.token.claim": "true",
            "userinfo.token.claim": "true",
        },
    }
    return {
        "realm": KEYCLOAK_REALM,
        "enabled": True,
        "sslRequired": "none",
        "accessTokenLifespan": 300,
        "clients": [
            {
                "clientId": KEYCLOAK_CLIENT[0],
                "secret": KEYCLOAK_CLIENT[1],
                "enabled": True,
                "publicClient": False,
                "directAccessGrantsEnabled": True,
                "serviceAccountsEnabled": True,
                "standardFlowEnabled": False,
                "protocolMappers": [policy_mapper],
            }
        ],
        "users": [
            {
                "username": KEYCLOAK_USER[0],
                "enabled": True,
                "email": "alice@example.com",
                "firstName": "Alice",
                "lastName": "Liddell",
                "emailVerified": True,
                "attributes": {"policy": ["readwrite"]},
                "realmRoles": [f"default-roles-{KEYCLOAK_REALM}"],
                "credentials": [{"type": "password", "value": KEYCLOAK_USER[1], "temporary": False}],
            }
        ],
    }


@dataclass
class Keycloak:
    base: str
    process: Process
    startup_seconds: float = 0.0

    @property
    def issuer(self) -> str:
        return f"{self.base}/realms/{KEYCLOAK_REALM}"

    def tokens(self, scope: str = "openid") -> dict[str, Any]:
        resp = requests.post(
            self.issuer + "/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": KEYCLOAK_CLIENT[0],
                "client_secret": KEYCLOAK_CLIENT[1],
                "username": KEYCLOAK_USER[0],
                "password": KEYCLOAK_USER[1],
                "scope": scope,
            },
            timeout=30,
        )
        resp.raise_for_status()
        return dict(resp.json())

    def admin_token(self) -> str:
        resp = requests.post(
            self.base + "/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": KEYCLOAK_ADMIN[0],
                "password": KEYCLOAK_ADMIN[1],
            },
            timeout=30,
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    def rotate_key(self) -> None:
        """Add a higher-priority RS256 key (Keycloak's own rotation): new tokens get a new kid."""
        headers = {"Authorization": f"Bearer {self.admin_token()}"}
        realm = requests.get(f"{self.base}/admin/realms/{KEYCLOAK_REALM}", headers=headers, timeout=30).json()
        component = {
            "name": f"rotated-{int(time.time() * 1000)}",
            "providerId": "rsa-generated",
            "providerType": "org.keycloak.keys.KeyProvider",
            "parentId": realm["id"],
            "config": {"priority": [str(int(time.time()))], "keySize": ["2048"], "algorithm": ["RS256"]},
        }
        resp = requests.post(
            f"{self.base}/admin/realms/{KEYCLOAK_REALM}/components", json=component, headers=headers, timeout=30
        )
        resp.raise_for_status()


def start_keycloak(work: Path) -> Process:
    """Start Keycloak in dev mode (in-memory DB, realm imported) without waiting; see :func:`keycloak_ready`."""
    dist = install("keycloak")
    home = work / "keycloak"
    if home.exists():
        shutil.rmtree(home)
    (home / "data" / "import").mkdir(parents=True)
    shutil.copytree(dist / "bin", home / "bin")  # kc.sh derives kc.home.dir from its own (real) path
    shutil.copytree(dist / "conf", home / "conf")
    for name in ("lib", "themes", "providers"):
        (home / name).symlink_to(dist / name)
    (home / "data" / "import" / "demo-realm.json").write_text(json.dumps(keycloak_realm()))
    port = free_port()
    cmd = [
        str(home / "bin" / "kc.sh"),
        "start-dev",
        "--http-host=127.0.0.1",
        f"--http-port={port}",
        "--http-management-port=0",
        "--db=dev-mem",
        "--import-realm",
        "--cache=local",
    ]
    env = {
        "KC_BOOTSTRAP_ADMIN_USERNAME": KEYCLOAK_ADMIN[0],
        "KC_BOOTSTRAP_ADMIN_PASSWORD": KEYCLOAK_ADMIN[1],
        "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx512m",
    }
    process = spawn(cmd, work / "keycloak.log", env=env)
    process.port = port  # type: ignore[attr-defined]
    return process


def keycloak_ready(process: Process, timeout: float = 600) -> Keycloak:
    base = f"http://127.0.0.1:{process.port}"  # type: ignore[attr-defined]
    seconds = process.wait_http(f"{base}/realms/{KEYCLOAK_REALM}/.well-known/openid-configuration", timeout, "Keycloak")
    return Keycloak(base, process, seconds)


# -- Dex ------------------------------------------------------------------------------------
DEX_CLIENT = ("sts-client", "sts-client-secret")
DEX_REDIRECT = "http://127.0.0.1:9/callback"
#: Dex's example bcrypt hash (examples/config-dev.yaml) of the password "password".
DEX_PASSWORD = ("alice@example.com", "password", "$2a$10$2b2cU8CPhOTaGrs1HRQuAueS7JTT5ZHsHSzYiFPm1leZck7Mc8T4W")
DEX_USER_ID = "08a8684b-db88-4b73-90a9-3cd1661f5466"


@dataclass
class Dex:
    issuer: str
    process: Process
    startup_seconds: float = 0.0

    def tokens(self, scope: str = "openid email profile") -> dict[str, Any]:
        """Authorization-code flow through Dex's login form (v2.13 has no password grant)."""
        s = requests.Session()
        params = {
            "client_id": DEX_CLIENT[0],
            "redirect_uri": DEX_REDIRECT,
            "response_type": "code",
            "scope": scope,
            "state": "st",
        }
        r = s.get(self.issuer + "/auth", params=params, allow_redirects=False, timeout=30)
        login = urllib.parse.urljoin(self.issuer, r.headers["Location"])
        r = s.post(
            login, data={"login": DEX_PASSWORD[0], "password": DEX_PASSWORD[1]}, allow_redirects=False, timeout=30
        )
        approval = urllib.parse.urljoin(self.issuer, r.headers["Location"])
        r = s.get(approval, allow_redirects=False, timeout=30)
        code = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)["code"][0]
        resp = s.post(
            self.issuer + "/token",
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": DEX_REDIRECT},
            auth=DEX_CLIENT,
            timeout=30,
        )
        resp.raise_for_status()
        return dict(resp.json())


def start_dex(work: Path, *, rotate_every: str = "6h") -> Dex:
    binary = install("dex")
    web_dir = binary.parent / "web"
    port = free_port()
    issuer = f"http://127.0.0.1:{port}/dex"
    config = f"""issuer: {issuer}
storage:
  type: memory
web:
  http: 127.0.0.1:{port}
frontend:
  dir: {web_dir}
expiry:
  signingKeys: "{rotate_every}"
  idTokens: "24h"
oauth2:
  skipApprovalScreen: true
staticClients:
- id: {DEX_CLIENT[0]}
  secret: {DEX_CLIENT[1]}
  name: STS client
  redirectURIs: ['{DEX_REDIRECT}']
enablePasswordDB: true
staticPasswords:
- email: "{DEX_PASSWORD[0]}"
  hash: "{DEX_PASSWORD[2]}"
  username: "alice"
  userID: "{DEX_USER_ID}"
"""
    (work / "dex.yaml").write_text(config)
    process = spawn([str(binary), "serve", str(work / "dex.yaml")], work / "dex.log")
    seconds = process.wait_http(issuer + "/.well-known/openid-configuration", 60, "Dex")
    return Dex(issuer, process, seconds)


# -- panva oidc-provider ----------------------------------------------------------------------
OIDC_PROVIDER_SCRIPT = HERE / "oidc_provider.mjs"
OIDC_CLIENT = ("c1", "secret-secret-secret")
OIDC_RESOURCE = "urn:sts:local"


@dataclass
class OidcProvider:
    issuer: str
    process: Process
    work: Path
    startup_seconds: float = 0.0

    def access_token(self, resource: str = OIDC_RESOURCE) -> str:
        resp = requests.post(
            self.issuer + "/token",
            data={"grant_type": "client_credentials", "scope": "s3", "resource": resource},
            auth=OIDC_CLIENT,
            timeout=30,
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])

    def id_token(self) -> str:
        resp = requests.post(
            self.issuer + "/token",
            data={"grant_type": "password", "scope": "openid"},
            auth=OIDC_CLIENT,
            timeout=30,
        )
        resp.raise_for_status()
        return str(resp.json()["id_token"])


def start_oidc_provider(work: Path, *, port: int | None = None, keys: int = 1) -> OidcProvider:
    """``keys`` RSA keys in the JWKS (the newest signs): restart with keys=2 to rotate."""
    modules = install("oidc-provider")
    port = port or free_port()
    issuer = f"http://127.0.0.1:{port}"
    env = {"NODE_PATH": str(modules / "node_modules"), "OP_ISSUER": issuer, "OP_PORT": str(port),
           "OP_KEYS_FILE": str(work / "op-keys.json"), "OP_KEY_COUNT": str(keys)}  # fmt: skip
    script = modules / "oidc_provider.mjs"
    shutil.copy(OIDC_PROVIDER_SCRIPT, script)  # ESM resolves imports next to the script
    process = spawn(["node", str(script)], work / f"oidc-provider-{keys}.log", env=env)
    seconds = process.wait_http(issuer + "/.well-known/openid-configuration", 60, "oidc-provider")
    return OidcProvider(issuer, process, work, seconds)
