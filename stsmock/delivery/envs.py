"""The environment each delivery pattern gives a workload (pure; shared by `stsmock env` and the drill).

``binding`` is a binding as ``GET /admin/bindings/{name}`` describes it (with its
``container_token``). Every environment carries the region (botocore reads
``AWS_DEFAULT_REGION``, the JS SDK and minio-py ``AWS_REGION``) and an explicit STS
endpoint, so nothing falls through to real AWS or fails with NoRegionError.
"""

from __future__ import annotations

from typing import Any

KINDS = ("web-identity", "container", "imds", "credential-process", "credentials-file", "static")


def endpoint_env(sts_url: str, region: str, s3_url: str | None = None) -> dict[str, str]:
    values = {"AWS_REGION": region, "AWS_DEFAULT_REGION": region, "AWS_ENDPOINT_URL_STS": sts_url}
    if s3_url:
        values["AWS_ENDPOINT_URL_S3"] = s3_url  # the S3 gateway (boto3, the AWS CLI and the JS SDK read it)
    return values


def process_config(profile: str, command: str, *, region: str, sts_url: str, extra: str = "") -> str:
    """An AWS config file whose profile runs ``command`` as its credential_process, with region and STS endpoint."""
    return (
        f"[profile {profile}]\n"
        f"region = {region}\n"
        f"credential_process = {command}\n"
        f"services = {profile}-endpoints\n\n"
        f"[services {profile}-endpoints]\n"
        f"sts =\n  endpoint_url = {sts_url}\n" + extra
    )


def process_command(stsmock: str, binding: dict[str, Any], token_file: str) -> str:
    return f"{stsmock} delivery credential-process --url {binding['container']['url']} --token-file {token_file}"


def environment(
    kind: str,
    binding: dict[str, Any],
    *,
    sts_url: str,
    region: str,
    auth_token_file: str | None = None,
    config_file: str | None = None,
    profile: str | None = None,
    static_credentials: dict[str, Any] | None = None,
    s3_url: str | None = None,
) -> dict[str, str]:
    """The variables for ``kind``; files it names (token, config) are the caller's to write."""
    values: dict[str, str] = {}
    if kind == "container":
        values["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = binding["container"]["url"]
        if auth_token_file:
            values["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = auth_token_file
        else:
            values["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = binding["container_token"]
    elif kind == "imds":
        values["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = binding["imds"]["url"]
    elif kind == "web-identity":
        values["AWS_WEB_IDENTITY_TOKEN_FILE"] = binding["token_file"]
        values["AWS_ROLE_ARN"] = binding["role_arn"]
        values["AWS_ROLE_SESSION_NAME"] = binding["name"][:64]
    elif kind == "credentials-file":
        values["AWS_SHARED_CREDENTIALS_FILE"] = binding["files"]["credentials"]
        values["AWS_PROFILE"] = binding["files"]["profile"]
    elif kind == "credential-process":
        if not config_file or not profile:
            raise ValueError("credential-process needs the config file and profile it writes")
        values["AWS_CONFIG_FILE"] = config_file
        values["AWS_PROFILE"] = profile
    elif kind == "static":
        if static_credentials is None:
            raise ValueError("static needs a snapshot of the credentials")
        values["AWS_ACCESS_KEY_ID"] = static_credentials["AccessKeyId"]
        values["AWS_SECRET_ACCESS_KEY"] = static_credentials["SecretAccessKey"]
        values["AWS_SESSION_TOKEN"] = static_credentials["Token"]
        values["AWS_CREDENTIAL_EXPIRATION"] = static_credentials["Expiration"]
    else:
        raise ValueError(f"unknown delivery kind {kind!r}")
    if kind != "imds":
        values["AWS_EC2_METADATA_DISABLED"] = "true"  # no 1 s probe of 169.254.169.254 when the chain runs dry
    values.update(endpoint_env(sts_url, region, s3_url))
    return values
