"""Roles, tokens from settings and the route guard (bogfoer_kit.auth), in memory."""

from __future__ import annotations

import httpx
import pytest
from fastapi import Depends, FastAPI
from pydantic import SecretStr, ValidationError

from bogfoer_kit.auth import Guard, Principal, TokenGrant, settings_authenticator
from bogfoer_kit.errors import install_error_handlers

VIEWER, OPERATOR, SHOP = "v" * 20, "o" * 20, "s" * 20


def _app() -> FastAPI:
    tokens = settings_authenticator(
        [
            TokenGrant(subject="ann", role="viewer", token=SecretStr(VIEWER)),
            TokenGrant(subject="shop", role="tenant", token=SecretStr(SHOP), tenants=("t-a",)),
        ],
        SecretStr(OPERATOR),
    )
    guard = Guard(tokens)
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/read", dependencies=[Depends(guard.require("viewer"))])
    async def read() -> str:
        return "ok"

    @app.post("/act")
    async def act(who: Principal = Depends(guard.require("operator"))) -> str:  # noqa: B008
        return who.subject

    @app.get("/tenants/{tenant}/postings", dependencies=[Depends(guard.tenant_reader())])
    async def postings(tenant: str) -> str:
        return tenant

    return app


async def _call(method: str, path: str, token: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.request(method, path, headers=headers)
    body = response.json()
    return response.status_code, body["error"]["reason"] if response.status_code >= 400 else body


@pytest.mark.parametrize(
    ("method", "path", "token", "expected"),
    [
        ("GET", "/read", None, (401, "missing_credentials")),
        ("GET", "/read", "w" * 20, (401, "bad_credentials")),
        ("GET", "/read", VIEWER, (200, "ok")),
        ("GET", "/read", OPERATOR, (200, "ok")),
        ("GET", "/read", SHOP, (403, "forbidden")),
        ("POST", "/act", VIEWER, (403, "forbidden")),
        ("POST", "/act", OPERATOR, (200, "admin")),
        ("GET", "/tenants/t-a/postings", SHOP, (200, "t-a")),
        ("GET", "/tenants/t-b/postings", SHOP, (403, "tenant_forbidden")),
        ("GET", "/tenants/t-b/postings", VIEWER, (200, "t-b")),
    ],
)
async def test_each_role_reaches_what_it_may_and_nothing_more(
    method: str, path: str, token: str | None, expected: tuple[int, str]
) -> None:
    assert await _call(method, path, token) == expected


def test_a_tenant_token_names_its_tenants_and_only_it_does() -> None:
    with pytest.raises(ValidationError):
        TokenGrant(subject="x", role="tenant", token=SecretStr(SHOP))
    with pytest.raises(ValidationError):
        TokenGrant(subject="x", role="viewer", token=SecretStr(VIEWER), tenants=("t-a",))
    with pytest.raises(ValidationError):
        TokenGrant(subject="x", role="viewer", token=SecretStr("short"))
