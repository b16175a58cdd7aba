"""`stsmock serve --tls`: real clients trust the server with only the data dir's CA file.

boto3 (``verify=ca.pem`` and ``AWS_CA_BUNDLE``), openid-client v6 (default https-only mode,
``NODE_EXTRA_CA_CERTS``), Authlib's RFC 8414 / OIDC metadata validators unmodified on a
non-loopback name (``stsmock.test``, reached through a resolver override), certificate
replacement without a restart, and the CLI's own https calls. Ceph RGW is in
tests/interop/test_rgw_tls.py.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import boto3
import botocore
import pytest
from botocore.config import Config
from serve_process import ServeProcess

from stsmock.tls import TlsContext, TlsFiles, ensure_local_certificate

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"
NODE_DIR = Path(__file__).resolve().parents[1] / "tooling" / "node"


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _token(server: ServeProcess, aud: str = "sts.amazonaws.com") -> str:
    return str(server.admin("POST", "/admin/tokens", {"sub": "alice", "aud": aud})["token"])


def _peer_cert(url: str, ca: Path) -> dict:
    host, port = url.split("//", 1)[1].split(":")
    ctx = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection((host, int(port)), timeout=5) as raw, ctx.wrap_socket(raw, server_hostname=host) as s:
        return s.getpeercert()


@pytest.fixture
def tls_server(tmp_path: Path):
    with ServeProcess(tmp_path / "data", "--tls") as server:
        yield server


def test_boto3_trusts_only_the_ca_file(tls_server: ServeProcess) -> None:
    assert tls_server.url.startswith("https://127.0.0.1:")
    ca = tls_server.ca_file
    sts = boto3.client(
        "sts",
        endpoint_url=tls_server.url,
        region_name="us-east-1",
        verify=str(ca),
        config=Config(signature_version=botocore.UNSIGNED),
    )
    creds = sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="tls", WebIdentityToken=_token(tls_server))[
        "Credentials"
    ]
    signed = boto3.client(
        "sts",
        endpoint_url=tls_server.url,
        region_name="us-east-1",
        verify=str(ca),
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    assert signed.get_caller_identity()["Arn"].endswith(":assumed-role/stsmock-dev/tls")
    # without the CA, botocore's certifi bundle does not trust the local CA
    untrusted = boto3.client(
        "sts", endpoint_url=tls_server.url, region_name="us-east-1", config=Config(signature_version=botocore.UNSIGNED)
    )
    with pytest.raises(botocore.exceptions.SSLError):
        untrusted.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="xx", WebIdentityToken=_token(tls_server))


def test_s3_listener_over_https_with_only_the_ca_file(tls_server: ServeProcess) -> None:
    """The S3 gateway listener serves the same certificate: boto3 with only the CA does put/get through
    the gateway (embedded SeaweedFS behind it); without the CA the handshake is refused."""
    assert tls_server.s3_url.startswith("https://127.0.0.1:"), tls_server.line
    ca = str(tls_server.ca_file)
    sts = boto3.client(
        "sts", endpoint_url=tls_server.url, region_name="us-east-1", verify=ca,
        config=Config(signature_version=botocore.UNSIGNED),
    )  # fmt: skip
    creds = sts.assume_role_with_web_identity(
        RoleArn=ROLE, RoleSessionName="s3tls", WebIdentityToken=_token(tls_server)
    )["Credentials"]
    keys = {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
    s3 = boto3.client("s3", endpoint_url=tls_server.s3_url, region_name="us-east-1", verify=ca, **keys)
    s3.create_bucket(Bucket="tls-bucket")
    s3.put_object(Bucket="tls-bucket", Key="over/https.txt", Body=b"sealed in transit")
    assert s3.get_object(Bucket="tls-bucket", Key="over/https.txt")["Body"].read() == b"sealed in transit"
    cert = _peer_cert(tls_server.s3_url, tls_server.ca_file)
    assert ("IP Address", "127.0.0.1") in cert["subjectAltName"]
    untrusted = boto3.client(
        "s3", endpoint_url=tls_server.s3_url, region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}), **keys,
    )  # fmt: skip
    with pytest.raises(botocore.exceptions.SSLError):
        untrusted.get_object(Bucket="tls-bucket", Key="over/https.txt")


def test_env_prints_the_ca_variables_and_each_client_family_honours_its_own(tls_server: ServeProcess) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "cli.main", "env", "--role-arn", ROLE, "--data-dir", str(tls_server.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    exports = dict(line[len("export ") :].split("=", 1) for line in out.splitlines() if line.startswith("export "))
    bundle = str(tls_server.data_dir / "tls" / "bundle.pem")
    assert exports["AWS_CA_BUNDLE"] == exports["SSL_CERT_FILE"] == exports["REQUESTS_CA_BUNDLE"] == bundle
    assert exports["NODE_EXTRA_CA_CERTS"] == str(tls_server.ca_file)
    assert exports["AWS_ENDPOINT_URL_STS"] == tls_server.url
    ca_path = subprocess.run(
        [sys.executable, "-m", "cli.main", "ca", "path", "--data-dir", str(tls_server.data_dir)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    assert ca_path == str(tls_server.ca_file)
    # a fresh process using only these variables: stdlib urllib (SSL_CERT_FILE) and boto3 (AWS_CA_BUNDLE)
    probe = (
        "import boto3, urllib.request, json, sys\n"
        "url = sys.argv[1]\n"
        "doc = json.load(urllib.request.urlopen(url + '/.well-known/openid-configuration'))\n"
        "sts = boto3.client('sts', region_name='us-east-1')\n"  # endpoint and credentials from the env
        "print(doc['issuer'], sts.get_caller_identity()['Arn'])\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({k: v.strip("'") for k, v in exports.items()})
    result = subprocess.run(
        [sys.executable, "-c", probe, tls_server.url], capture_output=True, text=True, timeout=60, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == tls_server.url
    assert "assumed-role/stsmock-dev" in result.stdout


def test_cli_talks_https_to_the_running_server(tls_server: ServeProcess) -> None:
    args = [sys.executable, "-m", "cli.main", "keys", "list", "--data-dir", str(tls_server.data_dir)]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "\tRS256\tactive" in result.stdout


def test_authlib_metadata_validators_unmodified_on_a_non_loopback_name(tmp_path: Path) -> None:
    """Authlib rejects http for any non-loopback issuer; https://stsmock.test passes every validator as is."""
    import asyncio

    import aiohttp
    from aiohttp.abc import AbstractResolver
    from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
    from authlib.oidc.discovery import OpenIDProviderMetadata

    port = _free_port()
    public = f"https://stsmock.test:{port}"

    class StaticResolver(AbstractResolver):  # the "connect override": stsmock.test -> 127.0.0.1
        async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list:
            assert host == "stsmock.test"
            return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": family, "proto": 0, "flags": 0}]

        async def close(self) -> None:
            pass

    async def fetch(ca: Path) -> tuple[dict, dict]:
        ctx = ssl.create_default_context(cafile=str(ca))  # verifies the name stsmock.test against the SAN
        connector = aiohttp.TCPConnector(resolver=StaticResolver(), ssl=ctx)
        async with aiohttp.ClientSession(connector=connector) as session:
            async with session.get(f"{public}/.well-known/openid-configuration") as r1:
                oidc = await r1.json()
            async with session.get(f"{public}/.well-known/oauth-authorization-server") as r2:
                oauth = await r2.json()
            async with session.get(oidc["jwks_uri"]) as r3:
                assert r3.status == 200 and (await r3.json())["keys"]
        return oidc, oauth

    with ServeProcess(tmp_path / "data", "--tls", "--public-url", public, port=port) as server:
        oidc, oauth = asyncio.run(fetch(server.ca_file))
    assert oidc["issuer"] == public
    OpenIDProviderMetadata(oidc).validate()
    AuthorizationServerMetadata(oauth).validate()
    http_doc = {**oauth, "issuer": f"http://stsmock.test:{port}"}
    with pytest.raises(ValueError, match="https"):  # the same validator refuses the http spelling
        AuthorizationServerMetadata(http_doc).validate_issuer()


