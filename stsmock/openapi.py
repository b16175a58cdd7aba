"""OpenAPI 3.1 description of the admin API at ``GET /admin/openapi.json`` (no auth).

Request bodies come straight from the pydantic models the handlers validate
with (``model_json_schema``), so the document cannot drift from what the
server accepts; response schemas are written by hand below. The document is
built from the router on first request, so it lists exactly the admin routes
mounted in this app: a route this module has no description for still appears,
as an "undocumented" operation with a permissive schema.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

if TYPE_CHECKING:
    from .app import Runtime

SPEC_PATH = "/admin/openapi.json"
REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


_NUM_OR_NULL = {"anyOf": [{"type": "number"}, {"type": "null"}]}
_STR_OR_NULL = {"anyOf": [{"type": "string"}, {"type": "null"}]}

#: Hand-written response schemas (request bodies come from pydantic).
RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": {
        "type": "object",
        "required": ["error", "error_description"],
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    },
    "ClockState": {
        "type": "object",
        "required": ["now", "frozen", "offset_seconds"],
        "properties": {
            "now": {"type": "number", "description": "virtual epoch seconds"},
            "frozen": {"type": "boolean"},
            "offset_seconds": {"type": "number"},
        },
    },
    "Info": {
        "type": "object",
        "required": ["base_url", "issuers", "profile", "account_id", "clock"],
        "properties": {
            "base_url": {"type": "string"},
            "issuers": {"type": "object", "additionalProperties": {"type": "string"}},
            "profile": {"type": "string", "enum": ["aws", "minio"]},
            "account_id": {"type": "string"},
            "clock": _ref("ClockState"),
        },
    },
    "MintedToken": {
        "type": "object",
        "required": ["token", "issuer"],
        "properties": {"token": {"type": "string", "description": "a signed JWT"}, "issuer": {"type": "string"}},
    },
    "KeyMeta": {
        "type": "object",
        "required": ["kid", "alg", "kty", "state", "published", "created_at", "activated_at"],
        "properties": {
            "kid": {"type": "string"},
            "alg": {"type": "string"},
            "kty": {"type": "string"},
            "state": {"type": "string", "description": "e.g. active, next, retired, expired"},
            "published": {"type": "boolean"},
            "created_at": {"type": "number"},
            "activated_at": {"type": "number"},
            "retired_at": _NUM_OR_NULL,
            "expires_at": _NUM_OR_NULL,
        },
    },
    "KeysByIssuer": {
        "type": "object",
        "description": "issuer name -> its keys (published and unpublished)",
        "additionalProperties": {"type": "array", "items": _ref("KeyMeta")},
    },
    "AuditRecord": {
        "type": "object",
        "required": ["id", "ts", "event", "severity"],
        "properties": {
            "id": {"type": "integer"},
            "ts": {"type": "number"},
            "event": {"type": "string"},
            "severity": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "AuditPage": {
        "type": "object",
        "required": ["records"],
        "properties": {"records": {"type": "array", "items": _ref("AuditRecord")}},
    },
    "Revocation": {
        "type": "object",
        "required": ["id", "created_at", "by", "value"],
        "properties": {
            "id": {"type": "integer"},
            "created_at": {"type": "number"},
            "by": {"type": "string"},
            "value": {"type": "string"},
            "issued_before": _NUM_OR_NULL,
            "reason": _STR_OR_NULL,
            "source": _STR_OR_NULL,
        },
    },
    "RevocationList": {
        "type": "object",
        "required": ["revocations"],
        "properties": {"revocations": {"type": "array", "items": _ref("Revocation")}},
    },
    "FaultRule": {
        "type": "object",
        "required": ["id", "match", "effect"],
        "properties": {
            "id": {"type": "string"},
            "seq": {"type": "integer"},
            "match": {"type": "object"},
            "effect": {"type": "object"},
            "count": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "remaining": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "probability": _NUM_OR_NULL,
            "description": {"type": "string"},
        },
        "additionalProperties": True,
    },
    "FaultList": {
        "type": "object",
        "required": ["faults"],
        "properties": {"faults": {"type": "array", "items": _ref("FaultRule")}},
    },
    "FaultsCleared": {
        "type": "object",
        "required": ["removed"],
        "properties": {"removed": {"type": "integer"}},
    },
    "BreakGlassState": {
        "type": "object",
        "required": ["role", "armed"],
        "properties": {
            "role": {"type": "string"},
            "armed": {"type": "boolean"},
            "uses": {"type": "integer"},
            "armed_until": _NUM_OR_NULL,
            "reason": _STR_OR_NULL,
            "armed_by": _STR_OR_NULL,
        },
        "additionalProperties": True,
    },
    "BreakGlassList": {
        "type": "object",
        "required": ["roles"],
        "properties": {"roles": {"type": "array", "items": _ref("BreakGlassState")}},
    },
    "PolicyDecision": {
        "type": "object",
        "required": ["decision", "allowed", "reason", "statements"],
        "properties": {
            "decision": {"type": "string"},
            "allowed": {"type": "boolean"},
            "reason": {"type": "string"},
            "statements": {"type": "array", "items": {"type": "object"}},
        },
        "additionalProperties": True,
    },
    "Simulation": {
        "type": "object",
        "required": ["role_arn", "action", "resource", "token", "trust", "allowed"],
        "properties": {
            "role_arn": {"type": "string"},
            "action": {"type": "string"},
            "resource": {"type": "string"},
            "token": {"type": "object", "description": "verification outcome (valid/check/message) or synthetic"},
            "trust": _ref("PolicyDecision"),
            "permissions": {"anyOf": [_ref("PolicyDecision"), {"type": "null"}]},
            "session_policies": {"type": "boolean"},
            "break_glass": {"type": "object"},
            "allowed": {"type": "boolean"},
        },
    },
    "Role": {
        "type": "object",
        "required": ["arn", "role_id", "profile", "name", "trust_policy"],
        "properties": {
            "arn": {"type": "string"},
            "role_id": {"type": "string"},
            "profile": {"type": "string"},
            "name": {"type": "string"},
            "path": {"type": "string"},
            "trust_policy": {"type": "object"},
            "policies": {"type": "object"},
        },
        "additionalProperties": True,
    },
    "RoleList": {
        "type": "object",
        "required": ["roles"],
        "properties": {"roles": {"type": "array", "items": _ref("Role")}},
    },
    "AnyObject": {"type": "object", "additionalProperties": True},
    "Binding": {
        "type": "object",
        "required": ["name", "role_arn", "identity", "container", "imds", "credentials", "rotations", "served"],
        "properties": {
            "name": {"type": "string"},
            "role_arn": {"type": "string"},
            "identity": {"type": "object"},
            "expires_at": _NUM_OR_NULL,
            "container": {"type": "object"},
            "imds": {"anyOf": [{"type": "object"}, {"type": "null"}]},
            "files": {"anyOf": [{"type": "object"}, {"type": "null"}]},
            "token_file": _STR_OR_NULL,
            "credentials": {"anyOf": [{"type": "object"}, {"type": "null"}]},
            "rotations": {"type": "integer"},
            "served": {"type": "integer"},
            "last_error": _STR_OR_NULL,
            "container_token": {"type": "string", "description": "the container endpoint's Authorization value"},
        },
    },
    "BindingList": {
        "type": "object",
        "required": ["container_url", "region", "bindings"],
        "properties": {
            "container_url": _STR_OR_NULL,
            "region": {"type": "string"},
            "bindings": {"type": "array", "items": _ref("Binding")},
        },
    },
}


@dataclass
class Op:
    summary: str
    tag: str
    #: "module:Model" of the pydantic body model, resolved lazily (the module may not be installed).
    body: str | None = None
    body_required: bool = False
    #: status -> (description, schema name or None for no content)
    responses: dict[int, tuple[str, str | None]] = field(default_factory=dict)
    query: list[dict[str, Any]] = field(default_factory=list)
    path_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""
    #: body fields the handler takes from elsewhere (e.g. the path); dropped from the body schema.
    body_exclude: tuple[str, ...] = ()


def _q(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_BAD = (400, ("invalid request (body, parameter or value)", "Error"))
_NOT_FOUND = (404, ("no such issuer / object", "Error"))
_CONFLICT = (409, ("exists already, or a limit is reached", "Error"))

#: (METHOD, canonical path) -> description. Routes of optional feature modules are included when mounted.
OPERATIONS: dict[tuple[str, str], Op] = {
    ("GET", "/admin/info"): Op(
        "Server overview: base URL, issuers, STS profile, clock", "info", responses={200: ("overview", "Info")}
    ),
    ("POST", "/admin/tokens"): Op(
        "Mint a token from a built-in issuer",
        "tokens",
        body="stsmock.admin:MintTokenBody",
        responses={200: ("the minted token", "MintedToken"), 400: _BAD[1], 404: _NOT_FOUND[1]},
        description="Claims in `claims` are merged with `sub`/`aud`; protocol claims are set by the issuer.",
    ),
    ("GET", "/admin/keys"): Op(
        "List signing keys per issuer",
        "keys",
        query=[_q("issuer", {"type": "string"}, "only this issuer")],
        responses={200: ("keys", "KeysByIssuer"), 404: _NOT_FOUND[1]},
    ),
    ("POST", "/admin/keys/rotate"): Op(
        "Rotate an issuer's signing key",
        "keys",
        body="stsmock.admin:RotateBody",
        responses={200: ("the new key", "KeyMeta"), 400: _BAD[1], 404: _NOT_FOUND[1]},
    ),
    ("POST", "/admin/keys/{kid}/retire"): Op(
        "Retire a signing key (grace period, or immediately)",
        "keys",
        body="stsmock.admin:RetireBody",
        path_params={"kid": {"type": "string"}},
        responses={200: ("the retired key", "KeyMeta"), 400: _BAD[1], 404: _NOT_FOUND[1]},
    ),
    ("GET", "/admin/audit"): Op(
        "Query the audit log",
        "audit",
        query=[
            _q("subject", {"type": "string"}, "token subject"),
            _q("sub", {"type": "string"}, "alias of subject"),
            _q("role", {"type": "string"}, "role ARN"),
            _q("decision", {"type": "string", "enum": ["allow", "deny"]}, "STS decision"),
            _q("event", {"type": "string"}, "event name or prefix (e.g. sts)"),
            _q("since", {"type": "number"}, "epoch seconds (inclusive)"),
            _q("until", {"type": "number"}, "epoch seconds"),
            _q("after_id", {"type": "integer", "minimum": 0}, "records with a larger id"),
            _q("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "max records (default 100)"),
        ],
        responses={200: ("matching records, oldest first", "AuditPage"), 400: _BAD[1]},
    ),
    ("POST", "/admin/revocations"): Op(
        "Revoke tokens or credentials",
        "revocations",
        body="stsmock.admin:RevokeBody",
        body_required=True,
        responses={201: ("the revocation", "Revocation"), 400: _BAD[1]},
    ),
    ("GET", "/admin/revocations"): Op(
        "List revocations", "revocations", responses={200: ("revocations", "RevocationList")}
    ),
    ("DELETE", "/admin/revocations/{id}"): Op(
        "Remove a revocation",
        "revocations",
        path_params={"id": {"type": "integer"}},
        responses={204: ("removed", None), 400: _BAD[1], 404: _NOT_FOUND[1]},
    ),
    ("GET", "/admin/clock"): Op("Read the virtual clock", "clock", responses={200: ("clock", "ClockState")}),
    ("POST", "/admin/clock"): Op(
        "Freeze, unfreeze, advance, set or reset the virtual clock",
        "clock",
        body="stsmock.admin:ClockBody",
        body_required=True,
        responses={200: ("the new clock state", "ClockState"), 400: _BAD[1]},
    ),
    ("POST", "/admin/faults"): Op(
        "Add a fault-injection rule",
        "faults",
        body="stsmock.faults:FaultBody",
        body_required=True,
        responses={201: ("the rule", "FaultRule"), 400: _BAD[1]},
    ),
    ("GET", "/admin/faults"): Op("List fault rules", "faults", responses={200: ("rules", "FaultList")}),
    ("DELETE", "/admin/faults"): Op(
        "Remove all fault rules", "faults", responses={200: ("how many were removed", "FaultsCleared")}
    ),
    ("DELETE", "/admin/faults/{id}"): Op(
        "Remove one fault rule",
        "faults",
        path_params={"id": {"type": "string"}},
        responses={204: ("removed", None), 404: _NOT_FOUND[1]},
    ),
    ("GET", "/admin/breakglass"): Op(
        "Break-glass roles and their armed state", "breakglass", responses={200: ("states", "BreakGlassList")}
    ),
    ("POST", "/admin/breakglass/{role}/arm"): Op(
        "Arm a break-glass role for a while (virtual clock)",
        "breakglass",
        body="stsmock.breakglass:ArmBody",
        body_required=True,
        path_params={"role": {"type": "string"}},
        responses={200: ("the new state", "BreakGlassState"), 400: _BAD[1], 404: _NOT_FOUND[1]},
    ),
    ("POST", "/admin/breakglass/{role}/disarm"): Op(
        "Disarm a break-glass role",
        "breakglass",
        body="stsmock.breakglass:DisarmBody",
        path_params={"role": {"type": "string"}},
        responses={200: ("the new state", "BreakGlassState"), 400: _BAD[1], 404: _NOT_FOUND[1]},
    ),
    ("POST", "/admin/simulate"): Op(
        "Simulate AssumeRoleWithWebIdentity + a permission check, minting nothing",
        "simulate",
        body="stsmock.simulate:SimulateBody",
        body_required=True,
        responses={200: ("the decision", "Simulation"), 400: _BAD[1], 404: _NOT_FOUND[1]},
        description="Give exactly one of `token` (verified like the STS does) or `claims` (a synthetic token "
        "of a built-in issuer).",
    ),
    ("GET", "/admin/bindings"): Op(
        "List workload bindings (credential delivery)", "bindings", responses={200: ("bindings", "BindingList")}
    ),
    ("POST", "/admin/bindings"): Op(
        "Bind a workload identity to a role; its credentials are delivered and kept fresh",
        "bindings",
        body="stsmock.delivery.admin:CreateBindingBody",
        body_required=True,
        responses={201: ("the binding, with its container token", "Binding"), 400: _BAD[1], 409: _CONFLICT[1]},
        description="File paths are relative to `<data-dir>/delivery/`. See docs/credential-delivery.md.",
    ),
    ("GET", "/admin/bindings/{name}"): Op(
        "Read a binding, with its container token",
        "bindings",
        path_params={"name": {"type": "string"}},
        responses={200: ("the binding", "Binding"), 404: _NOT_FOUND[1]},
    ),
    ("DELETE", "/admin/bindings/{name}"): Op(
        "Remove a binding: every channel refuses it from now on",
        "bindings",
        path_params={"name": {"type": "string"}},
        responses={204: ("removed", None), 404: _NOT_FOUND[1]},
    ),
    ("GET", "/admin/roles"): Op("List the STS roles", "roles", responses={200: ("roles", "RoleList")}),
    ("PUT", "/admin/roles/{name}"): Op(
        "Create or replace a role (the name comes from the path)",
        "roles",
        body="stsproxy.settings:RoleSettings",
        body_required=True,
        body_exclude=("name",),
        path_params={"name": {"type": "string"}},
        responses={200: ("the role", "Role"), 400: _BAD[1]},
        description="`{issuer:NAME}` / `{provider:NAME}` placeholders in the policies are expanded.",
    ),
    ("DELETE", "/admin/roles/{name}"): Op(
        "Delete a role",
        "roles",
        path_params={"name": {"type": "string"}},
        responses={204: ("deleted", None), 404: _NOT_FOUND[1]},
    ),
}


def _model(ref: str) -> type[BaseModel] | None:
    module, _, name = ref.partition(":")
    try:
        model = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def admin_routes(app: web.Application) -> list[tuple[str, str]]:
    """(METHOD, canonical path) of every mounted /admin/ route, in registration order."""
    out: list[tuple[str, str]] = []
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        path = resource.canonical
        if path.startswith("/admin/") and path != SPEC_PATH:
            out.append((route.method, path))
    return list(dict.fromkeys(out))


def build_document(app: web.Application, runtime: Runtime) -> dict[str, Any]:
    routes = admin_routes(app)
    models: dict[str, type[BaseModel]] = {}
    for key in routes:
        op = OPERATIONS.get(key)
        if op is not None and op.body and (model := _model(op.body)) is not None:
            models[op.body] = model
    schemas: dict[str, Any] = {}
    body_refs: dict[str, dict[str, Any]] = {}
    if models:
        mapping, defs = models_json_schema([(m, "validation") for m in models.values()], ref_template=REF)
        schemas.update(defs.get("$defs", {}))
        for ref, model in models.items():
            body_refs[ref] = mapping[(model, "validation")]
    for key in routes:
        op = OPERATIONS.get(key)
        if op is not None and op.body in body_refs and op.body_exclude:
            body_refs[f"{op.body}-{key}"] = _without(schemas, body_refs[op.body], op.body_exclude)
    schemas.update(RESPONSE_SCHEMAS)

    paths: dict[str, dict[str, Any]] = {}
    for method, path in routes:
        op = OPERATIONS.get((method, path))
        paths.setdefault(path, {})[method.lower()] = (
            _operation(method, path, op, body_refs) if op is not None else _undocumented(method, path)
        )
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
        "info": {
            "title": "stsmock admin API",
            "version": _version(),
            "description": "Manage a running stsmock: mint tokens, rotate keys, revoke, move the clock, read the "
            "audit log. Every operation needs `Authorization: Bearer <admin token>` (the token is printed at "
            "start-up and stored in the data dir as `admin-token`).",
        },
        "servers": [{"url": runtime.base_url}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "description": "the admin token"}},
        },
    }


def _without(schemas: dict[str, Any], ref: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    """An inline copy of a component schema without ``fields``."""
    import copy

    name = ref["$ref"].rsplit("/", 1)[-1]
    schema = copy.deepcopy(schemas[name])
    for f in fields:
        schema.get("properties", {}).pop(f, None)
    schema["required"] = [r for r in schema.get("required", []) if r not in fields]
    if not schema["required"]:
        del schema["required"]
    return schema


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _operation_id(method: str, path: str) -> str:
    cleaned = path.removeprefix("/admin/").replace("{", "").replace("}", "").replace("/", "_").replace("-", "_")
    return f"{method.lower()}_{cleaned}"


def _path_parameters(path: str, known: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    import re

    return [
        {"name": name, "in": "path", "required": True, "schema": known.get(name, {"type": "string"})}
        for name in re.findall(r"{([^}:]+)}", path)
    ]


def _unauthorized() -> dict[str, Any]:
    return {"description": "missing or wrong admin token", "content": _json(_ref("Error"))}


def _operation(method: str, path: str, op: Op, body_refs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, (description, schema) in sorted(op.responses.items()):
        entry: dict[str, Any] = {"description": description}
        if schema is not None:
            entry["content"] = _json(_ref(schema))
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
    params = _path_parameters(path, op.path_params) + op.query
    if params:
        out["parameters"] = params
    body_key = f"{op.body}-{(method, path)}" if op.body_exclude else op.body
    if body_key and body_key in body_refs:
        out["requestBody"] = {"required": op.body_required, "content": _json(body_refs[body_key])}
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
    try:
        from importlib.metadata import version

        return version("stsmock")
    except Exception:  # noqa: BLE001 - not installed (source checkout)
        return "0"


def install(app: web.Application, runtime: Runtime) -> None:
    cache: dict[str, Any] = {}

    async def openapi(request: web.Request) -> web.Response:
        # Built on first request: by then every feature module has mounted its routes.
        if "doc" not in cache:
            cache["doc"] = build_document(request.app, runtime)
        return web.json_response(cache["doc"])

    app.router.add_get(SPEC_PATH, openapi)
