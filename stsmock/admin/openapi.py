"""OpenAPI 3.1 description of the admin API at ``GET /admin/openapi.json`` (no auth), generated.

Built on first request from the routes mounted in this app and the :class:`~.http.Operation`
each carries: request bodies and query parameters from the pydantic models the handlers validate
with, responses from the response models in ``models.py``. A mounted admin route without an
operation still appears, as an "undocumented" operation with a permissive schema (a test fails on
it), so the document lists exactly what the server serves.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from ..runtime import RUNTIME
from .http import SPEC_PATH, Operation, operation_of

REF = "#/components/schemas/{model}"
#: The app's document cache (filled on first request; the app is frozen by then, the dict is not).
DOC_KEY: web.AppKey[dict[str, Any]] = web.AppKey("stsmock.admin.openapi", dict)
DESCRIPTION = (
    "Manage a running stsmock: mint tokens, rotate keys, revoke, move the clock, read the audit log. "
    "Every operation needs `Authorization: Bearer <admin token>` (the token is printed at start-up and "
    "stored in the data dir as `admin-token`)."
)


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def as_documentation(schema: Any) -> Any:
    """A schema without titles and defaults: response models describe, they do not validate."""
    if isinstance(schema, list):
        return [as_documentation(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("title", "default"):
            continue
        if key in ("properties", "$defs"):  # mappings of names, not schemas: keep every name
            out[key] = {name: as_documentation(sub) for name, sub in value.items()}
        else:
            out[key] = as_documentation(value)
    return out


def response_schemas() -> dict[str, Any]:
    from .responses import RESPONSES  # documentation only: created for the first document

    _, defs = models_json_schema([(m, "validation") for m in RESPONSES], ref_template=REF)
    out: dict[str, Any] = as_documentation(defs.get("$defs", {}))
    return out


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """Each field of ``model`` as an optional query parameter, in field order."""
    out = []
    for name, prop in model.model_json_schema()["properties"].items():
        schema = as_documentation(prop)
        description = schema.pop("description", "")
        out.append({"name": name, "in": "query", "required": False, "schema": schema, "description": description})
    return out


def admin_routes(app: web.Application) -> list[tuple[str, str, Operation | None]]:
    """(METHOD, canonical path, operation) of every mounted /admin/ route, in registration order."""
    out: dict[tuple[str, str], Operation | None] = {}
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        path = resource.canonical
        if path.startswith("/admin/") and path != SPEC_PATH:
            out.setdefault((route.method, path), operation_of(route.handler))
    return [(method, path, op) for (method, path), op in out.items()]


def build_document(app: web.Application) -> dict[str, Any]:
    routes = admin_routes(app)
    bodies = list(dict.fromkeys(op.body for _, _, op in routes if op is not None and op.body is not None))
    schemas: dict[str, Any] = {}
    body_refs: dict[type[BaseModel], dict[str, Any]] = {}
    if bodies:
        mapping, defs = models_json_schema([(m, "validation") for m in bodies], ref_template=REF)
        schemas.update(defs.get("$defs", {}))
        body_refs = {m: mapping[(m, "validation")] for m in bodies}
    schemas.update(response_schemas())
    paths: dict[str, dict[str, Any]] = {}
    for method, path, op in routes:
        entry = _operation(method, path, op, body_refs, schemas) if op is not None else _undocumented(method, path)
        paths.setdefault(path, {})[method.lower()] = entry
    paths[SPEC_PATH] = {
        "get": {
            "operationId": "get_openapi",
            "summary": "This document",
            "tags": ["meta"],
            "security": [],
            "responses": {"200": {"description": "OpenAPI document", "content": _json({"type": "object"})}},
        }
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "stsmock admin API", "version": _version(), "description": DESCRIPTION},
        "servers": [{"url": app[RUNTIME].base_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "description": "the admin token"}},
        },
    }


def _without(schemas: dict[str, Any], ref: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """An inline copy of a component schema without ``fields``."""
    schema = copy.deepcopy(schemas[ref["$ref"].rsplit("/", 1)[-1]])
    for name in fields:
        schema.get("properties", {}).pop(name, None)
    schema["required"] = [r for r in schema.get("required", []) if r not in fields]
    if not schema["required"]:
        del schema["required"]
    return schema


def _operation_id(method: str, path: str) -> str:
    cleaned = path.removeprefix("/admin/").replace("{", "").replace("}", "").replace("/", "_").replace("-", "_")
    return f"{method.lower()}_{cleaned}"


def _path_parameters(path: str, known: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {"name": name, "in": "path", "required": True, "schema": dict(known.get(name, {"type": "string"}))}
        for name in re.findall(r"{([^}:]+)}", path)
    ]


def _unauthorized() -> dict[str, Any]:
    return {"description": "missing or wrong admin token", "content": _json(_ref("Error"))}


def _operation(
    method: str, path: str, op: Operation, body_refs: dict[type[BaseModel], dict[str, Any]], schemas: dict[str, Any]
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (description, model) in sorted(op.responses.items()):
        entry: dict[str, Any] = {"description": description}
        if model is not None:
            entry["content"] = _json(_ref(model))
        responses[str(status)] = entry
    responses["401"] = _unauthorized()
    out: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": op.summary,
        "tags": [op.tag],
        "responses": responses,
    }
    if op.description:
        out["description"] = op.description
    params = _path_parameters(path, dict(op.path_params)) + (query_parameters(op.query) if op.query else [])
    if params:
        out["parameters"] = params
    if op.body is not None and op.body in body_refs:
        body = body_refs[op.body]
        if op.body_exclude:
            body = _without(schemas, body, op.body_exclude)
        out["requestBody"] = {"required": op.body_required, "content": _json(body)}
    return out


def _undocumented(method: str, path: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": _operation_id(method, path),
        "summary": f"{method} {path} (not described in detail yet)",
        "tags": ["undocumented"],
        "responses": {
            "default": {"description": "see the handler", "content": _json(_ref("AnyObject"))},
            "401": _unauthorized(),
        },
    }
    params = _path_parameters(path, {})
    if params:
        out["parameters"] = params
    if method in ("POST", "PUT", "PATCH"):
        out["requestBody"] = {"required": False, "content": _json(_ref("AnyObject"))}
    return out


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # ~10 ms: on the first document only

    try:
        return version("stsmock")
    except PackageNotFoundError:  # a source checkout that was never installed
        return "0"


def add_route(app: web.Application) -> None:
    app[DOC_KEY] = {}
    app.router.add_get(SPEC_PATH, serve)


async def serve(request: web.Request) -> web.Response:
    cache = request.app[DOC_KEY]
    if "doc" not in cache:  # built on first request: by then every route is mounted
        cache["doc"] = build_document(request.app)
    return web.json_response(cache["doc"])
