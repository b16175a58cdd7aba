"""Bounded connections on a real `stsmock serve`: connection limit, header/body/idle timeouts.

Raw sockets play the slow or idle clients; waits are generous deadlines, never timing assertions.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_process import ServeProcess

CONFIG = """
server:
  max_connections: 4
  header_timeout: 1
  body_timeout: 1
  idle_timeout: 1
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    base = tmp_path_factory.mktemp("conn")
    config = base / "c.yaml"
    config.write_text(CONFIG)
    with ServeProcess(base / "data", "--config", str(config)) as proc:
        yield proc


def _connect(server: ServeProcess) -> socket.socket:
    host, port = server.url.split("//", 1)[1].split(":")
    sock = socket.create_connection((host, int(port)), timeout=20)
    return sock


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _body(raw: bytes) -> dict:
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def _healthz(server: ServeProcess) -> int:
    with urllib.request.urlopen(server.url + "/healthz", timeout=20) as resp:
        return resp.status


def test_connections_beyond_the_limit_get_one_503_and_idle_ones_are_closed(server: ServeProcess) -> None:
    idle = [_connect(server) for _ in range(4)]
    try:
        extra = _connect(server)
        raw = _read_all(extra)  # answered and closed at once, not left hanging
        assert raw.startswith(b"HTTP/1.1 503 ")
        assert "server.max_connections = 4" in _body(raw)["error_description"]
        for sock in idle:  # no request headers within header_timeout: 408, then closed
            raw = _read_all(sock)
            assert raw.startswith(b"HTTP/1.1 408 ")
            assert "server.header_timeout" in _body(raw)["error_description"]
    finally:
        for sock in idle:
            sock.close()
    assert _healthz(server) == 200


def test_slow_headers_are_cut_off(server: ServeProcess) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes the header block
        raw = _read_all(sock)
    assert raw.startswith(b"HTTP/1.1 408 ")


def test_slow_body_gets_408_naming_the_limit(server: ServeProcess) -> None:
    with _connect(server) as sock:
        sock.sendall(
            b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 100\r\n\r\ngrant_type"
        )
        raw = _read_all(sock)
    assert raw.startswith(b"HTTP/1.1 408 ")
    assert "server.body_timeout" in _body(raw)["error_description"]


def test_idle_keep_alive_connection_is_closed(server: ServeProcess) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        raw = _read_all(sock)  # returns once the server closes the idle connection
    assert raw.startswith(b"HTTP/1.1 200 ")
    assert raw.count(b"HTTP/1.1") == 1


def test_limits_are_in_the_config_schema() -> None:
    from stsmock.config import config_schema

    server = config_schema()["$defs"]["ServerSettings"]["properties"]
    for key in ("max_connections", "header_timeout", "idle_timeout", "body_timeout", "min_free_bytes", "tls"):
        assert key in server


def test_tls_handshake_counts_against_the_same_limits(tmp_path: Path) -> None:
    """Over https the guard wraps the TLS protocol too: an idle TLS client gets its 408 over TLS."""
    import ssl

    config = tmp_path / "c.yaml"
    config.write_text(CONFIG)
    with ServeProcess(tmp_path / "data", "--tls", "--config", str(config)) as tls:
        host, port = tls.url.split("//", 1)[1].split(":")
        ctx = ssl.create_default_context(cafile=str(tls.ca_file))
        with socket.create_connection((host, int(port)), timeout=20) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as sock:
                data = b""
                try:
                    while chunk := sock.recv(65536):
                        data += chunk
                except (ssl.SSLError, ConnectionResetError):
                    pass
        assert data.startswith(b"HTTP/1.1 408 ")
