#!/usr/bin/env python3
"""Instructions per AssumeRoleWithWebIdentity in the STS core, counted by callgrind (load-independent).

Why: on a shared machine CPU time per request swings ±10-20 % with the other users; an instruction
count does not. ``StsService.handle`` runs over the real store, audit log and group commit with 16
concurrent callers (no HTTP). Per call = (Ir of a run with N2 calls - Ir of a run with N1 calls) /
(N2 - N1), so interpreter start-up, imports and the runtime's set-up cancel out.

    .venv/bin/python bench/sts_core_ir.py [--python OTHER/.venv/bin/python] [--n1 64 --n2 320]

Needs ``valgrind``; tokens are minted natively first (RSA signing under callgrind is slow).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

ROLE_ARN = "arn:aws:iam::000000000000:role/stsmock-dev"
BASIC = "Basic " + base64.b64encode(b"stsmock-dev:stsmock-dev-secret").decode()


async def mint(data: Path, count: int) -> None:
    """A runtime in ``data`` (its keys persist there) and ``count`` tokens from its issuer, over HTTP."""
    import aiohttp
    from aiohttp import web

    from stsmock.app import app_for_runtime
    from stsmock.config import load_config
    from stsmock.wiring import build_runtime

    runtime = build_runtime(load_config(None), data_dir=data, base_url="http://127.0.0.1:1")
    runner = web.AppRunner(app_for_runtime(runtime, delivery_listeners=False))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as session:

        async def one() -> str:
            form = {"grant_type": "client_credentials"}
            async with session.post(f"http://127.0.0.1:{port}/token", data=form, headers={"Authorization": BASIC}) as r:
                return str((await r.json())["access_token"])

        tokens = [await one() for _ in range(count)]
    (data / "tokens.txt").write_text("\n".join(tokens))
    await runner.cleanup()


async def calls(data: Path, count: int) -> None:
    """16 warm-up calls, then ``count`` ARWWI calls in groups of 16 (run under callgrind)."""
    from stsmock.config import load_config
    from stsmock.wiring import build_runtime
    from stsproxy.service import HttpRequest

    runtime = build_runtime(load_config(None), data_dir=data, base_url="http://127.0.0.1:1")
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    requests = [
        HttpRequest("POST", "/", "/", [], headers, urlencode(form).encode(), "127.0.0.1")
        for form in (
            {
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": ROLE_ARN,
                "RoleSessionName": f"b-{i}",
                "WebIdentityToken": token,
            }
            for i, token in enumerate((data / "tokens.txt").read_text().split("\n"))
        )
    ]

    async def one(i: int) -> None:
        response = await runtime.sts.handle(requests[i])
        assert response.status == 200, response.body[:300]

    for first in range(0, 16 + count, 16):
        await asyncio.gather(*(one(first + j) for j in range(16)))
    runtime.audit.close()
    runtime.store.close()


def instructions(python: str, data: Path, count: int, work: Path) -> int:
    copy = work / f"run-{count}"
    shutil.copytree(data, copy)
    out = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={work}/cg.{count}", python, __file__, "--calls",
         str(copy), str(count)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    shutil.rmtree(copy)
    found = re.search(r"Collected : (\d+)", out.stderr)
    assert found, out.stderr[-2000:]
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--python", default=sys.executable, help="the interpreter (venv) whose tree to measure")
    parser.add_argument("--n1", type=int, default=64)
    parser.add_argument("--n2", type=int, default=320)
    parser.add_argument("--calls", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.calls:
        asyncio.run(calls(Path(args.calls[0]), int(args.calls[1])))
        return
    work = Path(tempfile.mkdtemp(prefix="sts-core-ir-"))
    data = work / "data"
    data.mkdir()
    subprocess.run([args.python, __file__, "--calls-mint", str(data), str(args.n2 + 16)], check=False)
    low, high = (instructions(args.python, data, n, work) for n in (args.n1, args.n2))
    per_call = (high - low) // (args.n2 - args.n1)
    print(f"{args.python}: {per_call:,} instructions per ARWWI call (Ir {low:,} @ {args.n1}, {high:,} @ {args.n2})")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--calls-mint":
        asyncio.run(mint(Path(sys.argv[2]), int(sys.argv[3])))
    else:
        main()
