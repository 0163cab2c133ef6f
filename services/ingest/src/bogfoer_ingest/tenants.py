"""Tenants as ingest knows them: how each one authenticates, sealed at rest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import asyncpg
from pydantic import ConfigDict, Field, SecretStr

from bogfoer_contracts.model import StorableText
from bogfoer_dinero.sealing import SecretSealer


class TenantCredentials(StorableText):
    """The admin API's body; every field optional, a given field replaces the stored one.
    A secret with a NUL or a lone surrogate could be neither sealed nor typed by anyone."""

    model_config = ConfigDict(extra="forbid")

    hmac_secret: SecretStr | None = Field(default=None, description="For Bogfoer-Signature")
    api_key: SecretStr | None = Field(default=None, description="For Authorization: Bearer")
    stripe_webhook_secret: SecretStr | None = Field(default=None, description="whsec_…")
    stripe_api_key: SecretStr | None = Field(default=None, description="A restricted rk_… key")


@dataclass(frozen=True)
class Tenant:
    tenant_id: str
    hmac_secret: str | None
    api_key_sha256: bytes | None
    stripe_webhook_secret: str | None
    stripe_api_key: str | None

    def __repr__(self) -> str:  # never print secrets
        return f"Tenant({self.tenant_id!r})"


def api_key_hash(api_key: str) -> bytes:
    return hashlib.sha256(api_key.encode()).digest()


class TenantDirectory:
    def __init__(self, pool: asyncpg.Pool, sealer: SecretSealer) -> None:
        self.pool = pool
        self.sealer = sealer

    def _seal(self, tenant_id: str, column: str, value: SecretStr | None) -> bytes | None:
        if value is None:
            return None
        return self.sealer.seal(value.get_secret_value(), f"ingest:{tenant_id}:{column}")

    def _open(self, tenant_id: str, column: str, value: bytes | None) -> str | None:
        return None if value is None else self.sealer.open(value, f"ingest:{tenant_id}:{column}")

    async def put(self, tenant_id: str, creds: TenantCredentials) -> None:
        await self.pool.execute(
            "INSERT INTO tenants (tenant_id, hmac_secret, api_key_sha256, stripe_webhook_secret,"
            " stripe_api_key) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id) DO UPDATE SET"
            " hmac_secret = COALESCE(EXCLUDED.hmac_secret, tenants.hmac_secret),"
            " api_key_sha256 = COALESCE(EXCLUDED.api_key_sha256, tenants.api_key_sha256),"
            " stripe_webhook_secret = COALESCE(EXCLUDED.stripe_webhook_secret,"
            " tenants.stripe_webhook_secret),"
            " stripe_api_key = COALESCE(EXCLUDED.stripe_api_key, tenants.stripe_api_key),"
            " updated_at = now()",
            tenant_id,
            self._seal(tenant_id, "hmac_secret", creds.hmac_secret),
            None if creds.api_key is None else api_key_hash(creds.api_key.get_secret_value()),
            self._seal(tenant_id, "stripe_webhook_secret", creds.stripe_webhook_secret),
            self._seal(tenant_id, "stripe_api_key", creds.stripe_api_key),
        )

    async def connect_stripe(
        self, tenant_id: str, api_key: str, webhook_secret: str, endpoint_id: str | None
    ) -> None:
        """The tenant's restricted key and webhook secret, and the endpoint registered for
        it (None: its secret was pasted from Stripe's dashboard)."""
        await self.put(
            tenant_id,
            TenantCredentials(
                stripe_api_key=SecretStr(api_key), stripe_webhook_secret=SecretStr(webhook_secret)
            ),
        )
        await self.pool.execute(
            "UPDATE tenants SET stripe_webhook_endpoint_id = $2 WHERE tenant_id = $1",
            tenant_id,
            endpoint_id,
        )

    async def webhook_endpoint_id(self, tenant_id: str) -> str | None:
        found: str | None = await self.pool.fetchval(
            "SELECT stripe_webhook_endpoint_id FROM tenants WHERE tenant_id = $1", tenant_id
        )
        return found

    async def get(self, tenant_id: str) -> Tenant | None:
        row = await self.pool.fetchrow("SELECT * FROM tenants WHERE tenant_id = $1", tenant_id)
        if row is None:
            return None
        return Tenant(
            tenant_id=tenant_id,
            hmac_secret=self._open(tenant_id, "hmac_secret", row["hmac_secret"]),
            api_key_sha256=row["api_key_sha256"],
            stripe_webhook_secret=self._open(
                tenant_id, "stripe_webhook_secret", row["stripe_webhook_secret"]
            ),
            stripe_api_key=self._open(tenant_id, "stripe_api_key", row["stripe_api_key"]),
        )
