#!/usr/bin/env python3
"""Side-by-side benchmark: stsmock vs moto server (STS) and vs oauth2-mock-server (OIDC).

One command, one machine, one run:

    .venv/bin/python bench/run.py [--quick] [--pin] [--out bench/results/latest.md]

Every server is spawned by this script on 127.0.0.1 (free port), measured, and
killed at the end (also on Ctrl-C or an exception).  Peers are installed on
demand: moto[server] into bench/.venv-peers, oauth2-mock-server@8 into
bench/node_modules.  See bench/README.md for what is measured and the caveats.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
MAIN_VENV_BIN = Path(sys.executable).parent
STSMOCK_BIN = MAIN_VENV_BIN / "stsmock"
PEERS_VENV = BENCH / ".venv-peers"
MOTO_BIN = PEERS_VENV / "bin" / "moto_server"
O2_JS = BENCH / "node_modules" / "oauth2-mock-server" / "dist" / "oauth2-mock-server.mjs"
FLOOR_PY = BENCH / "floor.py"
FLOOR = "aiohttp floor"
S3_ROW = "stsmock with S3 gateway + SeaweedFS"

CLIENT_ID, CLIENT_SECRET = "stsmock-dev", "stsmock-dev-secret"
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
ROLE_ARN = "arn:aws:iam::000000000000:role/stsmock-dev"
CONCURRENCY = (1, 16, 64)

# (requests per cell, time cap per cell in s, warm-up requests, startup samples)
PROFILES = {
    "full": dict(requests=4000, cap=7.0, warmup=200, startup_samples=5),
    "quick": dict(requests=800, cap=2.0, warmup=40, startup_samples=3),
}

SERVER_CPU = {0}
GEN_CPU = {1}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


# --------------------------------------------------------------------------- peers


def ensure_peers() -> None:
    py = PEERS_VENV / "bin" / "python"
    healthy = (
        MOTO_BIN.exists()
        and py.exists()
        and subprocess.run([str(py), "-c", "import moto.server"], capture_output=True).returncode == 0
    )
    if not healthy:
        log("installing moto[server] into bench/.venv-peers (one-off)")
        if PEERS_VENV.exists():  # partial or broken venv: start over
            shutil.rmtree(PEERS_VENV)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True)
        subprocess.run(
            [str(PEERS_VENV / "bin" / "pip"), "install", "-q", "moto[server]"],
            check=True,
        )
    if not O2_JS.exists():
        if not shutil.which("npm"):
            raise SystemExit("npm not found: needed for oauth2-mock-server")
        log("installing oauth2-mock-server@8 into bench/node_modules (one-off)")
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(BENCH), "oauth2-mock-server@8"],
            check=True,
        )


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_tree(pid: int) -> list[int]:
    """pid and all its descendants (from /proc/*/stat ppid)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def rss_mb(pid: int) -> float:
    total = 0
    for p in proc_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in proc_tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / CLK_TCK


@dataclass
class Spec:
    name: str
    kind: str  # stsmock | moto | oauth2-mock-server | aiohttp-floor
    config: Path | None = None
    reuse_data_dir: Path | None = None  # for "warm" stsmock starts
    no_pyc: bool = False  # stsmock: honour PYTHONDONTWRITEBYTECODE / no bytecode cache (compile from source)
    workers: int = 1  # stsmock --workers N (never pinned: the workers need both CPUs)
    source: Path | None = None  # stsmock: run this source tree (PYTHONPATH) instead of the installed one
    #: stsmock: also run the S3 gateway and its embedded SeaweedFS (a child process). Off by default:
    #: the STS and issuer scenarios need no S3 store, so they run `serve --no-s3` and measure stsmock alone.
    s3: bool = False


ALL_SERVERS: list[Server] = []  # safety net: main() stops every one of these on any exit


class Server:
    """One spawned server; start() returns the startup-to-ready time in ms."""

    def __init__(self, spec: Spec, workdir: Path, pin: bool):
        self.spec, self.workdir, self.pin = spec, workdir, pin
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.data_dir: Path | None = None
        ALL_SERVERS.append(self)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _argv(self) -> tuple[list[str], str]:
        k = self.spec.kind
        if k == "stsmock":
            self.data_dir = self.spec.reuse_data_dir or Path(tempfile.mkdtemp(prefix="data-", dir=self.workdir))
            argv = [
                *([sys.executable, "-m", "cli.main"] if self.spec.source else [str(STSMOCK_BIN)]),
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ]
            if self.spec.config:
                argv += ["--config", str(self.spec.config)]
            if self.spec.workers > 1:
                argv += ["--workers", str(self.spec.workers)]
            if not self.spec.s3:
                argv.append("--no-s3")
            return argv, "/healthz"
        if k == "moto":
            return [str(MOTO_BIN), "-H", "127.0.0.1", "-p", str(self.port)], "/moto-api/"
        if k == "aiohttp-floor":  # same interpreter and aiohttp as stsmock
            return [sys.executable, str(FLOOR_PY), "--port", str(self.port)], "/healthz"
        if k == "oauth2-mock-server":
            return ["node", str(O2_JS), "-a", "127.0.0.1", "-p", str(self.port)], "/.well-known/openid-configuration"
        raise ValueError(k)

    async def start(self, timeout: float = 30.0) -> float:
        argv, health = self._argv()
        logf = open(self.workdir / f"{self.spec.name}-{self.port}.log", "wb")  # noqa: SIM115
        pin = self.pin and self.spec.workers == 1

        def pre() -> None:
            os.setpgrp()  # own process group: killpg gets the whole tree
            if pin:
                os.sched_setaffinity(0, SERVER_CPU)

        env = dict(os.environ)
        if self.spec.source is not None:  # an older revision of stsmock (--baseline), same venv
            env["PYTHONPATH"] = str(self.spec.source)
        if self.spec.kind == "stsmock":
            # stsmock's own modules are an editable install: without a bytecode cache every start
            # compiles them from source. Give it a private cache (primed by earlier spawns) unless no_pyc.
            if self.spec.no_pyc:
                env["PYTHONDONTWRITEBYTECODE"] = "1"  # site-packages keep their installed .pyc files
                env.pop("PYTHONPYCACHEPREFIX", None)
            else:
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                env["PYTHONPYCACHEPREFIX"] = str(self.workdir / "pycache")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            argv,
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=pre,
            cwd=self.workdir,
            env=env,
        )
        logf.close()
        url = self.base + health
        async with aiohttp.ClientSession() as s:
            while True:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.spec.name} exited with {self.proc.returncode}; see {logf.name}")
                with contextlib.suppress(aiohttp.ClientError, OSError):
                    async with s.get(url) as r:
                        await r.read()
                        if r.status == 200:
                            return (time.perf_counter() - t0) * 1000
                if time.perf_counter() - t0 > timeout:
                    raise RuntimeError(f"{self.spec.name} not ready after {timeout}s")
                await asyncio.sleep(0.005)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


# --------------------------------------------------------------------------- load generator


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    bodies: list[bytes] | None = None  # rotated round-robin


@dataclass
class Cell:
    server: str
    concurrency: int
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_pct: float
    gen_cpu_pct: float
    peak_rss_mb: float
    capped: bool
    first_error: str = ""


def pct(sorted_vals: list[float], q: float) -> float:
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, int(round(q * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


async def run_cell(server: Server, req: Request, concurrency: int, n: int, cap: float, warmup: int) -> Cell:
    url = server.base + req.path
    conn = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    bodies = req.bodies or [b""]
    latencies: list[float] = []
    errors = 0
    first_error = ""
    counter = 0

    async with aiohttp.ClientSession(connector=conn, timeout=timeout, skip_auto_headers=("User-Agent",)) as s:

        async def one(i: int) -> tuple[bool, str]:
            body = bodies[i % len(bodies)] if req.bodies else None
            try:
                async with s.request(req.method, url, data=body, headers=req.headers) as r:
                    payload = await r.read()
                    if 200 <= r.status < 300:
                        return True, ""
                    return False, f"HTTP {r.status}: {payload[:200]!r}"
            except Exception as exc:  # noqa: BLE001
                return False, f"{type(exc).__name__}: {exc}"

        # warm-up (also opens the keep-alive connections)
        async def warm(k: int) -> None:
            for j in range(k):
                await one(j)

        per = max(1, warmup // concurrency)
        await asyncio.gather(*(warm(per) for _ in range(concurrency)))

        deadline = time.perf_counter() + cap
        peak = rss_mb(server.pid)

        async def worker() -> None:
            nonlocal counter, errors, first_error
            while counter < n and time.perf_counter() < deadline:
                i = counter
                counter += 1
                t = time.perf_counter()
                ok, err = await one(i)
                latencies.append((time.perf_counter() - t) * 1000)
                if not ok:
                    errors += 1
                    first_error = first_error or err

        async def sampler() -> None:
            nonlocal peak
            while True:
                await asyncio.sleep(0.25)
                peak = max(peak, rss_mb(server.pid))

        cpu0, gen0, t0 = cpu_seconds(server.pid), time.process_time(), time.perf_counter()
        samp = asyncio.create_task(sampler())
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
        cpu1, gen1 = cpu_seconds(server.pid), time.process_time()
        samp.cancel()
        peak = max(peak, rss_mb(server.pid))

    lat = sorted(latencies)
    done = len(lat)
    return Cell(
        server=server.spec.name,
        concurrency=concurrency,
        requests=done,
        seconds=round(elapsed, 3),
        rps=round(done / elapsed, 1) if elapsed else 0.0,
        p50_ms=round(pct(lat, 0.50), 2),
        p99_ms=round(pct(lat, 0.99), 2),
        errors=errors,
        server_cpu_pct=round(100 * (cpu1 - cpu0) / elapsed, 0),
        gen_cpu_pct=round(100 * (gen1 - gen0) / elapsed, 0),
        peak_rss_mb=round(peak, 1),
        capped=done < n,
        first_error=first_error,
    )


_WRK_LUA = """
local bodies = {%(bodies)s}
local n = 0
wrk.method = "%(method)s"
%(headers)s
request = function()
  n = n + 1
  local body = nil
  if #bodies > 0 then body = bodies[(n %% #bodies) + 1] end
  return wrk.format(nil, nil, nil, body)
end
"""


def _lua_string(data: bytes) -> str:
    return "[==[" + data.decode() + "]==]"


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def _reaped_children_cpu() -> float:
    """User + system CPU seconds of this process's children that have ended and been reaped."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def run_cell_wrk(server: Server, req: Request, concurrency: int, cap: float, pin: bool) -> Cell:
    """One cell driven by wrk (C, one thread): the load generator costs far less CPU than Python's."""
    script = Path(tempfile.mkstemp(suffix=".lua", dir=server.workdir)[1])
    headers = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in req.headers.items())
    bodies = ", ".join(_lua_string(b) for b in (req.bodies or []))
    script.write_text(_WRK_LUA % {"bodies": bodies, "method": req.method, "headers": headers})
    argv = [
        "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, int(cap))}s",
        "--latency",
        "-s",
        str(script),
        server.base + req.path,
    ]
    if pin:
        argv = ["taskset", "-c", ",".join(str(c) for c in GEN_CPU), *argv]
    cpu0, t0 = cpu_seconds(server.pid), time.perf_counter()
    gen0 = _reaped_children_cpu()  # wrk is the only child that ends during the cell
    peak = rss_mb(server.pid)
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    while proc.returncode is None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), 0.25)
        peak = max(peak, rss_mb(server.pid))
    out = (await proc.stdout.read()).decode() if proc.stdout else ""
    elapsed = time.perf_counter() - t0
    cpu1 = cpu_seconds(server.pid)
    gen = _reaped_children_cpu() - gen0
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)) if "Requests/sec" in out else 0.0
    total = int(re.search(r"(\d+) requests in", out).group(1)) if "requests in" in out else 0
    non2xx = int(re.search(r"Non-2xx or 3xx responses: (\d+)", out).group(1)) if "Non-2xx" in out else 0
    sock = (
        sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out.split("Socket errors:")[1]))
        if "Socket errors:" in out
        else 0
    )
    p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1)) if "50%" in out else float("nan")
    p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1)) if "99%" in out else float("nan")
    return Cell(
        server=server.spec.name,
        concurrency=concurrency,
        requests=total,
        seconds=round(elapsed, 3),
        rps=round(rps, 1),
        p50_ms=round(p50, 2),
        p99_ms=round(p99, 2),
        errors=non2xx + sock,
        server_cpu_pct=round(100 * (cpu1 - cpu0) / elapsed, 0),
        gen_cpu_pct=round(100 * gen / elapsed, 0),
        peak_rss_mb=round(peak, 1),
        capped=False,
        first_error="" if not (non2xx + sock) else out[-300:],
    )


# --------------------------------------------------------------------------- scenarios


def write_stsmock_config(path: Path, alg: str) -> Path:
    cfg = yaml.safe_load((ROOT / "stsmock" / "default-config.yaml").read_text())
    iss = cfg["issuers"][0]
    iss["signing_alg"] = alg
    iss["algorithms"] = [alg]
    cfg["server"]["log_level"] = "warning"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def write_scaled_config(path: Path, roles: int, issuers: int) -> Path:
    """The default config plus ``roles`` extra roles and ``issuers`` extra trusted issuers.

    Measures that lookups are indexed: the request still targets stsmock-dev, among 10,000 roles.
    """
    cfg = yaml.safe_load((ROOT / "stsmock" / "default-config.yaml").read_text())
    cfg["server"]["log_level"] = "warning"
    base_trust = cfg["sts"]["roles"][0]["trust_policy"]
    cfg["sts"]["roles"] += [
        {"name": f"workload-{i:05d}", "trust_policy": base_trust, "max_session_duration": 3600} for i in range(roles)
    ]
    cfg["sts"]["trusted_issuers"] = [
        {"issuer": f"https://idp-{i:03d}.example.invalid", "audiences": [f"aud-{i}"]} for i in range(issuers)
    ]
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


#: Distinct tokens per ARWWI cell: more than the verifier's verified-signature memo holds
#: (stsproxy.verify.jwks.VERIFIED_MAX = 4096), so round-robin never hits it and every request pays
#: the signature check, as real callers (one token per refresh) do. A cold-path figure, not a warm one.
ARWWI_TOKENS = 5000


async def mint_tokens(base: str, n: int) -> list[str]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as s:

        async def one() -> str:
            async with s.post(
                base + "/token", data={"grant_type": "client_credentials"}, headers={"Authorization": BASIC}
            ) as r:
                r.raise_for_status()
                return str((await r.json())["access_token"])

        return list(await asyncio.gather(*(one() for _ in range(n))))


def arwwi_bodies(tokens: list[str]) -> list[bytes]:
    from urllib.parse import urlencode

    return [
        urlencode(
            {
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": ROLE_ARN,
                "RoleSessionName": f"bench-{i}",
                "WebIdentityToken": t,
            }
        ).encode()
        for i, t in enumerate(tokens)
    ]


FORM = {"Content-Type": "application/x-www-form-urlencoded"}
TOKEN_REQ = Request("POST", "/token", {**FORM, "Authorization": BASIC}, [b"grant_type=client_credentials"])
JWKS_REQ = Request("GET", "/jwks")


async def measure_startup(spec: Spec, workdir: Path, pin: bool, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        srv = Server(spec, workdir, pin)
        try:
            times.append(round(await srv.start(), 1))
        finally:
            srv.stop()
        await asyncio.sleep(0.2)
    return times


_FIXTURE_TEST = """
import pytest

@pytest.mark.parametrize("i", range(15))
def test_fixture(stsmock_server, i):
    assert stsmock_server.url
"""


def measure_fixture(workdir: Path) -> list[float]:
    """Per-test setup of the pytest plugin's ``stsmock_server`` (ms), excluding the first test."""
    test = workdir / "test_fixture_timing.py"
    test.write_text(_FIXTURE_TEST)
    out = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "python"),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--durations=0",
            "--durations-min=0",
            "-o",
            "addopts=",
            "--rootdir",
            str(workdir),
            str(test),
        ],
        capture_output=True,
        text=True,
        cwd=workdir,
        timeout=300,
    ).stdout
    setups = {int(m.group(2)): float(m.group(1)) * 1000 for m in re.finditer(r"([\d.]+)s setup .*\[(\d+)\]", out)}
    return [round(setups[i], 1) for i in sorted(setups) if i > 0]


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    prof = PROFILES["quick" if args.quick else "full"]
    concs = CONCURRENCY
    results: dict[str, Any] = {
        "meta": {
            "mode": "quick" if args.quick else "full",
            "pinned": args.pin,
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "host": platform.node(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "kernel": platform.release(),
            "profile": prof,
            "loadavg_start": loadavg(),
            "node": subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
            "moto": subprocess.run(
                [str(PEERS_VENV / "bin" / "python"), "-c", "import moto; print(moto.__version__)"],
                capture_output=True,
                text=True,
            ).stdout.strip(),
            "oauth2-mock-server": json.loads((O2_JS.parents[1] / "package.json").read_text())["version"],
        },
        "scenarios": {},
        "startup_ms": {},
        "rss_mb": {},
    }
    workdir = Path(tempfile.mkdtemp(prefix="stsmock-bench-"))
    servers: list[Server] = []
    use_wrk = bool(shutil.which("wrk")) and not args.python_client
    results["meta"]["load_generator"] = "wrk (1 thread)" if use_wrk else "python aiohttp client"
    try:
        rs_cfg = write_stsmock_config(workdir / "rs256.yaml", "RS256")
        es_cfg = write_stsmock_config(workdir / "es256.yaml", "ES256")
        scaled_cfg = write_scaled_config(workdir / "scaled.yaml", roles=10_000, issuers=100)
        specs = {
            "stsmock": Spec("stsmock", "stsmock"),  # built-in default config (RS256)
            "stsmock-RS256": Spec("stsmock-RS256", "stsmock", rs_cfg),
            "stsmock-ES256": Spec("stsmock-ES256", "stsmock", es_cfg),
            "stsmock --workers 2": Spec("stsmock --workers 2", "stsmock", rs_cfg, workers=2),
            "stsmock, 10k roles + 100 issuers": Spec("stsmock, 10k roles + 100 issuers", "stsmock", scaled_cfg),
            S3_ROW: Spec(S3_ROW, "stsmock", s3=True),  # memory only: the whole tree with SeaweedFS
            "moto": Spec("moto", "moto"),
            "oauth2-mock-server": Spec("oauth2-mock-server", "oauth2-mock-server"),
            FLOOR: Spec(FLOOR, "aiohttp-floor"),
        }
        baseline = f"stsmock @ {args.baseline}" if args.baseline else None
        if baseline:
            tree = workdir / "baseline"
            tree.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.baseline], check=True, capture_output=True
            )
            subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
            specs[baseline] = Spec(baseline, "stsmock", source=tree)
            results["meta"]["baseline"] = args.baseline

        # 1. startup-to-ready (median of N), each spawn on a fresh port
        n = prof["startup_samples"]
        warm_dir = Path(tempfile.mkdtemp(prefix="warm-", dir=workdir))
        # prime: fills the private bytecode cache and the warm data dir (keys); not measured
        await measure_startup(Spec("prime", "stsmock", reuse_data_dir=warm_dir), workdir, args.pin, 1)
        startup_specs = {
            "stsmock (fresh data dir)": Spec("stsmock-cold", "stsmock"),
            "stsmock (warm data dir)": Spec("stsmock-warm", "stsmock", reuse_data_dir=warm_dir),
            "stsmock (fresh data dir, no .pyc)": Spec("stsmock-nopyc", "stsmock", no_pyc=True),
            "moto": specs["moto"],
            "oauth2-mock-server": specs["oauth2-mock-server"],
            FLOOR: specs[FLOOR],
            **({baseline + " (fresh data dir)": specs[baseline]} if baseline else {}),
        }
        for key, spec in startup_specs.items():
            log(f"startup x{n}: {key} (load {loadavg()})")
            results["startup_ms"][key] = await measure_startup(spec, workdir, args.pin, n)

        log("pytest fixture: per-test setup")
        results["fixture_ms"] = measure_fixture(workdir)

        # 2. long-lived servers for the load scenarios
        live: dict[str, Server] = {}
        for key in (
            "stsmock",
            "stsmock-RS256",
            "stsmock-ES256",
            "stsmock --workers 2",
            "stsmock, 10k roles + 100 issuers",
            S3_ROW,
            "moto",
            "oauth2-mock-server",
            FLOOR,
            *([baseline] if baseline else []),
        ):
            srv = Server(specs[key], workdir, args.pin)
            servers.append(srv)
            await srv.start(timeout=120)
            live[key] = srv
        await asyncio.sleep(1.0)
        for key, srv in live.items():
            results["rss_mb"][key] = {"idle": round(rss_mb(srv.pid), 1), "loaded": None}

        if args.pin:
            os.sched_setaffinity(0, GEN_CPU)

        tokens = await mint_tokens(live["stsmock"].base, ARWWI_TOKENS)
        arwwi = Request("POST", "/", FORM, arwwi_bodies(tokens))

        plan = [
            (
                "sts-arwwi",
                "STS AssumeRoleWithWebIdentity (POST /)",
                arwwi,
                ["stsmock", *([baseline] if baseline else []), "moto", FLOOR],
            ),
            (
                "token",
                "Token endpoint, client_credentials, RS256 (POST /token)",
                TOKEN_REQ,
                ["stsmock-RS256", "oauth2-mock-server"],
            ),
            ("jwks", "JWKS (GET /jwks)", JWKS_REQ, ["stsmock", "oauth2-mock-server"]),
            (
                "token-alg",
                "stsmock token endpoint: RS256 vs ES256 (POST /token)",
                TOKEN_REQ,
                ["stsmock-RS256", "stsmock-ES256"],
            ),
            (
                "workers",
                "AssumeRoleWithWebIdentity: one process vs --workers 2 (not pinned)",
                arwwi,
                ["stsmock", "stsmock --workers 2"],
            ),
            (
                "scale",
                "AssumeRoleWithWebIdentity among 10,000 roles and 100 trusted issuers",
                arwwi,
                ["stsmock", "stsmock, 10k roles + 100 issuers"],
            ),
        ]
        measured: dict[tuple[str, str, int], Cell] = {}
        own_arwwi: dict[str, Request] = {}
        for sid, title, req, names in plan:
            cells = []
            la = loadavg()
            for name in names:
                for c in concs:
                    cache_key = (req.path + req.method, name, c)
                    if cache_key in measured:  # RS256 token cells are shared by two sections
                        cells.append(measured[cache_key])
                        continue
                    log(f"{sid}: {name} c={c} (load {loadavg()})")
                    cell_req = req
                    if req is arwwi and name.startswith("stsmock") and name != "stsmock":
                        if name not in own_arwwi:  # tokens from that server's own issuer
                            own_arwwi[name] = Request(
                                "POST", "/", FORM, arwwi_bodies(await mint_tokens(live[name].base, ARWWI_TOKENS))
                            )
                        cell_req = own_arwwi[name]
                    if use_wrk:
                        await run_cell(live[name], cell_req, c, prof["warmup"], prof["cap"], prof["warmup"])  # warm-up
                        cell = await run_cell_wrk(live[name], cell_req, c, prof["cap"], args.pin)
                    else:
                        cell = await run_cell(live[name], cell_req, c, prof["requests"], prof["cap"], prof["warmup"])
                    if cell.errors:
                        log(f"  {cell.errors} errors, first: {cell.first_error}")
                    measured[cache_key] = cell
                    cells.append(cell)
                    r = results["rss_mb"][name]
                    r["loaded"] = max(r["loaded"] or 0, cell.peak_rss_mb)
            results["scenarios"][sid] = {"title": title, "loadavg": la, "cells": [asdict(c) for c in cells]}
    finally:
        for srv in servers:
            srv.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    results["meta"]["loadavg_end"] = loadavg()
    results["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    return results


# --------------------------------------------------------------------------- report


def cpu_us(cell: dict[str, Any]) -> float:
    """Server CPU time per request (µs): robust to other load on a shared machine, unlike req/s."""
    if not cell["rps"] or not cell["server_cpu_pct"]:
        return float("nan")
    return cell["server_cpu_pct"] * 1e4 / cell["rps"]


def ratio_line(cells: list[dict[str, Any]], a: str, b: str, label: str) -> str:
    parts, cpu = [], []
    for c in CONCURRENCY:
        x = next((e for e in cells if e["server"] == a and e["concurrency"] == c), None)
        y = next((e for e in cells if e["server"] == b and e["concurrency"] == c), None)
        if x and y and y["rps"]:
            parts.append(f"c={c}: {x['rps'] / y['rps']:.2f}×")
            if cpu_us(x) == cpu_us(x) and cpu_us(y) == cpu_us(y):
                cpu.append(f"c={c}: {cpu_us(y) / cpu_us(x):.2f}×")
    line = f"{label}: " + ", ".join(parts) + " (req/s ratio)"
    return line + ("; per server CPU-second: " + ", ".join(cpu) if cpu else "")


def _num(value: float) -> str:
    return "–" if value != value else f"{value:.0f}"  # NaN: not measured (wrk)


def render(res: dict[str, Any]) -> str:
    m = res["meta"]
    baseline = f"stsmock @ {m['baseline']}" if m.get("baseline") else None
    out = [
        "# stsmock side-by-side benchmark",
        "",
        f"- load generator: **{m.get('load_generator', 'python aiohttp client')}**",
        f"- mode: **{m['mode']}** ({m['profile']['requests']} requests or {m['profile']['cap']} s per cell, "
        f"whichever first; {m['profile']['warmup']} warm-up requests), pinned: {m['pinned']}",
        f"- machine: {m['cpus']} CPUs, Linux {m['kernel']}, Python {m['python']}, node {m['node']}, "
        f"moto {m['moto']}, oauth2-mock-server {m['oauth2-mock-server']}",
        f"- run: {m['started']} → {m['finished']}; load average at start {m['loadavg_start']}, "
        f"at end {m['loadavg_end']}",
        "- keep-alive connections = concurrency, on the same machine; with `--pin` the servers run on CPU 0 and "
        "the load generator on CPU 1 (`--workers 2` is never pinned)",
        "",
    ]
    ratio_pairs = {
        "sts-arwwi": [("stsmock", "moto", "stsmock vs moto"), ("stsmock", FLOOR, "stsmock vs the bare aiohttp floor")],
        "token": [("stsmock-RS256", "oauth2-mock-server", "stsmock vs oauth2-mock-server")],
        "jwks": [("stsmock", "oauth2-mock-server", "stsmock vs oauth2-mock-server")],
        "token-alg": [("stsmock-ES256", "stsmock-RS256", "ES256 vs RS256")],
        "workers": [("stsmock --workers 2", "stsmock", "--workers 2 vs one process")],
        "scale": [("stsmock, 10k roles + 100 issuers", "stsmock", "10k roles vs default config")],
    }
    for sid, sc in res["scenarios"].items():
        out += [
            f"## {sc['title']}",
            "",
            f"load average before section: {sc['loadavg']}",
            "",
            "| server | concurrency | req/s | p50 ms | p99 ms | errors | srv CPU % | srv CPU µs/req | gen CPU % |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for c in sc["cells"]:
            capped = " (time cap)" if c["capped"] else ""
            out.append(
                f"| {c['server']} | {c['concurrency']} | {c['rps']:,.0f}{capped} | {c['p50_ms']:.2f} | "
                f"{c['p99_ms']:.2f} | {c['errors']} | {c['server_cpu_pct']:.0f} | {_num(cpu_us(c))} | "
                f"{_num(c['gen_cpu_pct'])} |"
            )
        out.append("")
        if sid == "sts-arwwi" and baseline:
            out.append(ratio_line(sc["cells"], "stsmock", baseline, f"stsmock vs {baseline} (before)"))
        for a, b, label in ratio_pairs[sid]:
            out.append(ratio_line(sc["cells"], a, b, label))
        out.append("")
        errs = [c for c in sc["cells"] if c["errors"]]
        for c in errs:
            out.append(f"- first error from {c['server']} c={c['concurrency']}: `{c['first_error'][:160]}`")
        if errs:
            out.append("")
    out += [
        "## Startup to ready (spawn → health/discovery URL answers 200)",
        "",
        "| server | median ms | samples ms |",
        "|---|---:|---|",
    ]
    for k, v in res["startup_ms"].items():
        out.append(f"| {k} | {statistics.median(v):.0f} | {', '.join(f'{x:.0f}' for x in v)} |")
    out += [
        "",
        "stsmock: 'fresh data dir' = new temp data dir per spawn (generates signing keys and the "
        "database); 'warm data dir' reuses one (keys already on disk). stsmock's modules are an editable "
        "install; rows without 'no .pyc' use a bytecode cache primed by an unmeasured first spawn (what a "
        "normal install has); 'no .pyc' compiles them from source on every start (PYTHONDONTWRITEBYTECODE=1). moto: `/moto-api/`; "
        "oauth2-mock-server: `/.well-known/openid-configuration`; stsmock and the aiohttp floor "
        "(`bench/floor.py`: the same Python and aiohttp, one fixed answer): `/healthz`. stsmock rows run "
        "`serve --no-s3` (no S3 gateway, no SeaweedFS child).",
        "",
        "## Memory (VmRSS, whole process tree)",
        "",
        "| server | idle MB | loaded (peak) MB |",
        "|---|---:|---:|",
    ]
    for k, v in res["rss_mb"].items():
        loaded = f"{v['loaded']:.1f}" if v["loaded"] is not None else "–"
        out.append(f"| {k} | {v['idle']:.1f} | {loaded} |")
    out += [
        "",
        "idle: 1 s after ready, before any load (stsmock: before any request except the health poll); "
        "loaded: peak of 4 Hz samples during that server's load cells. Every stsmock row except "
        f"'{S3_ROW}' runs `stsmock serve --no-s3` (the STS and issuer scenarios need no S3 store), so its "
        f"figures are the stsmock process alone; '{S3_ROW}' is the default `serve` (S3 gateway on, embedded "
        "SeaweedFS started as a child process), whose tree includes SeaweedFS.",
        "",
    ]
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="short cells (whole run ~1.5 min)")
    ap.add_argument("--pin", action="store_true", help="pin servers to CPU 0 and the load generator to CPU 1")
    ap.add_argument("--python-client", action="store_true", help="use the Python load generator even if wrk exists")
    ap.add_argument(
        "--baseline",
        metavar="REV",
        help="also measure stsmock at git revision REV (same venv) in the AssumeRoleWithWebIdentity section: "
        "before and after in one run",
    )
    ap.add_argument("--no-readme", action="store_true", help="do not regenerate the README's performance section")
    ap.add_argument("--out", default=str(BENCH / "results" / "latest.md"), help="markdown report path")
    ap.add_argument("--json", default=str(BENCH / "results" / "latest.json"), help="JSON results path")
    args = ap.parse_args()
    if args.pin and (not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2):
        ap.error("--pin needs sched_setaffinity and at least 2 usable CPUs")
    ensure_peers()

    # SIGTERM → KeyboardInterrupt so the finally-blocks kill every server
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    t0 = time.perf_counter()
    try:
        res = asyncio.run(main_async(args))
    except KeyboardInterrupt:
        log("interrupted; servers stopped")
        return 130
    finally:
        for srv in ALL_SERVERS:
            srv.stop()
    res["meta"]["wall_seconds"] = round(time.perf_counter() - t0, 1)
    md = render(res) + f"\nTotal wall time: {res['meta']['wall_seconds']} s.\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(md)
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2))
    print(md)
    log(f"wrote {args.out} and {args.json} in {res['meta']['wall_seconds']} s")
    if not args.no_readme and Path(args.json).resolve() == (BENCH / "results" / "latest.json").resolve():
        from readme import update  # bench/readme.py, next to this file

        if update(ROOT / "README.md", res):
            log("README.md performance section regenerated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
