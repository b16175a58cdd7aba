"""Prometheus /metrics: HTTP, STS decision and token counters, parsed with prometheus_client's parser."""

from __future__ import annotations

import pytest
import requests
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families


def _samples(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    resp = requests.get(f"{url}/metrics", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/plain; version=")
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def _value(samples: dict, name: str, **labels: str) -> float:
    return sum(v for lbl, v in samples.get(name, []) if all(lbl.get(k) == val for k, val in labels.items()))


def test_metrics_counts_tokens_and_sts_decisions(stsmock):
    url = stsmock.url
    resp = requests.post(
        f"{url}/token",
        data={"grant_type": "client_credentials"},
        auth=("stsmock-dev", "stsmock-dev-secret"),
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    stsmock.assume(session_name="ok")
    with pytest.raises(ClientError) as excinfo:
        stsmock.assume(token=stsmock.token(aud="someone-else"), session_name="denied")
    denied_code = excinfo.value.response["Error"]["Code"]
    assert denied_code in ("AccessDenied", "InvalidIdentityToken")
    requests.get(f"{url}/admin/info", timeout=10)  # no bearer: 401
    requests.get(f"{url}/no/such/thing/12345", timeout=10)

    s = _samples(url)
    assert _value(s, "stsmock_tokens_issued_total", issuer="default", grant="client_credentials") == 1
    assert _value(s, "stsmock_sts_decisions_total", action="AssumeRoleWithWebIdentity", decision="allow", code="") == 1
    assert (
        _value(s, "stsmock_sts_decisions_total", action="AssumeRoleWithWebIdentity", decision="deny", code=denied_code)
        == 1
    )
    assert _value(s, "stsmock_sts_latency_seconds_count", action="AssumeRoleWithWebIdentity") == 2
    assert _value(s, "stsmock_http_requests_total", endpoint="/token", method="POST", status="200") == 1
    assert _value(s, "stsmock_http_requests_total", endpoint="/", method="POST", status="200") == 1
    assert (
        _value(s, "stsmock_http_requests_total", endpoint="/", method="POST", status="400")
        + _value(s, "stsmock_http_requests_total", endpoint="/", method="POST", status="403")
        == 1
    )
    assert _value(s, "stsmock_http_requests_total", endpoint="/admin/info", method="GET", status="401") == 1
    assert _value(s, "stsmock_http_requests_total", endpoint="unmatched", method="GET") == 1
    assert _value(s, "stsmock_http_request_duration_seconds_count", endpoint="/token", method="POST") == 1
    # raw paths never become labels
    endpoints = {lbl["endpoint"] for lbl, _ in s["stsmock_http_requests_total"]}
    assert not any("12345" in e for e in endpoints)


def test_metrics_registries_are_per_app(stsmock_server, tmp_path_factory, _stsmock_loop):
    """A second server in the same process starts from zero (no global registry)."""
    from stsmock.config import load_config
    from stsmock.pytest_plugin import start_server

    requests.get(f"{stsmock_server.url}/healthz", timeout=10)
    other = start_server(load_config(None), tmp_path_factory.mktemp("metrics-2"), _stsmock_loop)
    try:
        s = _samples(other.url)
        assert _value(s, "stsmock_http_requests_total", endpoint="/healthz") == 0
        assert _value(_samples(stsmock_server.url), "stsmock_http_requests_total", endpoint="/healthz") == 1
    finally:
        other.stop()


def test_metric_labels_come_from_fixed_sets(stsmock):
    """Unique junk Action values (unauthenticated) collapse into one label instead of one series each."""
    url = stsmock.url
    for i in range(200):
        requests.post(url + "/", data={"Action": f"Junk{i:05d}", "Version": "2011-06-15"}, timeout=10)
    requests.request("BREW", f"{url}/", timeout=10)
    s = _samples(url)
    actions = {lbl["action"] for lbl, _ in s.get("stsmock_sts_decisions_total", [])}
    assert not any(a.startswith("Junk") for a in actions)
    assert _value(s, "stsmock_sts_decisions_total", action="other", decision="deny", code="InvalidAction") == 200
    codes = {lbl["code"] for lbl, _ in s.get("stsmock_sts_decisions_total", [])}
    assert codes <= {"", "other", "InvalidAction", "AccessDenied", "InvalidIdentityToken"}
    series = sum(len(v) for v in s.values())
    assert series < 200  # bounded: far fewer series than distinct junk values
