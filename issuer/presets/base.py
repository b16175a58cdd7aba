"""What an IdP persona is made of: settings defaults plus claim and discovery shaping.

A preset is data (the issuer settings it implies: URL layout, key type, kid format, lifetimes,
token types) plus four pure functions that turn stsmock's generic claims into the claim shapes
the real IdP emits. Everything here is plain dicts in, plain dicts out; the issuer service
calls it at the few places a token or a document is built.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Endpoint names every issuer serves; a layout maps each to a path under the issuer's mount.
ENDPOINTS: tuple[str, ...] = (
    "jwks",
    "token",
    "authorize",
    "userinfo",
    "introspect",
    "revoke",
    "logout",
    "device_authorization",
    "device",
)
#: stsmock's own layout (paths relative to the issuer URL).
DEFAULT_ENDPOINTS: dict[str, str] = {
    "jwks": "/jwks",
    "token": "/token",
    "authorize": "/authorize",
    "userinfo": "/userinfo",
    "introspect": "/introspect",
    "revoke": "/revoke",
    "logout": "/logout",
    "device_authorization": "/device_authorization",
    "device": "/device",
}
#: Discovery fields that name an endpoint, by endpoint.
DISCOVERY_FIELDS: dict[str, str] = {
    "authorize": "authorization_endpoint",
    "token": "token_endpoint",
    "userinfo": "userinfo_endpoint",
    "jwks": "jwks_uri",
    "introspect": "introspection_endpoint",
    "revoke": "revocation_endpoint",
    "logout": "end_session_endpoint",
    "device_authorization": "device_authorization_endpoint",
}


@dataclass(frozen=True)
class ShapeContext:
    """What a claim shaper may look at: who, for which client, how, and the persona's parameters."""

    issuer_url: str
    now: int
    params: Mapping[str, Any]
    client_id: str | None = None
    grant_type: str | None = None
    username: str | None = None
    scope: tuple[str, ...] = ()
    #: "access", "id" or "minted" (``stsmock token`` / the admin API).
    kind: str = "access"


@dataclass(frozen=True)
class RelyingPartyFacts:
    """What ``stsmock check`` needs to know about the real IdP (from the fact sheet)."""

    #: JWKS keys carry ``x5c`` (Ceph RGW verifies against the certificate).
    jwks_x5c: bool
    #: The JWKS lists more than one key at a time (Ceph RGW reads only the first).
    jwks_several_keys: bool
    #: Access tokens are JWTs (False: opaque, use the ID token).
    access_token_jwt: bool
    #: ``aud`` of the token a workload presents, when it is not the client id ("account" for Keycloak).
    access_token_aud: str | None = None
    #: ``aud`` is always a JSON array (Kubernetes).
    aud_always_list: bool = False
    #: A claim the IdP can be told to emit for MinIO's claim-based policy mode, and how.
    policy_claim_setting: str = ""
    #: Issuer URL of the real service is https-only and public (so AWS can reach it).
    public_https: bool = True
    #: Keys rotate on their own (relying parties must follow the JWKS).
    rotates_keys: bool = False
    #: Extra trust-policy condition keys AWS honours for this issuer (beyond aud/sub/amr/azp).
    aws_extra_condition_keys: tuple[str, ...] = ()
    #: Notes shown by ``stsmock check`` whatever the relying party.
    notes: tuple[str, ...] = ()
    #: The IdP setting that adds ``x5c`` to its JWKS, if there is one.
    x5c_setting: str = ""
    #: With several keys, the signing key is reliably listed first (measured for Keycloak 26).
    signing_key_first: bool = False


@dataclass(frozen=True)
class Preset:
    """One IdP persona. Subclasses override the shaping methods; the defaults change nothing."""

    name: str
    title: str
    #: Defaults for :class:`issuer.settings.IssuerSettings` fields (explicit settings win).
    settings: Mapping[str, Any]
    facts: RelyingPartyFacts
    #: Where the shapes come from (fact-sheet section).
    source: str = ""
    #: Persona parameters (realm roles, namespace, repository ...); overridable as ``preset_params``.
    params: Mapping[str, Any] = field(default_factory=dict)

    def access_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        return claims

    def id_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        return claims

    def minted_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        """Claims of a token minted by ``stsmock token``: the access shape unless overridden."""
        return self.access_claims(claims, ctx)

    def discovery(self, doc: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        return doc

    def subject(self, username: str, ctx: ShapeContext) -> str:
        """The ``sub`` the IdP would give ``username`` (stable: same input, same output)."""
        return username

    def default_username(self, ctx: ShapeContext) -> str:
        """Who a minted token is about when the caller names no ``sub`` (``preset_params.user``)."""
        return str(ctx.params.get("user") or "alice")


@dataclass(frozen=True)
class OneShapePreset(Preset):
    """A persona whose access and ID tokens carry one claim shape (CI and workload IdPs, Dex, Entra)."""

    def shape(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        return claims

    def access_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        return self.shape(claims, ctx)

    def id_claims(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        return self.shape(claims, ctx)


# -- helpers shared by the personas ------------------------------------------------------------
def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def stable_uuid(*parts: str) -> str:
    """A UUID that is the same for the same inputs (realistic-looking, reproducible subjects)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "stsmock:" + ":".join(parts)))


def stable_digits(count: int, *parts: str) -> str:
    """A numeric string of ``count`` digits derived from the inputs (Google/GitHub-style ids)."""
    digest = hashlib.sha256(":".join(parts).encode()).digest()
    number = str(int.from_bytes(digest, "big"))
    return (number * 2)[:count].lstrip("0").rjust(count, "1")


def drop(claims: dict[str, Any], *names: str) -> dict[str, Any]:
    for name in names:
        claims.pop(name, None)
    return claims


def put_default(claims: dict[str, Any], name: str, value: Any) -> None:
    """Set a persona claim unless the caller (config, user, ``--claim``) already gave one."""
    if name not in claims and value is not None:
        claims[name] = value


def put_defaults(claims: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """:func:`put_default` for each of ``defaults``; returns ``claims``."""
    for name, value in defaults.items():
        put_default(claims, name, value)
    return claims
