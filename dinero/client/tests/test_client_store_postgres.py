"""The PostgreSQL credential store: sealed at rest, one renewal across processes, atomic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import httpx
import pytest
from dinero_client_harness import CONFIG, Clock, TokenServer, expired_connect
from pydantic import SecretStr

from bogfoer_dinero.auth import Credentials, DineroAuth
from bogfoer_dinero.errors import TenantParked
from bogfoer_dinero.sealing import SealingError, SecretSealer
from bogfoer_dinero.store_postgres import PostgresCredentialStore

pytestmark = pytest.mark.integration

KEY = SecretStr(SecretSealer.generate_key())


@pytest.fixture
async def pools(database_url: str) -> AsyncIterator[list[asyncpg.Pool[asyncpg.Record]]]:
    """Two pools: two processes' worth of connections to the same database."""
    first = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    second = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    await PostgresCredentialStore.create_schema(first)
    try:
        yield [first, second]
    finally:
        await first.close()
        await second.close()


def tenant() -> str:
    return f"tenant-{uuid.uuid4()}"


async def test_round_trip_and_secrets_are_sealed_at_rest(
    pools: list[asyncpg.Pool[asyncpg.Record]],
) -> None:
    store = PostgresCredentialStore(pools[0], SecretSealer(KEY))
    name = tenant()
    credentials = Credentials(
        kind="visma_connect",
        access_token=SecretStr("access-plaintext"),
        access_expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        refresh_token=SecretStr("refresh-plaintext"),
    )
    await store.put(name, credentials)
    assert await store.get(name) == credentials
    row = await pools[0].fetchrow("SELECT * FROM dinero_credentials WHERE tenant = $1", name)
    assert row is not None
    raw = b"".join(bytes(row[c]) for c in ("access_token", "refresh_token"))
    assert b"plaintext" not in raw
    with pytest.raises(SealingError):
        await PostgresCredentialStore(
            pools[0], SecretSealer(SecretStr(SecretSealer.generate_key()))
        ).get(name)
    # A sealed value is bound to its tenant: copied to another row it does not open.
    other = tenant()
    await pools[0].execute(
        "INSERT INTO dinero_credentials (tenant, kind, access_token) VALUES ($1, 'api_key', $2)",
        other,
        row["access_token"],
    )
    with pytest.raises(SealingError):
        await store.get(other)
    assert "plaintext" not in repr(await store.get(name))


async def test_a_failed_block_commits_nothing(pools: list[asyncpg.Pool[asyncpg.Record]]) -> None:
    store = PostgresCredentialStore(pools[0], SecretSealer(KEY))
    name = tenant()
    await store.put(name, expired_connect("rt-0"))

    async def crash_after_save() -> None:
        async with store.lock(name) as row:
            await row.save(expired_connect("rt-new"))
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        await crash_after_save()
    stored = await store.get(name)
    assert stored is not None
    assert stored.refresh_token == SecretStr("rt-0")


async def test_two_processes_cause_exactly_one_refresh_and_store_the_rotation(
    pools: list[asyncpg.Pool[asyncpg.Record]],
) -> None:
    clock = Clock()
    tokens = TokenServer(clock, delay=0.2)  # both replicas wait while one refresh is in flight
    tokens.refresh_tokens["rt-0"] = None
    http = httpx.AsyncClient(transport=httpx.MockTransport(tokens))
    name = tenant()
    stores = [PostgresCredentialStore(pool, SecretSealer(KEY)) for pool in pools]
    await stores[0].put(name, expired_connect("rt-0"))
    replicas = [
        DineroAuth(http, CONFIG, store, now=clock.now, monotonic=clock.monotonic)
        for store in stores
    ]
    bearers = await asyncio.gather(*(r.bearer(name) for r in replicas for _ in range(3)))
    assert tokens.refresh_calls == 1
    assert {b.token.get_secret_value() for b in bearers} == {"at-1"}
    stored = await stores[1].get(name)
    assert stored is not None
    assert stored.refresh_token == SecretStr("rt-1")
    assert [f["refresh_token"] for f in tokens.forms] == ["rt-0"]


async def test_a_park_is_persisted_for_every_replica(
    pools: list[asyncpg.Pool[asyncpg.Record]],
) -> None:
    clock = Clock()
    tokens = TokenServer(clock, revoked=True)
    http = httpx.AsyncClient(transport=httpx.MockTransport(tokens))
    name = tenant()
    stores = [PostgresCredentialStore(pool, SecretSealer(KEY)) for pool in pools]
    await stores[0].put(name, expired_connect("rt-0"))
    first = DineroAuth(http, CONFIG, stores[0], now=clock.now, monotonic=clock.monotonic)
    second = DineroAuth(http, CONFIG, stores[1], now=clock.now, monotonic=clock.monotonic)
    with pytest.raises(TenantParked, match="invalid_grant"):
        await first.bearer(name)
    with pytest.raises(TenantParked, match="invalid_grant"):
        await second.bearer(name)
    assert tokens.refresh_calls == 1
