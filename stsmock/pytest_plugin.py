"""pytest plugin: an in-process stsmock for your tests. Installing stsmock is enough.

Fixtures:

* ``stsmock_server`` – a running server on a free 127.0.0.1 port with a fresh
  data dir. It runs on its own event loop in a background thread, so both
  blocking clients (boto3) and async tests can talk to it. Signing keys are
  generated once per test session and copied into each fresh data dir, which
  keeps the per-test cost in milliseconds.
* ``stsmock`` – a helper around that server: mint tokens, assume roles, move
  the clock, add roles, revoke, read the audit.
* ``aws_web_identity`` – writes a token file and sets
  ``AWS_WEB_IDENTITY_TOKEN_FILE``, ``AWS_ROLE_ARN`` and ``AWS_ENDPOINT_URL_STS``
  so code under test finds credentials through the SDK's default chain.

Use ``@pytest.mark.stsmock_config({...})`` (a dict, or a path to YAML) to run
a test against another config.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .pytest_s3 import stsmock_s3  # noqa: F401  (a fixture of this plugin)

if TYPE_CHECKING:
    from aiohttp import web

    from .runtime import Runtime


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "stsmock_config(cfg): run the stsmock fixtures with this config (dict or YAML path)"
    )


class _LoopThread:
    """One background event loop per test session; servers start and stop on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="stsmock-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 60) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class RunningServer:
    """A live stsmock: its URL, admin token, data dir and runtime (for direct access)."""

    url: str
    admin_token: str
    data_dir: Path
    runtime: Runtime
    _runner: web.AppRunner
    _loop: _LoopThread

    @property
    def sts_endpoint(self) -> str:
        return self.url

    def stop(self) -> None:
        self._loop.run(self._runner.cleanup())


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    sock.setblocking(False)
    return sock


def start_server(config: Any, data_dir: Path, loop: _LoopThread) -> RunningServer:
    """Start stsmock for ``config`` on a free port; the building block of the fixtures."""
    from aiohttp import web

    from .app import app_for_runtime
    from .server import limits_for, start_main_site
    from .wiring import build_runtime

    sock = _free_socket()
    limits = limits_for(config)
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def _start() -> tuple[Runtime, web.AppRunner]:
        runtime = build_runtime(config, data_dir=data_dir, base_url=base_url)
        app = app_for_runtime(runtime)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=limits.idle_timeout)
        await runner.setup()
        await start_main_site(runner, app, sock, runtime.config, limits)  # as `stsmock serve` does
        return runtime, runner

    runtime, runner = loop.run(_start())
    return RunningServer(base_url, runtime.admin_token, data_dir, runtime, runner, loop)


#: Keys that name an item in a config list: items with the same name merge, new ones are added.
_ITEM_KEYS = ("name", "client_id", "username")


