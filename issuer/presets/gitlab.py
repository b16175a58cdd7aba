"""GitLab CI ``id_tokens`` (fact sheet §6): ``project_path:GROUP/PROJECT:ref_type:…`` subjects.

Keys at ``{iss}/oauth/discovery/keys`` (JWK thumbprint kids, no ``x5c``); ``nbf`` = ``iat - 5``;
lifetime = the job timeout (one hour here). ``ref_protected`` and friends are strings.
"""

from __future__ import annotations

from typing import Any

from issuer.presets.base import OneShapePreset, RelyingPartyFacts, ShapeContext, drop, put_defaults, stable_digits


def gitlab_subject(project_path: str, *, ref_type: str = "branch", ref: str = "main") -> str:
    return f"project_path:{project_path}:ref_type:{ref_type}:ref:{ref}"


class GitLab(OneShapePreset):
    def subject(self, username: str, ctx: ShapeContext) -> str:
        p = ctx.params
        return gitlab_subject(str(p["project_path"]), ref_type=str(p["ref_type"]), ref=str(p["ref"]))

    def shape(self, claims: dict[str, Any], ctx: ShapeContext) -> dict[str, Any]:
        drop(claims, "azp", "client_id", "scope", "auth_time", "nonce")
        p = ctx.params
        project = str(p["project_path"])
        namespace = project.rsplit("/", 1)[0]
        if not str(claims.get("sub", "")).startswith("project_path:"):
            claims["sub"] = self.subject("", ctx)
        iat = int(claims.get("iat", ctx.now))
        claims["nbf"] = iat - 5
        ref, ref_type = str(p["ref"]), str(p["ref_type"])
        defaults = {
            "namespace_id": stable_digits(8, "ns", namespace),
            "namespace_path": namespace,
            "project_id": stable_digits(8, "project", project),
            "project_path": project,
            "user_id": stable_digits(7, "user", str(p["user_login"])),
            "user_login": p["user_login"],
            "user_email": f"{p['user_login']}@example.com",
            "user_access_level": "developer",
            "pipeline_id": stable_digits(10, "pipeline", project, str(iat)),
            "pipeline_source": p["pipeline_source"],
            "job_id": stable_digits(10, "job", project, str(iat)),
            "ref": ref,
            "ref_type": ref_type,
            "ref_path": f"refs/{'heads' if ref_type == 'branch' else 'tags'}/{ref}",
            "ref_protected": "true",
            "runner_id": int(stable_digits(6, "runner", project)),
            "runner_environment": p["runner_environment"],
            "sha": stable_digits(40, "sha", project).replace("1", "f")[:40],
            "project_visibility": "private",
            "ci_config_ref_uri": f"gitlab.com/{project}//.gitlab-ci.yml@refs/heads/{ref}",
        }
        if p.get("environment"):
            defaults["environment"] = p["environment"]
            defaults["environment_protected"] = "false"
            defaults["deployment_tier"] = "production"
        return put_defaults(claims, defaults)


PRESET = GitLab(
    name="gitlab",
    title="GitLab CI id_tokens",
    source="identity-providers.md §6",
    settings={
        "signing_alg": "RS256",
        "algorithms": ["RS256"],
        "access_token_ttl": 3600,
        "id_token_ttl": 3600,
        "endpoints": {
            "jwks": "/oauth/discovery/keys",
            "authorize": "/oauth/authorize",
            "token": "/oauth/token",
            "userinfo": "/oauth/userinfo",
            "revoke": "/oauth/revoke",
            "introspect": "/oauth/introspect",
        },
        "kid_format": "thumbprint",
        "jwks_x5c": False,
        "access_token_typ": "JWT",
        "id_token_typ": "JWT",
    },
    params={
        "project_path": "mygroup/myproject",
        "ref": "main",
        "ref_type": "branch",
        "user_login": "jdoe",
        "pipeline_source": "push",
        "runner_environment": "gitlab-hosted",
        "environment": None,
    },
    facts=RelyingPartyFacts(
        jwks_x5c=False,
        jwks_several_keys=False,
        access_token_jwt=True,
        public_https=True,
        policy_claim_setting="no custom claims: use MinIO role-policy mode (RoleArn)",
        notes=("declare the STS audience per job: id_tokens: {TOKEN: {aud: sts.amazonaws.com}}",),
    ),
)
