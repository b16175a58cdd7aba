"""Architecture lint: is a proposed set of issuers and roles sane for a target profile?

Pure functions over a validated :class:`~stsmock.config.Config`. Each rule has
an id, a severity and a message naming the config path, so `stsmock check`
can print text or JSON and exit non-zero on errors.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

from .config import Config, expand_placeholders

Severity = Literal["error", "warning"]
LintProfile = Literal["aws", "minio", "ceph-rgw"]

MINIO_ALGS = {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512"}
RGW_ALGS = {"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512"}
#: Web-identity condition keys AWS evaluates in a trust policy (besides <provider>:aud/sub/amr/azp).
AWS_GLOBAL_KEYS = {
    "sts:rolesessionname",
    "sts:sourceidentity",
    "sts:transitivetagkeys",
    "sts:durationseconds",
    "aws:tagkeys",
    "aws:sourceip",
    "aws:currenttime",
    "aws:epochtime",
    "aws:federatedprovider",
    "aws:securetransport",
    "aws:requestedregion",
    "aws:principaltype",
    "aws:userid",
    "aws:principalarn",
    "aws:principalaccount",
    "aws:principalorgid",
    "aws:referer",
    "aws:useragent",
    "aws:multifactorauthpresent",
    "sts:externalid",
}
AWS_PROVIDER_CLAIMS = {"aud", "sub", "amr", "azp", "oaud"}
_PROVIDER_ARN = re.compile(r"^arn:[\w-]+:iam::\d{12}:oidc-provider/(.+)$")


@dataclass(frozen=True)
class Finding:
    rule: str
    severity: Severity
    path: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _issuer_url(config: Config, name: str, base_url: str) -> str:
    settings = config.issuer(name)
    if settings is None:
        return base_url if name == "default" else f"{base_url}/issuers/{name}"
    return base_url + settings.url_path


def _provider_ids(config: Config, base_url: str) -> dict[str, str]:
    """provider id (URL without scheme) -> description, for every issuer the STS trusts."""
    out: dict[str, str] = {}
    for issuer in config.issuers:
        out[re.sub(r"^https?://", "", _issuer_url(config, issuer.name, base_url))] = f"built-in issuer '{issuer.name}'"
    for trusted in config.sts.trusted_issuers:
        out[re.sub(r"^https?://", "", trusted.issuer)] = f"trusted issuer {trusted.issuer}"
    return out


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    statements = doc.get("Statement", [])
    return [statements] if isinstance(statements, dict) else [s for s in statements if isinstance(s, dict)]


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _federated(statement: dict[str, Any]) -> list[str]:
    principal = statement.get("Principal")
    if isinstance(principal, dict):
        return [str(v) for v in _listify(principal.get("Federated", []))]
    return []


def _condition_items(statement: dict[str, Any]) -> Iterator[tuple[str, str, list[Any]]]:
    for operator, block in (statement.get("Condition") or {}).items():
        if isinstance(block, dict):
            for key, value in block.items():
                yield operator, key, _listify(value)


def lint(
    config: Config,
    *,
    profile: LintProfile = "aws",
    max_session_seconds: int = 43200,
    base_url: str = "http://127.0.0.1:8400",
) -> list[Finding]:
    findings: list[Finding] = []
    urls = {i.name: _issuer_url(config, i.name, base_url) for i in config.issuers}
    providers = _provider_ids(config, base_url)
    audience_users: dict[tuple[str, str], list[tuple[str, bool]]] = defaultdict(list)

    for index, role in enumerate(config.sts.roles):
        path = f"sts.roles[{index}]"
        trust = expand_placeholders(role.trust_policy, urls)
        for s_index, statement in enumerate(_statements(trust)):
            s_path = f"{path}.trust_policy.Statement[{s_index}]"
            trusted_here: list[str] = []
            for principal in _federated(statement):
                match = _PROVIDER_ARN.match(principal)
                provider = match.group(1) if match else re.sub(r"^https?://", "", principal)
                if provider not in providers:
                    findings.append(
                        Finding(
                            "untrusted-issuer",
                            "error",
                            s_path,
                            f"role '{role.name}' trusts {principal}, but no configured issuer has that URL",
                        )
                    )
                else:
                    trusted_here.append(provider)
            has_sub = False
            for operator, key, values in _condition_items(statement):
                key_lower = key.lower()
                provider_key = next((p for p in trusted_here if key_lower.startswith(p.lower() + ":")), None)
                if provider_key is not None:
                    claim = key[len(provider_key) + 1 :]
                    if claim == "sub":
                        has_sub = True
                    if claim == "aud" and operator.startswith("StringEquals"):
                        for value in values:
                            audience_users[(provider_key, str(value))].append((role.name, False))
                    if profile == "aws" and claim not in AWS_PROVIDER_CLAIMS:
                        findings.append(
                            Finding(
                                "condition-key-not-honoured",
                                "error",
                                s_path,
                                f"AWS does not honour '{key}': only :aud, :sub, :amr and :azp claims "
                                "are condition keys for an OIDC provider (stsmock accepts it)",
                            )
                        )
                elif key_lower.startswith("jwt:"):
                    if profile != "minio":
                        findings.append(
                            Finding(
                                "condition-key-not-honoured",
                                "error",
                                s_path,
                                f"'{key}' is a MinIO key; {profile} does not evaluate it",
                            )
                        )
                elif key_lower.startswith(("aws:requesttag/", "aws:principaltag/")) or key_lower in AWS_GLOBAL_KEYS:
                    continue
                elif ":" in key and key.split(":")[0].lower() not in ("aws", "sts"):
                    findings.append(
                        Finding(
                            "condition-key-not-honoured",
                            "error",
                            s_path,
                            f"condition key '{key}' does not belong to any trusted provider",
                        )
                    )
            if has_sub:
                for key_tuple, users in audience_users.items():
                    audience_users[key_tuple] = [(n, True) if n == role.name else (n, flag) for n, flag in users]
        if role.max_session_duration > max_session_seconds:
            findings.append(
                Finding(
                    "session-too-long",
                    "error",
                    f"{path}.max_session_duration",
                    f"role '{role.name}' allows {role.max_session_duration}s sessions; the limit is {max_session_seconds}s",
                )
            )
        if role.break_glass is not None and not role.break_glass.require_reason:
            findings.append(
                Finding(
                    "break-glass-without-reason",
                    "error",
                    f"{path}.break_glass.require_reason",
                    f"break-glass role '{role.name}' can be used without a reason",
                )
            )
        if role.break_glass is not None and role.max_session_duration > 3600:
            findings.append(
                Finding(
                    "break-glass-long-session",
                    "warning",
                    f"{path}.max_session_duration",
                    f"break-glass role '{role.name}' declares {role.max_session_duration}s; it is capped at "
                    f"{role.break_glass.max_session_seconds}s",
                )
            )

    for (provider, audience), users in sorted(audience_users.items()):
        open_roles = sorted({n for n, narrowed in users if not narrowed})
        names = sorted({n for n, _ in users})
        # Roles narrowed by a :sub condition are separate; two or more wide-open roles are not.
        if len(names) > 1 and len(open_roles) > 1:
            findings.append(
                Finding(
                    "shared-audience",
                    "error",
                    "sts.roles",
                    f"roles {', '.join(open_roles)} all accept audience '{audience}' from {provider} without a "
                    ":sub condition; any token for one can assume the others — give each workload its own audience",
                )
            )

    findings.extend(_profile_findings(config, profile))
    return findings


def _profile_findings(config: Config, profile: LintProfile) -> list[Finding]:
    out: list[Finding] = []
    for index, issuer in enumerate(config.issuers):
        path = f"issuers[{index}]"
        algs = {issuer.signing_alg, *issuer.algorithms, *(c.signing_alg for c in issuer.clients if c.signing_alg)}
        if profile == "minio":
            for alg in sorted(algs - MINIO_ALGS):
                out.append(
                    Finding(
                        "key-rejected-by-profile",
                        "error",
                        path,
                        f"issuer '{issuer.name}' signs with {alg}; MinIO only verifies RS*/ES* with a kid",
                    )
                )
            has_policy = any("policy" in c.claims for c in issuer.clients) or any(
                "policy" in u.claims for u in issuer.users
            )
            role_policy_mode = any(r.upstream is not None for r in config.sts.roles)
            if not has_policy and not role_policy_mode and config.sts.profile == "minio":
                out.append(
                    Finding(
                        "minio-policy-claim",
                        "warning",
                        path,
                        f"no client or user of issuer '{issuer.name}' carries a 'policy' claim; MinIO needs it "
                        "unless RoleArn (role-policy mode) is used",
                    )
                )
        if profile == "ceph-rgw":
            for alg in sorted(algs - RGW_ALGS):
                out.append(
                    Finding(
                        "key-rejected-by-profile",
                        "error",
                        path,
                        f"issuer '{issuer.name}' signs with {alg}; Ceph RGW verifies RS/ES/PS only (against x5c)",
                    )
                )
            if len(algs) > 1:
                out.append(
                    Finding(
                        "rgw-first-key-only",
                        "error",
                        path,
                        f"issuer '{issuer.name}' publishes keys for {', '.join(sorted(algs))}; Ceph RGW verifies "
                        "with the FIRST JWKS key only, so tokens signed with the others are rejected",
                    )
                )
    return out


def format_text(findings: list[Finding]) -> str:
    if not findings:
        return "no findings"
    return "\n".join(f"{f.severity.upper():7} {f.rule:28} {f.path}: {f.message}" for f in findings)
