"""Both token grants: Visma Connect authorization code + refresh (one-time with a grace
period), and the legacy API-key password grant. Access tokens are JWT-shaped and opaque."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from dinero_sandbox.context import Sandbox, sandbox_of
from dinero_sandbox.seed import (
    CONNECT_CLIENT,
    DEFAULT_USER,
    LEGACY_CLIENT_ID,
    LEGACY_CLIENT_SECRET,
    USERS,
    SandboxUser,
)
from dinero_sandbox.state import AccessToken, AuthCode, RefreshToken

CONNECT_SCOPES = {"dineropublicapi:read", "dineropublicapi:write", "offline_access", "openid"}
ISSUER = "dinero-sandbox/connect"
AUDIENCE = "dinero-sandbox/api"


def _oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _jwt(claims: dict[str, object]) -> str:
    """JWT-shaped (header.payload.signature) like Visma's; clients must treat it as opaque."""
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64(json.dumps(claims).encode())
    signature = _b64(hashlib.sha256(f"{header}.{payload}".encode()).digest())
    return f"{header}.{payload}.{signature}"


def _issue_access(
    sandbox: Sandbox,
    client_id: str,
    user: SandboxUser | None,
    orgs: list[int],
    scope: str,
    grant: str,
) -> AccessToken:
    now = sandbox.now()
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "client_id": client_id,
        "iat": int(now),
        "exp": int(now + sandbox.config.token_ttl_seconds),
        "jti": secrets.token_hex(8),
    }
    if user is not None:
        claims["sub"] = user.subject
    access = AccessToken(
        token=_jwt(claims),
        client_id=client_id,
        user=user.subject if user else None,
        orgs=orgs,
        scope=scope,
        expires_at=now + sandbox.config.token_ttl_seconds,
        grant_id=grant,
    )
    sandbox.state.auth.access[access.token] = access
    return access


def _redirect_allowed(uri: str) -> bool:
    """Registered URIs, plus any http loopback URI so local tests can choose a port."""
    if uri in CONNECT_CLIENT.redirect_uris:
        return True
    parts = urlsplit(uri)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")


def _users(sandbox: Sandbox) -> list[SandboxUser]:
    """The seeded users and those the admin API made (with the organisations they reach now)."""
    made = [SandboxUser(u.subject, u.email, tuple(u.orgs)) for u in sandbox.state.users.values()]
    return [*USERS, *made]


def _user(sandbox: Sandbox, hint: str | None) -> SandboxUser | None:
    if not hint:
        return DEFAULT_USER
    for user in _users(sandbox):
        if hint in (user.email, user.subject):
            return user
    return None


async def authorize(request: Request) -> Response:
    """GET /connect/authorize — the sandbox's user consents at once; no login page."""
    sandbox = sandbox_of(request)
    params = request.query_params
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if client_id != CONNECT_CLIENT.client_id or not _redirect_allowed(redirect_uri):
        # Like Visma Connect: never redirect to an unverified URI; show an error page.
        return HTMLResponse("<h1>Error</h1><p>unauthorized_client</p>", status_code=400)
    state = params.get("state")

    def back(values: dict[str, str]) -> Response:
        if state is not None:
            values["state"] = state
        if params.get("response_mode") == "form_post":
            inputs = "".join(
                f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}"/>'
                for k, v in values.items()
            )
            page = (
                "<html><head><title>Submit this form</title></head>"
                '<body onload="javascript:document.forms[0].submit()">'
                f'<form method="post" action="{html.escape(redirect_uri)}">{inputs}'
                "<noscript><button>Click to continue</button></noscript></form></body></html>"
            )
            return HTMLResponse(page)
        separator = "&" if "?" in redirect_uri else "?"
        return RedirectResponse(f"{redirect_uri}{separator}{urlencode(values)}", status_code=302)

    if params.get("response_type") != "code":
        return back({"error": "unsupported_response_type"})
    scopes = params.get("scope", "").split()
    if "dineropublicapi:read" not in scopes or not set(scopes) <= CONNECT_SCOPES:
        return back({"error": "invalid_scope"})
    user = _user(sandbox, params.get("login_hint"))
    if user is None:
        return back({"error": "access_denied"})
    method = params.get("code_challenge_method")
    challenge = params.get("code_challenge")
    if challenge and method not in (None, "S256", "plain"):
        return back({"error": "invalid_request"})
    code = AuthCode(
        code=secrets.token_hex(32).upper(),
        client_id=client_id,
        user=user.subject,
        redirect_uri=redirect_uri,
        scope=" ".join(scopes),
        code_challenge=challenge,
        code_challenge_method=(method or "plain") if challenge else None,
        expires_at=sandbox.now() + sandbox.config.code_ttl_seconds,
    )
    sandbox.state.auth.codes[code.code] = code
    sandbox.persist()
    return back({"code": code.code, "scope": code.scope, "session_state": secrets.token_hex(8)})


