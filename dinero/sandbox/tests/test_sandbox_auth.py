"""Both grants, token expiry, refresh rotation with grace, revocation, Pro and org access."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable

import httpx
import pytest
from sandbox_harness import assert_dinero_error

from dinero_sandbox.process import SandboxHandle

pytestmark = pytest.mark.integration


def _refresh(sandbox: SandboxHandle, refresh_token: str) -> httpx.Response:
    return httpx.post(
        f"{sandbox.base_url}/connect/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": sandbox.connect.client_id,
            "client_secret": sandbox.connect.client_secret,
        },
    )


def _orgs(sandbox: SandboxHandle, token: str) -> httpx.Response:
    return httpx.get(
        f"{sandbox.base_url}/v1/organizations",
        headers={"Authorization": f"Bearer {token}"},
        params={"fields": "Id,Name,IsPro"},
    )


def test_password_grant_gives_a_token_for_one_org_without_refresh_token(
    dinero_sandbox: SandboxHandle,
) -> None:
    key = dinero_sandbox.legacy.api_keys[dinero_sandbox.main_org]
    response = httpx.post(
        f"{dinero_sandbox.base_url}/dineroapi/oauth/token",
        auth=(dinero_sandbox.legacy.client_id, dinero_sandbox.legacy.client_secret),
        data={"grant_type": "password", "scope": "read write", "username": key, "password": key},
    )
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    assert body["expires_in"] == 3600
    orgs = _orgs(dinero_sandbox, body["access_token"]).json()
    assert orgs == [{"Id": 123456, "Name": "Bogfør Testbutik ApS", "IsPro": True}]
    other = httpx.get(
        f"{dinero_sandbox.base_url}/v1/{dinero_sandbox.vat_free_org}/vatTypes",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert_dinero_error(other, 403, 41)


@pytest.mark.parametrize(
    ("client", "username", "error", "status"),
    [
        (("bogfoer-personal", "wrong"), "sandbox-apikey-123456", "invalid_client", 401),
        (("bogfoer-personal", "sandbox-personal-secret"), "not-a-key", "invalid_grant", 400),
    ],
)
def test_password_grant_rejects_bad_client_or_key(
    dinero_sandbox: SandboxHandle, client: tuple[str, str], username: str, error: str, status: int
) -> None:
    response = httpx.post(
        f"{dinero_sandbox.base_url}/dineroapi/oauth/token",
        auth=client,
        data={"grant_type": "password", "username": username, "password": username},
    )
    assert response.status_code == status
    assert response.json()["error"] == error


def test_authorization_code_flow_with_form_post_and_pkce(dinero_sandbox: SandboxHandle) -> None:
    verifier = "a-long-enough-code-verifier-for-the-sandbox-test-0123456789"
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    page = httpx.get(
        f"{dinero_sandbox.base_url}/connect/authorize",
        params={
            "client_id": dinero_sandbox.connect.client_id,
            "response_type": "code",
            "response_mode": "form_post",
            "scope": dinero_sandbox.connect.scope,
            "redirect_uri": dinero_sandbox.connect.redirect_uri,
            "state": "xyz",
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        },
    )
    assert page.status_code == 200
    assert f'action="{dinero_sandbox.connect.redirect_uri}"' in page.text
    code_match = re.search(r'name="code" value="([^"]+)"', page.text)
    assert code_match is not None
    assert 'name="state" value="xyz"' in page.text
    form = {
        "grant_type": "authorization_code",
        "code": code_match.group(1),
        "redirect_uri": dinero_sandbox.connect.redirect_uri,
        "client_id": dinero_sandbox.connect.client_id,
        "client_secret": dinero_sandbox.connect.client_secret,
    }
    wrong = httpx.post(
        f"{dinero_sandbox.base_url}/connect/token", data={**form, "code_verifier": "x"}
    )
    assert wrong.json()["error"] == "invalid_grant"
    ok = httpx.post(
        f"{dinero_sandbox.base_url}/connect/token", data={**form, "code_verifier": verifier}
    )
    # The failed attempt above did not burn the code; this one does.
    assert ok.status_code == 200, ok.text
    tokens = ok.json()
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert tokens["refresh_token"]
    orgs = _orgs(dinero_sandbox, tokens["access_token"]).json()
    assert [o["Id"] for o in orgs] == [123456, 234567, 345678]
    reused = httpx.post(
        f"{dinero_sandbox.base_url}/connect/token", data={**form, "code_verifier": verifier}
    )
    assert reused.json()["error"] == "invalid_grant"


def test_refresh_rotates_and_old_token_works_only_within_grace(
    dinero_sandbox_factory: Callable[..., SandboxHandle],
) -> None:
    sandbox = dinero_sandbox_factory("--refresh-grace-seconds", "1")
    first = sandbox.connect_tokens()
    second = _refresh(sandbox, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()["refresh_token"]
    assert rotated != first["refresh_token"]
    # A retry of the same refresh inside the grace period still succeeds.
    retry = _refresh(sandbox, first["refresh_token"])
    assert retry.status_code == 200
    time.sleep(1.3)
    late = _refresh(sandbox, first["refresh_token"])
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"
    # The rotated token is still good, once.
    assert _refresh(sandbox, rotated).status_code == 200


def test_expired_access_token_is_401_and_refresh_gives_a_working_one(
    dinero_sandbox: SandboxHandle,
) -> None:
    tokens = dinero_sandbox.connect_tokens()
    assert _orgs(dinero_sandbox, tokens["access_token"]).status_code == 200
    dinero_sandbox.expire_tokens()
    expired = _orgs(dinero_sandbox, tokens["access_token"])
    assert expired.status_code == 401
    assert expired.headers["www-authenticate"] == "Bearer"
    fresh = _refresh(dinero_sandbox, tokens["refresh_token"]).json()["access_token"]
    assert _orgs(dinero_sandbox, fresh).status_code == 200


def test_access_token_ttl_is_configurable(
    dinero_sandbox_factory: Callable[..., SandboxHandle],
) -> None:
    sandbox = dinero_sandbox_factory("--token-ttl-seconds", "1")
    token = sandbox.password_token()
    assert _orgs(sandbox, token).status_code == 200
    time.sleep(1.2)
    assert _orgs(sandbox, token).status_code == 401


def test_revoked_consent_gives_invalid_grant_and_401(dinero_sandbox: SandboxHandle) -> None:
    tokens = dinero_sandbox.connect_tokens()
    legacy = dinero_sandbox.password_token()
    dinero_sandbox.revoke(dinero_sandbox.main_org)
    assert _orgs(dinero_sandbox, tokens["access_token"]).status_code == 401
    assert _orgs(dinero_sandbox, legacy).status_code == 401
    refreshed = _refresh(dinero_sandbox, tokens["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.json() == {
        "error": "invalid_grant",
        "error_description": "Unknown or revoked refresh token.",
    }
    # The organisation's API key stops working too.
    key = dinero_sandbox.legacy.api_keys[dinero_sandbox.main_org]
    denied = httpx.post(
        f"{dinero_sandbox.base_url}/dineroapi/oauth/token",
        auth=(dinero_sandbox.legacy.client_id, dinero_sandbox.legacy.client_secret),
        data={"grant_type": "password", "username": key, "password": key},
    )
    assert denied.json()["error"] == "invalid_grant"
    # The token requests are in the log, their secrets redacted.
    logged = [r for r in dinero_sandbox.requests() if r["path"] == "/connect/token"]
    assert logged[0]["body"]["grant_type"] == "authorization_code"
    assert logged[0]["body"]["client_secret"] == "***"
    # Consenting again (a new authorize) works.
    assert _orgs(dinero_sandbox, dinero_sandbox.connect_tokens()["access_token"]).status_code == 200


def test_missing_or_unknown_token_is_401(dinero_sandbox: SandboxHandle) -> None:
    url = f"{dinero_sandbox.base_url}/v1/123456/vatTypes"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_org_without_pro_is_403_code_90(dinero_sandbox: SandboxHandle) -> None:
    token = dinero_sandbox.password_token(dinero_sandbox.no_pro_org)
    response = httpx.get(
        f"{dinero_sandbox.base_url}/v1/{dinero_sandbox.no_pro_org}/contacts",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert_dinero_error(response, 403, 90)


def test_authorize_refuses_unknown_client_without_redirecting(
    dinero_sandbox: SandboxHandle,
) -> None:
    response = httpx.get(
        f"{dinero_sandbox.base_url}/connect/authorize",
        params={
            "client_id": "isv_other",
            "response_type": "code",
            "scope": "dineropublicapi:read",
            "redirect_uri": "http://127.0.0.1:1/cb",
        },
    )
    assert response.status_code == 400
    assert "location" not in response.headers


def test_an_organisation_made_for_a_connect_user_is_reached_by_that_user_alone(
    dinero_sandbox: SandboxHandle,
) -> None:
    base = dinero_sandbox.base_url
    made = [
        httpx.post(
            f"{base}/_sandbox/orgs",
            json={"name": name, "is_pro": pro, "connect_user": "ejer@butik.test"},
        ).json()["id"]
        for name, pro in (("Butik ApS", True), ("Butik Hobby", False))
    ]
    tokens = dinero_sandbox.connect_tokens(login_hint="ejer@butik.test")
    orgs = _orgs(dinero_sandbox, tokens["access_token"]).json()
    assert orgs == [
        {"Id": made[0], "Name": "Butik ApS", "IsPro": True},
        {"Id": made[1], "Name": "Butik Hobby", "IsPro": False},
    ]
    # The seeded owner does not reach them; a refreshed token still does.
    seeded = _orgs(dinero_sandbox, dinero_sandbox.connect_tokens()["access_token"]).json()
    assert not {o["Id"] for o in seeded} & set(made)
    refreshed = _refresh(dinero_sandbox, tokens["refresh_token"]).json()
    assert [o["Id"] for o in _orgs(dinero_sandbox, refreshed["access_token"]).json()] == made
