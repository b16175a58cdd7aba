"""Can relying party X accept tokens from IdP Y, and what must be configured? (pure rules)

The inputs are facts about the IdP (:class:`IdpFacts`, from a preset or from an issuer's live
discovery document and JWKS) and one relying-party profile: AWS STS, MinIO, Ceph RGW 16.2, or
SeaweedFS 4.48. Each rule below cites the fact sheet it comes from; the interop tests run the
real Keycloak against SeaweedFS and Ceph RGW and assert the verdicts here.

"works" means: the relying party's ordinary OIDC setup (register the issuer, its client id /
audience, a role trusting it) is all it takes. "works-with-setting" means one more stated setting
(on the IdP or the relying party). "cannot" means no setting of either makes it work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["works", "works-with-setting", "cannot"]
PROFILES: tuple[str, ...] = ("aws", "minio", "ceph-rgw", "seaweedfs")

#: Signature algorithms each relying party verifies for web identity.
ALGORITHMS: dict[str, frozenset[str]] = {
    "aws": frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}),  # aws-sts.md §3.2
    "minio": frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"}),
    "ceph-rgw": frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}),
    "seaweedfs": frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}),  # seaweedfs.md §5.3
}


@dataclass(frozen=True)
class IdpFacts:
    """What the rules need to know about an issuer."""

    name: str
    #: Issuer URL (or its shape, e.g. ``https://kc.example.com/realms/demo``).
    issuer: str
    algorithm: str = "RS256"
    jwks_x5c: bool = True
    jwks_several_keys: bool = False
    signing_key_first: bool = False
    access_token_jwt: bool = True
    access_token_aud: str | None = None
    aud_always_list: bool = False
    public_https: bool = True
    rotates_keys: bool = False
    policy_claim_setting: str = ""
    x5c_setting: str = ""
    aws_extra_condition_keys: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Verdict:
    idp: str
    profile: str
    status: Status
    #: What to configure (on the IdP or the relying party), in order.
    settings: tuple[str, ...] = ()
    #: Why it cannot work (for "cannot").
    reasons: tuple[str, ...] = ()
    #: Trust-policy condition keys the relying party honours for this issuer.
    condition_keys: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())


def _host_path(issuer: str) -> str:
    return issuer.split("://", 1)[-1].rstrip("/")


def _token_settings(f: IdpFacts) -> list[str]:
    """Which token to present: shared by every relying party."""
    out = []
    if not f.access_token_jwt:
        out.append("present the ID token: the IdP's access tokens are opaque")
    return out


def check_aws(f: IdpFacts) -> Verdict:
    key = "accounts.google.com" if f.name == "google" else _host_path(f.issuer)
    keys = tuple(f"{key}:{c}" for c in ("aud", "sub", "amr", "azp", *f.aws_extra_condition_keys))
    if f.name == "google":
        keys = ("accounts.google.com:aud (= azp when present)", "accounts.google.com:oaud", "accounts.google.com:sub")
        keys += tuple(f"accounts.google.com:{c}" for c in f.aws_extra_condition_keys if c != "oaud")
    if f.algorithm not in ALGORITHMS["aws"]:
        return Verdict(f.name, "aws", "cannot", reasons=(f"AWS STS does not verify {f.algorithm}",))
    settings = _token_settings(f)
    if f.access_token_aud:
        settings.append(
            f"the access token's aud is {f.access_token_aud!r}: add an audience mapper for the client id "
            "registered in ClientIDList (or present the ID token)"
        )
    if not f.public_https:
        settings.append("serve the issuer at a public https URL without a port (IAM OIDC provider Url rules)")
    notes = ["IAM OIDC provider: Url = the issuer, ClientIDList = the audience"]
    if f.name == "google":
        notes = ["built-in provider: Principal {Federated: accounts.google.com}, no IAM provider object"]
    return Verdict(
        f.name, "aws", "works-with-setting" if settings else "works", tuple(settings), (), keys, tuple(notes)
    )


def check_minio(f: IdpFacts) -> Verdict:
    if f.algorithm not in ALGORITHMS["minio"]:
        return Verdict(f.name, "minio", "cannot", reasons=(f"MinIO does not verify {f.algorithm}",))
    settings = _token_settings(f)
    settings.append(
        "claim-based mode needs a policy claim: "
        + (f.policy_claim_setting or "map a 'policy' claim")
        + "; or set role_policy and call with the RoleArn"
    )
    if f.access_token_aud:
        settings.append(f"client_id = the IdP client: MinIO accepts it from azp when aud is {f.access_token_aud!r}")
    if f.aud_always_list:
        settings.append("client_id = the requested audience (MinIO reads aud as an array)")
    return Verdict(
        f.name,
        "minio",
        "works-with-setting",
        tuple(settings),
        condition_keys=("jwt:sub", "jwt:aud", "jwt:<claim> (every claim of the token)"),
        notes=("MinIO matches client_id against aud, then azp (minio-sts.md)",),
    )


def check_ceph_rgw(f: IdpFacts) -> Verdict:
    host = _host_path(f.issuer)
    keys = (f"{host}:sub", f"{host}:app_id (= aud)")
    reasons = []
    settings = _token_settings(f)
    if f.algorithm not in ALGORITHMS["ceph-rgw"]:
        reasons.append(f"RGW does not verify {f.algorithm}")
    if not f.jwks_x5c:
        if f.x5c_setting:
            settings.append(f"publish x5c in the JWKS: {f.x5c_setting} (RGW verifies against the certificate)")
        else:
            reasons.append("the JWKS has no x5c and RGW 16 verifies only against the x5c certificate")
    if f.jwks_several_keys:
        if f.signing_key_first:
            settings.append(
                "keep the RS256 signing key first in the JWKS and rotate by replacing it: RGW 16 reads only "
                "the first key (Keycloak lists its sig key before the RSA-OAEP enc key)"
            )
        else:
            reasons.append("the JWKS holds several keys in no fixed order and RGW 16 reads only the first one")
    if f.access_token_aud:
        settings.append(f"register {f.access_token_aud!r} in ClientIDList, or present the ID token (aud = client id)")
    if reasons:
        return Verdict(f.name, "ceph-rgw", "cannot", (), tuple(reasons), keys)
    settings.append("CreateOpenIDConnectProvider with Url = the issuer and a ThumbprintList (not enforced in 16.2)")
    return Verdict(f.name, "ceph-rgw", "works-with-setting", tuple(settings), (), keys)


def check_seaweedfs(f: IdpFacts) -> Verdict:
    keys = ("oidc:sub", "oidc:aud (string aud only)", "oidc:iss", "oidc:<claim>", "aws:FederatedProvider")
    if f.algorithm not in ALGORITHMS["seaweedfs"]:
        return Verdict(f.name, "seaweedfs", "cannot", reasons=(f"SeaweedFS does not verify {f.algorithm}",))
    settings = _token_settings(f)
    if f.access_token_aud:
        settings.append(
            f"clientId = the IdP client (matched through azp; aud is {f.access_token_aud!r}): condition on "
            "oidc:azp, not oidc:aud"
        )
    if f.aud_always_list:
        settings.append("aud is an array, so SeaweedFS sets no oidc:aud: rely on clientIds, condition on oidc:sub")
    notes = ["Principal.Federated is the provider name from iam.json, not an ARN"]
    if f.rotates_keys:
        notes.append("removed keys stay valid from SeaweedFS's JWKS cache for up to 1 h")
    return Verdict(
        f.name, "seaweedfs", "works-with-setting" if settings else "works", tuple(settings), (), keys, tuple(notes)
    )


RULES = {"aws": check_aws, "minio": check_minio, "ceph-rgw": check_ceph_rgw, "seaweedfs": check_seaweedfs}


def check(facts: IdpFacts, profile: str) -> Verdict:
    try:
        rule = RULES[profile]
    except KeyError:
        raise ValueError(f"unknown profile {profile!r}; one of: {', '.join(PROFILES)}") from None
    verdict = rule(facts)
    if facts.notes:
        verdict = Verdict(
            verdict.idp,
            verdict.profile,
            verdict.status,
            verdict.settings,
            verdict.reasons,
            verdict.condition_keys,
            verdict.notes + facts.notes,
        )
    return verdict
