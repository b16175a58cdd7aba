"""``/admin/bindings``: workload bindings of credential delivery (the engine is ``stsmock.delivery``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..delivery.engine import DeliveryEngine
from ..runtime import RUNTIME
from .http import AdminRoutes, admin_error, read_body
from .models import BAD_REQUEST, CONFLICT, NOT_FOUND, CreateBindingBody

routes = AdminRoutes("bindings")


def _with_token(engine: DeliveryEngine, name: str) -> dict[str, Any]:
    binding = engine.bindings[name]
    return {**binding.describe(engine), "container_token": binding.container_token}


@routes.op(
    "GET",
    "/admin/bindings",
    "List workload bindings (credential delivery)",
    responses={200: ("bindings", "BindingList")},
)
async def list_bindings(request: web.Request) -> web.Response:
    engine = request.app[RUNTIME].delivery
    return web.json_response(
        {
            "container_url": engine.container_url,
            "region": engine.ports.region,
            "bindings": [b.describe(engine) for b in engine.bindings.values()],
        }
    )


@routes.op(
    "POST",
    "/admin/bindings",
    "Bind a workload identity to a role; its credentials are delivered and kept fresh",
    body=CreateBindingBody,
    body_required=True,
    responses={
        201: ("the binding, with its container token", "Binding"),
        400: BAD_REQUEST,
        409: CONFLICT,
        503: ("stored, but the delivery listeners did not bring it up in time", "Error"),
    },
    description="File paths are relative to `<data-dir>/delivery/`. See docs/credential-delivery.md.",
)
async def create_binding(request: web.Request) -> web.Response:
    engine = request.app[RUNTIME].delivery
    body = await read_body(request, CreateBindingBody)
    shared = request.app[RUNTIME].bindings
    try:
        binding = await engine.create(body.binding(), ttl_seconds=body.ttl_seconds)
        binding.shared = True
        try:
            shared.save(binding)  # every process serves it from now on
        except BaseException:
            engine.remove(binding.name)  # not stored: not served anywhere, here neither
            raise
        shared.published(binding)
    except (ValueError, OverflowError) as exc:
        return admin_error(409, "conflict", str(exc))
    except OSError as exc:
        return admin_error(409, "conflict", f"cannot start the binding's listener or file: {exc.strerror or exc}")
    except Exception as exc:  # e.g. the workload token cannot be minted
        return admin_error(400, "invalid_request", f"cannot prepare the binding: {exc}")
    if not await shared.wait_for_endpoints(binding):
        return admin_error(
            503,
            "unavailable",
            f"binding {binding.name!r} is stored, but the process running the delivery listeners did not "
            "bring it up in time; read it again with GET /admin/bindings/NAME",
        )
    return web.json_response(_with_token(engine, binding.name), status=201)


@routes.op(
    "GET",
    "/admin/bindings/{name}",
    "Read a binding, with its container token",
    path_params={"name": {"type": "string"}},
    responses={200: ("the binding", "Binding"), 404: NOT_FOUND},
)
async def read_binding(request: web.Request) -> web.Response:
    engine = request.app[RUNTIME].delivery
    name = request.match_info["name"]
    if name not in engine.bindings:
        return admin_error(404, "not_found", f"no binding named {name[:64]!r}")
    return web.json_response(_with_token(engine, name))


@routes.op(
    "DELETE",
    "/admin/bindings/{name}",
    "Remove a binding: every channel refuses it from now on",
    path_params={"name": {"type": "string"}},
    responses={204: ("removed", None), 404: NOT_FOUND},
)
async def delete_binding(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    runtime = request.app[RUNTIME]
    if not runtime.delivery.remove(name):
        return admin_error(404, "not_found", f"no binding named {name[:64]!r}")
    runtime.bindings.delete(name)  # every other process drops it at its next request or wake-up
    return web.Response(status=204)
