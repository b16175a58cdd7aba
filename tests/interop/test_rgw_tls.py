"""Ceph RGW trusts an https stsmock issuer with only its CA file (`serve --tls`).

The ``ceph_rgw`` fixture starts radosgw trusting the local CA of a stsmock data dir created
before RGW (``CephRGW.trusted_data_dir``); `stsmock serve --tls` on that data dir issues its
leaf from that CA. RGW fetches discovery and the JWKS over https on every
AssumeRoleWithWebIdentity, verifying the certificate (``rgw_verify_ssl`` defaults to true):
an issuer whose certificate comes from another CA is refused.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

from stsmock.tls import ensure_local_certificate

from .ceph_helpers import (
    CephRGW,
    RGWRequestError,
    assume_at_rgw,
    create_web_identity_role,
    delete_role,
    provider_host,
    put_and_get_object,
    register_oidc_provider,
    unique_name,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "app"))
from serve_process import ServeProcess  # noqa: E402 - the shared `stsmock serve` helper of tests/app

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "ceph-rgw.yaml"
pytestmark = pytest.mark.ceph


def _token(server: ServeProcess) -> str:
    return str(server.admin("POST", "/admin/tokens", {"sub": "alice", "aud": "rgw", "client_id": "rgw"})["token"])


def _trusted_dir(ceph_rgw: CephRGW) -> Path:
    if ceph_rgw.trusted_data_dir is None:
        pytest.skip("this RGW was not started trusting a stsmock CA (external RGW, or not root)")
    return Path(ceph_rgw.trusted_data_dir)


def test_rgw_accepts_a_token_from_an_https_issuer_it_trusts_by_ca(ceph_rgw: CephRGW) -> None:
    with ServeProcess(_trusted_dir(ceph_rgw), "--tls", "--config", str(CONFIG)) as server:
        assert server.url.startswith("https://127.0.0.1:")
        doc = json.load(
            urllib.request.urlopen(server.url + "/.well-known/openid-configuration", context=server.ssl_context())
        )
        assert doc["issuer"] == server.url and doc["jwks_uri"].startswith("https://")
        register_oidc_provider(ceph_rgw, server.url, ["rgw"])
        role = unique_name("tls")
        create_web_identity_role(ceph_rgw, role, provider_host(server.url), {"app_id": "rgw", "sub": "alice"})
        try:
            creds = assume_at_rgw(ceph_rgw, role, _token(server), session_name="https")
            assert creds["SubjectFromWebIdentityToken"] == "alice"
            data = b"credentials from RGW for a token of an https stsmock\n"
            assert put_and_get_object(ceph_rgw, creds, unique_name("b"), "tls.txt", data) == data
        finally:
            delete_role(ceph_rgw, role)


def test_rgw_refuses_an_https_issuer_whose_ca_it_does_not_trust(ceph_rgw: CephRGW, tmp_path: Path) -> None:
    _trusted_dir(ceph_rgw)
    other = ensure_local_certificate(tmp_path / "other-ca", [])  # a leaf from a CA RGW has never seen
    args = ("--tls-cert", str(other.cert), "--tls-key", str(other.key), "--config", str(CONFIG))
    with ServeProcess(tmp_path / "data", *args, ca_file=other.ca) as server:
        register_oidc_provider(ceph_rgw, server.url, ["rgw"])
        role = unique_name("untrusted")
        create_web_identity_role(ceph_rgw, role, provider_host(server.url), {"app_id": "rgw"})
        try:
            with pytest.raises(RGWRequestError) as info:
                assume_at_rgw(ceph_rgw, role, _token(server))
            assert info.value.status in (400, 403)
        finally:
            delete_role(ceph_rgw, role)
