"""The admin API against its own OpenAPI document, fuzzed with schemathesis (stateless, bounded)."""

from __future__ import annotations

import re

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]
MAX_EXAMPLES = 25


def _admin_routes(app) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if path.startswith("/admin/") and route.method != "HEAD":
            out.add((route.method, path))
    return out


def test_openapi_document_covers_every_admin_route(stsmock_server):
    resp = requests.get(f"{stsmock_server.url}/admin/openapi.json", timeout=10)  # no auth needed
    assert resp.status_code == 200
    doc = resp.json()
    assert doc["openapi"].startswith("3.")
    assert doc["servers"] == [{"url": stsmock_server.url}]
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "the admin token",
    }
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    from stsmock.app import app_for_runtime  # noqa: F401 - the runtime's app is what serves the doc

    app = stsmock_server._runner.app
    assert _admin_routes(app) <= documented
    undocumented = [p for p, item in doc["paths"].items() for op in item.values() if "undocumented" in op["tags"]]
    assert not undocumented, f"admin routes without a hand-written description: {undocumented}"
    # request bodies come from the pydantic models
    body = doc["paths"]["/admin/tokens"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/MintTokenBody"}
    assert doc["components"]["schemas"]["MintTokenBody"]["additionalProperties"] is False


def _fuzzer(operation, session: requests.Session, headers: dict[str, str], calls: dict[str, int]):
    """A bounded hypothesis test for one operation (examples are deterministic)."""

    @given(case=operation.as_strategy())
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        calls[operation.label] = calls.get(operation.label, 0) + 1
        case.call_and_validate(session=session, headers=headers, checks=CHECKS, timeout=10)

    return run


def test_admin_api_conforms_to_its_openapi_document(stsmock_server):
    schema = schemathesis.openapi.from_url(f"{stsmock_server.url}/admin/openapi.json")
    headers = {"Authorization": f"Bearer {stsmock_server.admin_token}"}
    session = requests.Session()
    failures: list[str] = []
    tested = 0
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        tested += 1

        run = _fuzzer(operation, session, headers, calls)
        try:
            run()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure, then report them together
            text = re.sub(r"\n{3,}", "\n\n", str(exc))[:1500]
            failures.append(f"{operation.label}: {type(exc).__name__}: {text}")
    assert tested >= 15
    assert len(calls) == tested, "every operation was called"
    print({label: n for label, n in sorted(calls.items())})
    assert not failures, "\n\n".join(failures)
    # the fixture server is still healthy afterwards
    assert session.get(f"{stsmock_server.url}/admin/info", headers=headers, timeout=10).status_code == 200


@pytest.mark.parametrize("path", ["/admin/info", "/admin/keys", "/admin/audit"])
def test_admin_api_needs_the_bearer_token(stsmock_server, path):
    resp = requests.get(f"{stsmock_server.url}{path}", timeout=10)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("query", ["after_id=99999999999999999999999", "after_id=-5", "limit=99999999999999999999"])
def test_audit_query_out_of_range_integers_are_not_server_errors(stsmock_server, query):
    headers = {"Authorization": f"Bearer {stsmock_server.admin_token}"}
    resp = requests.get(f"{stsmock_server.url}/admin/audit?{query}", headers=headers, timeout=10)
    assert resp.status_code == 200


def test_delete_revocation_with_huge_id_is_404(stsmock_server):
    headers = {"Authorization": f"Bearer {stsmock_server.admin_token}"}
    resp = requests.delete(f"{stsmock_server.url}/admin/revocations/{2**70}", headers=headers, timeout=10)
    assert resp.status_code == 404
