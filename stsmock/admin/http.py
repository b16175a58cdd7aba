"""What every admin route shares: the route table with OpenAPI metadata, body parsing, errors, auth.

Each resource module declares ``routes = AdminRoutes("tag")`` and registers its handlers with
``@routes.op(METHOD, PATH, summary, ...)``: the same declaration mounts the route and describes it,
so the OpenAPI document (``openapi.py``) is generated from what is mounted and cannot drift.
Handlers reach the runtime through ``request.app[RUNTIME]``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web
from aiohttp.typedefs import Middleware
from pydantic import BaseModel, ValidationError

from boundedjson import JsonLimitError, loads_bounded

from ..config import format_validation_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Model = TypeVar("Model", bound=BaseModel)
H = TypeVar("H", bound=Handler)

SPEC_PATH = "/admin/openapi.json"
#: (description, the name of a response model in ``responses.py``, or None for no content)
Response = tuple[str, str | None]


@dataclass(frozen=True)
class Operation:
    """The OpenAPI description of one admin route (its request body model, responses, parameters)."""

    summary: str
    tag: str
    body: type[BaseModel] | None = None
    body_required: bool = False
    #: body fields the handler takes from elsewhere (e.g. the path); dropped from the body schema.
    body_exclude: tuple[str, ...] = ()
    responses: Mapping[int, Response] = field(default_factory=dict)
    #: a model whose fields are the (optional) query parameters, in order.
    query: type[BaseModel] | None = None
    #: path parameter -> JSON Schema (default ``{"type": "string"}``).
    path_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    description: str = ""


class AdminRoutes(web.RouteTableDef):
    """A RouteTableDef whose routes carry an :class:`Operation`."""

    def __init__(self, tag: str) -> None:
        super().__init__()
        self.tag = tag

    def op(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        responses: Mapping[int, Response],
        body: type[BaseModel] | None = None,
        body_required: bool = False,
        body_exclude: tuple[str, ...] = (),
        query: type[BaseModel] | None = None,
        path_params: Mapping[str, Mapping[str, Any]] | None = None,
        description: str = "",
    ) -> Callable[[H], H]:
        """Register the decorated handler for ``method path`` and describe it (see :class:`Operation`)."""
        operation = Operation(
            summary,
            self.tag,
            body=body,
            body_required=body_required,
            body_exclude=body_exclude,
            responses=responses,
            query=query,
            path_params=path_params or {},
            description=description,
        )

        def register(handler: H) -> H:
            setattr(handler, "__admin_operation__", operation)  # noqa: B010 - read back by operation_of
            self.route(method, path)(handler)
            return handler

        return register


def operation_of(handler: object) -> Operation | None:
    op = getattr(handler, "__admin_operation__", None)
    return op if isinstance(op, Operation) else None


def admin_error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def _bad_request(description: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=json.dumps({"error": "invalid_request", "error_description": description}),
        content_type="application/json",
    )


async def read_body(request: web.Request, model: type[Model]) -> Model:
    """Parse a JSON body into ``model``; raise a 400 response on any problem."""
    try:
        raw = await request.read()
        # depth, digits, NaN/Infinity and lone surrogates are refused here, naming the limit
        data = loads_bounded(raw, max_bytes=len(raw), what="body") if raw.strip() else {}
    except JsonLimitError as exc:
        raise _bad_request(str(exc)) from None
    except web.HTTPRequestEntityTooLarge:
        raise
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _bad_request(format_validation_error(exc)) from None


def not_found(description: str) -> web.HTTPNotFound:
    return web.HTTPNotFound(
        text=json.dumps({"error": "not_found", "error_description": description}), content_type="application/json"
    )


def auth_middleware(admin_token: str) -> Middleware:
    """``/admin/*`` (except the OpenAPI document) needs ``Authorization: Bearer <admin token>``."""
    expected = admin_token.encode()

    @web.middleware
    async def admin_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/admin/") or request.path == SPEC_PATH:
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected):
            response = admin_error(401, "invalid_token", "the admin API needs 'Authorization: Bearer <admin token>'")
            response.headers["WWW-Authenticate"] = 'Bearer realm="stsmock-admin"'
            return response
        return await handler(request)

    return admin_auth