@pytest.fixture(scope="module")
def node_tooling() -> Path:
    """tests/tooling/node installed with `npm ci` (openid-client v6); node/npm missing fails on CI."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if _on_ci():
            pytest.fail("[CI] node and npm are required (scripts/system-deps.sh installs them)")
        pytest.skip("node/npm not installed")
    marker = NODE_DIR / "node_modules" / "openid-client" / "package.json"
    if not marker.exists():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefer-offline"],
            cwd=NODE_DIR,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return NODE_DIR


def test_openid_client_v6_without_allow_insecure_requests(tls_server: ServeProcess, node_tooling: Path) -> None:
    """Discovery + client_credentials with openid-client's defaults; trust only via NODE_EXTRA_CA_CERTS."""
    script = node_tooling / "oidc_client_credentials.mjs"
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(tls_server.ca_file)}
    args = ["node", str(script), tls_server.url, "stsmock-dev", "stsmock-dev-secret"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = json.loads(result.stdout)
    assert out["issuer"] == tls_server.url and out["token_endpoint"].startswith("https://")
    assert out["token_type"].lower() == "bearer" and out["access_token"].count(".") == 2
    # the same client refuses the server without the CA (so the trust above came from the CA file)
    bare = {k: v for k, v in os.environ.items() if k != "NODE_EXTRA_CA_CERTS"}
    refused = subprocess.run(args, capture_output=True, text=True, timeout=60, env=bare)
    assert refused.returncode == 1 and "error" in json.loads(refused.stdout)


def test_certificate_replaced_without_restart(tmp_path: Path) -> None:
    """--tls-cert/--tls-key files replaced on disk: the next handshake presents the new certificate."""
    own = tmp_path / "own"
    first = ensure_local_certificate(own, ["first.test"])
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(first.cert, cert)
    shutil.copy(first.key, key)
    ca = own / "tls" / "ca.pem"
    with ServeProcess(tmp_path / "data", "--tls-cert", str(cert), "--tls-key", str(key), ca_file=ca) as server:
        assert server.url.startswith("https://")
        before = _peer_cert(server.url, ca)["serialNumber"]
        (own / "tls" / "cert.pem").unlink()  # force a new leaf with another name from the same CA
        second = ensure_local_certificate(own, ["second.test"])
        shutil.copy(second.key, tmp_path / "key.new")
        shutil.copy(second.cert, tmp_path / "cert.new")
        os.replace(tmp_path / "key.new", key)
        os.replace(tmp_path / "cert.new", cert)
        deadline = time.monotonic() + 30
        after = before
        while after == before and time.monotonic() < deadline:
            time.sleep(0.5)
            after = _peer_cert(server.url, ca)["serialNumber"]
        assert after != before, "the replaced certificate was never presented"
        names = {v for kind, v in _peer_cert(server.url, ca)["subjectAltName"]}
        assert "second.test" in names
        assert server.admin("GET", "/admin/clock")["now"] > 0  # still serving, same process


def test_reload_keeps_the_old_pair_when_the_new_one_is_broken(tmp_path: Path) -> None:
    files = ensure_local_certificate(tmp_path, [])
    tls = TlsContext(TlsFiles(files.cert, files.key, files.ca))
    files.cert.write_text("not a certificate")
    assert tls.reload_if_changed() is False  # logged; the context keeps serving the previous chain


def test_bad_tls_files_are_one_line_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "cert.pem"
    bad.write_text("garbage")
    args = [sys.executable, "-m", "cli.main", "serve", "--port", "0", "--data-dir", str(tmp_path / "d")]
    result = subprocess.run(
        [*args, "--tls-cert", str(bad), "--tls-key", str(bad)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bad) in lines[0] and "Traceback" not in result.stderr
