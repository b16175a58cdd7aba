"""The STS front end as one framework-free service: request in, response out.

Each action is a short pipeline of named checks. A failing check raises an
:class:`~stsproxy.errors.StsError` carrying its ``check`` name; the one
:class:`~stsproxy.decision.DecisionRecord` of the request collects what
happened and is written to the audit log exactly once.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import protocol
from .context import (
    SOURCE_IDENTITY_CLAIM,
    claim_keys,
    principal_tag_context,
    session_tags,
    tag_keys_context,
)
from .credentials import MintedCredentials, SessionTokenCodec, mint
from .decision import DecisionRecord
from .errors import (
    AccessDenied,
    IDPRejectedClaim,
    InternalFailure,
    InvalidAction,
    InvalidClientTokenId,
    InvalidParameterValue,
    PackedPolicyTooLarge,
    StsError,
    UpstreamError,
    ValidationError,
    wire_error,
)
from .policy import (
    Policy,
    PolicyDecision,
    RequestContext,
    evaluate_session,
    evaluate_trust,
    packed_policy_size,
    parse_policy,
)
from .ports import AuditSink, Clock, Revocations, StateStore
from .roles import Role, RoleRegistry
from .settings import StsSettings
from .validation import (
    check_version_and_action,
    validate_assume_role,
    validate_session_token,
    validate_web_identity,
)
from .verify import TokenVerifier, VerifiedToken

log = logging.getLogger("stsmock.sts")

SESSION_KIND = "sts-session"
WEB_IDENTITY_ACTION = "sts:AssumeRoleWithWebIdentity"
MAX_SESSION_TAGS = 50


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    raw_path: str
    query: list[tuple[str, str]]
    headers: Mapping[str, str]
    body: bytes
    remote: str | None = None
    body_too_large: bool = False


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass
class StsExtensions:
    """Collaborators added by the toolkit; each is optional."""

    #: async (endpoint, action, role_arn, client_id) -> StsError | None; may sleep (latency faults).
    fault: Callable[..., Awaitable[StsError | None]] | None = None
    #: (role, claims, record) -> None; raises AccessDenied when a break-glass role may not be used.
    break_glass: Callable[[Role, dict[str, Any], DecisionRecord], None] | None = None
    #: called after a break-glass role was used successfully.
    break_glass_used: Callable[[Role, DecisionRecord], None] | None = None
    #: async forwarder: (role, request, verified, context) -> dict result fields (minted upstream).
    upstream: Any = None
    #: (record: dict) -> None, for metrics.
    observe: Callable[[dict[str, Any]], None] | None = None
    #: Runs a request's durable writes (session + audit) before its response leaves;
    #: the composition root batches them into one commit per loop turn. Default: in order, now.
    commit: Callable[[list[Callable[[], None]]], Awaitable[None]] | None = None


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
        self._time_cache: tuple[int, dict[str, Any]] | None = None
        self._static_users = {
            u["access_key"]: (u["secret_key"], self._user_session(u)) for u in settings.users if "access_key" in u
        }

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
            if action == "AssumeRoleWithWebIdentity":
                fields = await self._assume_role_with_web_identity(params, profile, record)
            elif action == "AssumeRole":
                fields = await self._assume_role(request, params, profile, record)
            elif action == "GetCallerIdentity":
                fields = self._get_caller_identity(request, record)
            elif action == "GetSessionToken":
                fields = self._get_session_token(request, params, profile, record)
            else:
                raise InvalidAction(f"Could not find operation {action} for version 2011-06-15", check="action-known")
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

    # ------------------------------------------------------------------ web identity

    async def _assume_role_with_web_identity(
        self, params: Mapping[str, str], profile: str, record: DecisionRecord
    ) -> dict[str, Any]:
        req = validate_web_identity(params, profile=profile)
        record.note(role_arn=req.role_arn, session_name=req.role_session_name)
        role = self.roles.by_arn(req.role_arn) if req.role_arn else None
        record.note(**_unverified_identity(req.web_identity_token))
        verified = await self.verifier.verify(req.web_identity_token)
        claims = verified.claims
        record.note(
            claims_verified=True,
            sub=claims.get("sub"),
            iss=verified.issuer.issuer,
            aud=verified.audience,
            jti=claims.get("jti"),
            token_hash=verified.token_hash[:16],
            kid=verified.kid,
            alg=verified.alg,
        )
        self._check_token_revocation(verified)
        if role is None:
            if profile == "minio" and (req.role_arn is None or not self.roles.all()):
                return self._minio_claim_mode(req, verified, record)
            raise AccessDenied(
                f"Not authorized to perform {WEB_IDENTITY_ACTION}",
                check="role-exists",
                detail={"role_arn": req.role_arn, "reason": "no role with this ARN is configured"},
            )
        record.note(role_arn=role.arn)
        if self.ext.break_glass is not None and role.settings.break_glass is not None:
            self.ext.break_glass(role, claims, record)
        session_name = req.role_session_name or f"stsmock-{int(self.clock.now())}"
        try:
            tags, transitive = session_tags(claims)
        except ValueError as exc:
            raise InvalidParameterValue(str(exc), check="session-tags") from None
        self._check_tag_limits(tags)
        source_identity = claims.get(SOURCE_IDENTITY_CLAIM)
        duration = self._duration(req.duration_seconds, role, profile, token_exp=claims.get("exp"))
        context = self._trust_context(verified, session_name, tags, transitive, source_identity, duration)
        principal = {"Federated": (self.provider_arn(verified), verified.issuer.issuer)}
        trust = evaluate_trust(
            role.trust, RequestContext(action=WEB_IDENTITY_ACTION, principal=principal, context=context)
        )
        record.trust = trust
        self._require_trust(trust, WEB_IDENTITY_ACTION, role)
        for extra_action, needed in (("sts:TagSession", bool(tags)), ("sts:SetSourceIdentity", bool(source_identity))):
            if needed:
                extra = evaluate_trust(
                    role.trust, RequestContext(action=extra_action, principal=principal, context=context)
                )
                if not extra.allowed:
                    record.trust = extra
                    self._require_trust(extra, extra_action, role)
        session_policies = self._session_policies(req.policy, req.policy_arns)
        packed = self._packed_size(session_policies, tags, transitive, req.policy is not None or bool(req.policy_arns))
        session = self._role_session(
            "web-identity",
            role,
            session_name,
            self._token_identity(verified),
            tags=tags,
            transitive=transitive,
            source_identity=source_identity,
            policy=req.policy,
            policy_arns=req.policy_arns,
            profile=profile,
            chained=False,
        )
        assumed_arn, assumed_id = session["arn"], session["user_id"]
        if role.settings.upstream is not None:
            if self.ext.upstream is None:  # never mint locally for a role that must go upstream
                raise InternalFailure(
                    f"role {role.name} needs upstream {role.settings.upstream.name!r}, but no forwarder is configured",
                    check="upstream-config",
                )
            result: dict[str, Any] = await self.ext.upstream.forward(
                role=role,
                request=req,
                verified=verified,
                profile=profile,
                duration=duration,
                record=record,
                session_name=session_name,
            )
            return result
        creds = self._mint(session, duration, record)
        if self.ext.break_glass_used is not None and role.settings.break_glass is not None:
            self.ext.break_glass_used(role, record)
        return protocol.web_identity_result(
            profile,
            credentials=_as_tuple(creds),
            subject=str(claims.get("sub")),
            audience=verified.audience,
            assumed_role_arn=assumed_arn,
            assumed_role_id=assumed_id,
            provider=self.provider_arn(verified),
            packed_policy_size=packed,
            source_identity=source_identity,
        )

    def _minio_claim_mode(self, req: Any, verified: VerifiedToken, record: DecisionRecord) -> dict[str, Any]:
        """MinIO without a RoleArn: policies named by the token's ``policy`` claim."""
        claims = verified.claims
        raw = claims.get("policy")
        names: list[str] = []
        if isinstance(raw, str):
            names = [n.strip() for n in raw.split(",") if n.strip()]
        elif isinstance(raw, list):
            names = [n.strip() for item in raw if isinstance(item, str) for n in item.split(",") if n.strip()]
        if not names:
            raise InvalidParameterValue(
                "policy claim missing from the JWT token, credentials will not be generated", check="policy-claim"
            )
        existing = [n for n in names if n in self.settings.managed_policies]
        if not existing:
            raise InvalidParameterValue(
                f"None of the given policies ({','.join(names)}) are defined, credentials will not be generated",
                check="policy-claim",
            )
        self._session_policies(req.policy, ())  # validates the grammar; MinIO seals the text itself
        duration = self._duration(req.duration_seconds, None, "minio", token_exp=claims.get("exp"))
        session = {
            **self._token_identity(verified),
            "kind": "web-identity",
            "policies": existing,
            "arn": f"arn:{self.settings.partition}:sts::{self.settings.account_id}:assumed-role/claim-policy/{claims.get('sub')}",
            "user_id": str(claims.get("sub")),
            "account": self.settings.account_id,
            "policy": [req.policy] if req.policy else None,
            "profile": "minio",
            "chained": False,
        }
        record.note(policies=existing)
        creds = self._mint(session, duration, record)
        return protocol.web_identity_result(
            "minio",
            credentials=_as_tuple(creds),
            subject=str(claims.get("sub")),
        )

    # ------------------------------------------------------------------ signed actions

    def _authenticate(self, request: HttpRequest, record: DecisionRecord) -> dict[str, Any]:
        from .sigv4 import SignedRequest, authenticate  # botocore is heavy: load it on the first signed call

        signed = SignedRequest(
            method=request.method,
            path=request.raw_path,
            query=request.query,
            headers=dict(request.headers),
            body=request.body,
        )
        _auth, session = authenticate(signed, self, now=self.clock.now(), expected_service="sts")
        record.note(access_key=_auth.access_key, caller=session.get("arn"), sub=session.get("sub"))
        return session

    def resolve(self, access_key: str, session_token: str | None, now: float) -> tuple[str, dict[str, Any]]:
        """CredentialResolver for SigV4: static users, then minted sessions (+ store and revocations)."""
        from .sigv4 import session_credential_resolver

        secret, session = session_credential_resolver(self.codec, static_keys=self._static_users).resolve(
            access_key, session_token, now
        )
        if session.get("kind") in ("web-identity", "assume-role", "session-token"):
            if self.store.get(SESSION_KIND, access_key) is None:
                raise InvalidClientTokenId(
                    "The security token included in the request is invalid.",
                    check="session-known",
                    detail={"reason": "no session record for this access key (data dir reset?)"},
                )
            facts = {
                "access_key": access_key,
                "sub": session.get("sub"),
                "iss": session.get("iss"),
                "jti": session.get("jti"),
                "client_id": session.get("client_id"),
                "role_arn": session.get("role_arn"),
                "session_name": session.get("session_name"),
                "iat": session.get("iat"),
            }
            revoked = self.revocations.check(facts)
            if revoked is not None:
                raise InvalidClientTokenId(
                    f"The security token included in the request is invalid: {_describe_revocation(revoked)}",
                    check="revoked",
                    detail={"revocation_id": revoked.get("id")},
                )
        return secret, session

    def _get_caller_identity(self, request: HttpRequest, record: DecisionRecord) -> dict[str, Any]:
        session = self._authenticate(request, record)
        return protocol.caller_identity_result(session["user_id"], session["account"], session["arn"])

    def _get_session_token(
        self, request: HttpRequest, params: Mapping[str, str], profile: str, record: DecisionRecord
    ) -> dict[str, Any]:
        session = self._authenticate(request, record)
        req = validate_session_token(params, profile=profile)
        if session.get("kind") != "user":
            raise AccessDenied("Cannot call GetSessionToken with session credentials", check="caller-long-term")
        duration = req.duration_seconds or 43200
        child = {**session, "kind": "session-token", "chained": False}
        creds = self._mint(child, duration, record)
        return protocol.session_token_result(profile, credentials=_as_tuple(creds))

    async def _assume_role(
        self, request: HttpRequest, params: Mapping[str, str], profile: str, record: DecisionRecord
    ) -> dict[str, Any]:
        caller = self._authenticate(request, record)
        req = validate_assume_role(params, profile=profile)
        record.note(role_arn=req.role_arn, session_name=req.role_session_name)
        role = self.roles.by_arn(req.role_arn or "")
        if role is None:
            raise AccessDenied(
                f"User: {caller['arn']} is not authorized to perform: sts:AssumeRole on resource: {req.role_arn}",
                check="role-exists",
            )
        chained = caller.get("kind") in ("web-identity", "assume-role")
        duration = req.duration_seconds or 3600
        if chained and duration > 3600:
            raise ValidationError(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
                check="duration-role-chaining",
            )
        duration = self._duration(duration, role, profile, token_exp=None)
        caller_tags = dict(caller.get("tags") or {})
        transitive = tuple(caller.get("transitive") or ())
        tags = {**{k: v for k, v in caller_tags.items() if k in transitive}, **dict(req.tags)}
        self._check_tag_limits(tags)
        transitive = tuple(dict.fromkeys([*transitive, *req.transitive_tag_keys]))
        session_name = req.role_session_name or "session"
        source_identity = caller.get("source_identity") or req.source_identity
        context: dict[str, Any] = {
            "sts:RoleSessionName": session_name,
            "sts:DurationSeconds": str(duration),
            "aws:PrincipalArn": caller["arn"],
            "aws:PrincipalAccount": caller["account"],
            "aws:userid": caller["user_id"],
            **principal_tag_context(caller_tags),
            **tag_keys_context(dict(req.tags), req.transitive_tag_keys),
            **self._time_context(),
        }
        if req.external_id:
            context["sts:ExternalId"] = req.external_id
        if source_identity:
            context["sts:SourceIdentity"] = source_identity
        principal_arns = [
            caller["arn"],
            f"arn:{self.settings.partition}:iam::{caller['account']}:root",
            caller["account"],
        ]
        if caller.get("role_arn"):
            principal_arns.append(caller["role_arn"])
        principal = {"AWS": tuple(principal_arns)}
        trust = evaluate_trust(
            role.trust, RequestContext(action="sts:AssumeRole", principal=principal, context=context)
        )
        record.trust = trust
        self._require_trust(trust, "sts:AssumeRole", role, caller_arn=caller["arn"])
        if req.tags:
            tag_trust = evaluate_trust(
                role.trust, RequestContext(action="sts:TagSession", principal=principal, context=context)
            )
            if not tag_trust.allowed:
                record.trust = tag_trust
                self._require_trust(tag_trust, "sts:TagSession", role, caller_arn=caller["arn"])
        permissions = self.caller_permissions(caller, "sts:AssumeRole", role.arn, context)
        record.permissions = permissions
        if permissions is not None and not permissions.allowed:
            raise AccessDenied(
                f"User: {caller['arn']} is not authorized to perform: sts:AssumeRole on resource: {role.arn}",
                check="caller-permissions",
                detail={"reason": permissions.reason},
            )
        session_policies = self._session_policies(req.policy, req.policy_arns)
        packed = self._packed_size(session_policies, tags, transitive, req.policy is not None or bool(req.policy_arns))
        identity = {k: caller.get(k) for k in ("sub", "iss", "jti", "client_id")}
        session = self._role_session(
            "assume-role",
            role,
            session_name,
            {**identity, "parent": caller["arn"]},
            tags=tags,
            transitive=transitive,
            source_identity=source_identity,
            policy=req.policy,
            policy_arns=req.policy_arns,
            profile=profile,
            chained=chained,
        )
        assumed_arn, assumed_id = session["arn"], session["user_id"]
        creds = self._mint(session, duration, record)
        return protocol.assume_role_result(
            profile,
            credentials=_as_tuple(creds),
            assumed_role_arn=assumed_arn,
            assumed_role_id=assumed_id,
            packed_policy_size=packed,
            source_identity=source_identity,
        )

    # ------------------------------------------------------------------ sessions

    def _token_identity(self, verified: VerifiedToken) -> dict[str, Any]:
        """Who a session stands for, from its verified web-identity token."""
        claims = verified.claims
        return {
            "sub": claims.get("sub"),
            "iss": verified.issuer.issuer,
            "aud": verified.audience,
            "jti": claims.get("jti"),
            "client_id": claims.get("client_id") or claims.get("azp"),
            "provider": verified.issuer.provider_id,
        }

    def _role_session(
        self,
        kind: str,
        role: Role,
        session_name: str,
        identity: Mapping[str, Any],
        *,
        tags: Mapping[str, str],
        transitive: tuple[str, ...],
        source_identity: Any,
        policy: str | None,
        policy_arns: tuple[str, ...] | list[str],
        profile: str,
        chained: bool,
    ) -> dict[str, Any]:
        """The facts sealed into a role session's token (and stored, minus the policy text)."""
        return {
            **identity,
            "kind": kind,
            "role_arn": role.arn,
            "role_name": role.name,
            "session_name": session_name,
            "arn": f"arn:{self.settings.partition}:sts::{self.settings.account_id}:assumed-role/{role.name}/{session_name}",
            "user_id": f"{role.role_id}:{session_name}",
            "account": self.settings.account_id,
            "tags": dict(tags) or None,
            "transitive": list(transitive) or None,
            "source_identity": source_identity,
            "policy": [policy] if policy else None,
            "policy_arns": list(policy_arns) or None,
            "profile": profile,
            "chained": chained,
        }

    # ------------------------------------------------------------------ permissions (reusable)

    def caller_permissions(
        self, session: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]
    ) -> PolicyDecision | None:
        """What a credential may do: role policies ∩ session policies. None = unrestricted static user."""
        role = self.roles.by_arn(session["role_arn"]) if session.get("role_arn") else None
        if role is None and session.get("kind") in ("user", "session-token") and not session.get("policies"):
            return None
        identity: list[Policy] = list(role.identity) if role else []
        for name in session.get("policies") or ():
            managed = self.roles.managed(name)
            if managed is not None:
                identity.append(managed)
        session_docs = self._session_policies(
            (session.get("policy") or [None])[0], tuple(session.get("policy_arns") or ())
        )
        full_context = {
            **context,
            "aws:userid": session.get("user_id"),
            "aws:PrincipalArn": session.get("arn"),
            **principal_tag_context(session.get("tags") or {}),
        }
        if session.get("provider") and session.get("sub"):
            full_context[f"{session['provider']}:sub"] = session["sub"]
            full_context["jwt:sub"] = session["sub"]
        if session.get("provider") and session.get("aud"):
            full_context[f"{session['provider']}:aud"] = session["aud"]
        request = RequestContext(action=action, resource=resource, context=full_context)
        return evaluate_session(identity, session_docs or None, request)

    # ------------------------------------------------------------------ pieces

    def _check_token_revocation(self, verified: VerifiedToken) -> None:
        claims = verified.claims
        facts = {
            "jti": claims.get("jti"),
            "sub": claims.get("sub"),
            "iss": verified.issuer.issuer,
            "client_id": claims.get("client_id") or claims.get("azp"),
            "iat": claims.get("iat"),
        }
        revoked = self.revocations.check(facts)
        if revoked is not None:
            raise IDPRejectedClaim(
                f"The web identity token was revoked: {_describe_revocation(revoked)}",
                check="revoked",
                detail={"revocation_id": revoked.get("id")},
            )

    def _check_tag_limits(self, tags: Mapping[str, str]) -> None:
        if len(tags) > MAX_SESSION_TAGS:
            raise ValidationError(
                f"1 validation error detected: Value at 'tags' failed to satisfy constraint: "
                f"Member must have length less than or equal to {MAX_SESSION_TAGS}",
                check="session-tags",
            )
        for key, value in tags.items():
            if not 1 <= len(key) <= 128 or len(value) > 256:
                raise ValidationError(
                    f"1 validation error detected: session tag {key[:64]!r} exceeds the key (128) or value (256) length limit",
                    check="session-tags",
                )

    def _duration(self, requested: int | None, role: Role | None, profile: str, *, token_exp: Any) -> int:
        now = self.clock.now()
        if profile == "minio":
            if requested is None:
                if not isinstance(token_exp, int | float):
                    raise InvalidParameterValue("invalid token expiry", check="duration")
                remaining = int(token_exp - now)
                if remaining <= 0:
                    raise InvalidParameterValue("Token is expired", check="exp")
                return remaining
            return requested
        default = role.settings.default_session_duration if role is not None else None
        if requested is None:
            # No DurationSeconds: the role's default (AWS: 3600), never above its maximum.
            duration = default or 3600
            return min(duration, role.max_session_duration) if role is not None else duration
        duration = requested
        if role is not None and duration > role.max_session_duration:
            raise ValidationError(
                "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
                check="duration-max",
                detail={"requested": duration, "max_session_duration": role.max_session_duration},
            )
        return duration

    def _time_context(self) -> dict[str, Any]:
        """aws:CurrentTime / aws:EpochTime, formatted once per (virtual) second."""
        second = int(self.clock.now())
        cached = self._time_cache
        if cached is None or cached[0] != second:
            cached = self._time_cache = (
                second,
                {
                    "aws:CurrentTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second)),
                    "aws:EpochTime": str(second),
                },
            )
        return cached[1]

    def _trust_context(
        self,
        verified: VerifiedToken,
        session_name: str,
        tags: Mapping[str, str],
        transitive: tuple[str, ...],
        source_identity: Any,
        duration: int,
    ) -> dict[str, Any]:
        provider = verified.issuer.provider_id
        context = claim_keys(provider, verified.claims)
        context[f"{provider}:aud"] = verified.audience
        context.update(
            {
                "sts:RoleSessionName": session_name,
                "sts:DurationSeconds": str(duration),
                "aws:FederatedProvider": self.provider_arn(verified),
                **tag_keys_context(tags, transitive),
                **self._time_context(),
            }
        )
        if isinstance(source_identity, str):
            context["sts:SourceIdentity"] = source_identity
        return context

    def _require_trust(self, decision: PolicyDecision, action: str, role: Role, caller_arn: str | None = None) -> None:
        if decision.allowed:
            return
        message = (
            f"User: {caller_arn} is not authorized to perform: {action} on resource: {role.arn}"
            if caller_arn
            else f"Not authorized to perform {action}"
        )
        check = "trust-policy-deny" if decision.decision == "Deny" else "trust-policy"
        raise AccessDenied(message, check=check, detail={"reason": decision.reason, "role_arn": role.arn})

    def _session_policies(self, policy: str | None, policy_arns: tuple[str, ...] | list[str]) -> list[Policy]:
        out: list[Policy] = []
        if policy is not None:
            out.append(_parse_session_policy(policy))
        for arn in policy_arns:
            managed = self.roles.managed_policy(arn)
            if managed is None:
                raise InvalidParameterValue(f"Policy {arn} does not exist or is not attachable.", check="policy-arns")
            out.append(managed)
        return out

    def _packed_size(
        self, policies: list[Policy], tags: Mapping[str, str], transitive: tuple[str, ...], report: bool
    ) -> int | None:
        if not policies and not tags:
            return None
        size = packed_policy_size(policies, tags, transitive)
        if size > 100:
            what = (
                "session tags" if tags and not policies else "session policies and tags" if tags else "session policies"
            )
            raise PackedPolicyTooLarge(
                f"Packed size of {what} consumes {size}% of allotted space.", check="packed-policy-size"
            )
        return size if report else None

    def _mint(self, session: dict[str, Any], duration: int, record: DecisionRecord) -> MintedCredentials:
        now = self.clock.now()
        session = {k: v for k, v in session.items() if v is not None}
        creds = mint(self.codec, now=now, duration=duration, session=session)
        stored = {k: v for k, v in session.items() if k not in ("policy",)}
        stored.update(exp=creds.expiration, iat=int(now))
        record.writes.append(
            functools.partial(self.store.put, SESSION_KIND, creds.access_key_id, stored, expires_at=creds.expiration)
        )
        record.note(
            access_key_id=creds.access_key_id,
            expiration=protocol.format_expiration(creds.expiration),
            duration=duration,
            assumed_role_arn=session.get("arn"),
        )
        return creds

    def _user_session(self, user: Mapping[str, str]) -> dict[str, Any]:
        arn = (
            user.get("arn")
            or f"arn:{self.settings.partition}:iam::{self.settings.account_id}:user/{user.get('name', 'user')}"
        )
        user_id = user.get("user_id") or "AIDA" + hashlib.sha256(arn.encode()).hexdigest()[:17].upper()
        policies = [p for p in (user.get("policies") or "").split(",") if p]
        return {
            "kind": "user",
            "arn": arn,
            "user_id": user_id,
            "account": self.settings.account_id,
            "policies": policies,
        }

    def provider_arn(self, verified: VerifiedToken) -> str:
        """IAM's OIDC provider ARN for the token's issuer: arn:aws:iam::ACCT:oidc-provider/<host/path>."""
        return (
            f"arn:{self.settings.partition}:iam::{self.settings.account_id}:oidc-provider/{verified.issuer.provider_id}"
        )

    def session_for(self, access_key: str) -> dict[str, Any] | None:
        return self.store.get(SESSION_KIND, access_key)


@functools.lru_cache(maxsize=512)
def _parse_session_policy(text: str) -> Policy:
    """Session policies are re-read on every signed call that checks permissions; parse each text once."""
    return parse_policy(text, kind="session", name="session")


def _as_tuple(creds: MintedCredentials) -> tuple[str, str, str, float]:
    return (creds.access_key_id, creds.secret_access_key, creds.session_token, creds.expiration)


def _unverified_identity(token: str) -> dict[str, Any]:
    """sub/iss/jti as the token *claims* them, so a denial is still findable by subject.

    Marked ``claims_verified: False`` until verification succeeds; never trusted for decisions.
    """
    import base64
    import json

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, TypeError):
        return {"claims_verified": False}
    if not isinstance(claims, dict):
        return {"claims_verified": False}
    out: dict[str, Any] = {"claims_verified": False}
    for key in ("sub", "iss", "jti"):
        value = claims.get(key)
        if isinstance(value, str) and len(value) <= 256:
            out[key] = value
    return out


def _describe_revocation(record: Mapping[str, Any]) -> str:
    text = f"revocation #{record.get('id')} by {record.get('by')}={record.get('value')}"
    if record.get("reason"):
        text += f" ({record['reason']})"
    return text


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