def merge_config(base: Any, overlay: Any) -> Any:
    """``overlay`` on top of ``base``: mappings merge deeply, named list items merge by name, other values replace."""
    if isinstance(base, dict) and isinstance(overlay, dict):
        out = dict(base)
        for key, value in overlay.items():
            out[key] = merge_config(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(overlay, list) and all(isinstance(i, dict) for i in base + overlay):
        key = next((k for k in _ITEM_KEYS if all(k in i for i in base + overlay)), None)
        if key is not None:
            merged = {item[key]: item for item in base}
            for item in overlay:
                merged[item[key]] = merge_config(merged[item[key]], item) if item[key] in merged else item
            return list(merged.values())
    return overlay


def _config_from_marker(request: pytest.FixtureRequest) -> Any:
    """``@pytest.mark.stsmock_config({...})`` merges into the embedded default; a file path is a whole config."""
    from .config import default_config_text, load_config, load_yaml_text, parse_config

    marker = request.node.get_closest_marker("stsmock_config")
    if marker is None or not marker.args:
        return load_config(None)
    value = marker.args[0]
    if isinstance(value, dict):
        default = load_yaml_text(default_config_text(), source="default config")
        return parse_config(merge_config(default, value), source="stsmock_config marker")
    return load_config(value)


@pytest.fixture(scope="session")
def _stsmock_loop() -> Iterator[_LoopThread]:
    loop = _LoopThread()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def _stsmock_key_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir whose keys are generated once and copied into each test's data dir."""
    return tmp_path_factory.mktemp("stsmock-template")


def _seed_keys(template: Path, target: Path) -> None:
    source = template / "keys"
    if source.is_dir():
        shutil.copytree(source, target / "keys", dirs_exist_ok=True)
    key = template / "session-token.key"
    if key.exists():
        shutil.copy2(key, target / "session-token.key")


def _save_keys(template: Path, data_dir: Path) -> None:
    if (data_dir / "keys").is_dir():
        shutil.copytree(data_dir / "keys", template / "keys", dirs_exist_ok=True)
    if (data_dir / "session-token.key").exists() and not (template / "session-token.key").exists():
        shutil.copy2(data_dir / "session-token.key", template / "session-token.key")


@pytest.fixture
def stsmock_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _stsmock_loop: _LoopThread,
    _stsmock_key_template: Path,
) -> Iterator[RunningServer]:
    config = _config_from_marker(request)
    data_dir = tmp_path_factory.mktemp("stsmock-data")
    _seed_keys(_stsmock_key_template, data_dir)
    server = start_server(config, data_dir, _stsmock_loop)
    _save_keys(_stsmock_key_template, data_dir)
    yield server
    server.stop()


