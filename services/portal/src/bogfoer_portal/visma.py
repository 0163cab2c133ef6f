"""Visma Connect consent, the authorisation-code flow with PKCE (RFC 7636, S256): a fresh
`state` and code verifier per attempt, and the authorize URL the shop owner's browser goes
to. Pure; the verifier is sealed at rest by the store and sent only to the poster, which
exchanges the code for tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import urlencode


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_verifier() -> str:
    """43–128 characters of [A-Za-z0-9-._~] (RFC 7636 §4.1): 64 random bytes, base64url."""
    return secrets.token_urlsafe(64)


def challenge(verifier: str) -> str:
    """S256: base64url(SHA-256(verifier)) without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    base: str,
    *,
    client_id: str,
    redirect_uri: str,
    scope: str,
    state: str,
    verifier: str,
    login_hint: str | None = None,
) -> str:
    """Where the browser goes to consent; Visma Connect answers with a form posted back to
    `redirect_uri` (`response_mode=form_post`: the code never sits in a URL or a log)."""
    params = {
        "client_id": client_id,
        "response_type": "code",
        "response_mode": "form_post",
        "scope": scope,
        "redirect_uri": redirect_uri,
        "state": state,
        "code_challenge": challenge(verifier),
        "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode(params)}"
