"""Run the refresh drill: a private stsmock, one binding and one client process per pattern × client.

Time is compressed honestly: a drill-only role issues sessions of ``lifetime``
seconds (AWS never goes below 900 s); the clients run on the real clock with
their stock refresh logic, so every SDK window is still 15/10 min (botocore),
5 min (JS), 10 s (minio-py) and 80 % of the lifetime (minio-go) — the report says what that means per client.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .. import timing
from ..envs import KINDS, environment, process_command, process_config
from .report import Cell, chart_html, markdown, summarize, table, to_json

CLIENTS = ("boto3", "awscli", "js", "minio-py", "minio-go")
#: botocore's IMDS budget is 1 s and one attempt (env-configurable, no code change); the drill
#: raises it because a loaded machine can be slower than real IMDS, and says so in its report.
IMDS_BUDGET = {"AWS_METADATA_SERVICE_TIMEOUT": "5", "AWS_METADATA_SERVICE_NUM_ATTEMPTS": "3"}
DRILL_ROLE = "stsmock-drill"
JS_DIR = Path(__file__).parent / "js"
#: Built by scripts/go-deps.sh (minio-go from the Go module proxy; the binary is not committed).
MINIO_GO = Path(__file__).parent / "go" / "minio-go-client"
MINIO_PROVIDERS = {
    "web-identity": "IamAwsProvider(custom_endpoint=STS URL)",
    "container": "IamAwsProvider()",
    "imds": "IamAwsProvider(custom_endpoint=IMDS URL)",
    "credentials-file": "AWSConfigProvider()",
    "static": "EnvAWSProvider()",
}
MINIO_GO_PROVIDERS = {
    "web-identity": "NewIAM(STS URL)",
    "container": 'NewIAM("")',
    "imds": "NewIAM(IMDS URL)",
    "credential-process": 'NewFileAWSCredentials(AWS_CONFIG_FILE, "profile drill")',
    "credentials-file": "NewFileAWSCredentials()",
    "static": "NewEnvAWS()",
}


@dataclass
class DrillOptions:
    lifetime: int = 20
    seconds: float = 75.0
    interval: float = 0.5
    cli_interval: float = 2.0
    patterns: tuple[str, ...] = KINDS
    clients: tuple[str, ...] = CLIENTS
    target: str = "sts"
    out_dir: Path = field(default_factory=lambda: Path("drill-results"))
    stsmock: str = "stsmock"
    node: str | None = None
    extra_serve_args: tuple[str, ...] = ()
    #: Each client keeps calling past ``seconds`` until it made this many calls (bounded).
    min_calls: int = 0
    #: Patterns run at the same time (in waves), so one run does not starve a small machine.
    parallel: int = 3


def drill_config(lifetime: int) -> dict[str, Any]:
    from ...config import default_config_text

    config = yaml.safe_load(default_config_text())
    base = config["sts"]["roles"][0]
    config["sts"]["roles"].append(
        {
            "name": DRILL_ROLE,
            "description": f"DRILL ONLY: {lifetime}-second sessions (AWS's minimum is 900 s); compressed time.",
            "max_session_duration": 3600,
            "drill_session_seconds": lifetime,
            "trust_policy": base["trust_policy"],
            "policies": base["policies"],
        }
    )
    config["audit"] = {"file": None}
    return dict(config)


class DrillServer:
    """Our own `stsmock serve` on a free port with a throw-away data dir."""

    def __init__(self, options: DrillOptions, work: Path) -> None:
        self.work = work
        config_path = work / "drill-config.yaml"
        config_path.write_text(yaml.safe_dump(drill_config(options.lifetime), sort_keys=False), encoding="utf-8")
        argv = [options.stsmock, "serve", "--config", str(config_path), "--port", "0", "--data-dir", str(work / "data")]
        if options.target == "sts" and _serve_has_option(options.stsmock, "--no-s3"):
            argv.append("--no-s3")  # no embedded S3 store when the drill calls only the STS
        self.process = subprocess.Popen(  # noqa: S603 - our own executable
            [*argv, *options.extra_serve_args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.url = ""
        self.s3_url: str | None = None
        self.lines: list[str] = []
        deadline = time.time() + 60
        assert self.process.stdout is not None
        while time.time() < deadline:
            line = self.process.stdout.readline()
            if not line:
                break
            self.lines.append(line.rstrip())
            match = re.search(r"stsmock ready at (\S+)", line)
            if match:
                self.url = match.group(1)
                s3 = re.search(r"s3 gateway at (http\S+?)[);]", line)
                self.s3_url = s3.group(1) if s3 else None
                break
        if not self.url:
            self.stop()
            raise RuntimeError("stsmock serve did not start:\n" + "\n".join(self.lines[-20:]))
        self.admin_token = (work / "data" / "admin-token").read_text(encoding="utf-8").strip()

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(  # noqa: S310 - our own server
            self.url + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {self.admin_token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            raw = response.read()
        return json.loads(raw) if raw else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _serve_has_option(stsmock: str, option: str) -> bool:
    done = subprocess.run([stsmock, "serve", "--help"], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
    return option in done.stdout


def _make_bucket(server: DrillServer, role_arn: str, bucket: str) -> None:
    """The bucket the S3 target lists, created through the gateway with a binding's credentials."""
    import boto3
    from botocore.config import Config

    binding = server.admin("POST", "/admin/bindings", {"name": "drill-setup", "role_arn": role_arn})
    creds = _container_snapshot(binding)
    s3 = boto3.client(
        "s3",
        endpoint_url=server.s3_url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["Token"],
        config=Config(s3={"addressing_style": "path"}),
    )
    s3.create_bucket(Bucket=bucket)


