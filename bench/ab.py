#!/usr/bin/env python3
"""A/B of stsmock builds on AssumeRoleWithWebIdentity: servers pinned to CPU 0, rounds alternating.

    .venv/bin/python bench/ab.py base=@/tmp/old-tree new=.venv/bin/stsmock [--rounds 5] [--secs 4] [--conc 16]

``NAME=BIN``: an executable that behaves like ``stsmock`` (a venv's ``bin/stsmock``); ``NAME=@DIR``: a
source tree (``git archive REV | tar -x -C DIR``) run by this interpreter's venv. Alternating rounds
in one run are steadier than single cells on a shared machine; the medians are printed.
"""

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa


async def main(a):
    work = Path(tempfile.mkdtemp(prefix="ab-"))
    variants = [v.split("=", 1) for v in a.variants]
    servers = {}
    for name, binp in variants:
        if binp.startswith("@"):  # a source tree run by this interpreter's venv (PYTHONPATH)
            srv = run.Server(run.Spec(name, "stsmock", source=Path(binp[1:])), work, pin=True)
        else:
            run.STSMOCK_BIN = Path(binp)
            srv = run.Server(run.Spec(name, "stsmock"), work, pin=True)
        await srv.start(timeout=60)
        servers[name] = srv
    await asyncio.sleep(1.5)
    rss = {n: run.rss_mb(s.pid) for n, s in servers.items()}
    os.sched_setaffinity(0, run.GEN_CPU)
    reqs = {}
    for n, s in servers.items():
        toks = await run.mint_tokens(s.base, a.tokens)
        reqs[n] = run.Request("POST", "/", run.FORM, run.arwwi_bodies(toks))
    res = {n: [] for n in servers}
    try:
        for _ in range(a.rounds):
            for n, s in servers.items():
                c = await run.run_cell_wrk(s, reqs[n], a.conc, a.secs, True)
                res[n].append(c)
    finally:
        for s in servers.values():
            s.stop()
    for n, cells in res.items():
        d = [c.__dict__ if hasattr(c, "__dict__") else c for c in cells]
        rps = [x["rps"] for x in d]
        us = [x["server_cpu_pct"] * 1e4 / x["rps"] for x in d]
        p99 = [x["p99_ms"] for x in d]
        print(
            f"{n:12s} req/s {statistics.median(rps):7.0f} {[round(v) for v in rps]}"
            f"  cpu us/req {statistics.median(us):6.0f}  p99 {statistics.median(p99):5.1f}  idle RSS {rss[n]:.1f} MB"
        )


ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
ap.add_argument("variants", nargs="+")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--secs", type=float, default=4)
ap.add_argument("--conc", type=int, default=16)
ap.add_argument("--tokens", type=int, default=5000)
asyncio.run(main(ap.parse_args()))
