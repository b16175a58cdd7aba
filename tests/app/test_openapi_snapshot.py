"""The admin API's OpenAPI document equals the recorded snapshot (up to key order).

The snapshot was captured from the hand-written document before it was replaced
by one generated from the pydantic models and route metadata; a change of the
API surface (a route, a body model, ``RoleSettings``) must update
``tests/fixtures/admin_openapi.json`` on purpose: run this test with
``STSMOCK_UPDATE_SNAPSHOT=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from stsmock.app import create_app
from stsmock.config import load_config

SNAPSHOT = Path(__file__).parent.parent / "fixtures" / "admin_openapi.json"
BASE_URL = "http://stsmock.test"


async def test_openapi_document_equals_the_snapshot(tmp_path):
    app = create_app(load_config(None), data_dir=tmp_path, base_url=BASE_URL)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/admin/openapi.json")
        assert resp.status == 200
        doc = await resp.json()
    if os.environ.get("STSMOCK_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    expected = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    expected["info"]["version"] = doc["info"]["version"]  # the installed distribution's version
    assert doc == expected


async def test_a_mounted_admin_route_without_an_operation_is_listed_as_undocumented(tmp_path):
    from aiohttp import web

    async def extra(request: web.Request) -> web.Response:
        return web.json_response({})

    app = create_app(load_config(None), data_dir=tmp_path, base_url=BASE_URL)
    app.router.add_post("/admin/extra/{thing}", extra)
    async with TestClient(TestServer(app)) as client:
        doc = await (await client.get("/admin/openapi.json")).json()
    op = doc["paths"]["/admin/extra/{thing}"]["post"]
    assert op["tags"] == ["undocumented"]
    assert op["parameters"] == [{"name": "thing", "in": "path", "required": True, "schema": {"type": "string"}}]
    assert op["requestBody"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/AnyObject"}


def _references(node: object):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


async def test_every_schema_reference_resolves(tmp_path):
    """A response model named by a route but missing from the document left a dangling ``$ref``
    (``Binding``, ``BindingList``): code generators and validators refuse such a document."""
    app = create_app(load_config(None), data_dir=tmp_path, base_url=BASE_URL)
    async with TestClient(TestServer(app)) as client:
        doc = await (await client.get("/admin/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    dangling = sorted({ref for ref in _references(doc) if ref.removeprefix("#/components/schemas/") not in schemas})
    assert dangling == []
