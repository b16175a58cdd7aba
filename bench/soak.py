"""Soak: is memory bounded? Drive AssumeRoleWithWebIdentity for a while and sample RSS.

    .venv/bin/python bench/soak.py [--seconds 600] [--concurrency 16]

Every request mints new credentials (new access key, session record, audit record) and every
token in the rotation is distinct, so anything cached per request would show as growth. Writes
bench/results/soak.md. Needs wrk (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import (  # noqa: E402 - bench/run.py, next to this file
    BENCH,
    FORM,
    Request,
    Server,
    Spec,
    arwwi_bodies,
    loadavg,
    mint_tokens,
    rss_mb,
    run_cell_wrk,
)


async def soak(seconds: int, concurrency: int, interval: int) -> list[tuple[float, float, float]]:
    workdir = Path(tempfile.mkdtemp(prefix="stsmock-soak-"))
    server = Server(Spec("stsmock", "stsmock"), workdir, pin=False)
    await server.start()
    samples: list[tuple[float, float, float]] = []
    try:
        tokens = await mint_tokens(server.base, 64)
        req = Request("POST", "/", FORM, arwwi_bodies(tokens))
        started = time.perf_counter()
        samples.append((0.0, rss_mb(server.pid), 0.0))
        while time.perf_counter() - started < seconds:
            cell = await run_cell_wrk(server, req, concurrency, interval, pin=False)
            samples.append((round(time.perf_counter() - started, 1), rss_mb(server.pid), cell.rps))
            print(
                f"t={samples[-1][0]:>6}s rss={samples[-1][1]:.1f} MB rps={cell.rps:,.0f} load {loadavg()}", flush=True
            )
    finally:
        server.stop()
    return samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=600)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--interval", type=int, default=20, help="seconds per load slice between RSS samples")
    args = ap.parse_args()
    samples = asyncio.run(soak(args.seconds, args.concurrency, args.interval))
    rss = [s[1] for s in samples[1:]]
    first_half, second_half = rss[: len(rss) // 2], rss[len(rss) // 2 :]
    total = sum(s[2] * args.interval for s in samples[1:])
    lines = [
        "# Soak: AssumeRoleWithWebIdentity, memory over time",
        "",
        f"{args.seconds} s at c={args.concurrency} (wrk), ≈ {total:,.0f} requests, each minting new credentials.",
        "",
        "| t (s) | RSS (MB) | req/s |",
        "|---:|---:|---:|",
        *(f"| {t:.0f} | {r:.1f} | {q:,.0f} |" for t, r, q in samples),
        "",
        f"RSS median first half {statistics.median(first_half):.1f} MB, second half "
        f"{statistics.median(second_half):.1f} MB; max {max(rss):.1f} MB.",
        "",
    ]
    out = BENCH / "results" / "soak.md"
    out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
