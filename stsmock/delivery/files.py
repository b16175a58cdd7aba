"""The secret-controller pattern: credential files replaced atomically before expiry.

Atomic replace (temp file in the same directory + ``os.replace``) means a reader
sees the old file or the new one, never half of one. It does not make a running
SDK re-read the file: botocore and the JS SDK read a shared-credentials file
once per process (boto/botocore#704, aws/aws-cli#9034); the AWS CLI (one process
per command), minio-go's FileAWSCredentials and minio-py's AWSConfigProvider do
re-read it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from .wire import Credentials, render_env, shared_credentials_file, static_env


def resolve(directory: Path, path: str) -> Path:
    """Relative paths live under <data-dir>/delivery/."""
    candidate = Path(path).expanduser()
    return candidate if candidate.is_absolute() else directory / candidate


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` by atomic replace, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_credential_files(
    creds: Credentials, *, credentials: Path | None, env: Path | None, profile: str, region: str
) -> None:
    if credentials is not None:
        write_private(credentials, shared_credentials_file(creds, profile=profile, region=region))
    if env is not None:
        values = {**static_env(creds), "AWS_REGION": region, "AWS_DEFAULT_REGION": region}
        write_private(env, render_env(values, "docker"))
