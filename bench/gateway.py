"""S3 gateway benchmark: gateway vs direct to the embedded SeaweedFS, side by side in one run.

    .venv/bin/python bench/gateway.py            # full run (~2 min on 2 cores)
    .venv/bin/python bench/gateway.py --quick    # smoke run
    .venv/bin/python bench/gateway.py --rss-mib 1024   # the streaming-upload RSS check size (default 1 GiB)
    .venv/bin/python bench/gateway.py --baseline main  # also a gateway from another revision, same run

With ``--baseline REV`` a second gateway, served from a ``git worktree`` of REV (same venv), fronts
the same SeaweedFS, and each cell runs direct → baseline → gateway back to back, so the before/after
ratios come from one run on one machine state.

Cells: GET and PUT of 4 KiB and 8 MiB objects at c=1 and c=16, each against the backend directly
(signed with its admin key) and through the gateway (signed with minted session credentials).
PUT bodies carry their hex SHA-256 (what boto3 sends over http), so the gateway pays for hashing.
Then one 1 GiB streaming PUT through the gateway while the gateway's own RSS is sampled at 10 Hz.
Writes a markdown table (``--out``, default bench/results/gateway.md) and JSON next to it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
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
from dataclasses import asdict, dataclass
from pathlib import Path

import aiohttp
import yarl

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
from gateway_table import render  # noqa: E402  (bench/ is the script's directory)

from stsproxy.gateway.signer import sign_backend  # noqa: E402

STSMOCK = Path(sys.executable).parent / "stsmock"
READY = re.compile(r"stsmock ready at (\S+) .*s3 gateway at (http://[\d.:]+)")
KIB, MIB = 1024, 1024 * 1024


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q * len(values) + 0.5)) - 1))] if values else float("nan")


@dataclass
class Target:
    name: str
    url: str
    access_key: str
    secret_key: str
    token: str | None


@dataclass
class Cell:
    target: str
    op: str
    size: str
    concurrency: int
    requests: int
    seconds: float
    rps: float
    mb_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    gateway_cpu_pct: float
    first_error: str = ""
    #: CPU milliseconds per request of the gateway under test, its backend and this client.
    gateway_cpu_ms: float = 0.0
    backend_cpu_ms: float = 0.0
    client_cpu_ms: float = 0.0


def headers_for(t: Target, method: str, path: str, payload: str, length: int | None) -> dict[str, str]:
    host = t.url.split("://", 1)[1]
    base = {"host": host, "x-amz-content-sha256": payload}
    signed = sign_backend(
        method,
        path,
        "",
        base,
        access_key=t.access_key,
        secret=t.secret_key,
        region="us-east-1",
        now=time.time(),
        session_token=t.token,
    )
    out = {**base, **signed}
    if length is not None:
        out["content-length"] = str(length)
    return out


async def run_cell(
    t: Target,
    op: str,
    size: int,
    label: str,
    c: int,
    n: int,
    cap: float,
    bucket: str,
    gw_pid: int,
    backend_pid: int | None = None,
) -> Cell:
    body = os.urandom(size) if op == "PUT" else b""
    digest = hashlib.sha256(body).hexdigest()
    lat: list[float] = []
    errors, first, counter = 0, "", 0
    conn = aiohttp.TCPConnector(limit=c)
    async with aiohttp.ClientSession(
        connector=conn, auto_decompress=False, skip_auto_headers=("User-Agent", "Content-Type")
    ) as s:

        async def one(i: int) -> None:
            nonlocal errors, first
            path = f"/{bucket}/{'put' if op == 'PUT' else 'get'}-{label}-{i % 16 if op == 'PUT' else 0}"
            h = headers_for(t, op, path, digest, size if op == "PUT" else None)
            try:
                async with s.request(
                    op, yarl.URL(t.url + path, encoded=True), headers=h, data=body if op == "PUT" else None
                ) as r:
                    async for _ in r.content.iter_any():
                        pass
                    if r.status != 200:
                        errors += 1
                        first = first or f"HTTP {r.status}"
            except Exception as exc:  # noqa: BLE001
                errors += 1
                first = first or f"{type(exc).__name__}: {exc}"

        await asyncio.gather(*(one(i) for i in range(c)))  # warm-up: connections open
        deadline = time.perf_counter() + cap

        async def worker() -> None:
            nonlocal counter
            while counter < n and time.perf_counter() < deadline:
                i = counter
                counter += 1
                t0 = time.perf_counter()
                await one(i)
                lat.append((time.perf_counter() - t0) * 1000)

        cpu0, t0 = cpu_s(gw_pid), time.perf_counter()
        back0, self0 = cpu_s(backend_pid) if backend_pid else 0.0, time.process_time()
        await asyncio.gather(*(worker() for _ in range(c)))
        elapsed = time.perf_counter() - t0
        cpu = cpu_s(gw_pid) - cpu0
        back = cpu_s(backend_pid) - back0 if backend_pid else 0.0
        mine = time.process_time() - self0
    done = len(lat)
    per = 1000 / done if done else 0.0
    return Cell(
        t.name,
        op,
        label,
        c,
        done,
        round(elapsed, 2),
        round(done / elapsed, 1),
        round(done * size / MIB / elapsed, 1) if size else 0.0,
        round(pct(lat, 0.5), 2),
        round(pct(lat, 0.99), 2),
        errors,
        round(100 * cpu / elapsed),
        first,
        round(cpu * per, 3) if t.name != "direct" else 0.0,
        round(back * per, 3),
        round(mine * per, 3),
    )


async def streaming_rss(t: Target, bucket: str, total: int, pid: int) -> dict[str, float]:
    """PUT ``total`` bytes as a stream (UNSIGNED-PAYLOAD, Content-Length set) and sample the gateway's RSS."""
    path = f"/{bucket}/stream-{total}"
    block = os.urandom(MIB)
    before = rss_mb(pid)
    peak = before
    done = asyncio.Event()

    async def sampler() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss_mb(pid))
            await asyncio.sleep(0.1)

    async def body():
        sent = 0
        while sent < total:
            n = min(MIB, total - sent)
            sent += n
            yield block[:n]

    task = asyncio.create_task(sampler())
    t0 = time.perf_counter()
    async with aiohttp.ClientSession(skip_auto_headers=("User-Agent", "Content-Type")) as s:
        h = headers_for(t, "PUT", path, "UNSIGNED-PAYLOAD", total)
        async with s.put(yarl.URL(t.url + path, encoded=True), headers=h, data=body()) as r:
            status = r.status
            await r.read()
    elapsed = time.perf_counter() - t0
    done.set()
    await task
    return {
        "bytes": total,
        "status": status,
        "seconds": round(elapsed, 2),
        "mb_s": round(total / MIB / elapsed, 1),
        "rss_before_mb": round(before, 1),
        "rss_peak_mb": round(peak, 1),
        "rss_growth_mb": round(peak - before, 1),
    }


