"""The STS front end as one framework-free service: request in, response out.

``handle`` is the whole request: a request id, the parameters, the fault hook,
``ACTIONS[action]``, the rendered answer, then the request's durable writes
(session + audit) before the response leaves. Each action is a short sequence
of named steps (:mod:`stsproxy.actions`, :mod:`stsproxy.steps`); a failing step
raises an :class:`~stsproxy.errors.StsError` carrying its ``check`` name, and the
one :class:`~stsproxy.decision.DecisionRecord` of the request collects what
happened and is written to the audit log exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from . import protocol, steps
from .actions import ACTIONS
from .auth import build_chain
from .credentials import SessionTokenCodec
from .decision import DecisionRecord
from .errors import InternalFailure, InvalidAction, StsError, UpstreamError, ValidationError, wire_error
from .permissions import Permissions
from .plane import ActionCall, HttpRequest, HttpResponse, StsPlane
from .policy import PolicyDecision
from .ports import AuditSink, Clock, Revocations, StateStore, StsExtensions
from .roles import RoleRegistry
from .sessions import SESSION_KIND
from .settings import StsSettings
from .steps import WEB_IDENTITY_ACTION
from .validation import check_version_and_action
from .verify import TokenVerifier

__all__ = [
    "SESSION_KIND",
    "WEB_IDENTITY_ACTION",
    "HttpRequest",
    "HttpResponse",
    "StsExtensions",
    "StsService",
]

log = logging.getLogger("stsmock.sts")


class StsService:
    def __init__(
        self,
        settings: StsSettings,
        *,
        verifier: TokenVerifier,
        codec: SessionTokenCodec,
        clock: Clock,
        store: StateStore,
        audit: AuditSink,
        revocations: Revocations,
        extensions: StsExtensions | None = None,
        roles: RoleRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.verifier = verifier
        self.codec = codec
        self.clock = clock
        self.store = store
        self.audit = audit
        self.revocations = revocations
        #: Shared with the composition root (break-glass arming reads it); built here when not given.
        self.roles = roles if roles is not None else RoleRegistry(settings)
        self.ext = extensions or StsExtensions()
        self.permissions = Permissions(self.roles)
        #: The credential chain (static keys → sealed sessions → known → not revoked), shared with the gateway.
        self.chain = build_chain(settings, codec, store, revocations)
        self.plane = StsPlane(
            settings=settings,
            roles=self.roles,
            verifier=verifier,
            codec=codec,
            clock=clock,
            store=store,
            audit=audit,
            revocations=revocations,
            ext=self.ext,
            permissions=self.permissions,
            chain=self.chain,
            time_keys=steps.TimeKeys(clock),
        )

    # ------------------------------------------------------------------ entry

    async def handle(self, request: HttpRequest) -> HttpResponse:
        profile: str = self.settings.profile
        request_id = protocol.new_request_id(profile)
        record = DecisionRecord(action="unknown", request_id=request_id, profile=profile, source_ip=request.remote)
        try:
            if request.body_too_large:
                raise ValidationError(
                    "Request body is too large", check="request-size", detail={"limit": "server.max_body_bytes"}
                )
            body = protocol.parse_form_body(request.body, request.headers.get("Content-Type"))
            params = protocol.merge_params(request.query, body)
            role = self.roles.by_arn(params.get("RoleArn", "")) if params.get("RoleArn") else None
            if role is not None:
                record.profile = profile = role.profile
            action = check_version_and_action(params, profile=profile)
            record.action = action
            if self.ext.fault is not None:
                fault = await self.ext.fault(
                    endpoint="sts", action=action, role_arn=params.get("RoleArn"), client_id=None
                )
                if fault is not None:
                    raise fault
            run = ACTIONS.get(action)
            if run is None:
                raise InvalidAction(f"Could not find operation {action} for version 2011-06-15", check="action-known")
            fields = await run(self.plane, ActionCall(request, params, profile, record))
            record.allow()
            body_bytes = protocol.render_result(action, fields, request_id=request_id, profile=profile)
            status = 200
        except StsError as error:
            code = error.upstream_code if isinstance(error, UpstreamError) else error.code
            record.deny(code, error.check, error.message)
            if error.detail:
                record.note(detail=error.detail)
            wire = wire_error(error, profile, debug=self.settings.debug)
            body_bytes = protocol.render_error(wire, request_id=request_id, profile=profile)
            status = wire.status
        except Exception:  # never a stack trace to the client
            log.exception("STS request %s failed", request_id)
            internal = InternalFailure("An internal error occurred.", check="internal")
            record.deny(internal.code, internal.check, "internal error; see the server log")
            wire = wire_error(internal, profile)
            body_bytes = protocol.render_error(wire, request_id=request_id, profile=profile)
            status = wire.status
        audit_fields = record.as_audit()

        def write_audit() -> None:
            self.audit.record("sts.decision", severity=audit_fields.pop("severity", None), **audit_fields)

        try:
            await self._persist([*record.writes, write_audit])
        except Exception:  # never hand out credentials whose session or audit record is not on disk
            log.exception("STS request %s: could not persist its records", request_id)
            wire = wire_error(InternalFailure("An internal error occurred.", check="persist"), profile)
            body_bytes = protocol.render_error(wire, request_id=request_id, profile=profile)
            status = wire.status
        if self.ext.observe is not None:
            self.ext.observe(audit_fields)
        headers = {"Content-Type": protocol.content_type(profile), **protocol.response_headers(profile, request_id)}
        return HttpResponse(status, headers, body_bytes)

    async def _persist(self, ops: list[Callable[[], None]]) -> None:
        if self.ext.commit is not None:
            await self.ext.commit(ops)
            return
        for op in ops:
            op()

    async def close(self) -> None:
        await self.verifier.close()
        if self.ext.upstream is not None:
            await self.ext.upstream.close()

    # ------------------------------------------------------------------ for the toolkit and the plugin

    def resolve(self, access_key: str, session_token: str | None, now: float) -> tuple[str, dict[str, Any]]:
        """SigV4 ``CredentialResolver``: the credential chain (static keys → sealed → known → not revoked)."""
        return self.chain.resolve(access_key, session_token, now)

    def caller_permissions(
        self, session: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]
    ) -> PolicyDecision | None:
        """What a credential may do: role policies ∩ session policies. None = unrestricted static user."""
        return self.permissions.evaluate(session, action, resource, context)

    def session_for(self, access_key: str) -> dict[str, Any] | None:
        return self.store.get(SESSION_KIND, access_key)
