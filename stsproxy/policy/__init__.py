"""IAM policy engine: grammar, matching, conditions, variables, evaluation, sizes.

Pure Python, no I/O. The STS uses it for trust policies (per request) and for
intersecting role permissions with session policies.
"""

from stsproxy.policy.conditions import evaluate_condition
from stsproxy.policy.evaluate import (
    MatchedStatement,
    PolicyDecision,
    RequestContext,
    condition_keys,
    evaluate,
    evaluate_session,
    evaluate_trust,
)
from stsproxy.policy.grammar import Condition, Policy, PolicyKind, Statement, parse_policy
from stsproxy.policy.matching import match_action, match_arn, principal_matches
from stsproxy.policy.size import ensure_packed_size, minified_length, minify, packed_policy_size

__all__ = [
    "Condition",
    "MatchedStatement",
    "Policy",
    "PolicyDecision",
    "PolicyKind",
    "RequestContext",
    "Statement",
    "condition_keys",
    "ensure_packed_size",
    "evaluate",
    "evaluate_condition",
    "evaluate_session",
    "evaluate_trust",
    "match_action",
    "match_arn",
    "minified_length",
    "minify",
    "packed_policy_size",
    "parse_policy",
    "principal_matches",
]
