"""`stsmock assume` and `stsmock env`: get credentials the way an SDK would.

The STS call goes through boto3 (unsigned, like botocore's web-identity
provider), so what the command prints is exactly what an SDK would get.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from stsmock.datadir import default_data_dir, read_server_info

from .admin_client import server_ca_file, ssl_context
from .durations import DURATION

#: What botocore accepts as RoleArn (checked here so a typo is a usage error, not a traceback).
_ARN = re.compile(r"arn:[\w+=/,.@-]+:[\w+=/,.@-]*:[\w+=/,.@-]*:[\w+=/,.@-]*:[\w+=/,.@-]+")


def _role_arn(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if len(value) < 20 or len(value) > 2048 or not _ARN.fullmatch(value):
        raise click.BadParameter(f"{value[:60]!r} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)")
    return value


def ca_exports(data_dir: str | None) -> dict[str, str]:
    """CA variables for an https server: each client family reads a different one."""
    ca = server_ca_file(data_dir)
    if not ca:
        return {}
    bundle = Path(ca).with_name("bundle.pem")
    both = str(bundle) if bundle.exists() else ca  # public roots + the local CA: these variables replace defaults
    return {"AWS_CA_BUNDLE": both, "SSL_CERT_FILE": both, "REQUESTS_CA_BUNDLE": both, "NODE_EXTRA_CA_CERTS": ca}


def server_url(url: str | None, data_dir: str | None) -> str:
    if url:
        return url.rstrip("/")
    if os.environ.get("STSMOCK_URL"):
        return os.environ["STSMOCK_URL"].rstrip("/")
    info = read_server_info(Path(data_dir).expanduser() if data_dir else default_data_dir()) or {}
    if not info.get("url"):
        raise click.UsageError("no running server found; pass --url")
    return str(info["url"]).rstrip("/")


def s3_gateway_url(base: str, data_dir: str | None) -> str | None:
    """The running server's S3 gateway URL (server.json), when it is the server at ``base``."""
    if os.environ.get("STSMOCK_S3_URL"):
        return os.environ["STSMOCK_S3_URL"].rstrip("/")
    info = read_server_info(Path(data_dir).expanduser() if data_dir else default_data_dir()) or {}
    if info.get("s3_url") and base in (
        str(info.get("url", "")).rstrip("/"),
        str(info.get("public_url", "")).rstrip("/"),
    ):
        return str(info["s3_url"]).rstrip("/")
    return None


