"""Read tokens for shop platforms, one tenant each: issued by an operator through the ops
API, shown once, stored as a digest, revocable. An `Authenticator` (bogfoer_kit.auth)
chained after the tokens from settings."""

from __future__ import annotations

import secrets
from typing import Any

import asyncpg

from bogfoer_kit.auth import Principal, token_digest

_PREFIX = "bgf_t_"  # recognisable in a leaked-secret scan


class TenantTokens:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def authenticate(self, credential: str) -> Principal | None:
        if not credential.startswith(_PREFIX):
            return None
        row = await self.pool.fetchrow(
            "SELECT id, tenant_id FROM tenant_tokens WHERE token_sha256 = $1"
            " AND revoked_at IS NULL",
            token_digest(credential),
        )
        if row is None:
            return None
        return Principal(f"tenant-token:{row['id']}", "tenant", frozenset({row["tenant_id"]}))

    async def issue(self, tenant_id: str, label: str, created_by: str) -> tuple[int, str]:
        token = _PREFIX + secrets.token_urlsafe(32)
        token_id: int = await self.pool.fetchval(
            "INSERT INTO tenant_tokens (tenant_id, token_sha256, label, created_by)"
            " VALUES ($1, $2, $3, $4) RETURNING id",
            tenant_id,
            token_digest(token),
            label,
            created_by,
        )
        return token_id, token

    async def revoke(self, tenant_id: str, token_id: int) -> bool:
        row = await self.pool.fetchrow(
            "UPDATE tenant_tokens SET revoked_at = now() WHERE id = $1 AND tenant_id = $2"
            " AND revoked_at IS NULL RETURNING 1",
            token_id,
            tenant_id,
        )
        return row is not None

    async def listed(self, tenant_id: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT id, tenant_id, label, created_by, created_at, revoked_at FROM tenant_tokens"
            " WHERE tenant_id = $1 ORDER BY id",
            tenant_id,
        )
        return [dict(r) for r in rows]
