"""deploy/kubernetes: valid against the Kubernetes schemas, and consistent with what stsmock reads."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from stsmock.config import load_yaml_text, parse_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
MANIFESTS = sorted(p for p in DEPLOY.glob("*.yaml") if p.name != "kustomization.yaml")
KUBERNETES_VERSION = "1.30.0"  # the oldest minor still commonly run; the schemas ship in the package


def _docs() -> dict[str, dict]:
    return {doc["kind"]: doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc}


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_is_valid_kubernetes(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == [p.name for p in MANIFESTS]


def test_the_config_map_is_a_valid_stsmock_config_for_a_fleet() -> None:
    text = _docs()["ConfigMap"]["data"]["config.yaml"]
    config = parse_config(load_yaml_text(text, source="configmap"), source="configmap")
    assert config.server.host == "0.0.0.0" and config.server.public_url  # one issuer URL for all replicas
    assert config.store.url is None and config.admin.token is None  # secrets come from the Secret
    assert config.sts.roles


def test_the_deployment_wires_secret_probes_and_replicas() -> None:
    docs = _docs()
    deployment = docs["Deployment"]
    assert deployment["spec"]["replicas"] >= 2
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    secret_keys = set(docs["Secret"]["stringData"])
    assert {ref["key"] for ref in env.values()} <= secret_keys
    assert set(env) == {"STSMOCK_STORE_URL", "STSMOCK_ADMIN_TOKEN"}  # names `serve` reads
    assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"  # checks the store
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"  # never touches the store
    selector = docs["Service"]["spec"]["selector"]
    assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