def _container_snapshot(binding: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(binding["container"]["url"], headers={"Authorization": binding["container_token"]})  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local endpoint
        return dict(json.loads(response.read()))


def _binding_body(pattern: str, client: str, role_arn: str) -> dict[str, Any]:
    name = f"drill-{pattern}-{client}"
    body: dict[str, Any] = {"name": name, "role_arn": role_arn, "identity": {"sub": f"drill:{pattern}:{client}"}}
    if pattern == "imds":
        body["imds"] = {"v1": False}
    elif pattern == "credentials-file":
        body["files"] = {"credentials": f"{name}.credentials"}  # under the drill server's data dir
    elif pattern == "web-identity":
        body["token_file"] = f"{name}.token"
    return body


def _client_argv(client: str, pattern: str, options: DrillOptions) -> list[str]:
    interval = options.cli_interval if client == "awscli" else options.interval
    common = ["--target", options.target, "--seconds", str(options.seconds), "--interval", str(interval)]
    common += ["--min-calls", str(options.min_calls)]
    if client == "js":
        return [str(options.node), str(JS_DIR / "client.mjs"), *common]
    if client == "minio-go":
        return [str(MINIO_GO), "--pattern", pattern, *common]
    return [sys.executable, "-m", "stsmock.delivery.drill.pyclient", client, "--pattern", pattern, *common]


def _prepare(
    server: DrillServer, options: DrillOptions, pattern: str, client: str, work: Path, role_arn: str
) -> dict[str, str]:
    binding = server.admin("POST", "/admin/bindings", _binding_body(pattern, client, role_arn))
    listing = server.admin("GET", "/admin/bindings")
    region = listing["region"]
    extra: dict[str, Any] = {}
    plugins = "\n[plugins]\nstsmock_drill = stsmock.delivery.drill.awscli_plugin\n" if client == "awscli" else ""
    config_file = work / f"{binding['name']}.aws-config"
    if pattern == "credential-process":
        token_file = work / f"{binding['name']}.auth-token"
        token_file.write_text(binding["container_token"], encoding="utf-8")
        profile = "drill"
        command = process_command(options.stsmock, binding, str(token_file))
        text = process_config(profile, command, region=region, sts_url=server.url, extra=plugins)
        config_file.write_text(text, encoding="utf-8")
        extra.update(config_file=str(config_file), profile=profile)
    elif pattern == "static":
        extra["static_credentials"] = _container_snapshot(binding)
    env = environment(pattern, binding, sts_url=server.url, region=region, s3_url=server.s3_url, **extra)
    if client == "awscli" and pattern != "credential-process":
        config_file.write_text(plugins, encoding="utf-8")
        env["AWS_CONFIG_FILE"] = str(config_file)
    home = work / "home" / binding["name"]
    home.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    node_dir = str(Path(options.node).parent) if options.node else ""
    env.update(
        {
            "HOME": str(home),  # a fresh HOME: no ~/.aws
            "PATH": os.pathsep.join(p for p in (bin_dir, node_dir, "/usr/bin", "/bin") if p),
            "STSMOCK_DRILL_AWS": str(Path(bin_dir) / "aws"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if pattern == "imds":  # real IMDS answers in ms; a loaded shared machine may not within 1 s
        env.update(IMDS_BUDGET)
    if options.target == "s3":
        env["STSMOCK_DRILL_BUCKET"] = "drill"
    return env


def compression_text(lifetime: int) -> str:
    return (
        f"Time compressed with a drill-only role ({DRILL_ROLE}, drill_session_seconds={lifetime}): every session "
        f"lasts {lifetime} s — AWS never issues less than 900 s; this is not AWS behaviour. Clients run unmodified "
        f"on the real clock. Bindings rotate at half-life ({timing.rotation_margin(lifetime):.0f} s before expiry)."
    )


def window_notes(lifetime: int) -> list[str]:
    notes = [f"{w['client']}: {w['rule']} -> {w['note']}" for w in timing.sdk_windows(lifetime)]
    notes.append(
        "IMDS clients run with AWS_METADATA_SERVICE_TIMEOUT=5 and AWS_METADATA_SERVICE_NUM_ATTEMPTS=3 (botocore's "
        "defaults: 1 s, 1 attempt), because a loaded shared machine can answer slower than real IMDS; with the "
        "defaults a slow first answer leaves botocore without credentials for the whole process."
    )
    notes.append(
        "boto3 + IMDS: botocore's 'static stability' treats IMDS credentials with < 15 min + 2..10 min left as an "
        "outage and stretches their expiry by 17..25 min; under compressed time it would sign with expired keys. "
        "For drill-only sessions stsmock's IMDS writes Expiration with a '.000' fraction, which that check cannot "
        "parse (every client accepts it); real-length sessions get AWS's exact format, and stsmock's rotation "
        "(>= 30 min left of a 1 h session) never triggers the extension."
    )
    return notes


def run(options: DrillOptions, say: Callable[[str], None] = print) -> dict[str, Any]:
    options.out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="stsmock-drill-"))
    if options.node is None:
        options.node = shutil.which("node")
    js_ready = bool(options.node) and (JS_DIR / "node_modules" / "@aws-sdk" / "client-sts").exists()
    say(compression_text(options.lifetime))
    server = DrillServer(options, work)
    role_arn = f"arn:aws:iam::000000000000:role/{DRILL_ROLE}"
    if options.target == "s3":
        if not server.s3_url:
            server.stop()
            raise RuntimeError("this stsmock serve started no S3 gateway; use --target sts")
        _make_bucket(server, role_arn, "drill")
    procs: list[tuple[str, str, subprocess.Popen[str], Path, int]] = []
    cells: dict[tuple[str, str], Cell] = {}
    spans: list[tuple[float, float]] = []  # (started, ended) of each wave
    size = max(1, options.parallel)
    waves = [options.patterns[i : i + size] for i in range(0, len(options.patterns), size)]
    stats: dict[str, Any] = {}
    try:
        for wave, patterns in enumerate(waves):
            launched = []
            for pattern in patterns:
                for client in options.clients:
                    if client == "minio-py" and pattern == "credential-process":
                        cells[(pattern, client)] = Cell(pattern, client, note="n/a: minio-py has no credential_process")
                        continue
                    if client == "minio-go" and not MINIO_GO.exists():
                        cells[(pattern, client)] = Cell(
                            pattern, client, note="minio-go client not built: scripts/go-deps.sh"
                        )
                        continue
                    if client == "js" and not js_ready:
                        cells[(pattern, client)] = Cell(
                            pattern, client, note="JS SDK not installed: scripts/js-deps.sh"
                        )
                        continue
                    env = _prepare(server, options, pattern, client, work, role_arn)
                    out = work / f"{pattern}-{client}.jsonl"
                    with out.open("w", encoding="utf-8") as handle:
                        proc = subprocess.Popen(  # noqa: S603 - our own client scripts
                            _client_argv(client, pattern, options),
                            env=env,
                            stdout=handle,
                            stderr=subprocess.DEVNULL,
                            text=True,
                        )
                    launched.append((pattern, client, proc, out, wave))
            procs.extend(launched)
            started = time.time()
            say(
                f"wave {wave + 1}/{len(waves)}: {', '.join(patterns)} — {len(launched)} client processes for "
                f"{options.seconds:.0f} s (target: {options.target}) ..."
            )
            for *_rest, proc, _out, _wave in launched:
                try:
                    proc.wait(timeout=max(5 * options.seconds + 90 - (time.time() - started), 1))
                except subprocess.TimeoutExpired:
                    proc.kill()
            spans.append((started, time.time()))
        stats = {b["name"]: b for b in server.admin("GET", "/admin/bindings")["bindings"]}
    finally:
        for *_rest, proc, _out, _wave in procs:
            if proc.poll() is None:
                proc.kill()
        server.stop()
    for pattern, client, _proc, out, wave in procs:
        started, ended = spans[wave]
        lines = []
        for raw in out.read_text(encoding="utf-8").splitlines():
            with contextlib.suppress(ValueError):
                lines.append(json.loads(raw))
        cell = summarize(pattern, client, lines, started=started, ended=ended)
        if client == "minio-py":
            cell.note = MINIO_PROVIDERS.get(pattern, "")
        elif client == "minio-go":
            cell.note = MINIO_GO_PROVIDERS.get(pattern, "")
        elif client == "awscli":
            cell.note = "one aws process per call"
        served = stats.get(f"drill-{pattern}-{client}", {})
        if pattern in ("container", "imds", "credential-process") and served:
            cell.note = (cell.note + "; " if cell.note else "") + f"endpoint handouts {served.get('served', 0)}"
        cells[(pattern, client)] = cell
    ordered = [cells[(p, c)] for p in options.patterns for c in options.clients if (p, c) in cells]
    timing_notes = window_notes(options.lifetime)
    meta: dict[str, Any] = {
        "lifetime_s": options.lifetime,
        "seconds": options.seconds,
        "expiries": int(options.seconds // options.lifetime),
        "target": options.target,
        "compression": compression_text(options.lifetime),
        "windows": timing_notes,
        "wall_s": round(sum(b - a for a, b in spans), 1),
        "waves": [list(w) for w in waves],
    }
    (options.out_dir / "drill-refresh.json").write_text(to_json(ordered, meta), encoding="utf-8")
    (options.out_dir / "drill-refresh.html").write_text(chart_html(ordered, meta), encoding="utf-8")
    (options.out_dir / "drill-refresh.md").write_text(markdown(ordered, meta), encoding="utf-8")
    say(table(ordered))
    say("")
    for note in timing_notes:
        say(f"- {note}")
    say(f"\nJSON: {options.out_dir / 'drill-refresh.json'}   chart: {options.out_dir / 'drill-refresh.html'}")
    say(f"Markdown table: {options.out_dir / 'drill-refresh.md'}")
    shutil.rmtree(work, ignore_errors=True)
    return {"meta": meta, "cells": ordered}
