"""Replicas bench: ARWWI on two stsmock replicas sharing PostgreSQL vs one process on SQLite, and how
fast a revocation reaches the other replica.

    .venv/bin/python bench/replicas.py [--quick] [--out bench/results/replicas.md]

PostgreSQL is a throwaway cluster from Debian's packages (tests/tooling/postgres.py) with durable
settings (fsync on, synchronous_commit on), on the same 2-core machine as the servers and the load
generator. The load generator (same closed-loop shape as bench/run.py) spreads requests round-robin
over the replicas' URLs, as a load balancer would.

Propagation, measured per revocation (N of them): the admin call goes to replica A. (1) Right after
its 201, the revoked token is presented to replica B once — "accepted after ack" counts answers that
were not a rejection (the guarantee says 0). (2) Separately, with no request to B in between, B's
``/livez`` (which never forces a sync) is polled until B's applied feed version reaches A's: the
background propagation by LISTEN/NOTIFY alone, reported as p50/p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests" / "tooling"))

from postgres import PgCluster  # noqa: E402
from run import ALL_SERVERS, ARWWI_TOKENS, FORM, Server, Spec, arwwi_bodies, loadavg, mint_tokens, pct  # noqa: E402

PUBLIC_URL = "http://127.0.0.9:8400"


class Replica(Server):
    """A bench Server with extra `serve` arguments (store URL, one public URL for all replicas)."""

    def __init__(self, spec: Spec, workdir: Path, extra: list[str]) -> None:
        super().__init__(spec, workdir, pin=False)
        self.extra = extra

    def _argv(self) -> tuple[list[str], str]:
        argv, health = super()._argv()
        return argv + self.extra, health


@dataclass
class Cell:
    setup: str
    concurrency: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    first_error: str = ""


async def load(bases: list[str], bodies: list[bytes], concurrency: int, n: int, cap: float) -> Cell:
    conn = aiohttp.TCPConnector(limit=concurrency * len(bases))
    latencies: list[float] = []
    errors, first_error, counter = 0, "", 0
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def one(i: int) -> str:
            try:
                async with session.post(bases[i % len(bases)] + "/", data=bodies[i % len(bodies)], headers=FORM) as r:
                    payload = await r.read()
                    return "" if r.status == 200 else f"HTTP {r.status}: {payload[:160]!r}"
            except Exception as exc:  # noqa: BLE001
                return f"{type(exc).__name__}: {exc}"

        await asyncio.gather(*(one(i) for i in range(concurrency * 2)))  # warm-up, opens connections
        deadline = time.perf_counter() + cap

        async def worker() -> None:
            nonlocal counter, errors, first_error
            while counter < n and time.perf_counter() < deadline:
                i, counter = counter, counter + 1
                t = time.perf_counter()
                err = await one(i)
                latencies.append((time.perf_counter() - t) * 1000)
                if err:
                    errors += 1
                    first_error = first_error or err

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    lat = sorted(latencies)
    return Cell(
        "",
        concurrency,
        len(lat),
        round(len(lat) / elapsed, 1),
        round(pct(lat, 0.5), 2),
        round(pct(lat, 0.99), 2),
        errors,
        first_error,
    )


async def propagation(a: str, b: str, token_a: str, n: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token_a}", "Content-Type": "application/json"}
    accepted, first_check = 0, []
    async with aiohttp.ClientSession() as s:
        for i in range(n):
            async with s.post(
                a + "/admin/tokens", json={"sub": f"prop-{i}", "aud": "sts.amazonaws.com"}, headers=headers
            ) as r:
                token = (await r.json())["token"]
            body = arwwi_bodies([token])[0]
            async with s.post(b + "/", data=body, headers=FORM) as r:
                assert r.status == 200, await r.text()  # valid before the revocation
            async with s.post(a + "/admin/revocations", json={"by": "sub", "value": f"prop-{i}"}, headers=headers) as r:
                assert r.status == 201
            t = time.perf_counter()
            async with s.post(b + "/", data=body, headers=FORM) as r:
                await r.read()
                accepted += r.status == 200
            first_check.append((time.perf_counter() - t) * 1000)
    first_check.sort()
    return {
        "revocations": n,
        "accepted_after_ack": accepted,
        "first_check_p50_ms": round(pct(first_check, 0.5), 2),
        "first_check_p99_ms": round(pct(first_check, 0.99), 2),
    }


async def notify_only(a: str, b: str, token_a: str, n: int) -> dict[str, Any]:
    """Background propagation with no request to B in between: ack on A → B's /livez shows it."""
    headers = {"Authorization": f"Bearer {token_a}", "Content-Type": "application/json"}
    samples = []
    async with aiohttp.ClientSession() as s:
        for i in range(n):
            async with s.post(
                a + "/admin/revocations", json={"by": "jti", "value": f"notify-{i}"}, headers=headers
            ) as r:
                assert r.status == 201
            acked = time.perf_counter()
            async with s.get(a + "/livez") as r:
                target = (await r.json())["feed_version"]
            while True:
                async with s.get(b + "/livez") as r:
                    if (await r.json())["feed_version"] >= target:
                        break
                await asyncio.sleep(0.0005)
            samples.append((time.perf_counter() - acked) * 1000)
    samples.sort()
    return {"revocations": n, "p50_ms": round(pct(samples, 0.5), 2), "p99_ms": round(pct(samples, 0.99), 2)}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    n, cap = (600, 3.0) if args.quick else (3000, 8.0)
    levels = (16,) if args.quick else (16, 64)
    workdir = Path(tempfile.mkdtemp(prefix="stsmock-replicas-bench-"))
    cluster = PgCluster(durable=True)
    result: dict[str, Any] = {"load_start": loadavg(), "cells": []}
    try:
        sqlite = Replica(Spec("sqlite-1", "stsmock"), workdir, ["--public-url", PUBLIC_URL])
        pg = [
            Replica(Spec(f"pg-{i}", "stsmock"), workdir, ["--store", cluster.url, "--public-url", PUBLIC_URL])
            for i in (1, 2)
        ]
        for server in (sqlite, *pg):
            await server.start(timeout=60)
        tokens = await mint_tokens(sqlite.base, ARWWI_TOKENS)  # same issuer URL (PUBLIC_URL) everywhere...
        pg_tokens = await mint_tokens(pg[0].base, ARWWI_TOKENS)  # ...but each store has its own keys
        for setup, bases, bodies in (
            ("one process, SQLite", [sqlite.base], arwwi_bodies(tokens)),
            ("one replica, PostgreSQL", [pg[0].base], arwwi_bodies(pg_tokens)),
            ("two replicas, PostgreSQL", [p.base for p in pg], arwwi_bodies(pg_tokens)),
        ):
            for c in levels:
                cell = await load(bases, bodies, c, n, cap)
                cell.setup = setup
                result["cells"].append(cell.__dict__)
        admin = (pg[0].data_dir / "admin-token").read_text().strip()  # type: ignore[operator]
        runs = 30 if args.quick else 200
        result["propagation"] = await propagation(pg[0].base, pg[1].base, admin, runs)
        result["notify_only"] = await notify_only(pg[0].base, pg[1].base, admin, runs)
    finally:
        for server in ALL_SERVERS:
            server.stop()
        cluster.close()
    result["load_end"] = loadavg()
    return result


