"""Two or more stsmock processes sharing one state, driven over HTTP (used by the one-state and failure tests)."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from serve_process import ServeProcess  # tests/app is on sys.path

ROLE = "arn:aws:iam::000000000000:role/stsmock-dev"
#: The load balancer's address in front of the replicas (the issuer URL in every token).
PUBLIC_URL = "http://127.0.0.9:8400"  # numeric: ServeProcess parses the ready line
REPEAT = 12  # fresh connections per check: with two workers, both are hit (p(miss) = 2 * 2**-12)


@dataclass
class Fleet:
    """Two processes sharing one state: ``urls[0]`` and ``urls[1]`` (equal for --workers)."""

    servers: list[ServeProcess]
    urls: list[str]

    @property
    def token(self) -> str:
        return self.servers[0].admin_token

    def call(self, i: int, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(
            self.urls[i] + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Content-Type": "application/json",
                "Connection": "close",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            return exc.code, json.loads(raw) if raw.startswith(b"{") else raw.decode()

    def ok(self, i: int, method: str, path: str, body: dict | None = None) -> Any:
        status, data = self.call(i, method, path, body)
        assert status < 300, (status, data)
        return data

    def mint(self, sub: str) -> str:
        return str(self.ok(0, "POST", "/admin/tokens", {"sub": sub, "aud": "sts.amazonaws.com"})["token"])

    def assume(self, i: int, token: str, role: str = ROLE) -> str:
        """'ok' or the STS error code, on a fresh connection to process ``i`` (the wire request boto3 sends)."""
        form = urllib.parse.urlencode(
            {
                "Action": "AssumeRoleWithWebIdentity",
                "Version": "2011-06-15",
                "RoleArn": role,
                "RoleSessionName": "one-state",
                "WebIdentityToken": token,
            }
        ).encode()
        request = urllib.request.Request(self.urls[i] + "/", data=form, headers={"Connection": "close"})
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                assert b"<AccessKeyId>" in response.read()
                return "ok"
        except urllib.error.HTTPError as exc:
            match = re.search(rb"<Code>([^<]+)</Code>", exc.read())
            return match.group(1).decode() if match else f"HTTP {exc.code}"

    def assume_boto3(self, i: int, token: str, role: str = ROLE) -> str:
        """The same through boto3 (a real client), for the first and last check of a case."""
        sts = boto3.client(
            "sts",
            endpoint_url=self.urls[i],
            region_name="us-east-1",
            config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
        )
        try:
            sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="one-state", WebIdentityToken=token)
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "ok"

    def everywhere(self, fn: Any) -> list[Any]:
        """``fn(i)`` REPEAT times on each process."""
        return [fn(i) for i in (0, 1) for _ in range(REPEAT)]

    def jwks_kids(self, i: int) -> set[str]:
        with urllib.request.urlopen(self.urls[i] + "/jwks", timeout=10) as response:
            return {key["kid"] for key in json.loads(response.read())["keys"]}


def kid_of(token: str) -> str:
    return str(json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))["kid"])
