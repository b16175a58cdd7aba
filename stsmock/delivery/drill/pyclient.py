"""A drill client process: boto3, minio-py or the AWS CLI, calling continuously, one JSON line per call.

Run as ``python -m stsmock.delivery.drill.pyclient CLIENT --target sts|s3 --seconds N``.
The client reads its credentials the way it would in production — from the
environment the drill gives it — with no code for the delivery pattern, except
where the SDK has no such chain (minio-py: the matching provider, named in the
report). Each line: ``{"t": epoch, "ok": bool, "key": access key id, "error": code, "ms": latency}``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

Call = Callable[[], str | None]  # returns the access key used (None when unknown)


def _emit(ok: bool, key: str | None, error: str | None, started: float) -> None:
    line = {
        "t": round(time.time(), 3),
        "ok": ok,
        "key": key,
        "error": error,
        "ms": round((time.time() - started) * 1000),
    }
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


def boto3_call(target: str) -> Call:
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=10, s3={"addressing_style": "path"}
    )
    seen: dict[str, str | None] = {"key": None}

    def before_send(request: Any, **_: Any) -> None:
        header = request.headers.get("Authorization") or b""
        header = header.decode() if isinstance(header, bytes) else header
        match = re.search(r"Credential=([A-Z0-9]+)/", header)
        seen["key"] = match.group(1) if match else None

    if target == "s3":
        client = boto3.client("s3", config=config)
        bucket = os.environ["STSMOCK_DRILL_BUCKET"]

        def call() -> str | None:
            client.list_objects_v2(Bucket=bucket, MaxKeys=1)
            return seen["key"]
    else:
        client = boto3.client("sts", config=config)

        def call() -> str | None:
            client.get_caller_identity()
            return seen["key"]

    client.meta.events.register("before-send", before_send)
    return call


def minio_provider(pattern: str) -> Any:
    """minio-py has no default chain: the provider that matches the pattern, reading the same env."""
    from minio.credentials.providers import AWSConfigProvider, EnvAWSProvider, IamAwsProvider

    if pattern == "imds":  # minio-py ignores AWS_EC2_METADATA_SERVICE_ENDPOINT
        return IamAwsProvider(custom_endpoint=os.environ["AWS_EC2_METADATA_SERVICE_ENDPOINT"].rstrip("/"))
    if pattern == "web-identity":  # without custom_endpoint it would call sts.amazonaws.com
        return IamAwsProvider(custom_endpoint=os.environ["AWS_ENDPOINT_URL_STS"])
    if pattern == "container":
        return IamAwsProvider()
    if pattern == "credentials-file":
        return AWSConfigProvider()
    if pattern == "static":
        return EnvAWSProvider()
    raise SystemExit(f"minio-py has no provider for {pattern}")


def minio_call(target: str, pattern: str) -> Call:
    provider = minio_provider(pattern)
    if target == "s3":
        from urllib.parse import urlsplit

        from minio import Minio

        url = urlsplit(os.environ["AWS_ENDPOINT_URL_S3"])
        client = Minio(url.netloc, credentials=provider, secure=url.scheme == "https", region=os.environ["AWS_REGION"])
        bucket = os.environ["STSMOCK_DRILL_BUCKET"]

        def s3_call() -> str | None:
            client.bucket_exists(bucket)
            return str(provider.retrieve().access_key)

        return s3_call
    # STS target: minio-py cannot call STS; sign GetCallerIdentity with the credentials its provider holds.
    import botocore.config
    import botocore.session

    sts_url = os.environ["AWS_ENDPOINT_URL_STS"]
    clients: dict[str, Any] = {}

    def call() -> str | None:
        creds = provider.retrieve()  # minio-py's refresh rule decides when these change
        client = clients.get(creds.access_key)
        if client is None:
            session = botocore.session.get_session()
            session.set_credentials(creds.access_key, creds.secret_key, creds.session_token)
            client = session.create_client(
                "sts",
                endpoint_url=sts_url,
                region_name=os.environ["AWS_REGION"],
                config=botocore.config.Config(retries={"total_max_attempts": 1}),
            )
            clients.clear()
            clients[creds.access_key] = client
        client.get_caller_identity()
        return str(creds.access_key)

    return call


def awscli_call(target: str) -> Call:
    """One `aws` process per call (as scripts use the CLI); the plugin reports the key it signed with."""
    aws = os.environ.get("STSMOCK_DRILL_AWS") or "aws"
    if target == "s3":
        argv = [aws, "s3api", "list-objects-v2", "--bucket", os.environ["STSMOCK_DRILL_BUCKET"], "--max-keys", "1"]
    else:
        argv = [aws, "sts", "get-caller-identity"]

    def call() -> str | None:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)  # noqa: S603
        keys = re.findall(r"STSMOCK_DRILL_KEY=(\S+)", done.stderr)
        if done.returncode != 0:
            codes = re.findall(r"\(([A-Za-z]+)\)", done.stderr)
            message = codes[0] if codes else (done.stderr.strip().splitlines() or ["aws failed"])[-1][:120]
            raise RuntimeError(message)
        return keys[-1] if keys else None

    return call


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and response.get("Error", {}).get("Code"):
        return str(response["Error"]["Code"])
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    return f"{type(exc).__name__}: {str(exc)[:120]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("client", choices=["boto3", "minio-py", "awscli"])
    parser.add_argument("--pattern", required=True)
    parser.add_argument("--target", choices=["sts", "s3"], default="sts")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--interval", type=float, default=0.5)
    parser.add_argument("--min-calls", type=int, default=0, help="Keep going past --seconds until this many calls.")
    args = parser.parse_args(argv)
    end = time.time() + args.seconds
    hard_end = end + 4 * args.seconds  # a slow machine may stretch a run, never without bound
    call: Call | None = None
    calls = 0
    while time.time() < end or (calls < args.min_calls and time.time() < hard_end):
        calls += 1
        started = time.time()
        try:
            if call is None:  # build the client once: a long-running process, as in production
                call = {
                    "boto3": lambda: boto3_call(args.target),
                    "minio-py": lambda: minio_call(args.target, args.pattern),
                    "awscli": lambda: awscli_call(args.target),
                }[args.client]()
            key = call()
            _emit(True, key, None, started)
        except Exception as exc:  # every failure is a measured data point
            _emit(False, None, error_code(exc), started)
        time.sleep(max(0.0, args.interval - (time.time() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