class StsmockHelper:
    """Test-facing helper: everything a test usually does with stsmock, in one call each."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.runtime = server.runtime

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def default_role_arn(self) -> str:
        return f"arn:aws:iam::{self.runtime.config.sts.account_id}:role/stsmock-dev"

    # tokens --------------------------------------------------------------
    def token(
        self,
        sub: str = "alice",
        *,
        aud: str | list[str] = "sts.amazonaws.com",
        issuer: str = "default",
        ttl: int | None = None,
        alg: str | None = None,
        **claims: Any,
    ) -> str:
        service = self.runtime.issuers[issuer]
        return str(service.mint({"sub": sub, "aud": aud, **claims}, ttl=ttl, alg=alg))

    # STS -----------------------------------------------------------------
    def sts_client(self, **credentials: Any) -> Any:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        config = Config(retries={"total_max_attempts": 1}, **({} if credentials else {"signature_version": UNSIGNED}))
        return boto3.client("sts", endpoint_url=self.url, region_name="us-east-1", config=config, **credentials)

    def assume(
        self,
        role_arn: str | None = None,
        token: str | None = None,
        *,
        session_name: str = "test-session",
        duration: int | None = None,
        policy: str | None = None,
    ) -> dict[str, Any]:
        """AssumeRoleWithWebIdentity via boto3; returns boto3-style keyword credentials."""
        kwargs: dict[str, Any] = {
            "RoleArn": role_arn or self.default_role_arn,
            "RoleSessionName": session_name,
            "WebIdentityToken": token or self.token(),
        }
        if duration is not None:
            kwargs["DurationSeconds"] = duration
        if policy is not None:
            kwargs["Policy"] = policy
        creds = self.sts_client().assume_role_with_web_identity(**kwargs)["Credentials"]
        return {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }

    def whoami(self, credentials: dict[str, Any]) -> dict[str, Any]:
        """A SigV4-signed GetCallerIdentity with these credentials."""
        result: dict[str, Any] = self.sts_client(**credentials).get_caller_identity()
        return result

    def allowed(self, credentials: dict[str, Any], action: str, resource: str) -> bool:
        """Would these minted credentials be allowed ``action`` on ``resource``?"""
        session = self.runtime.sts.session_for(credentials["aws_access_key_id"])
        if session is None:
            return False
        decision = self.runtime.sts.caller_permissions(session, action, resource, {})
        return decision is None or bool(decision.allowed)

    # time, roles, revocation, audit ----------------------------------------
    def freeze(self, at: float | None = None) -> None:
        self.runtime.clock.freeze(at)

    def advance(self, seconds: float) -> None:
        self.runtime.clock.advance(seconds)

    def reset_clock(self) -> None:
        self.runtime.clock.reset()

    def add_role(
        self, name: str, trust_policy: dict[str, Any], policies: dict[str, Any] | None = None, **extra: Any
    ) -> str:
        from stsproxy.settings import RoleSettings

        from .config import expand_placeholders

        urls = self.runtime.issuer_urls()
        role = RoleSettings.model_validate(
            expand_placeholders({"name": name, "trust_policy": trust_policy, "policies": policies or {}, **extra}, urls)
        )
        return str(self.runtime.sts.roles.put(role).arn)

    def web_identity_trust(
        self, *, aud: str = "sts.amazonaws.com", issuer: str = "default", **conditions: str
    ) -> dict[str, Any]:
        """A trust policy for a built-in issuer with StringEquals conditions on claims."""
        provider = self.runtime.issuer_url(issuer).split("://", 1)[1]
        equals = {f"{provider}:aud": aud, **{f"{provider}:{k}": v for k, v in conditions.items()}}
        return {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {
                        "Federated": f"arn:aws:iam::{self.runtime.config.sts.account_id}:oidc-provider/{provider}"
                    },
                    "Action": ["sts:AssumeRoleWithWebIdentity", "sts:TagSession"],
                    "Condition": {"StringEquals": equals},
                }
            ],
        }

    def revoke(self, by: str, value: str, reason: str = "test") -> dict[str, Any]:
        result: dict[str, Any] = self.runtime.revocations.revoke(by, value, reason=reason, source="pytest")
        return result

    def audit(self, **filters: Any) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.runtime.audit.query(**filters)
        return records

    # toolkit: faults, break-glass, simulation ------------------------------
    def fault(
        self,
        endpoint: str = "sts",
        *,
        error: str | None = None,
        count: int | None = None,
        latency_ms: int = 0,
        jwks_outage: bool = False,
        drop_connection: bool = False,
        probability: float | None = None,
        seed: int | None = None,
        **match: Any,
    ) -> dict[str, Any]:
        """Add a fault rule (``match`` takes action=, role_arn=, client_id=); returns the rule."""
        effect = {
            "error": error,
            "latency_ms": latency_ms,
            "jwks_outage": jwks_outage,
            "drop_connection": drop_connection,
        }
        body = {
            "match": {"endpoint": endpoint, **match},
            "effect": effect,
            "count": count,
            "probability": probability,
            "seed": seed,
        }
        return self.runtime.faults.add(body)

    def clear_faults(self) -> int:
        return self.runtime.faults.clear()

    def arm(self, role: str, reason: str = "pytest", ttl: int = 900) -> dict[str, Any]:
        """Arm the break-glass role ``role`` (by name) for ``ttl`` virtual seconds."""
        return self.runtime.breakglass.arm(role, reason=reason, ttl_seconds=ttl, armed_by="pytest")

    def disarm(self, role: str) -> dict[str, Any]:
        return self.runtime.breakglass.disarm(role, why="pytest")


@pytest.fixture
def stsmock(stsmock_server: RunningServer) -> StsmockHelper:
    return StsmockHelper(stsmock_server)


@dataclass
class WebIdentityEnv:
    token_file: Path
    role_arn: str
    endpoint: str

    def rotate(self, token: str) -> None:
        """Write a new token, as a Kubernetes token refresh would."""
        from .token_file import write_atomic

        write_atomic(self.token_file, token)


@pytest.fixture
def aws_web_identity(stsmock: StsmockHelper, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> WebIdentityEnv:
    token_file = tmp_path / "web-identity-token"
    token_file.write_text(stsmock.token("system:serviceaccount:default:app"), encoding="utf-8")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config-none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials-none"))
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token_file))
    monkeypatch.setenv("AWS_ROLE_ARN", stsmock.default_role_arn)
    monkeypatch.setenv("AWS_ROLE_SESSION_NAME", "pytest")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", stsmock.url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")  # botocore
    monkeypatch.setenv("AWS_REGION", "us-east-1")  # the JS SDK, minio-py
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return WebIdentityEnv(token_file, stsmock.default_role_arn, stsmock.url)
