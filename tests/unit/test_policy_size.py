"""minified_length, packed_policy_size, and the building blocks (variables, matching)."""

from __future__ import annotations

import json
import random
import string

import pytest

from stsproxy.errors import PackedPolicyTooLarge
from stsproxy.policy import (
    ensure_packed_size,
    match_action,
    match_arn,
    minified_length,
    minify,
    packed_policy_size,
    parse_policy,
)
from stsproxy.policy.variables import parse_template, resolve


def _policy_of_length(target: int, seed: int = 0) -> str:
    """A valid session policy whose minified length is exactly ``target`` (random, hard to compress)."""
    rng = random.Random(seed)
    head = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::'
    tail = '"}]}'
    filler = "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(target - len(head) - len(tail)))
    return head + filler + tail


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param('{ "a" : 1 }', '{"a":1}', id="spaces"),
        pytest.param('{\n\t"a": "x y"\r\n}', '{"a":"x y"}', id="keeps-string-spaces"),
        pytest.param('{"a": "q\\" b"}', '{"a":"q\\" b"}', id="escaped-quote"),
        pytest.param('{"a": "\\\\", "b" : 1}', '{"a":"\\\\","b":1}', id="escaped-backslash"),
        pytest.param("not json  at all", "notjsonatall", id="not-json"),
    ],
)
def test_minify(text: str, expected: str) -> None:
    assert minify(text) == expected
    assert minified_length(text) == len(expected)


def test_minified_length_dict_matches_compact_dump() -> None:
    doc = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::a b"}],
    }
    assert minified_length(doc) == len(json.dumps(doc, separators=(",", ":")))
    assert minified_length(json.dumps(doc, indent=4)) == minified_length(doc)


def test_packed_empty_is_zero() -> None:
    assert packed_policy_size([]) == 0


def test_packed_full_size_policy_under_100() -> None:
    text = _policy_of_length(2048)
    assert minified_length(text) == 2048
    policy = parse_policy(text, kind="session", name="session")
    percent = packed_policy_size([policy])
    assert 0 < percent < 100
    assert packed_policy_size([text]) == percent  # str and Policy give the same answer


def test_packed_small_policy_is_small() -> None:
    text = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}'
    assert 0 < packed_policy_size([text]) < 10


def test_packed_many_large_tags_over_100() -> None:
    rng = random.Random(1)

    def word(n: int) -> str:
        return "".join(rng.choice(string.ascii_letters) for _ in range(n))

    tags = {word(128): word(256) for _ in range(50)}
    percent = packed_policy_size([], tags, transitive_keys=list(tags)[:5])
    assert percent > 100
    with pytest.raises(PackedPolicyTooLarge, match=rf"consumes {percent}% of allotted space"):
        ensure_packed_size([], tags, list(tags)[:5])


def test_packed_deterministic_and_order_independent() -> None:
    tags = {"team": "blue", "env": "dev", "cost": "42"}
    reordered = dict(reversed(list(tags.items())))
    assert packed_policy_size([], tags) == packed_policy_size([], reordered)
    assert packed_policy_size([], tags, ["env", "team"]) == packed_policy_size([], tags, ["team", "env"])


def test_packed_grows_with_content() -> None:
    small = packed_policy_size([_policy_of_length(300)])
    large = packed_policy_size([_policy_of_length(2000)])
    assert small < large
    assert ensure_packed_size([_policy_of_length(2000)]) == large


# --- building blocks ---


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        pytest.param("s3:*", "S3:GetObject", True, id="action-ci"),
        pytest.param("iam:*AccessKey*", "iam:CreateAccessKey", True, id="action-middle"),
        pytest.param("s3:Get", "s3:GetObject", False, id="action-full-match"),
    ],
)
def test_match_action(pattern: str, value: str, expected: bool) -> None:
    assert match_action(pattern, value) is expected


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        pytest.param("*", "anything:at:all", True, id="star"),
        pytest.param("arn:aws:s3:::b/*", "arn:aws:s3:::b/a/b:c", True, id="resource-part-spans-colon"),
        pytest.param("arn:aws:*:us-east-1:*:*", "arn:aws:sns:us-east-1:1:t", True, id="segments"),
        pytest.param("arn:aws:iam::*", "arn:aws:iam::1:role/x", False, id="too-few-parts"),
        pytest.param("arn:aws:s3:::B", "arn:aws:s3:::b", False, id="case-sensitive"),
    ],
)
def test_match_arn(pattern: str, value: str, expected: bool) -> None:
    assert match_arn(pattern, value) is expected


def test_template_parsing() -> None:
    assert parse_template("a/${aws:PrincipalTag/Team , 'x y'}/${*}") == (
        ("text", "a/", None),
        ("var", "aws:principaltag/team", "x y"),
        ("text", "/", None),
        ("lit", "*", None),
    )
    assert resolve("${AWS:UserName}", {"aws:username": "al"}, enabled=True) == (("al", True),)
    assert resolve("${aws:username}", {}, enabled=True) is None
    assert resolve("${aws:username}", {}, enabled=False) == (("${aws:username}", False),)
    assert resolve("x${unclosed", {}, enabled=True) == (("x${unclosed", False),)
    assert resolve("${jwt:groups}", {"jwt:groups": ["one"]}, enabled=True) == (("one", True),)