async def _form(request: Request) -> dict[str, str]:
    """application/x-www-form-urlencoded without python-multipart."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(raw, keep_blank_values=True))


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:].strip()).decode()
        except ValueError:
            return "", ""
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def _token_response(access: AccessToken, refresh: RefreshToken | None, ttl: float) -> JSONResponse:
    body: dict[str, object] = {
        "access_token": access.token,
        "expires_in": int(ttl),
        "token_type": "Bearer",
        "scope": access.scope,
    }
    if refresh is not None:
        body["refresh_token"] = refresh.token
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _issue_pair(
    sandbox: Sandbox, user: SandboxUser, scope: str, grant: str
) -> tuple[AccessToken, RefreshToken | None]:
    orgs = list(user.orgs)
    access = _issue_access(sandbox, CONNECT_CLIENT.client_id, user, orgs, scope, grant)
    refresh = None
    if "offline_access" in scope.split():
        refresh = RefreshToken(
            token=secrets.token_hex(32).upper(),
            client_id=CONNECT_CLIENT.client_id,
            user=user.subject,
            orgs=orgs,
            scope=scope,
            grant_id=grant,
        )
        sandbox.state.auth.refresh[refresh.token] = refresh
    return access, refresh


def _user_by_subject(sandbox: Sandbox, subject: str) -> SandboxUser:
    return next(user for user in _users(sandbox) if user.subject == subject)


async def connect_token(request: Request) -> Response:
    """POST /connect/token — authorization_code and refresh_token grants."""
    sandbox = sandbox_of(request)
    form = await _form(request)
    client_id, secret = _client_credentials(request, form)
    if client_id != CONNECT_CLIENT.client_id or not secrets.compare_digest(
        secret, CONNECT_CLIENT.client_secret
    ):
        return _oauth_error("invalid_client", "Unknown client or wrong secret.")
    grant_type = form.get("grant_type")
    now = sandbox.now()
    auth = sandbox.state.auth
    if grant_type == "authorization_code":
        code = auth.codes.get(form.get("code", ""))
        if code is None or code.used or code.expires_at <= now:
            return _oauth_error("invalid_grant", "Unknown, used or expired code.")
        if code.redirect_uri != form.get("redirect_uri"):
            return _oauth_error("invalid_grant", "redirect_uri does not match the authorize call.")
        if code.code_challenge is not None:
            verifier = form.get("code_verifier", "")
            expected = (
                _b64(hashlib.sha256(verifier.encode()).digest())
                if code.code_challenge_method == "S256"
                else verifier
            )
            if not verifier or expected != code.code_challenge:
                return _oauth_error("invalid_grant", "PKCE verification failed.")
        code.used = True
        access, refresh = _issue_pair(
            sandbox, _user_by_subject(sandbox, code.user), code.scope, str(uuid.uuid4())
        )
        sandbox.persist()
        return _token_response(access, refresh, sandbox.config.token_ttl_seconds)
    if grant_type == "refresh_token":
        old = auth.refresh.get(form.get("refresh_token", ""))
        if old is None or old.grant_id in auth.revoked_grants:
            return _oauth_error("invalid_grant", "Unknown or revoked refresh token.")
        if (
            old.consumed_at is not None
            and now - old.consumed_at > sandbox.config.refresh_grace_seconds
        ):
            return _oauth_error("invalid_grant", "Refresh token already used (grace period over).")
        if old.consumed_at is None:
            old.consumed_at = now
        access, refresh = _issue_pair(
            sandbox, _user_by_subject(sandbox, old.user), old.scope, old.grant_id
        )
        sandbox.persist()
        return _token_response(access, refresh, sandbox.config.token_ttl_seconds)
    return _oauth_error("unsupported_grant_type", f"grant_type {grant_type!r} is not supported.")


async def legacy_token(request: Request) -> Response:
    """POST /dineroapi/oauth/token — password grant; the org's API key is user and password."""
    sandbox = sandbox_of(request)
    form = await _form(request)
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return _oauth_error("invalid_client", "Basic client authentication is required.", 401)
    client_id, secret = _client_credentials(request, form)
    if client_id != LEGACY_CLIENT_ID or not secrets.compare_digest(secret, LEGACY_CLIENT_SECRET):
        return _oauth_error("invalid_client", "Unknown client or wrong secret.", 401)
    if form.get("grant_type") != "password":
        return _oauth_error("unsupported_grant_type", "Only grant_type=password is supported.")
    username, password = form.get("username", ""), form.get("password", "")
    org = next((o for o in sandbox.state.orgs.values() if username and o.api_key == username), None)
    if org is None or password != username or str(org.id) in sandbox.state.auth.revoked_grants:
        return _oauth_error("invalid_grant", "The API key is not valid.")
    access = _issue_access(
        sandbox, LEGACY_CLIENT_ID, None, [org.id], form.get("scope") or "read write", str(org.id)
    )
    sandbox.persist()
    return _token_response(access, None, sandbox.config.token_ttl_seconds)


def revoke_org(sandbox: Sandbox, org_id: int) -> int:
    """The organisation's consent is withdrawn: every grant that reaches it stops working."""
    auth = sandbox.state.auth
    grants = {t.grant_id for t in auth.access.values() if org_id in t.orgs}
    grants |= {t.grant_id for t in auth.refresh.values() if org_id in t.orgs}
    grants.add(str(org_id))  # the legacy grant's id: the org's API key stops working too
    for grant in grants:
        if grant not in auth.revoked_grants:
            auth.revoked_grants.append(grant)
    sandbox.persist()
    return len(grants)


def expire_tokens(sandbox: Sandbox, org_id: int | None = None) -> int:
    now = sandbox.now()
    expired = 0
    for token in sandbox.state.auth.access.values():
        if (org_id is None or org_id in token.orgs) and token.expires_at > now:
            token.expires_at = now - 1
            expired += 1
    sandbox.persist()
    return expired
