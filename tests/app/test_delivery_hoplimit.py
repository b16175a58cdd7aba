"""IMDSv2 hop limit: the token PUT response leaves with IP TTL = the binding's ``imds.hop_limit``.

The TTL is observed on the wire: a raw socket (root) sees every TCP packet on
loopback with its IP header, so the test finds the packet that carries the
token and the one that carries the credentials JSON, both sent on ONE
keep-alive connection, and reads their TTL. (IP_RECVTTL does not work on TCP
stream sockets, ip(7).)
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.app.serve_process import ServeProcess

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"
TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 and os.environ.get("CI") != "true",  # on CI it must run (and fail if it cannot)
    reason="a raw socket needs root",
)


class Capture:
    """Every TCP packet from 127.0.0.1:<port>: (ttl, payload)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.packets: list[tuple[int, bytes]] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)  # the machine is busy
        self.sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                packet = self.sock.recv(65535)
            except TimeoutError:
                continue
            ihl = (packet[0] & 0x0F) * 4
            ttl, src = packet[8], packet[12:16]
            sport = struct.unpack("!H", packet[ihl : ihl + 2])[0]
            if src == b"\x7f\x00\x00\x01" and sport == self.port:
                offset = ihl + (packet[ihl + 12] >> 4) * 4
                self.packets.append((ttl, packet[offset:]))

    def ttl_of(self, needle: bytes) -> int:
        """TTL of the packet whose payload carries ``needle`` (waits for the reader thread, no timing asserted)."""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            found = [ttl for ttl, payload in list(self.packets) if needle in payload]
            if found:
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no packet from port {self.port} carried {needle[:16]!r}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    with ServeProcess(tmp_path_factory.mktemp("hop") / "data") as proc:
        yield proc


def _default_ttl() -> int:
    return int(Path("/proc/sys/net/ipv4/ip_default_ttl").read_text().strip())


def _token_then_credentials(url: str, role: str, capture: Capture) -> tuple[int, int, int]:
    """PUT token, GET credentials, PUT token again — one keep-alive connection; the three TTLs."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request("PUT", "/latest/api/token", headers={TTL_HEADER: "60"})
        response = conn.getresponse()
        token = response.read()
        assert response.status == 200 and response.getheader("Connection", "").lower() != "close"
        conn.request(
            "GET",
            f"/latest/meta-data/iam/security-credentials/{role}",
            headers={"X-aws-ec2-metadata-token": token.decode()},
        )
        response = conn.getresponse()
        doc = json.loads(response.read())
        assert response.status == 200 and doc["Code"] == "Success"
        conn.request("PUT", "/latest/api/token", headers={TTL_HEADER: "60"})
        second = conn.getresponse().read()
    finally:
        conn.close()
    return capture.ttl_of(token), capture.ttl_of(doc["SecretAccessKey"].encode()), capture.ttl_of(second)


@needs_root
@pytest.mark.parametrize(("settings", "expected"), [({}, 1), ({"hop_limit": 2}, 2), ({"hop_limit": 64}, 64)])
def test_the_token_response_leaves_with_the_hop_limit_as_ttl_and_nothing_else_does(server, settings, expected):
    name = f"hop{expected}"
    made = server.admin("POST", "/admin/bindings", {"name": name, "role_arn": ROLE, "imds": settings})
    port = urlsplit(made["imds"]["url"]).port
    assert port
    capture = Capture(port)
    try:
        token_ttl, creds_ttl, again_ttl = _token_then_credentials(made["imds"]["url"], "stsmock-dev", capture)
    finally:
        capture.close()
        server.admin("DELETE", f"/admin/bindings/{name}")
    assert token_ttl == expected  # EC2's HttpPutResponseHopLimit (default 1)
    assert creds_ttl == _default_ttl()  # restored for the next answer on the same connection
    assert again_ttl == expected  # and applied again to each token answer


def test_hop_limit_is_validated_like_ec2(server):
    """HttpPutResponseHopLimit is 1..64; anything else is the admin API's invalid_request."""
    for bad in (0, 65, "two"):
        request = urllib.request.Request(
            server.url + "/admin/bindings",
            data=json.dumps({"name": "badhop", "role_arn": ROLE, "imds": {"hop_limit": bad}}).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {server.admin_token}"},
        )
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=10)
        assert err.value.code == 400 and json.loads(err.value.read())["error"] == "invalid_request"
