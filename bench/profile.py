#!/usr/bin/env python3
"""Profile one stsmock scenario under load with py-spy; print the hot spots.

    .venv/bin/pip install py-spy
    .venv/bin/python bench/profile.py arwwi|token-rs256|token-es256|jwks|startup [--seconds 8] [--concurrency 16]

Starts a fresh stsmock, drives the scenario with bench/run.py's load generator
while `py-spy record --format raw` samples the server, then prints the top
functions by self time and by inclusive time (% of samples).  `--idle` also
counts samples where the thread is waiting (I/O, locks).  The raw collapsed
stacks (flamegraph input) are left in /tmp/stsmock-profile-<scenario>.txt.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

PY_SPY = Path(sys.executable).parent / "py-spy"


def summarise(raw: Path, top: int) -> str:
    self_c: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        total += count
        frames = [
            f.split(" (")[0] + " (" + f.split(" (")[1].split(":")[0].rsplit("/", 1)[-1] + ")" if " (" in f else f
            for f in stack.split(";")
        ]
        self_c[frames[-1]] += count
        for f in set(frames):
            incl[f] += count
    out = [f"total samples: {total}", "", "top self time:"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in self_c.most_common(top)]
    out += ["", "top inclusive time (excluding frames in >95% of samples):"]
    out += [f"  {100 * c / total:5.1f}%  {f}" for f, c in incl.most_common(top * 4) if c / total < 0.95][:top]
    return "\n".join(out)


async def main_async(a: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="stsmock-prof-"))
    raw = Path(f"/tmp/stsmock-profile-{a.scenario}.txt")
    idle = (["--idle"] if a.idle else []) + (["--gil"] if a.gil else [])
    if a.scenario == "startup":
        data = work / "data"
        argv = [str(run.STSMOCK_BIN), "serve", "--port", "0", "--data-dir", str(data), "--no-s3"]
        # sample the first a.seconds of the process (spawn -> ready -> idle), then kill the whole group
        spy = subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "-r",
                "500",
                "--format",
                "raw",
                "-o",
                str(raw),
                *idle,
                "-d",
                str(int(a.seconds)),
                "--",
                *argv,
            ],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            spy.wait(a.seconds + 15)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(spy.pid, signal.SIGTERM)
        print(summarise(raw, a.top))
        return
    cfg = None
    if a.scenario.startswith("token-"):
        cfg = run.write_stsmock_config(work / "c.yaml", a.scenario.split("-")[1].upper())
    srv = run.Server(run.Spec("stsmock", "stsmock", cfg), work, pin=False)
    try:
        await srv.start()
        if a.scenario == "arwwi":
            req = run.Request(
                "POST", "/", run.FORM, run.arwwi_bodies(await run.mint_tokens(srv.base, run.ARWWI_TOKENS))
            )
        elif a.scenario == "jwks":
            req = run.JWKS_REQ
        else:
            req = run.TOKEN_REQ
        spy = subprocess.Popen(
            [
                str(PY_SPY),
                "record",
                "-r",
                "200",
                "--format",
                "raw",
                "-o",
                str(raw),
                *idle,
                "-d",
                str(int(a.seconds)),
                "-p",
                str(srv.pid),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        cell = await run.run_cell(srv, req, a.concurrency, 10**9, a.seconds - 1, 100)
        print(
            f"load during profile: {cell.rps:.0f} req/s, p50 {cell.p50_ms} ms, p99 {cell.p99_ms} ms, "
            f"server CPU {cell.server_cpu_pct:.0f}% (py-spy sampling overhead included)"
        )
        spy.wait(30)
    finally:
        srv.stop()
    print(summarise(raw, a.top))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenario", choices=["arwwi", "token-rs256", "token-es256", "jwks", "startup"])
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--idle", action="store_true", help="include idle/waiting samples")
    ap.add_argument("--gil", action="store_true", help="only samples of the thread holding the GIL")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
