"""Reading a request body the gateway keeps for itself (DeleteObjects, empty aws-chunked bodies)."""

from __future__ import annotations

from aiohttp import web

from .errors import S3Error
from .payload import BodyPlan
from .pipeline import RequestState


async def read_verified(request: web.Request, state: RequestState, plan: BodyPlan, *, limit: int) -> bytes:
    """Read a small body whole (decoded) and verify it before anything is sent on."""
    decoder, verifier = plan.decoder, plan.verifier
    out = bytearray()
    async for data in request.content.iter_any():
        state.bytes_in += len(data)
        if state.bytes_in > limit:
            raise S3Error("EntityTooLarge", f"This request's body may be at most {limit} bytes.", 400, "body-too-large")
        for piece in decoder.feed(data) if decoder is not None else (data,):
            verifier.update(piece)
            out += piece
    verifier.finish(decoder.finish() if decoder is not None else None)
    return bytes(out)