def render(res: dict[str, Any]) -> str:
    lines = [
        "# Replicas on PostgreSQL vs one process on SQLite",
        "",
        f"load average at start: {res['load_start']}; at end: {res['load_end']}",
        "",
    ]
    lines += ["| setup | c | requests | req/s | p50 ms | p99 ms | errors |", "|---|---|---|---|---|---|---|"]
    for c in res["cells"]:
        lines.append(
            f"| {c['setup']} | {c['concurrency']} | {c['requests']} | {c['rps']} | {c['p50_ms']} | {c['p99_ms']} | {c['errors']} |"
        )
    p, q = res["propagation"], res["notify_only"]
    lines += [
        "",
        f"Revocation across replicas ({p['revocations']} revocations on A, token checked on B right after the 201):",
        f"- accepted on B after the acknowledgement: **{p['accepted_after_ack']}**",
        f"- B's first check after the ack (one request; it syncs the feed itself): "
        f"p50 {p['first_check_p50_ms']} ms, p99 {p['first_check_p99_ms']} ms",
        f"- background propagation by LISTEN/NOTIFY alone (ack on A → B applied, no request to B): "
        f"p50 {q['p50_ms']} ms, **p99 {q['p99_ms']} ms** ({q['revocations']} revocations)",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "replicas.md")
    args = parser.parse_args()
    res = asyncio.run(main_async(args))
    report = render(res)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    args.out.with_suffix(".json").write_text(json.dumps(res, indent=1))
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
