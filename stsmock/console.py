"""The web console at ``/ui``: server-rendered HTML, no JavaScript, no build step.

Pages: an overview (issuers, keys, clients, roles and their policies), the
audit log as a decision timeline, a JWT decoder that runs the STS's own
verification pipeline, and an assume-role simulator.

Auth: the admin token, entered once on ``/ui/login``. The browser keeps an
HttpOnly, SameSite=Strict cookie holding an HMAC of the token (keyed with a
secret derived from the data dir's session-token key, so all workers agree),
never the token itself; every request recomputes and compares it in constant
time, so changing the admin token logs everybody out. Loopback clients get no bypass. POST forms carry a CSRF
token derived from the cookie. Every dynamic value is HTML-escaped.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import html
import json
import time
from functools import cache
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from .app import Runtime

COOKIE = "stsmock_console"
PREFIX = "/ui"
AUDIT_PAGE_SIZE = 200
MAX_FORM_BYTES = 256 * 1024
TEMPLATES = Path(__file__).parent / "templates"

#: The verification pipeline, in order (stsproxy.verify), then the STS's revocation check.
VERIFY_CHECKS = (
    ("token-size", "token size within limit"),
    ("token-format", "well-formed compact JWS"),
    ("alg-none", "signed (alg is not none)"),
    ("issuer-trusted", "issuer is trusted"),
    ("alg-allowed", "algorithm allowed for the issuer"),
    ("jwks-fetch", "issuer keys (JWKS) available"),
    ("kid-known", "signing key found (kid)"),
    ("alg-key-match", "key usable with the algorithm"),
    ("signature", "signature valid"),
    ("aud", "audience accepted"),
    ("exp", "not expired"),
    ("nbf", "not before (nbf)"),
    ("iat", "not issued in the future (iat)"),
    ("max-age", "not too old (max token age)"),
    ("sub", "has a subject"),
    ("revoked", "not revoked"),
)

NAV = (("/ui", "Overview"), ("/ui/audit", "Audit"), ("/ui/decode", "Decode JWT"), ("/ui/simulate", "Simulate"))

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def h(value: Any) -> str:
    """HTML-escape anything (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


@cache
def template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def pretty(value: Any) -> str:
    return f"<pre>{h(json.dumps(value, indent=2, sort_keys=False, default=str))}</pre>"


def pill(text: Any, kind: str = "") -> str:
    return f'<span class="pill {h(kind)}">{h(text)}</span>'


def human_time(ts: Any, now: float | None = None) -> str:
    if not isinstance(ts, int | float) or isinstance(ts, bool):
        return ""
    try:
        text = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(ts)))
    except (OverflowError, OSError, ValueError):
        return f"{ts} (out of range)"
    if now is not None:
        delta = float(ts) - now
        text += f" ({_relative(delta)})"
    return text


def _relative(delta: float) -> str:
    amount = abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if amount >= size:
            value = f"{amount / size:.1f}{unit}"
            break
    else:
        value = f"{amount:.0f}s"
    return f"in {value}" if delta >= 0 else f"{value} ago"


