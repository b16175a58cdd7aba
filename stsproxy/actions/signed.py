"""The SigV4-signed actions: GetCallerIdentity and GetSessionToken, and the caller they authenticate.

The caller comes from the plane's credential chain (:mod:`stsproxy.auth`);
:func:`authenticate` is what AssumeRole uses too.
"""

from __future__ import annotations

from typing import Any, cast

from .. import protocol
from ..errors import AccessDenied
from ..plane import ActionCall, StsPlane
from ..sessions import Session, as_tuple, mint_session, session_token_child
from ..validation import validate_session_token


def authenticate(plane: StsPlane, call: ActionCall) -> Session:
    """The verified caller of a signed STS call (``sigv4-*`` checks, then the chain's)."""
    from ..sigv4 import SignedRequest  # botocore is heavy: load it on the first signed call
    from ..sigv4 import authenticate as sigv4_authenticate

    request = call.request
    signed = SignedRequest(
        method=request.method,
        path=request.raw_path,
        query=request.query,
        headers=dict(request.headers),
        body=request.body,
    )
    auth, session = sigv4_authenticate(signed, plane.chain, now=plane.clock.now(), expected_service="sts")
    call.record.note(access_key=auth.access_key, caller=session.get("arn"), sub=session.get("sub"))
    return cast(Session, session)


async def get_caller_identity(plane: StsPlane, call: ActionCall) -> dict[str, Any]:
    session = authenticate(plane, call)
    return protocol.caller_identity_result(session["user_id"], session["account"], session["arn"])


async def get_session_token(plane: StsPlane, call: ActionCall) -> dict[str, Any]:
    session = authenticate(plane, call)
    req = validate_session_token(call.params, profile=call.profile)
    if session.get("kind") != "user":
        raise AccessDenied("Cannot call GetSessionToken with session credentials", check="caller-long-term")
    duration = req.duration_seconds or 43200
    now = plane.clock.now()
    creds = mint_session(
        plane.codec, plane.store, call.record, session_token_child(session), now=now, duration=duration
    )
    return protocol.session_token_result(call.profile, credentials=as_tuple(creds))
