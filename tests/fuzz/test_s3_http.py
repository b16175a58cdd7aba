"""HTTP-level sweep of the S3 listener of a live ``stsmock serve`` (embedded SeaweedFS behind it).

Raw sockets send what the properties generate (hostile targets, headers, aws-chunked bodies and
XML bodies), signed with real STS credentials so most cases get past authentication into
classification, body checks and the backend. Property: every answer is < 500 (S3's own 501
NotImplemented, for operations the gateway refuses to guess, is counted apart), every error is
S3 XML, and the server's log holds no traceback when it stops.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED as BOTO_UNSIGNED
from botocore.config import Config
from hypothesis import example, given, settings
from hypothesis import strategies as st

from stsproxy.gateway.sigv4 import STREAMING_SIGNED, UNSIGNED, format_timestamp, signing_key

from . import conftest
from .conftest import EXAMPLES, FUZZ
from .s3_cases import MUTATIONS, STREAM_MODES, Case, cases, chunked_body, sign_case
from .test_s3_parsers import LAUGHS, _nested, xml_text

REPO = Path(__file__).resolve().parents[2]
READY = re.compile(r"stsmock ready at (\S+) .*s3 gateway at (http://[\d.:]+)")
ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"


@dataclass
class Live:
    url: str
    s3_host: str
    s3_port: int
    access_key: str
    secret: str
    token: str
    bucket: str
    log: Path


def _creds(url: str, data_dir: Path) -> dict[str, str]:
    admin = (data_dir / "admin-token").read_text().strip()
    request = urllib.request.Request(
        url + "/admin/tokens",
        data=json.dumps({"sub": "fuzzer", "aud": "sts.amazonaws.com"}).encode(),
        headers={"Authorization": f"Bearer {admin}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as resp:
        token = json.loads(resp.read())["token"]
    sts = boto3.client("sts", endpoint_url=url, region_name="us-east-1", config=Config(signature_version=BOTO_UNSIGNED))
    c = sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="fuzz", WebIdentityToken=token)["Credentials"]
    return {"access_key": c["AccessKeyId"], "secret": c["SecretAccessKey"], "token": c["SessionToken"]}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    base = tmp_path_factory.mktemp("s3fuzz")
    log = base / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "serve", "--port", "0", "--data-dir", str(base / "data")],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            cwd=REPO,
        )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        match = READY.search(line)
        assert match, f"stsmock serve did not start: {line!r} {log.read_text()[-2000:]}"
        url, s3_url = match.group(1), match.group(2)
        creds = _creds(url, base / "data")
        bucket = f"fuzz-{uuid.uuid4().hex[:10]}"
        s3 = boto3.client(
            "s3",
            endpoint_url=s3_url,
            region_name="us-east-1",
            aws_access_key_id=creds["access_key"],
            aws_secret_access_key=creds["secret"],
            aws_session_token=creds["token"],
        )
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=b"seed")
        host, port = s3_url.split("//", 1)[1].rsplit(":", 1)
        yield Live(url, host, int(port), creds["access_key"], creds["secret"], creds["token"], bucket, log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log.read_text(errors="replace")
    tracebacks = text.count("Traceback (most recent call last)")
    conftest.count_tracebacks(tracebacks)
    assert tracebacks == 0, text[text.find("Traceback") - 500 :][:4000]


def _wire(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def send(live: Live, case: Case, body: bytes = b"") -> tuple[int, bytes]:
    """One request on its own connection (``Connection: close``); the status and body."""
    head = f"{case.method} {case.target} HTTP/1.1\r\n".encode()
    has_length = any(k.lower() in ("content-length", "transfer-encoding") for k, _ in case.headers)
    headers = [*case.headers, ("connection", "close")]
    if body and not has_length:
        headers.append(("content-length", str(len(body))))
    for name, value in headers:
        head += _wire(name) + b": " + _wire(value) + b"\r\n"
    with socket.create_connection((live.s3_host, live.s3_port), timeout=60) as sock:
        try:
            sock.sendall(head + b"\r\n" + body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused early (it answered before reading the body): read that answer
        raw = b""
        try:
            while chunk := sock.recv(65536):
                raw += chunk
        except ConnectionResetError:
            pass
    assert raw, f"no answer to {case.method} {case.target[:80]}"
    status = int(raw.split(b" ", 2)[1])
    conftest.count_http(status)
    payload = raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""
    assert status < 500 or status == 501, (status, case.method, case.target[:120], payload[:400])
    if status >= 400 and case.method != "HEAD" and payload:
        root = ET.fromstring(payload)  # S3 XML, whoever answered
        assert root.tag.rsplit("}", 1)[-1] == "Error", payload[:300]
    return status, payload


def _sendable(case: Case) -> Case:
    """What a socket carries as one request: a token method (junk methods: tests/app/test_wire_errors.py),
    a target without whitespace, header values without CR/LF/NUL (those are the HTTP parser's, not S3's)."""
    method = case.method if re.fullmatch(r"[A-Z]{1,10}", case.method) else "GET"
    target = re.sub(r"[\s\x00-\x1f\x7f]", "", case.target) or "/"
    headers = tuple((k, re.sub("[\r\n\x00]", "", v).strip()) for k, v in case.headers)
    return Case(method, target, headers)


def _now_stamp() -> str:
    return format_timestamp(time.time())


def _in_bucket(case: Case, live: Live, use_bucket: bool) -> Case:
    if not use_bucket:
        return case
    rest = case.target.split("/", 2)[2] if case.target.count("/") >= 2 else ""
    return Case(case.method, f"/{live.bucket}/{rest}", case.headers)


def test_s3_listener_request_sweep(live: Live) -> None:
    @settings(FUZZ, max_examples=EXAMPLES * 3)
    @given(
        case=cases,
        sign_it=st.booleans(),
        use_bucket=st.sampled_from([True, True, True, False]),
        body=st.binary(max_size=64),
    )
    @example(case=Case("GET", "/b/%ff%fe", (("host", "x"),)), sign_it=True, use_bucket=True, body=b"")
    @example(
        case=Case("PUT", "/b/k", (("host", "x"), ("x-amz-copy-source", "/%"))), sign_it=True, use_bucket=True, body=b""
    )
    @example(case=Case("GET", "/", (("host", "a\udcffb.s3.localhost"),)), sign_it=True, use_bucket=False, body=b"")
    @example(case=Case("DELETE", "/b/x/%0D%0A", (("host", "x"),)), sign_it=True, use_bucket=True, body=b"")  # found
    def run(case: Case, sign_it: bool, use_bucket: bool, body: bytes) -> None:
        case = _sendable(_in_bucket(case, live, use_bucket))
        if sign_it:
            case = sign_case(
                case, UNSIGNED, access_key=live.access_key, secret=live.secret, token=live.token, stamp=_now_stamp()
            )[0]
        send(live, case, body if case.method in ("PUT", "POST") else b"")

    run()


def test_s3_listener_aws_chunked_sweep(live: Live) -> None:
    """PutObject with signed / unsigned-trailer aws-chunked bodies, well-formed and mutated."""

    @FUZZ
    @given(
        payload=st.binary(max_size=2000),
        sizes=st.lists(st.integers(1, 700), max_size=5),
        mode=st.sampled_from(STREAM_MODES),
        edits=st.lists(
            st.tuples(st.integers(0, 2500), st.integers(0, 6), st.sampled_from(MUTATIONS) | st.binary(max_size=6)),
            max_size=2,
        ),
        declared_delta=st.sampled_from([0, 0, 0, 1, -1, 10**15]),
    )
    @example(payload=b"x", sizes=[], mode=STREAM_MODES[2], edits=[(0, 1, b"9" * 5000)], declared_delta=0)
    @example(payload=b"x", sizes=[], mode=STREAMING_SIGNED, edits=[(2, 0, "\u00fc".encode())], declared_delta=0)
    def run(
        payload: bytes, sizes: list[int], mode: str, edits: list[tuple[int, int, bytes]], declared_delta: int
    ) -> None:
        stamp = _now_stamp()
        trailer = mode != STREAMING_SIGNED
        headers: list[tuple[str, str]] = [
            ("host", f"{live.s3_host}:{live.s3_port}"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", str(max(0, len(payload) + declared_delta))),
        ]
        if trailer:
            headers.append(("x-amz-trailer", "x-amz-checksum-crc32"))
        case, seed = sign_case(
            Case("PUT", f"/{live.bucket}/chunked-{uuid.uuid4().hex[:6]}", tuple(headers)),
            mode,
            access_key=live.access_key,
            secret=live.secret,
            token=live.token,
            stamp=stamp,
        )
        assert seed is not None
        key = signing_key(live.secret, stamp[:8], "us-east-1", "s3")
        body = bytearray(
            chunked_body(payload, sizes, mode=mode, seed_signature=seed, key=key, trailer=trailer, stamp=stamp)
        )
        for at, drop, insert in edits:
            at = min(at, len(body))
            body[at : at + drop] = insert
        status, _ = send(live, case, bytes(body))
        if not edits and declared_delta == 0:
            assert status == 200, (mode, len(payload))

    run()


xml_docs = st.one_of(
    xml_text.map(lambda t: f'<?xml version="1.0"?>{t}'.encode()),
    st.binary(max_size=120),
    st.integers(1, 3000).map(_nested),
    st.sampled_from(
        [
            LAUGHS,
            b'<!DOCTYPE d SYSTEM "file:///etc/passwd"><CompleteMultipartUpload/>',
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
            b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
        ]
    ),  # fmt: skip
)
XML_TARGETS = [
    ("POST", "/{b}?delete"),
    ("POST", "/{b}/k?uploadId=fuzz-upload"),
    ("PUT", "/{b}?tagging"),
    ("PUT", "/{b}/k?tagging"),
    ("PUT", "/{b}?versioning"),
    ("PUT", "/{b}?lifecycle"),
]


def _send_signed_body(live: Live, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """``body`` sent to ``path`` (``{b}``: the bucket) with a valid SigV4 signature over it."""
    import hashlib

    headers = (("host", f"{live.s3_host}:{live.s3_port}"), ("content-length", str(len(body))))
    case, _ = sign_case(
        Case(method, path.format(b=live.bucket), headers),
        hashlib.sha256(body).hexdigest(),
        access_key=live.access_key,
        secret=live.secret,
        token=live.token,
        stamp=_now_stamp(),
    )
    return send(live, case, body)


def test_s3_listener_xml_body_sweep(live: Live) -> None:
    """DeleteObjects (read by the gateway) and forwarded XML bodies (screened while streaming)."""

    @FUZZ
    @given(doc=xml_docs, target=st.sampled_from(XML_TARGETS))
    @example(doc=LAUGHS, target=XML_TARGETS[1])
    @example(doc=_nested(50), target=XML_TARGETS[3])
    def run(doc: bytes, target: tuple[str, str]) -> None:
        status, payload = _send_signed_body(live, *target, doc)
        if b"<!DOCTYPE" in doc:
            assert status == 400 and b"MalformedXML" in payload, payload[:300]

    run()


def test_forwarded_billion_laughs_never_reaches_the_backend(live: Live) -> None:
    """Regression: CompleteMultipartUpload / PutBucketTagging bodies were streamed to the backend's XML parser unscreened."""
    for method, path in XML_TARGETS[1:]:
        status, payload = _send_signed_body(live, method, path, LAUGHS)
        root = ET.fromstring(payload)
        assert status == 400 and root.findtext("Code") == "MalformedXML", payload[:300]
        assert "DOCTYPE" in (root.findtext("Message") or "")


def test_key_with_an_encoded_newline_reaches_the_gateway(live: Live) -> None:
    """Found by the sweep: ``/{tail:.*}`` does not match a decoded newline, so ``/b/a%0Ab`` got aiohttp's
    plain-text 404 instead of the gateway (S3 keys may hold newlines)."""
    for method in ("PUT", "GET", "DELETE"):
        case, _ = sign_case(
            Case(method, f"/{live.bucket}/line%0Abreak%0D%0A", (("host", f"{live.s3_host}:{live.s3_port}"),)),
            UNSIGNED,
            access_key=live.access_key,
            secret=live.secret,
            token=live.token,
            stamp=_now_stamp(),
        )
        status, payload = send(live, case, b"data" if method == "PUT" else b"")
        assert status in (200, 204), (method, status, payload[:300])