def admin(url: str, token: str, method: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode() if body else None,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


@dataclass
class Served:
    proc: subprocess.Popen
    url: str
    s3_url: str
    target: Target


def serve(work: Path, name: str, *, tree: Path | None = None, config: Path | None = None) -> Served:
    """``stsmock serve`` (from ``tree`` when given, with this venv) and a minted session for it."""
    cmd = [sys.executable, "-m", "cli.main"] if tree else [str(STSMOCK)]
    cmd += ["serve", "--port", "0", "--s3-port", "0", "--data-dir", str(work / name), "--log-level", "warning"]
    if config:
        cmd += ["--config", str(config)]
    env = {**os.environ, "PYTHONPATH": str(tree)} if tree else None
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=str(tree or ROOT), env=env
    )
    line = proc.stdout.readline() if proc.stdout else ""
    m = READY.search(line)
    if not m:
        proc.kill()
        raise SystemExit(f"stsmock ({name}) did not start: {line!r}")
    url, s3_url = m.group(1), m.group(2)
    token = (work / name / "admin-token").read_text().strip()
    jwt = admin(url, token, "POST", "/admin/tokens", {"sub": "bench", "aud": "sts.amazonaws.com"})["token"]
    import boto3
    import botocore
    from botocore.config import Config

    sts = boto3.client(
        "sts", endpoint_url=url, region_name="us-east-1", config=Config(signature_version=botocore.UNSIGNED)
    )
    creds = sts.assume_role_with_web_identity(
        RoleArn="arn:aws:iam::000000000000:role/stsmock-dev",
        RoleSessionName="bench",
        WebIdentityToken=jwt,
        DurationSeconds=43200,
    )["Credentials"]
    target = Target(name, s3_url, creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    return Served(proc, url, s3_url, target)


def baseline_tree(rev: str, work: Path) -> Path:
    tree = work / "baseline-tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True, capture_output=True
    )
    return tree


