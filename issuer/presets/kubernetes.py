"""Kubernetes projected service-account tokens (fact sheet §4).

``sub`` is ``system:serviceaccount:<namespace>:<name>``; ``aud`` is always an array; ``iat`` =
``nbf``; the ``kubernetes.io`` claim names namespace, pod, node and service account with UIDs.
No ``azp``, no ``email``. Discovery is "OIDC compatible, not strictly compliant": issuer, jwks_uri
(``/openid/v1/jwks``), response and subject types and algorithms only.
"""

from __future__ import annotations

from typing import Any

from issuer.presets.base import OneShapePreset, RelyingPartyFacts, ShapeContext, drop, stable_uuid

_PREFIX = "system:serviceaccount:"


class Kubernetes(OneShapePreset):
    def subject(self, username: str, ctx: ShapeContext) -> str:
        if username.startswith(_PREFIX):
            return username
        return f"{_PREFIX}{ctx.params.get('namespace', 'default')}:{username}"

    def default_username(self, ctx: ShapeContext) -> str:
        return str(ctx.params.get("serviceaccount") or "default")

    def shape(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        drop(claims, "azp", "client_id", "scope", "auth_time", "nonce", "email", "email_verified")
        sub = str(claims.get("sub") or "")
        if not sub.startswith(_PREFIX):
            sub = self.subject(sub or ctx.client_id or str(ctx.params.get("serviceaccount", "default")), ctx)
        claims["sub"] = sub
        namespace, _, account = sub[len(_PREFIX) :].partition(":")
        aud = claims.get("aud") or ctx.params.get("audience") or "https://kubernetes.default.svc"
        claims["aud"] = [aud] if isinstance(aud, str) else list(aud)
        claims["nbf"] = claims.get("iat", ctx.now)
        pod = str(ctx.params.get("pod") or f"{account}-7d4b9c8f6-x2x5q")
        node = str(ctx.params.get("node") or "127.0.0.1")
        k8s: dict[str, Any] = {
            "namespace": namespace,
            "node": {"name": node, "uid": stable_uuid("k8s-node", node)},
            "pod": {"name": pod, "uid": stable_uuid("k8s-pod", namespace, pod)},
            "serviceaccount": {"name": account, "uid": stable_uuid("k8s-sa", namespace, account)},
        }
        exp, iat = claims.get("exp"), claims.get("iat")
        if isinstance(exp, int) and isinstance(iat, int) and exp - iat > 3607:
            k8s["warnafter"] = iat + 3607  # expiration extension: the kubelet refreshes at the nominal TTL
        claims.setdefault("kubernetes.io", k8s)
        return claims

    def discovery(self, doc: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        return {
            "issuer": doc["issuer"],
            "jwks_uri": doc["jwks_uri"],
            "response_types_supported": ["id_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": doc["id_token_signing_alg_values_supported"][:1],
        }


PRESET = Kubernetes(
    name="kubernetes",
    title="Kubernetes service-account tokens (EKS IRSA, projected volumes)",
    source="identity-providers.md §4",
    settings={
        "signing_alg": "RS256",
        "algorithms": ["RS256"],
        "access_token_ttl": 3600,
        "id_token_ttl": 3600,
        "audience_as_list": True,
        "endpoints": {"jwks": "/openid/v1/jwks"},
        "kid_format": "spki-sha256",
        "jwks_x5c": False,
        "access_token_typ": "JWT",
        "id_token_typ": "JWT",
    },
    params={"namespace": "default", "serviceaccount": "default", "pod": None, "node": None, "audience": None},
    facts=RelyingPartyFacts(
        jwks_x5c=False,
        jwks_several_keys=False,
        access_token_jwt=True,
        aud_always_list=True,
        public_https=True,
        policy_claim_setting="no custom claims in projected tokens: use MinIO role-policy mode",
        notes=(
            "request the STS audience in the projected volume (audience: sts.amazonaws.com); "
            "the API server's own revocation (deleted pod/SA) is invisible to an OIDC relying party",
        ),
    ),
)
