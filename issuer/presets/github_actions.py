"""GitHub Actions OIDC tokens (fact sheet §5): ``repo:OWNER/REPO:ref:…`` subjects, 5-minute tokens.

``nbf`` is ``iat - 600`` and ``exp`` ``iat + 300`` as in GitHub's docs example; the header carries
``x5t`` next to a UUID-shaped ``kid``; numeric ids are strings; no ``azp``/``client_id``/``scope``.
"""

from __future__ import annotations

import re
from typing import Any

from issuer.presets.base import (
    OneShapePreset,
    RelyingPartyFacts,
    ShapeContext,
    drop,
    put_defaults,
    stable_digits,
    stable_uuid,
)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
CLAIMS_SUPPORTED = [
    "sub", "aud", "exp", "iat", "iss", "jti", "nbf", "ref", "sha", "repository", "repository_id",
    "repository_owner", "repository_owner_id", "enterprise", "enterprise_id", "run_id", "run_number",
    "run_attempt", "actor", "actor_id", "workflow", "workflow_ref", "workflow_sha", "head_ref", "base_ref",
    "event_name", "ref_type", "ref_protected", "environment", "environment_node_id", "job_workflow_ref",
    "job_workflow_sha", "repository_visibility", "runner_environment", "check_run_id",
]  # fmt: skip


def github_subject(repository: str, *, ref: str = "refs/heads/main", environment: str | None = None,
                   event: str = "push") -> str:  # fmt: skip
    """The default ``sub`` template: environment > pull_request > ref."""
    if environment:
        return f"repo:{repository}:environment:{environment}"
    if event == "pull_request":
        return f"repo:{repository}:pull_request"
    return f"repo:{repository}:ref:{ref}"


class GitHubActions(OneShapePreset):
    def subject(self, username: str, ctx: ShapeContext) -> str:
        p = ctx.params
        return github_subject(str(p["repository"]), ref=str(p["ref"]), environment=p.get("environment"),
                              event=str(p["event_name"]))  # fmt: skip

    def shape(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        drop(claims, "azp", "client_id", "scope", "auth_time", "nonce")
        p = ctx.params
        repository = str(p["repository"])
        owner = repository.split("/", 1)[0]
        if not str(claims.get("sub", "")).startswith("repo:"):
            claims["sub"] = self.subject("", ctx)
        if not claims.get("aud") or claims.get("aud") == ctx.client_id:
            claims["aud"] = p.get("audience") or f"https://github.com/{owner}"
        iat = int(claims.get("iat", ctx.now))
        claims["nbf"] = iat - 600
        if not _UUID.fullmatch(str(claims.get("jti", ""))):
            claims["jti"] = stable_uuid("gh-jti", str(claims.get("jti")), str(iat))
        ref = str(p["ref"])
        workflow_file = str(p["workflow_file"])
        sha = stable_digits(40, "sha", repository).replace("1", "a")[:40]
        defaults = {
            "ref": ref,
            "sha": sha,
            "repository": repository,
            "repository_owner": owner,
            "repository_owner_id": stable_digits(8, "owner", owner),
            "repository_id": stable_digits(9, "repo", repository),
            "repository_visibility": p["repository_visibility"],
            "run_id": stable_digits(10, "run", repository, str(iat)),
            "run_number": "42",
            "run_attempt": "1",
            "actor": p["actor"],
            "actor_id": stable_digits(7, "actor", str(p["actor"])),
            "workflow": p["workflow"],
            "workflow_ref": f"{repository}/.github/workflows/{workflow_file}@{ref}",
            "workflow_sha": sha,
            "job_workflow_ref": f"{repository}/.github/workflows/{workflow_file}@{ref}",
            "job_workflow_sha": sha,
            "head_ref": "",
            "base_ref": "",
            "event_name": p["event_name"],
            "ref_type": "tag" if ref.startswith("refs/tags/") else "branch",
            "ref_protected": "false",
            "runner_environment": p["runner_environment"],
        }
        if p.get("environment"):
            defaults["environment"] = p["environment"]
        return put_defaults(claims, defaults)

    def discovery(self, doc: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        return {
            "issuer": doc["issuer"],
            "jwks_uri": doc["jwks_uri"],
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": CLAIMS_SUPPORTED,
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
        }


PRESET = GitHubActions(
    name="github-actions",
    title="GitHub Actions OIDC (token.actions.githubusercontent.com)",
    source="identity-providers.md §5",
    settings={
        "signing_alg": "RS256",
        "algorithms": ["RS256"],
        "access_token_ttl": 300,
        "id_token_ttl": 300,
        "endpoints": {"jwks": "/.well-known/jwks"},
        "kid_format": "uuid",
        "jwks_x5c": True,
        "header_x5t": True,
        "access_token_typ": "JWT",
        "id_token_typ": "JWT",
    },
    params={
        "repository": "octo-org/octo-repo",
        "ref": "refs/heads/main",
        "environment": None,
        "event_name": "push",
        "actor": "octocat",
        "workflow": "CI",
        "workflow_file": "ci.yml",
        "repository_visibility": "private",
        "runner_environment": "github-hosted",
        "audience": None,
    },
    facts=RelyingPartyFacts(
        jwks_x5c=True,
        jwks_several_keys=True,
        access_token_jwt=True,
        public_https=True,
        rotates_keys=True,
        policy_claim_setting="no custom claims: use MinIO role-policy mode (RoleArn)",
        aws_extra_condition_keys=(
            "actor",
            "actor_id",
            "repository",
            "repository_id",
            "repository_owner_id",
            "ref",
            "environment",
            "workflow",
            "job_workflow_ref",
            "enterprise_id",
        ),  # fmt: skip
        notes=("request aud sts.amazonaws.com (core.getIDToken / &audience=); the job needs id-token: write",),
    ),
)
