"""Connection-level errors in each listener's own protocol, and the header timeout on every request.

A request aiohttp's parser refuses (request line or header over 8190 bytes, more than 128 headers,
bad bytes) happens before routing; it must still answer STS XML on the STS routes, OAuth JSON on
issuer/admin routes and S3 XML on the S3 listener. A slowloris on the *second* request of a
kept-alive connection gets the same 408 as on the first. Raw sockets; waits are generous
deadlines (the server's own small timeouts decide), never timing assertions.
"""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from serve_process import ServeProcess

STS_NS = "{https://sts.amazonaws.com/doc/2011-06-15/}"
# header_timeout small, idle_timeout large: only the header deadline can close a slow second request
CONFIG = """
server:
  header_timeout: 1
  idle_timeout: 300
gateway:
  embedded:
    enabled: false
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    base = tmp_path_factory.mktemp("wire")
    config = base / "c.yaml"
    config.write_text(CONFIG)
    with ServeProcess(base / "data", "--config", str(config)) as proc:
        assert proc.s3_url, proc.line
        yield proc


def _connect(url: str) -> socket.socket:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return socket.create_connection((host, int(port)), timeout=60)


def _exchange(url: str, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``data``, read until the server closes; the (first) response's status, headers, body."""
    with _connect(url) as sock:
        sock.sendall(data)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    return _parse(raw)


def _parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, body


def _read_response(sock: socket.socket) -> bytes:
    """One complete response with a Content-Length (the connection stays open)."""
    raw = b""
    while b"\r\n\r\n" not in raw:
        raw += sock.recv(65536)
    _, headers, body = _parse(raw)
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return raw


def _sts_error(headers: dict[str, str], body: bytes) -> tuple[str, str]:
    assert headers["content-type"].startswith("text/xml")
    root = ET.fromstring(body)
    assert root.tag == f"{STS_NS}ErrorResponse"
    return root.findtext(f"{STS_NS}Error/{STS_NS}Code") or "", root.findtext(f"{STS_NS}Error/{STS_NS}Message") or ""


def _s3_error(headers: dict[str, str], body: bytes) -> tuple[str, str]:
    assert headers["content-type"].startswith("application/xml")
    root = ET.fromstring(body)
    assert root.tag == "Error" and root.findtext("RequestId")
    return root.findtext("Code") or "", root.findtext("Message") or ""


LONG_LINE = b"9" * 9000
LONG_HEADER = b"X-Long: " + b"a" * 9000 + b"\r\n"
MANY_HEADERS = b"".join(b"X-H%d: v\r\n" % i for i in range(200))


def test_sts_route_answers_sts_xml_for_a_request_line_over_the_limit(server: ServeProcess) -> None:
    status, headers, body = _exchange(server.url, b"GET /?Action=" + LONG_LINE + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400
    code, message = _sts_error(headers, body)
    assert code == "MalformedQueryString" and "8190 bytes" in message and "request line" in message


def test_sts_route_answers_sts_xml_for_oversized_headers(server: ServeProcess) -> None:
    for extra, limit in ((LONG_HEADER, "8190 bytes"), (MANY_HEADERS, "128 headers")):
        status, headers, body = _exchange(server.url, b"POST / HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n")
        assert status == 400
        code, message = _sts_error(headers, body)
        assert code == "InvalidParameterValue" and limit in message


def test_issuer_and_admin_routes_answer_oauth_json(server: ServeProcess) -> None:
    cases = [
        b"GET /authorize?state=" + LONG_LINE + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"POST /token HTTP/1.1\r\nHost: x\r\n" + LONG_HEADER + b"\r\n",
        b"GET /admin/roles HTTP/1.1\r\nHost: x\r\n" + MANY_HEADERS + b"\r\n",
        b"GET /.well-known/openid-configuration HTTP/1.1\r\nHost: x\r\nBad\x01Name: v\r\n\r\n",
    ]
    for data in cases:
        status, headers, body = _exchange(server.url, data)
        assert status == 400, data[:40]
        assert headers["content-type"].startswith("application/json")
        doc = json.loads(body)
        assert doc["error"] == "invalid_request" and doc["error_description"], doc


def test_s3_listener_answers_s3_xml(server: ServeProcess) -> None:
    cases = [
        (b"GET /bucket/" + LONG_LINE + b" HTTP/1.1\r\nHost: x\r\n\r\n", "InvalidURI", "8190 bytes"),
        (b"PUT /bucket/key HTTP/1.1\r\nHost: x\r\n" + LONG_HEADER + b"\r\n", "RequestHeaderSectionTooLarge", "8190"),
        (b"GET /bucket HTTP/1.1\r\nHost: x\r\n" + MANY_HEADERS + b"\r\n", "RequestHeaderSectionTooLarge", "128"),
        (b"G@T /bucket HTTP/1.1\r\nHost: x\r\n\r\n", "BadRequest", "malformed HTTP request"),
    ]
    for data, want, named in cases:
        status, headers, body = _exchange(server.s3_url, data)
        assert status == 400, data[:40]
        code, message = _s3_error(headers, body)
        assert code == want and named in message, (code, message)


def _slow_second_request(url: str, first: bytes, second_head: bytes) -> bytes:
    """A complete first request, its response, then a second request whose headers never end."""
    with _connect(url) as sock:
        sock.sendall(first)
        _read_response(sock)
        sock.sendall(second_head)  # no blank line: the header block never completes
        raw = b""
        while chunk := sock.recv(65536):  # returns when the server closes
            raw += chunk
    return raw


def test_header_timeout_applies_to_the_second_request_on_a_keep_alive_connection(server: ServeProcess) -> None:
    raw = _slow_second_request(
        server.url, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
    )
    status, headers, body = _parse(raw)
    assert status == 408
    assert headers["connection"].lower() == "close"
    assert "server.header_timeout" in json.loads(body)["error_description"]


def test_header_timeout_on_the_second_request_to_the_sts_is_sts_xml(server: ServeProcess) -> None:
    first = (
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 0\r\n\r\n"
    )
    raw = _slow_second_request(server.url, first, b"POST / HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n")
    status, headers, body = _parse(raw)
    assert status == 408
    code, message = _sts_error(headers, body)
    assert code == "RequestTimeout" and "server.header_timeout" in message


def test_header_timeout_on_the_second_request_to_the_s3_listener_is_s3_xml(server: ServeProcess) -> None:
    raw = _slow_second_request(
        server.s3_url, b"GET /bucket HTTP/1.1\r\nHost: x\r\n\r\n", b"GET /bucket/key HTTP/1.1\r\nHost: x\r\n"
    )
    status, headers, body = _parse(raw)
    assert status == 408
    code, message = _s3_error(headers, body)
    assert code == "RequestTimeout" and "server.header_timeout" in message
