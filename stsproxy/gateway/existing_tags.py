"""``s3:ExistingObjectTag/<key>``: the stored object's tags, fetched only when a policy reads them.

Which checks need them is asked of the authorizer (the condition keys of the statements that
match the action and resource); only those cost a GetObjectTagging toward the backend, re-signed
with its own key, before the decision. A missing object has no tag keys; a backend that cannot
answer fails the request closed (503), never open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from urllib.parse import quote

from . import xml
from .backends import BackendRouter
from .classify import object_arn, split_object_arn
from .errors import S3Error, access_denied
from .pipeline import RequestState, authorize
from .ports import Authorizer, Decision
from .sigv4 import EMPTY_SHA256, canonical_query


def tag_context(tags: Mapping[str, str]) -> dict[str, str]:
    return {f"s3:ExistingObjectTag/{k}": v for k, v in tags.items()}


def parse_tagging(body: bytes) -> dict[str, str]:
    """GetObjectTagging's ``<Tagging><TagSet><Tag><Key/><Value/></Tag>…`` → {key: value}."""
    root = xml.parse(body, "tagging")
    tags: dict[str, str] = {}
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "Tag":
            fields = {c.tag.rsplit("}", 1)[-1]: (c.text or "") for c in el}
            if "Key" in fields:
                tags[fields["Key"]] = fields.get("Value", "")
    return tags


def _version_for(state: RequestState, bucket: str, key: str) -> str | None:
    s3, op = state.s3, state.op
    if s3 is not None and s3.bucket == bucket and s3.key == key:
        return s3.param("versionId")
    source = op.copy_source if op is not None else None
    if source is not None and (source.bucket, source.key) == (bucket, key):
        return source.version_id
    return None


async def fetch_tags(router: BackendRouter, bucket: str, key: str, version: str | None) -> dict[str, str]:
    backend = router.for_bucket(bucket)
    query = canonical_query([("tagging", ""), *([("versionId", version)] if version else [])])
    path = quote(f"/{bucket}/{key}".encode(), safe="/~")
    resp = await backend.send("GET", path, query, {}, payload=EMPTY_SHA256, now=time.time())
    try:
        body = await resp.read()
        status = resp.status
    finally:
        resp.release()
    if status == 404:  # no such key/bucket/version: the object has no tags
        return {}
    if status != 200:
        raise S3Error(
            "ServiceUnavailable",
            f"Could not read the tags of {object_arn(bucket, key)} to evaluate s3:ExistingObjectTag "
            f"(the backend '{backend.name}' answered HTTP {status}).",
            503,
            "existing-object-tags",
        )
    return parse_tagging(body)


async def fetch_many(
    router: BackendRouter, bucket: str, entries: list[tuple[str, str | None]], *, parallel: int = 16
) -> list[dict[str, str]]:
    """The tags of each (key, version id), in order, at most ``parallel`` requests at a time."""
    gate = asyncio.Semaphore(parallel)

    async def one(key: str, version: str | None) -> dict[str, str]:
        async with gate:
            return await fetch_tags(router, bucket, key, version)

    return list(await asyncio.gather(*(one(k, v) for k, v in entries)))


async def decide_with_tags(router: BackendRouter, authorizer: Authorizer, state: RequestState) -> None:
    """The deferred decision of ``state``: each check, with the stored tags where its statements read them."""
    assert state.op is not None and state.principal is not None
    fetched: dict[str, dict[str, str]] = {}
    first: Decision | None = None
    for check in state.op.checks:
        context = state.context
        if check in state.tag_checks:
            if check.resource not in fetched:
                found = split_object_arn(check.resource)
                assert found is not None
                fetched[check.resource] = await fetch_tags(router, *found, _version_for(state, *found))
            context = {**context, **tag_context(fetched[check.resource])}
        decision = authorize([check], state.principal, authorizer, context)
        if not decision.allowed:
            state.decision = decision
            state.notes["existing_tags_fetched"] = len(fetched)
            raise access_denied(check="permissions")
        first = first or decision
    state.notes["existing_tags_fetched"] = len(fetched)
    state.decision = first
