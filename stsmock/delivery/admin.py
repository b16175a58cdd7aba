"""Admin API for bindings: ``/admin/bindings`` (list, create, read, delete)."""

from __future__ import annotations

import json
from pathlib import PurePosixPath
from typing import Any

from aiohttp import web
from pydantic import Field, ValidationError, model_validator

from ..config import format_validation_error
from .engine import DeliveryEngine
from .listeners import DeliveryListeners
from .settings import BindingSettings


class CreateBindingBody(BindingSettings):
    """A binding, plus how long it lives (after that every channel refuses it).

    Files the server writes for a binding made over the API stay under <data-dir>/delivery/
    (relative paths, no ``..``); absolute paths are for the operator's config file.
    """

    ttl_seconds: int | None = Field(default=None, ge=1, le=31_536_000)

    @model_validator(mode="after")
    def _paths_stay_in_the_data_dir(self) -> CreateBindingBody:
        paths = [("token_file", self.token_file)]
        if self.files is not None:
            paths += [("files.credentials", self.files.credentials), ("files.env", self.files.env)]
        for where, path in paths:
            if path is not None and not _relative_inside(path):
                raise ValueError(f"{where}: must be a relative path inside <data-dir>/delivery/")
        return self


def _relative_inside(path: str) -> bool:
    parts = PurePosixPath(path.replace("\\", "/")).parts
    return bool(parts) and not path.startswith(("/", "~")) and ".." not in parts and "\0" not in path


def _error(status: int, error: str, description: str) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def add_binding_routes(app: web.Application, engine: DeliveryEngine, listeners: DeliveryListeners) -> None:
    def secret_view(name: str) -> dict[str, Any]:
        binding = engine.bindings[name]
        return {**binding.describe(engine), "container_token": binding.container_token}

    async def list_bindings(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "container_url": engine.container_url,
                "region": engine.ports.region,
                "bindings": [b.describe(engine) for b in engine.bindings.values()],
            }
        )

    async def create(request: web.Request) -> web.Response:
        try:
            raw = await request.read()
            data = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return _error(400, "invalid_request", "body is not valid JSON")
        if not isinstance(data, dict):
            return _error(400, "invalid_request", "(root): expected an object")
        try:
            body = CreateBindingBody.model_validate(data)
        except ValidationError as exc:
            return _error(400, "invalid_request", format_validation_error(exc))
        spec = BindingSettings.model_validate(body.model_dump(exclude={"ttl_seconds"}))
        try:
            binding = engine.add(spec, ttl_seconds=body.ttl_seconds)
        except ValueError as exc:
            return _error(409, "conflict", str(exc))
        except OverflowError as exc:
            return _error(409, "conflict", str(exc))
        try:
            await listeners.ensure_imds(binding)
            if spec.token_file:
                await engine.write_token_file(binding)
        except OSError as exc:
            engine.remove(spec.name)
            return _error(409, "conflict", f"cannot start the binding's listener or file: {exc.strerror or exc}")
        except Exception as exc:  # e.g. the workload token cannot be minted
            engine.remove(spec.name)
            return _error(400, "invalid_request", f"cannot prepare the binding: {exc}")
        return web.json_response(secret_view(spec.name), status=201)

    async def read(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in engine.bindings:
            return _error(404, "not_found", f"no binding named {name[:64]!r}")
        return web.json_response(secret_view(name))

    async def delete(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if not engine.remove(name):
            return _error(404, "not_found", f"no binding named {name[:64]!r}")
        return web.Response(status=204)

    app.router.add_get("/admin/bindings", list_bindings)
    app.router.add_post("/admin/bindings", create)
    app.router.add_get("/admin/bindings/{name}", read)
    app.router.add_delete("/admin/bindings/{name}", delete)
