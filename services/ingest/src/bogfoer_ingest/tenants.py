"""Tenants as ingest knows them: how each one authenticates, sealed at rest.

Every request needs its tenant's credentials; reading them from PostgreSQL (and opening
the sealed secrets) each time cost more than the rest of the request. Each replica keeps
what it read, unknown tenants included, and forgets a tenant as soon as its row changes:
a watcher asks PostgreSQL once every `refresh_seconds` which rows changed since it last
looked, so a revoked key stops working on every replica within about that time. When the
watcher cannot ask, the replica forgets everything (it could miss a change) and reads
from PostgreSQL again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass

import asyncpg
from pydantic import ConfigDict, Field, SecretStr

from bogfoer_contracts.model import StorableText
from bogfoer_dinero.sealing import SecretSealer

log = logging.getLogger(__name__)

# A row's updated_at is its statement's start, visible only at commit: the watcher looks
# back this far beyond its last look, so a change that committed late is still seen.
_LOOK_BACK = dt.timedelta(seconds=5)
# Unknown tenant ids are remembered too; a flood of made-up ones must not grow a replica.
_MAX_REMEMBERED = 100_000


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
    def __init__(
        self, pool: asyncpg.Pool, sealer: SecretSealer, refresh_seconds: float = 1.0
    ) -> None:
        self.pool = pool
        self.sealer = sealer
        self.refresh_seconds = refresh_seconds
        self._known: dict[str, Tenant | None] = {}
        self._since: dt.datetime | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Watch for changed tenants (other replicas' too) from now on."""
        await self._forget_changed()
        self._watcher = asyncio.create_task(self._watch(), name="watch tenants")

    async def stop(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_seconds)
            try:
                await self._forget_changed()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("cannot ask PostgreSQL for changed tenants (%r); forgetting all", exc)
                self._known.clear()
                self._since = None

    async def _forget_changed(self) -> None:
        if self._since is None:
            now: dt.datetime = await self.pool.fetchval("SELECT now()")
            self._known.clear()  # nothing known before now can be trusted
        else:
            row = await self.pool.fetchrow(
                "SELECT now() AS now, coalesce(array_agg(tenant_id), '{}') AS changed"
                " FROM tenants WHERE updated_at >= $1",
                self._since - _LOOK_BACK,
            )
            assert row is not None
            now = row["now"]
            for tenant_id in row["changed"]:
                self._known.pop(tenant_id, None)
        self._since = now

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
        self._known.pop(tenant_id, None)  # this replica at once; the others' watchers soon

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
        """The tenant's credentials, as this replica last read them (see the module's doc)."""
        if tenant_id in self._known:
            return self._known[tenant_id]
        found = await self._read(tenant_id)
        if self._watcher is not None:  # only a watched directory may keep what it read
            if len(self._known) >= _MAX_REMEMBERED:
                self._known.clear()
            self._known[tenant_id] = found
        return found

    async def _read(self, tenant_id: str) -> Tenant | None:
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
