"""Build a real DineroClient pointed at a running sandbox (both auth flows)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
from pydantic import SecretStr

from bogfoer_dinero import DineroClient, DineroConfig, InMemoryCredentialStore
from dinero_sandbox.process import SandboxHandle

CONNECT_TENANT = "tenant-connect"


def legacy_tenant(org: int) -> str:
    return f"tenant-legacy-{org}"


def config_for(sandbox: SandboxHandle, **overrides: Any) -> DineroConfig:
    values: dict[str, Any] = {
        "api_base_url": sandbox.api_base_url,
        "connect_token_url": f"{sandbox.connect_base_url}/connect/token",
        "legacy_token_url": f"{sandbox.authz_base_url}/dineroapi/oauth/token",
        "connect_client_id": sandbox.connect.client_id,
        "connect_client_secret": SecretStr(sandbox.connect.client_secret),
        "legacy_client_id": sandbox.legacy.client_id,
        "legacy_client_secret": SecretStr(sandbox.legacy.client_secret),
        "refresh_grace_seconds": 30.0,  # the sandbox's default grace period
        "backoff_base_seconds": 0.05,
        "backoff_cap_seconds": 2.0,
        "read_timeout_seconds": 5.0,
    }
    values.update(overrides)
    return DineroConfig(**values)


@asynccontextmanager
async def sandbox_client(
    sandbox: SandboxHandle,
    store: Any = None,
    on_request: Callable[[httpx.Request], Awaitable[None]] | None = None,
    **overrides: Any,
) -> AsyncIterator[DineroClient]:
    """A client with the Connect tenant authorised and every org's legacy key registered."""
    config = config_for(sandbox, **overrides)
    timeout = httpx.Timeout(config.read_timeout_seconds, connect=config.connect_timeout_seconds)
    hooks = {"request": [on_request]} if on_request is not None else {}
    async with httpx.AsyncClient(timeout=timeout, event_hooks=hooks) as http:
        client = DineroClient(http, config, store or InMemoryCredentialStore())
        await client.auth.exchange_code(
            CONNECT_TENANT, sandbox.authorization_code(), sandbox.connect.redirect_uri
        )
        for org, key in sandbox.legacy.api_keys.items():
            await client.auth.register_api_key(legacy_tenant(org), key)
        yield client