def table(headers: list[str], rows: list[list[str]], *, empty: str = "none") -> str:
    """A table; cells are already-escaped HTML."""
    if not rows:
        return f'<p class="muted">{h(empty)}</p>'
    head = "".join(f"<th>{h(x)}</th>" for x in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def decode_segment(segment: str) -> Any:
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return json.loads(raw)


def console_key(runtime: Runtime) -> bytes:
    """The HMAC key for console cookies, derived from the data dir's session-token key.

    Workers sharing a data dir (``--workers``) already share that key, so a cookie
    minted by one worker is accepted by the others.
    """
    from . import datadir

    base = datadir.secret_key(runtime.data_dir, "session-token.key")
    return hmac.new(base, b"stsmock-console-v1", hashlib.sha256).digest()


class Console:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._secret = console_key(runtime)
        self._secure = runtime.base_url.startswith("https://")

    # -- auth -----------------------------------------------------------------------
    def session_value(self) -> str:
        message = b"console-session\x00" + self.runtime.admin_token.encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def authenticated(self, request: web.Request) -> bool:
        presented = request.cookies.get(COOKIE, "")
        return bool(presented) and hmac.compare_digest(presented.encode(), self.session_value().encode())

    def csrf_token(self) -> str:
        return hmac.new(self._secret, b"console-csrf\x00" + self.session_value().encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, form: Any) -> bool:
        return hmac.compare_digest(str(form.get("csrf", "")).encode(), self.csrf_token().encode())

    # -- rendering ----------------------------------------------------------------------
    def page(
        self, request: web.Request, title: str, content: str, *, status: int = 200, nav: bool = True
    ) -> web.Response:
        nav_html = ""
        if nav:
            links = "".join(
                f'<a href="{h(href)}"{" class=active" if request.path == href else ""}>{h(label)}</a>'
                for href, label in NAV
            )
            logout = (
                '<form method="post" action="/ui/logout">'
                f'<input type="hidden" name="csrf" value="{h(self.csrf_token())}">'
                '<button class="link" type="submit" id="logout">Sign out</button></form>'
            )
            nav_html = f"<nav>{links}</nav>{logout}"
        body = template("console_layout.html").substitute(title=h(title), nav=nav_html, content=content)
        return web.Response(
            text=body, status=status, content_type="text/html", charset="utf-8", headers=SECURITY_HEADERS
        )

    # -- pages --------------------------------------------------------------------------
    def overview(self) -> str:
        rt = self.runtime
        now = rt.clock.now()
        clock = rt.clock.state()
        offset = round(clock["offset_seconds"])
        parts = [
            '<div class="card">',
            f"<b>Base URL</b> <code>{h(rt.base_url)}</code> &nbsp; <b>STS profile</b> {h(rt.config.sts.profile)}"
            f" &nbsp; <b>Account</b> <code>{h(rt.config.sts.account_id)}</code><br>"
            f"<b>Clock</b> {h(human_time(clock['now']))}"
            f"{' ' + pill('frozen', 'next') if clock['frozen'] else ''}"
            + (f" <span class=muted>(offset {h(offset)}s)</span>" if offset else ""),
            "</div>",
            "<h2>Issuers</h2>",
        ]
        for name, service in rt.issuers.items():
            settings = service.settings
            keys = [
                [
                    f"<code>{h(k['kid'])}</code>",
                    h(k["alg"]),
                    pill(k["state"], k["state"]),
                    "yes" if k.get("published") else "no",
                    h(human_time(k.get("activated_at"), now)),
                    h(human_time(k.get("expires_at"), now)),
                ]
                for k in service.keys.list()
            ]
            clients = [
                [
                    f"<code>{h(c.client_id)}</code>",
                    "public" if c.client_secret is None else "confidential",
                    h(", ".join(c.grant_types)),
                    h(c.audience if isinstance(c.audience, str) or c.audience is None else ", ".join(c.audience)),
                    h(", ".join(c.redirect_uris)),
                ]
                for c in settings.clients
            ]
            parts += [
                f'<div class="card issuer" data-issuer="{h(name)}">',
                f"<h3>{h(name)} <span class=muted>·</span> <code>{h(service.issuer_url)}</code></h3>",
                f"<p class=muted>signing alg {h(settings.signing_alg)}; algorithms {h(', '.join(settings.algorithms))};"
                f" {len(settings.users)} user(s)</p>",
                "<h3>Keys</h3>",
                table(["kid", "alg", "state", "published", "active from", "expires"], keys, empty="no keys"),
                "<h3>Clients</h3>",
                table(["client_id", "type", "grants", "audience", "redirect URIs"], clients, empty="no clients"),
                "</div>",
            ]
        parts.append("<h2>Roles</h2>")
        roles = rt.sts.roles.all() if rt.sts is not None else []
        if not roles:
            parts.append('<p class="muted">no roles configured</p>')
        for role in roles:
            s = role.settings
            policies = "".join(
                f"<h3>Permission policy <code>{h(n)}</code></h3>{pretty(doc)}" for n, doc in s.policies.items()
            )
            managed = f"<p>Managed policies: {h(', '.join(s.managed_policies))}</p>" if s.managed_policies else ""
            flags = []
            if s.break_glass is not None:
                flags.append(pill("break-glass", "deny"))
            if s.upstream is not None:
                flags.append(pill("upstream", "next"))
            parts += [
                f'<div class="card role" data-role="{h(role.arn)}">',
                f"<h3><code>{h(role.arn)}</code> {' '.join(flags)}</h3>",
                f"<p class=muted>{h(s.description) or 'no description'} · profile {h(role.profile)}"
                f" · max session {h(role.max_session_duration)}s</p>",
                '<div class="grid2"><div>',
                f"<h3>Trust policy</h3>{pretty(s.trust_policy)}",
                "</div><div>",
                policies or '<p class="muted">no inline permission policies</p>',
                managed,
                "</div></div></div>",
            ]
        return "".join(parts)

    def audit_records(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        """The most recent matching records, newest first (one indexed query)."""
        records: list[dict[str, Any]] = self.runtime.audit.query(limit=AUDIT_PAGE_SIZE, newest_first=True, **filters)
        return records

    def audit(self, request: web.Request) -> str:
        q = request.query
        filters = {
            k: v
            for k, v in (
                ("event", q.get("event", "").strip()),
                ("decision", q.get("decision", "").strip()),
                ("subject", q.get("subject", "").strip()),
            )
            if v
        }
        records = self.audit_records(filters)
        now = self.runtime.clock.now()
        rows = []
        for r in records:
            decision = r.get("decision")
            outcome = r.get("allowed")
            if decision is None and isinstance(outcome, bool):
                decision = "allow" if outcome else "deny"
            role = r.get("role_arn") or r.get("role") or ""
            detail = r.get("message") or r.get("reason") or r.get("grant") or ""
            ts = r.get("ts") or 0
            action = f"<br><span class=muted>{h(r.get('action'))}</span>" if r.get("action") else ""
            rows.append(
                [
                    f'<span class="mono">{h(human_time(ts))}</span><br><span class=muted>{h(_relative(ts - now))}</span>',
                    f"<code>{h(r.get('event'))}</code>{action}",
                    pill(decision, decision) if decision else "",
                    f"<code>{h(r.get('check'))}</code>" if r.get("check") else "",
                    h(r.get("sub") or r.get("subject") or ""),
                    f"<code>{h(role)}</code>" if role else "",
                    h(str(detail)[:200]),
                ]
            )
        options = "".join(
            f'<option value="{v}"{" selected" if filters.get("decision") == v else ""}>{label}</option>'
            for v, label in (("", "any decision"), ("allow", "allow"), ("deny", "deny"))
        )
        form = (
            '<form method="get" action="/ui/audit" class="card grid2" id="audit-filter">'
            f'<div><label for="event">Event (name or prefix, e.g. <code>sts</code>)</label>'
            f'<input type="text" id="event" name="event" value="{h(filters.get("event", ""))}"></div>'
            f'<div><label for="subject">Subject</label><input type="text" id="subject" name="subject" '
            f'value="{h(filters.get("subject", ""))}"></div>'
            f'<div><label for="decision">Decision</label><select id="decision" name="decision">{options}</select></div>'
            '<div><button type="submit">Filter</button></div></form>'
        )
        note = f'<p class="muted">{len(records)} most recent record(s), newest first (at most {AUDIT_PAGE_SIZE}).</p>'
        return (
            form
            + note
            + table(["time", "event", "decision", "check", "subject", "role", "detail"], rows, empty="no audit records")
        )

    async def decode(self, token: str) -> str:
        token = token.strip()
        if not token:
            return ""
        now = self.runtime.clock.now()
        parts = token.split(".")
        decoded: list[str] = []
        claims: dict[str, Any] = {}
        for label, index in (("Header", 0), ("Claims", 1)):
            try:
                value = decode_segment(parts[index]) if len(parts) > index else None
                if label == "Claims" and isinstance(value, dict):
                    claims = value
                body = pretty(value) if value is not None else '<p class="muted">missing</p>'
            except (ValueError, binascii.Error, UnicodeDecodeError):
                body = '<p class="muted">not base64url-encoded JSON</p>'
            decoded.append(f'<div class="card"><h2>{label}</h2>{body}</div>')
        times = [
            [f"<code>{name}</code>", f'<span class="mono">{h(claims[name])}</span>', h(human_time(claims[name], now))]
            for name in ("iat", "nbf", "exp", "auth_time")
            if name in claims
        ]
        times_html = table(["claim", "value", "time (virtual clock)"], times, empty="no time claims")
        verdict = await self.verify(token)
        return (
            f'<div class="card" id="verdict">{verdict}</div>'
            f'<div class="grid2">{"".join(decoded)}</div>'
            f'<div class="card"><h2>Times</h2>{times_html}</div>'
        )

    async def verify(self, token: str) -> str:
        """Run the STS's verifier (and revocation check); render each check as passed / failed / not run."""
        from stsproxy.errors import StsError

        sts = self.runtime.sts
        failed: StsError | None = None
        verified = None
        try:
            verified = await sts.verifier.verify(token)
            sts._check_token_revocation(verified)
        except StsError as exc:
            failed = exc
        rows = []
        state = "pass"
        for check, label in VERIFY_CHECKS:
            if failed is not None and check == failed.check:
                rows.append([pill("failed", "fail"), f"<code>{h(check)}</code>", h(label)])
                state = "skip"
                continue
            rows.append(
                [
                    pill("passed", "pass") if state == "pass" else pill("not run", "skip"),
                    f"<code>{h(check)}</code>",
                    h(label),
                ]
            )
        if failed is None and verified is not None:
            banner = (
                '<div class="banner ok" id="verify-result">✓ Signature and claims valid: all checks passed</div>'
                f"<p>issuer <code>{h(verified.issuer.issuer)}</code>, audience <code>{h(verified.audience)}</code>,"
                f" kid <code>{h(verified.kid)}</code>, alg {h(verified.alg)}</p>"
            )
        else:
            assert failed is not None
            banner = (
                '<div class="banner bad" id="verify-result">'
                f'✗ Check <code class="failed-check">{h(failed.check)}</code>'
                f" failed: {h(failed.code)}</div><p>{h(failed.message)}</p>"
            )
        return "<h2>Validation</h2>" + banner + table(["result", "check", "meaning"], rows)

    async def simulate(self, form: Any) -> str:
        from pydantic import ValidationError

        from .config import format_validation_error
        from .simulate import SimulateBody, SimulationError, simulate

        action = str(form.get("action", "")).strip()
        resource = str(form.get("resource", "")).strip() or "*"
        try:
            body = SimulateBody(
                role_arn=str(form.get("role_arn", "")),
                token=str(form.get("token", "")).strip() or None,
                action=action or "sts:AssumeRoleWithWebIdentity",
                resource=resource,
                session_name=str(form.get("session_name", "")).strip() or "simulation",
            )
            result = await simulate(self.runtime, body)
        except ValidationError as exc:
            message = h(format_validation_error(exc))
            return f'<div class="banner bad" id="simulate-result">Invalid input: {message}</div>'
        except SimulationError as exc:
            return f'<div class="banner bad" id="simulate-result">{h(exc)}</div>'
        token = result.get("token") or {}
        trust = result.get("trust") or {}
        assume_ok = bool(token.get("valid", True)) and bool(trust.get("allowed"))
        permissions = result.get("permissions") if action else None
        allowed = assume_ok and (permissions is None or bool(permissions.get("allowed")))
        what = f"AssumeRoleWithWebIdentity{' + ' + action + ' on ' + resource if action else ''}"
        if allowed:
            banner = f'<div class="banner ok" id="simulate-result">ALLOWED: {h(what)}</div>'
        else:
            banner = f'<div class="banner bad" id="simulate-result">DENIED: {h(what)}</div>'
        parts = [banner]
        if token.get("valid") is False:
            parts.append(
                f'<p>Token rejected at check <code class="failed-check">{h(token.get("check"))}</code>'
                f" ({h(token.get('code'))}): {h(token.get('message'))}</p>"
            )
        else:
            parts.append(
                f"<p>Token valid: sub <code>{h(token.get('sub'))}</code>, issuer <code>{h(token.get('iss'))}</code>,"
                f" audience <code>{h(token.get('aud'))}</code></p>"
            )
        parts.append(self._decision_html("Trust policy", trust))
        if permissions is not None:
            parts.append(self._decision_html(f"Permissions: {action} on {resource}", permissions))
        if result.get("break_glass"):
            parts.append(f"<p>Break-glass: {pretty(result['break_glass'])}</p>")
        return '<div class="card">' + "".join(parts) + "</div>"

    @staticmethod
    def _decision_html(title: str, decision: dict[str, Any]) -> str:
        kind = "allow" if decision.get("allowed") else "deny"
        statements = [
            [
                h(s.get("policy")),
                h(s.get("sid") or ""),
                h(s.get("index")),
                pill(s.get("effect"), "allow" if s.get("effect") == "Allow" else "deny"),
            ]
            for s in decision.get("statements") or []
        ]
        return f"<h3>{h(title)}: {pill(decision.get('decision'), kind)}</h3><p>{h(decision.get('reason'))}</p>" + table(
            ["policy", "sid", "statement #", "effect"], statements, empty="no statement matched"
        )

    def simulate_form(self, form: Any, result: str) -> str:
        selected = str(form.get("role_arn", ""))
        roles = self.runtime.sts.roles.all()
        options = "".join(
            f'<option value="{h(r.arn)}"{" selected" if r.arn == selected else ""}>{h(r.arn)}</option>' for r in roles
        )
        return template("console_simulate.html").substitute(
            csrf=h(self.csrf_token()),
            role_options=options,
            token=h(form.get("token", "")),
            session_name=h(form.get("session_name", "")),
            action=h(form.get("action", "")),
            resource=h(form.get("resource", "")),
            result=result,
        )


def install(app: web.Application, runtime: Runtime) -> Console:
    console = Console(runtime)
    runtime.extras["console"] = console

    def login_redirect() -> web.HTTPSeeOther:
        return web.HTTPSeeOther("/ui/login", headers={"Cache-Control": "no-store"})

    def require_auth(request: web.Request) -> None:
        if not console.authenticated(request):
            raise login_redirect()

    async def read_form(request: web.Request) -> Any:
        if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_FORM_BYTES, actual_size=request.content_length)
        return await request.post()

    async def post_form(request: web.Request) -> Any:
        require_auth(request)
        form = await read_form(request)
        if not console.csrf_ok(form):
            raise web.HTTPForbidden(text="CSRF token missing or invalid; reload the page", headers=SECURITY_HEADERS)
        return form

    async def login_page(request: web.Request) -> web.Response:
        if console.authenticated(request):
            raise web.HTTPSeeOther("/ui")
        content = template("console_login.html").substitute(error="")
        return console.page(request, "Sign in", content, nav=False)

    async def login(request: web.Request) -> web.StreamResponse:
        form = await read_form(request)
        presented = str(form.get("token", "")).strip().encode()
        if not hmac.compare_digest(presented, runtime.admin_token.encode()):
            runtime.audit.record("console.login_failed", severity="high", source_ip=request.remote)
            error = '<div class="banner bad" id="login-error">That is not the admin token.</div>'
            content = template("console_login.html").substitute(error=error)
            return console.page(request, "Sign in", content, status=401, nav=False)
        runtime.audit.record("console.login", severity="high", source_ip=request.remote)
        response = web.HTTPSeeOther("/ui")
        response.set_cookie(
            COOKIE, console.session_value(), path=PREFIX, httponly=True, samesite="Strict", secure=console._secure
        )
        raise response

    async def logout(request: web.Request) -> web.StreamResponse:
        await post_form(request)
        response = web.HTTPSeeOther("/ui/login")
        response.del_cookie(COOKIE, path=PREFIX)
        raise response

    async def overview(request: web.Request) -> web.Response:
        require_auth(request)
        return console.page(request, "Overview", console.overview())

    async def audit(request: web.Request) -> web.Response:
        require_auth(request)
        return console.page(request, "Audit timeline", console.audit(request))

    async def decode_get(request: web.Request) -> web.Response:
        require_auth(request)
        content = template("console_decode.html").substitute(csrf=h(console.csrf_token()), token="", result="")
        return console.page(request, "Decode a JWT", content)

    async def decode_post(request: web.Request) -> web.Response:
        form = await post_form(request)
        token = str(form.get("token", ""))
        result = await console.decode(token)
        content = template("console_decode.html").substitute(
            csrf=h(console.csrf_token()), token=h(token), result=result
        )
        return console.page(request, "Decode a JWT", content)

    async def simulate_get(request: web.Request) -> web.Response:
        require_auth(request)
        return console.page(request, "Assume-role simulator", console.simulate_form({}, ""))

    async def simulate_post(request: web.Request) -> web.Response:
        form = await post_form(request)
        result = await console.simulate(form)
        return console.page(request, "Assume-role simulator", console.simulate_form(form, result))

    async def slash(request: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently("/ui")

    r = app.router
    r.add_get("/ui", overview)
    r.add_get("/ui/", slash)
    r.add_get("/ui/login", login_page)
    r.add_post("/ui/login", login)
    r.add_post("/ui/logout", logout)
    r.add_get("/ui/audit", audit)
    r.add_get("/ui/decode", decode_get)
    r.add_post("/ui/decode", decode_post)
    r.add_get("/ui/simulate", simulate_get)
    r.add_post("/ui/simulate", simulate_post)
    return console