def fetch_client_token(base_url: str, client_id: str, client_secret: str, data_dir: str | None = None) -> str:
    """client_credentials at the built-in issuer's token endpoint; returns the access token."""
    import urllib.error  # loaded here: `stsmock serve` never needs the HTTP client
    import urllib.parse
    import urllib.request

    basic = base64.b64encode(
        f"{urllib.parse.quote(client_id, safe='')}:{urllib.parse.quote(client_secret, safe='')}".encode()
    ).decode()
    request = urllib.request.Request(  # noqa: S310 - the user's own server
        f"{base_url}/token",
        data=urllib.parse.urlencode({"grant_type": "client_credentials"}).encode(),
        headers={"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    import http.client

    try:
        with urllib.request.urlopen(request, timeout=30, context=ssl_context(data_dir)) as response:  # noqa: S310
            return str(json.loads(response.read())["access_token"])
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace").replace("\n", " ")[:300]
        raise click.ClickException(f"token endpoint: HTTP {exc.code}: {detail}") from None
    except urllib.error.URLError as exc:
        raise click.ClickException(f"cannot reach {base_url}: {exc.reason}") from None
    except (ConnectionError, TimeoutError, http.client.HTTPException, ValueError, KeyError) as exc:
        raise click.ClickException(f"token endpoint at {base_url}: {exc or type(exc).__name__}") from None


def assume_with_web_identity(
    endpoint: str,
    *,
    role_arn: str,
    token: str,
    session_name: str,
    duration: int | None,
    policy: str | None,
    ca_file: str | None = None,
) -> dict[str, Any]:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    sts = boto3.client(
        "sts",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1}),
        verify=ca_file if ca_file else True,
    )
    kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name, "WebIdentityToken": token}
    if duration is not None:
        kwargs["DurationSeconds"] = duration
    if policy is not None:
        kwargs["Policy"] = policy
    try:
        result: dict[str, Any] = sts.assume_role_with_web_identity(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise click.ClickException(f"{error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:  # bad parameters, a dropped connection, TLS trust
        raise click.ClickException(f"AssumeRoleWithWebIdentity at {endpoint}: {exc}") from None
    return result


def _credentials_output(
    result: dict[str, Any], fmt: str, endpoint: str, region: str = "us-east-1", s3_endpoint: str | None = None
) -> str:
    creds = result["Credentials"]
    expiration = creds["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "credential-process":
        return json.dumps(
            {
                "Version": 1,
                "AccessKeyId": creds["AccessKeyId"],
                "SecretAccessKey": creds["SecretAccessKey"],
                "SessionToken": creds["SessionToken"],
                "Expiration": expiration,
            }
        )
    if fmt == "json":
        return json.dumps(
            {
                "AccessKeyId": creds["AccessKeyId"],
                "SecretAccessKey": creds["SecretAccessKey"],
                "SessionToken": creds["SessionToken"],
                "Expiration": expiration,
                "AssumedRoleUser": result.get("AssumedRoleUser"),
                "SubjectFromWebIdentityToken": result.get("SubjectFromWebIdentityToken"),
            },
            indent=2,
        )
    from stsmock.delivery.envs import endpoint_env

    lines = {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_CREDENTIAL_EXPIRATION": expiration,
        **endpoint_env(endpoint, region),
    }
    if s3_endpoint:
        lines["AWS_ENDPOINT_URL_S3"] = s3_endpoint
    return "\n".join(f"export {k}={shlex.quote(v)}" for k, v in lines.items())


def _resolve_token(
    token: str | None, token_file: str | None, base: str, client_id: str, client_secret: str, data_dir: str | None
) -> str:
    if token and token_file:
        raise click.UsageError("give --token or --token-file, not both")
    if token_file:
        return Path(token_file).read_text(encoding="utf-8").strip()
    if token:
        return token.strip()
    return fetch_client_token(base, client_id, client_secret, data_dir)


_common = [
    click.option("--role-arn", required=True, callback=_role_arn, help="Role to assume."),
    click.option("--token", default=None, help="Web-identity token (default: one for the default client)."),
    click.option("--token-file", type=click.Path(dir_okay=False, exists=True), default=None),
    click.option("--session-name", default=None, help="RoleSessionName (default stsmock-<epoch>)."),
    click.option("--duration", type=DURATION, default=None, help="DurationSeconds, e.g. 900 or 1h."),
    click.option(
        "--policy",
        "policy_file",
        type=click.Path(dir_okay=False, exists=True),
        default=None,
        help="Session policy JSON file.",
    ),
    click.option("--url", default=None, help="stsmock base URL (default: the running server's)."),
    click.option("--data-dir", type=click.Path(file_okay=False), default=None),
    click.option("--client-id", default="stsmock-dev", show_default=True, help="Client used to get a token."),
    click.option("--client-secret", default="stsmock-dev-secret", show_default=True),
]


def _apply(func: Any) -> Any:
    for option in reversed(_common):
        func = option(func)
    return func


@dataclass(frozen=True)
class AssumeArgs:
    """The options `assume` and `env` share, bundled by :func:`_apply`."""

    role_arn: str
    token: str | None
    token_file: str | None
    session_name: str | None
    duration: int | None
    policy_file: str | None
    url: str | None
    data_dir: str | None
    client_id: str
    client_secret: str

    @property
    def base(self) -> str:
        return server_url(self.url, self.data_dir)

    def web_token(self) -> str:
        return _resolve_token(self.token, self.token_file, self.base, self.client_id, self.client_secret, self.data_dir)

    def call(self, token: str) -> dict[str, Any]:
        import time

        policy = Path(self.policy_file).read_text(encoding="utf-8") if self.policy_file else None
        return assume_with_web_identity(
            self.base,
            role_arn=self.role_arn,
            token=token,
            session_name=self.session_name or f"stsmock-{int(time.time())}",
            duration=self.duration,
            policy=policy,
            ca_file=server_ca_file(self.data_dir),
        )


def _args(kwargs: dict[str, Any]) -> AssumeArgs:
    return AssumeArgs(**{name: kwargs.pop(name) for name in AssumeArgs.__dataclass_fields__})


@click.command()
@_apply
@click.option(
    "--format", "fmt", type=click.Choice(["env", "json", "credential-process"]), default="json", show_default=True
)
def assume(fmt: str, **kwargs: Any) -> None:
    """AssumeRoleWithWebIdentity and print the credentials."""
    args = _args(kwargs)
    base = args.base
    click.echo(
        _credentials_output(args.call(args.web_token()), fmt, base, s3_endpoint=s3_gateway_url(base, args.data_dir))
    )


@click.command()
@_apply
@click.option(
    "--web-identity-token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the token here and print AWS_WEB_IDENTITY_TOKEN_FILE/AWS_ROLE_ARN instead of static keys.",
)
@click.option(
    "--delivery",
    "kind",
    type=click.Choice(["static", "web-identity", "container", "imds", "credential-process", "credentials-file"]),
    default=None,
    help="Print the environment of this delivery pattern, served by a workload binding (see docs).",
)
@click.option("--sub", default=None, help="With --delivery: the workload's subject (default stsmock:delivery:NAME).")
@click.option("--imds-v1", is_flag=True, help="With --delivery imds: also answer token-less IMDSv1 GETs.")
@click.option(
    "--auth-token-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="With --delivery container: write the binding's token here and print AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE.",
)
@click.option("--format", "fmt", type=click.Choice(["shell", "docker"]), default="shell", show_default=True)
@click.option("--admin-token", default=None, help="With --delivery: admin token (default: read from the data dir).")
def env(
    web_identity_token_file: str | None,
    kind: str | None,
    sub: str | None,
    imds_v1: bool,
    auth_token_file: str | None,
    fmt: str,
    admin_token: str | None,
    **kwargs: Any,
) -> None:
    """Print the environment an SDK's default credential chain needs (`eval "$(...)"` or --env-file)."""
    if kind is not None:
        from .admin_client import AdminClient
        from .delivery import delivery_env, print_env

        client = AdminClient.discover(kwargs["url"], admin_token, kwargs["data_dir"])
        opts = {
            "imds_v1": imds_v1,
            "auth_token_file": auth_token_file,
            "s3_url": s3_gateway_url(client.url, kwargs["data_dir"]),
        }
        print_env({**delivery_env(client, kind, kwargs["role_arn"], sub, opts), **ca_exports(kwargs["data_dir"])}, fmt)
        return
    args = _args(kwargs)
    web_token = args.web_token()
    if web_identity_token_file:
        from stsmock.token_file import write_atomic

        path = Path(web_identity_token_file).resolve()
        write_atomic(path, web_token)
        from stsmock.delivery.envs import endpoint_env

        from .delivery import print_env

        lines = {"AWS_WEB_IDENTITY_TOKEN_FILE": str(path), "AWS_ROLE_ARN": args.role_arn}
        if args.session_name:
            lines["AWS_ROLE_SESSION_NAME"] = args.session_name
        s3 = s3_gateway_url(args.base, args.data_dir)
        s3_env = {"AWS_ENDPOINT_URL_S3": s3} if s3 else {}
        print_env({**lines, **endpoint_env(args.base, "us-east-1"), **s3_env, **ca_exports(args.data_dir)}, fmt)
        return
    if fmt == "docker":
        from .delivery import print_env

        s3_url = s3_gateway_url(args.base, args.data_dir)
        print_env({**dict(_env_values(args.call(web_token), args.base, s3_url)), **ca_exports(args.data_dir)}, fmt)
        return
    exports = "".join(f"\nexport {k}={shlex.quote(v)}" for k, v in ca_exports(args.data_dir).items())
    s3_endpoint = s3_gateway_url(args.base, args.data_dir)
    click.echo(_credentials_output(args.call(web_token), "env", args.base, s3_endpoint=s3_endpoint) + exports)


def _env_values(result: dict[str, Any], endpoint: str, s3_endpoint: str | None = None) -> list[tuple[str, str]]:
    out = []
    for line in _credentials_output(result, "env", endpoint, s3_endpoint=s3_endpoint).splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        out.append((key, shlex.split(value)[0] if value else ""))
    return out
