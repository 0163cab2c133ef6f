"""Dinero credentials in PostgreSQL, sealed at rest, renewed under a row lock.

`lock(tenant)` opens a transaction and takes `SELECT … FOR UPDATE` on the tenant's row, so
one process in the whole deployment renews a tenant's token at a time; the others wait and
then find the fresh token. The renewed (rotated) refresh token is written in that same
transaction, which commits only when the `lock` block exits cleanly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final, cast

import asyncpg
from pydantic import SecretStr

from bogfoer_dinero.auth import CredentialKind, Credentials, CredentialTransaction
from bogfoer_dinero.sealing import SecretSealer

__all__ = ["SCHEMA", "PostgresCredentialStore"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS dinero_credentials (
    tenant            text PRIMARY KEY,
    kind              text NOT NULL CHECK (kind IN ('visma_connect', 'api_key')),
    access_token      bytea,
    access_expires_at timestamptz,
    refresh_token     bytea,
    api_key           bytea,
    parked_reason     text,
    updated_at        timestamptz NOT NULL DEFAULT now()
)
"""

_SELECT = """
SELECT kind, access_token, access_expires_at, refresh_token, api_key, parked_reason
FROM dinero_credentials WHERE tenant = $1
"""

_UPSERT = """
INSERT INTO dinero_credentials
    (tenant, kind, access_token, access_expires_at, refresh_token, api_key, parked_reason)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (tenant) DO UPDATE SET
    kind = EXCLUDED.kind,
    access_token = EXCLUDED.access_token,
    access_expires_at = EXCLUDED.access_expires_at,
    refresh_token = EXCLUDED.refresh_token,
    api_key = EXCLUDED.api_key,
    parked_reason = EXCLUDED.parked_reason,
    updated_at = now()
"""


class _Transaction:
    def __init__(
        self,
        connection: asyncpg.pool.PoolConnectionProxy[asyncpg.Record],
        store: PostgresCredentialStore,
        tenant: str,
        current: Credentials | None,
    ) -> None:
        self._connection = connection
        self._store = store
        self._tenant = tenant
        self._current = current

    @property
    def current(self) -> Credentials | None:
        return self._current

    async def save(self, credentials: Credentials) -> None:
        await self._connection.execute(_UPSERT, *self._store._row(self._tenant, credentials))
        self._current = credentials


class PostgresCredentialStore:
    """Implements `auth.CredentialStore` on an asyncpg pool the application owns."""

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record], sealer: SecretSealer) -> None:
        self._pool = pool
        self._sealer = sealer

    def __repr__(self) -> str:
        return "PostgresCredentialStore()"

    @staticmethod
    async def create_schema(pool: asyncpg.Pool[asyncpg.Record]) -> None:
        await pool.execute(SCHEMA)

    def _seal(self, tenant: str, column: str, value: SecretStr | None) -> bytes | None:
        if value is None:
            return None
        return self._sealer.seal(value.get_secret_value(), f"{tenant}/{column}")

    def _open(self, tenant: str, column: str, value: bytes | None) -> SecretStr | None:
        if value is None:
            return None
        return SecretStr(self._sealer.open(value, f"{tenant}/{column}"))

    def _row(self, tenant: str, c: Credentials) -> tuple[object, ...]:
        return (
            tenant,
            c.kind,
            self._seal(tenant, "access_token", c.access_token),
            c.access_expires_at,
            self._seal(tenant, "refresh_token", c.refresh_token),
            self._seal(tenant, "api_key", c.api_key),
            c.parked_reason,
        )

    def _credentials(self, tenant: str, record: asyncpg.Record | None) -> Credentials | None:
        if record is None:
            return None
        return Credentials(
            kind=cast(CredentialKind, record["kind"]),
            access_token=self._open(tenant, "access_token", record["access_token"]),
            access_expires_at=record["access_expires_at"],
            refresh_token=self._open(tenant, "refresh_token", record["refresh_token"]),
            api_key=self._open(tenant, "api_key", record["api_key"]),
            parked_reason=record["parked_reason"],
        )

    async def get(self, tenant: str) -> Credentials | None:
        return self._credentials(tenant, await self._pool.fetchrow(_SELECT, tenant))

    async def put(self, tenant: str, credentials: Credentials) -> None:
        async with self.lock(tenant) as row:
            await row.save(credentials)

    @asynccontextmanager
    async def lock(self, tenant: str) -> AsyncIterator[CredentialTransaction]:
        async with self._pool.acquire() as connection, connection.transaction():
            record = await connection.fetchrow(_SELECT + " FOR UPDATE", tenant)
            yield _Transaction(connection, self, tenant, self._credentials(tenant, record))
