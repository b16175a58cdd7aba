"""A tiny client for the running server's admin API (stdlib only, so the CLI starts fast)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from stsmock.datadir import default_data_dir, read_server_info


def server_ca_file(data_dir: str | Path | None) -> str | None:
    """The CA file of an https server: ``STSMOCK_CA_FILE``, else the one the running server recorded."""
    if os.environ.get("STSMOCK_CA_FILE"):
        return os.environ["STSMOCK_CA_FILE"]
    directory = Path(data_dir).expanduser() if data_dir else default_data_dir()
    info = read_server_info(directory) or {}
    return str(info["ca_file"]) if info.get("ca_file") else None


def ssl_context(data_dir: str | Path | None) -> Any:
    """A client SSLContext trusting the server's CA (None: the system's trust)."""
    from stsmock.tls import client_context

    return client_context(server_ca_file(data_dir))


class AdminClient:
    def __init__(self, url: str, token: str, ca_file: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.ca_file = ca_file

    @classmethod
    def discover(cls, url: str | None, token: str | None, data_dir: str | None) -> AdminClient:
        """URL and admin token from the options, else from the data dir of a running server."""
        directory = Path(data_dir).expanduser() if data_dir else default_data_dir()
        info = read_server_info(directory) or {}
        url = url or os.environ.get("STSMOCK_URL") or info.get("url")
        if not url:
            raise click.UsageError(f"no running server found in {directory}; pass --url (and --admin-token)")
        if token is None:
            token = os.environ.get("STSMOCK_ADMIN_TOKEN")
        if token is None:
            path = Path(info.get("admin_token_file") or directory / "admin-token")
            try:
                token = path.read_text(encoding="utf-8").strip()
            except OSError:
                raise click.UsageError(f"cannot read the admin token at {path}; pass --admin-token") from None
        return cls(url, token, server_ca_file(directory))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import http.client
        import urllib.error  # loaded here: `stsmock serve` never needs the HTTP client
        import urllib.request

        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - URL is the user's stsmock server
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        from stsmock.tls import client_context

        try:
            with urllib.request.urlopen(request, timeout=30, context=client_context(self.ca_file)) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            try:
                parsed = json.loads(detail)
                detail = parsed.get("error_description") or parsed.get("error") or detail
            except ValueError:
                pass
            raise click.ClickException(f"{method} {path}: HTTP {exc.code}: {detail}") from None
        except urllib.error.URLError as exc:
            raise click.ClickException(f"cannot reach {self.url}: {exc.reason}") from None
        except (ConnectionError, TimeoutError, http.client.HTTPException) as exc:
            raise click.ClickException(f"connection to {self.url} lost: {exc or type(exc).__name__}") from None
        return json.loads(raw) if raw else None


def admin_options(func: Any) -> Any:
    func = click.option("--data-dir", type=click.Path(file_okay=False), help="Data dir of the running server.")(func)
    func = click.option("--admin-token", help="Admin token (default: read from the data dir).")(func)
    func = click.option("--url", help="Base URL of the running server (default: from the data dir).")(func)
    return func
