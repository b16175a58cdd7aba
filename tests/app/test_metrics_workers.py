"""`/metrics` under `serve --workers 2` reports the whole server, whichever worker answers the scrape.

Each worker counts into its own memory-mapped file in ``<data-dir>/metrics/``; the scrape merges
them. The counts of a worker killed with ``kill -9`` stay, and nothing is counted twice.
"""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from serve_process import ServeProcess, has_exited

SCRAPES = 12  # fresh connections: both workers answer some (p(one worker only) = 2 * 2**-12)


def _livez(url: str, times: int) -> None:
    for _ in range(times):
        request = urllib.request.Request(url + "/livez", headers={"Connection": "close"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


def _livez_count(url: str) -> float:
    request = urllib.request.Request(url + "/metrics", headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    total = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "stsmock_http_requests_total" and sample.labels.get("endpoint") == "/livez":
                total += sample.value
    return total


def test_metrics_are_the_whole_servers_and_survive_a_dead_worker(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "metrics").mkdir(parents=True)
    (data / "metrics" / "counter_1.db").write_bytes(b"stale counts of an earlier run")
    with ServeProcess(data, "--workers", "2") as server:
        assert not (data / "metrics" / "counter_1.db").exists()  # a fresh server starts from zero
        _livez(server.url, 30)
        assert {_livez_count(server.url) for _ in range(SCRAPES)} == {30}
        workers = json.loads((data / "server.json").read_text())["workers"]
        assert {f"counter_{pid}.db" for pid in workers} <= {p.name for p in (data / "metrics").iterdir()}
        os.kill(workers[0], signal.SIGKILL)
        while not has_exited(workers[0]):  # until the kernel closed its listening socket
            time.sleep(0.05)
        _livez(server.url, 10)
        assert {_livez_count(server.url) for _ in range(SCRAPES)} == {40}  # its 30-odd counts stayed, once