async def main_async(args: argparse.Namespace) -> dict:
    work = Path(tempfile.mkdtemp(prefix="stsmock-gwbench-"))
    servers: list[Served] = []
    tree: Path | None = None
    loadavg = Path("/proc/loadavg").read_text().split()[0]
    try:
        main = serve(work, "gateway")
        servers.append(main)
        gw = main.target
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=main.s3_url,
            region_name="us-east-1",
            aws_access_key_id=gw.access_key,
            aws_secret_access_key=gw.secret_key,
            aws_session_token=gw.token,
        )
        s3.create_bucket(Bucket="bench")  # waits for the embedded store
        ident = json.loads((work / "gateway" / "seaweedfs" / "s3.json").read_text())["identities"][0]["credentials"][0]
        ports = json.loads((work / "gateway" / "seaweedfs" / "ports.json").read_text())
        direct = Target("direct", f"http://127.0.0.1:{ports['s3']}", ident["accessKey"], ident["secretKey"], None)
        weed = next(iter(children(main.proc.pid)), None)
        targets = [(direct, main.proc.pid), (gw, main.proc.pid)]
        if args.baseline:
            tree = baseline_tree(args.baseline, work)
            config = work / "baseline.yaml"
            from stsmock.config import default_config_text

            config.write_text(  # the default config (its dev role) plus the shared backend
                default_config_text().rstrip("\n") + "\ngateway:\n  backends:\n    - name: seaweedfs\n"
                f"      endpoint: {direct.url}\n      access_key: {direct.access_key}\n"
                f"      secret_key: {direct.secret_key}\n"
            )
            base = serve(work, "baseline", tree=tree, config=config)
            servers.append(base)
            targets.insert(1, (base.target, base.proc.pid))
        for label, size in (("4KiB", 4 * KIB), ("8MiB", 8 * MIB)):
            s3.put_object(Bucket="bench", Key=f"get-{label}-0", Body=os.urandom(size))
        cells = []
        for op in ("GET", "PUT"):
            for label, size in (("4KiB", 4 * KIB), ("8MiB", 8 * MIB)):
                n = (300 if args.quick else 2000) if size < MIB else (16 if args.quick else 80)
                for c in (1, 16):
                    for t, pid in targets:
                        cap = 2.0 if args.quick else 8.0
                        cell = await run_cell(t, op, size, label, c, n, cap, "bench", pid, weed)
                        print(f"{op} {label} c={c} {t.name}: {cell.rps} req/s p50 {cell.p50_ms} ms", file=sys.stderr)
                        cells.append(asdict(cell))
        stream = await streaming_rss(gw, "bench", args.rss_mib * MIB, main.proc.pid) if args.rss_mib else None
        return {
            "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "loadavg": loadavg,
            "loadavg_after": Path("/proc/loadavg").read_text().split()[0],
            "baseline": args.baseline,
            "cells": cells,
            "stream": stream,
        }
    finally:
        for served in reversed(servers):
            served.proc.send_signal(signal.SIGTERM)
            served.proc.wait(timeout=30)
        if tree is not None:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rss-mib", type=int, default=1024)
    parser.add_argument("--baseline", metavar="REV", help="also measure the gateway of git revision REV (e.g. main)")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "gateway.md")
    args = parser.parse_args()
    res = asyncio.run(main_async(args))
    text = render(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=2))
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
