"""Pure wire formats of every delivery channel, and the STS answer they start from.

Each format is the one every client accepts (see docs/credential-delivery.md):
``Expiration`` is ``YYYY-MM-DDTHH:MM:SSZ`` (no fraction, literal ``Z``) because
the JS SDK rejects offsets, minio-py rejects nine fractional digits and
botocore's IMDS extension parses exactly this format.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree  # noqa: S405 - parses our own STS's answer, never remote input

EnvFormat = Literal["shell", "docker"]


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    #: Epoch seconds (the STS's clock).
    expiration: float
    issued_at: float
    assumed_role_arn: str = ""

    @property
    def lifetime(self) -> float:
        return self.expiration - self.issued_at


class StsFailure(Exception):
    """The STS refused: its error code and message, kept for the channel's own error format."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def iso_z(epoch: float) -> str:
    """``2026-01-01T00:00:00Z``, rounded down so no client believes in a second that does not exist."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def parse_iso_z(text: str) -> float:
    import calendar

    clean = text.strip().replace("+00:00", "Z")
    if "." in clean:
        clean = clean.split(".", 1)[0] + "Z"
    return float(calendar.timegm(time.strptime(clean, "%Y-%m-%dT%H:%M:%SZ")))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ElementTree.Element, name: str) -> ElementTree.Element | None:
    for element in root.iter():
        if _local(element.tag) == name:
            return element
    return None


def _text(root: ElementTree.Element, name: str) -> str:
    element = _find(root, name)
    return (element.text or "").strip() if element is not None else ""


def parse_sts_answer(status: int, body: bytes, *, now: float) -> Credentials:
    """Credentials from an AssumeRoleWithWebIdentity answer (AWS or MinIO dialect), else :class:`StsFailure`."""
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - our own STS's bytes
    except ElementTree.ParseError:
        raise StsFailure("InternalFailure", "the STS answer is not XML", 500) from None
    if status != 200:
        raise StsFailure(_text(root, "Code") or "InternalFailure", _text(root, "Message") or f"HTTP {status}", status)
    creds = _find(root, "Credentials")
    if creds is None:
        raise StsFailure("InternalFailure", "the STS answer has no Credentials", 500)
    return Credentials(
        access_key_id=_text(creds, "AccessKeyId"),
        secret_access_key=_text(creds, "SecretAccessKey"),
        session_token=_text(creds, "SessionToken"),
        expiration=parse_iso_z(_text(creds, "Expiration")),
        issued_at=now,
        assumed_role_arn=_text(root, "Arn"),
    )


def container_body(creds: Credentials, *, account_id: str, role_arn: str) -> bytes:
    """The container endpoint's 200 body: the superset botocore, JS, minio-py and minio-go accept."""
    return json.dumps(
        {
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "Token": creds.session_token,
            "Expiration": iso_z(creds.expiration),
            "AccountId": account_id,
            "RoleArn": role_arn,
        }
    ).encode()


def container_error(code: str, message: str) -> bytes:
    """Errors as ``{"Code","Message"}`` JSON: the JS SDK copies both onto its error; botocore quotes the body."""
    return json.dumps({"Code": code, "Message": message}).encode()


#: Below AWS's 900 s minimum (drill-only sessions) IMDS writes ``Expiration`` with ``.000``.
DRILL_LIFETIME = 900


def imds_body(creds: Credentials, *, last_updated: float) -> bytes:
    """IMDS credentials JSON; ``Code: Success`` is required by minio-go and checked by minio-py.

    For drill-only sessions (< 900 s, which AWS never issues) the expiry carries a ``.000``
    fraction. botocore's "static stability" parses IMDS expiries with exactly
    ``%Y-%m-%dT%H:%M:%SZ`` and, for credentials with < 15 min + 2..10 min left, assumes an
    IMDS outage and stretches their expiry by 17..25 min — under compressed time it would then
    sign with expired keys. The fraction makes that parse fail, so the extension stays out (every
    client accepts the fraction); real-length sessions get AWS's exact format.
    """
    expiration = iso_z(creds.expiration)
    if creds.lifetime < DRILL_LIFETIME:
        expiration = expiration[:-1] + ".000Z"
    return json.dumps(
        {
            "Code": "Success",
            "LastUpdated": iso_z(last_updated),
            "Type": "AWS-HMAC",
            "AccessKeyId": creds.access_key_id,
            "SecretAccessKey": creds.secret_access_key,
            "Token": creds.session_token,
            "Expiration": expiration,
        },
        indent=2,
    ).encode()


def process_output(creds: Credentials, *, account_id: str | None = None) -> str:
    """``credential_process`` stdout, Version 1."""
    doc: dict[str, object] = {
        "Version": 1,
        "AccessKeyId": creds.access_key_id,
        "SecretAccessKey": creds.secret_access_key,
        "SessionToken": creds.session_token,
        "Expiration": iso_z(creds.expiration),
    }
    if account_id:
        doc["AccountId"] = account_id
    return json.dumps(doc)


def process_output_from_container(body: dict[str, object]) -> str:
    """Turn a container endpoint answer into ``credential_process`` output."""
    return json.dumps(
        {
            "Version": 1,
            "AccessKeyId": body["AccessKeyId"],
            "SecretAccessKey": body["SecretAccessKey"],
            "SessionToken": body["Token"],
            "Expiration": body["Expiration"],
            **({"AccountId": body["AccountId"]} if body.get("AccountId") else {}),
        }
    )


def shared_credentials_file(creds: Credentials, *, profile: str, region: str) -> str:
    """An INI shared-credentials file. ``region`` is a comment here: SDKs read it from the config file or env."""
    return (
        f"# written by stsmock; expires {iso_z(creds.expiration)}; replaced atomically before that\n"
        f"# region: {region} (set AWS_REGION; SDKs do not read a region from this file)\n"
        f"[{profile}]\n"
        f"aws_access_key_id = {creds.access_key_id}\n"
        f"aws_secret_access_key = {creds.secret_access_key}\n"
        f"aws_session_token = {creds.session_token}\n"
    )


def static_env(creds: Credentials) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": creds.access_key_id,
        "AWS_SECRET_ACCESS_KEY": creds.secret_access_key,
        "AWS_SESSION_TOKEN": creds.session_token,
        "AWS_CREDENTIAL_EXPIRATION": iso_z(creds.expiration),
    }


def render_env(values: dict[str, str], fmt: EnvFormat = "shell") -> str:
    """``export K=V`` lines for ``eval``, or ``K=V`` lines for ``docker run --env-file`` (no quoting there)."""
    lines = []
    for key, value in values.items():
        if "\n" in value or "\r" in value:
            raise ValueError(f"{key}: a value with a line break cannot be an environment line")
        lines.append(f"{key}={value}" if fmt == "docker" else f"export {key}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"
