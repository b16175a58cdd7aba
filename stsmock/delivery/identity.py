"""Get a binding's web-identity token from its source: minted, a token file, or client_credentials."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import quote

from .ports import DeliveryPorts
from .settings import BindingSettings
from .wire import StsFailure


def default_subject(binding: BindingSettings) -> str:
    return binding.identity.sub or f"stsmock:delivery:{binding.name}"


async def web_identity_token(binding: BindingSettings, ports: DeliveryPorts) -> str:
    identity = binding.identity
    if identity.kind == "token_file":
        try:
            return Path(str(identity.token_file)).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise StsFailure("IDPCommunicationError", f"cannot read the token file: {exc.strerror}", 400) from None
    if identity.kind == "client_credentials":
        return await _client_credentials(binding, ports)
    aud = identity.aud
    if aud is None:
        aud = ports.client_audience(identity.issuer, identity.client_id) or identity.client_id
    claims = {**identity.claims, "sub": default_subject(binding), "aud": aud}
    try:
        return ports.mint(identity.issuer, claims, identity.ttl_seconds, identity.client_id)
    except (KeyError, ValueError) as exc:
        raise StsFailure("IDPCommunicationError", f"cannot mint the workload token: {exc}", 400) from None


async def _client_credentials(binding: BindingSettings, ports: DeliveryPorts) -> str:
    import aiohttp

    spec = binding.identity.client_credentials
    assert spec is not None
    url = spec.token_url or ports.token_endpoint(binding.identity.issuer)
    basic = base64.b64encode(f"{quote(spec.client_id, safe='')}:{quote(spec.client_secret, safe='')}".encode()).decode()
    form = {"grant_type": "client_credentials", **({"scope": spec.scope} if spec.scope else {})}
    timeout = aiohttp.ClientTimeout(total=10)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=form, headers={"Authorization": f"Basic {basic}"}) as response,
        ):
            raw = await response.read()
            if response.status != 200:
                detail = raw[:200].decode(errors="replace")
                raise StsFailure("IDPCommunicationError", f"token endpoint: HTTP {response.status}: {detail}", 400)
            return str(json.loads(raw)["access_token"])
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
        raise StsFailure("IDPCommunicationError", f"token endpoint {url}: {type(exc).__name__}", 400) from None
