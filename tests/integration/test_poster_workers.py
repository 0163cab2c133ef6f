"""The poster's per-tenant workers against a real PostgreSQL: more busy tenants than pool
connections, a query the database kills, and a posting that keeps waiting.

Dinero and Kafka are stand-ins here (a contact that is always found, an outbox that is only
drained by the test): what is under test is the workers' use of the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from opentelemetry import trace

from bogfoer_contracts.postings import (
    ContactSpec,
    EnsureContact,
    PostingCommand,
    PostingResult,
    RegisterPayment,
)
from bogfoer_dinero.models import Contact
from bogfoer_kit.db import create_pool, migrate
from bogfoer_poster import store
from bogfoer_poster.settings import PosterSettings
from bogfoer_poster.workers import Supervisor

from .conftest import eventually, new_tenant

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


class _Org:
    """Every contact is already in Dinero: a contact posting is one look-up."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant

    async def find_contacts(self, **filters: Any) -> list[Contact]:
        await asyncio.sleep(0.01)  # an HTTP round trip
        return [Contact.model_validate({"ContactGuid": f"guid-{self.tenant}", "Name": "Kunde"})]


class _Dinero:
    def organisation(self, tenant: str, organization_id: int) -> _Org:
        return _Org(tenant)


class _Outbox:
    async def relay(self) -> int:
        return 0


def _settings(database_url: str) -> PosterSettings:
    return PosterSettings.model_validate(
        {
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "admin_token": secrets.token_urlsafe(16),
            "credentials_key": secrets.token_urlsafe(32),
            "poll_interval_seconds": 0.05,
            "retry_base_seconds": 0.05,
            "retry_cap_seconds": 0.2,
            "graceful_timeout_seconds": 5,
        }
    )


def _contact(tenant: str, n: int) -> EnsureContact:
    return EnsureContact(
        posting_key=f"{tenant}:contact:{n}",
        tenant_id=tenant,
        organization_id=1,
        issued_at=NOW,
        contact=ContactSpec(name=f"Kunde {n}", country="DK"),
    )


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    # Two connections: fewer than the tenants the tests keep busy at once.
    created = await create_pool(fresh_database, "poster", max_size=2)
    await migrate(created, "bogfoer_poster")
    try:
        yield created
    finally:
        await created.close()


@pytest.fixture
async def db(fresh_database: str, pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """The test's own connection: its checks must not wait for the pool under test."""
    conn = await asyncpg.connect(fresh_database, server_settings={"search_path": "poster"})
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
async def supervisor(pool: asyncpg.Pool, fresh_database: str) -> AsyncIterator[Supervisor]:
    sup = Supervisor(
        pool,
        _Dinero(),  # type: ignore[arg-type]
        _Outbox(),  # type: ignore[arg-type]
        _settings(fresh_database),
        trace.get_tracer("test"),
    )
    running = asyncio.create_task(sup.run())
    try:
        yield sup
    finally:
        await sup.stop()
        running.cancel()
        with_result = await asyncio.gather(running, return_exceptions=True)
        assert not [r for r in with_result if isinstance(r, Exception)]


async def _intake(conn: asyncpg.Connection, *commands: PostingCommand) -> None:
    for command in commands:
        assert await store.intake(conn, command, None)


async def _states(conn: asyncpg.Connection, tenants: list[str]) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT posting_key, state FROM postings WHERE tenant_id = ANY($1::text[])", tenants
    )
    return {r["posting_key"]: r["state"] for r in rows}


async def test_more_busy_tenants_than_pool_connections_are_all_served(
    db: asyncpg.Connection, supervisor: Supervisor
) -> None:
    # Each tenant's worker holds its advisory lock for as long as the tenant has work; the
    # lock must not cost a pooled connection per tenant, or the workers starve each other.
    tenants = [new_tenant() for _ in range(4)]
    await _intake(db, *(_contact(t, n) for n in range(3) for t in tenants))
    supervisor.wake.set()

    async def all_done() -> bool:
        return set((await _states(db, tenants)).values()) == {"done"}

    await eventually(all_done, within=15, what="every tenant's postings done")


async def test_the_supervisor_survives_a_query_the_database_kills(
    db: asyncpg.Connection, supervisor: Supervisor, fresh_database: str
) -> None:
    # Hold a lock the supervisor's look for due tenants waits on, and kill that backend
    # (as a failover or an operator would): the supervisor must go on looking.
    admin = await asyncpg.connect(fresh_database)
    try:
        async with admin.transaction():
            await admin.execute("LOCK TABLE poster.tenants IN ACCESS EXCLUSIVE MODE")

            async def supervisor_blocked() -> bool:
                pids = await admin.fetch(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"
                )
                for row in pids:
                    await admin.execute("SELECT pg_terminate_backend($1)", row["pid"])
                return bool(pids)

            await eventually(supervisor_blocked, within=10, what="the supervisor's query")
    finally:
        await admin.close()

    tenant = new_tenant()
    await _intake(db, _contact(tenant, 1))
    supervisor.wake.set()

    async def done() -> bool:
        return await _states(db, [tenant]) == {f"{tenant}:contact:1": "done"}

    await eventually(done, within=10, what="a posting after the database killed a query")


async def test_a_posting_still_waiting_for_the_same_thing_tells_the_ledger_once(
    db: asyncpg.Connection, supervisor: Supervisor
) -> None:
    tenant = new_tenant()
    payment = RegisterPayment(
        posting_key=f"{tenant}:payment:1",
        tenant_id=tenant,
        organization_id=1,
        depends_on=[f"{tenant}:invoice:never-sent"],
        issued_at=NOW,
        invoice_key=f"{tenant}:invoice:never-sent",
        amount=10000,
        currency="DKK",
        deposit_account=55010,
        payment_date=NOW.date(),
        description="Betaling",
    )
    await _intake(db, payment)
    supervisor.wake.set()

    async def attempts() -> int:
        value: int = await db.fetchval(
            "SELECT attempts FROM postings WHERE posting_key = $1", payment.posting_key
        )
        return value

    for seen in (1, 2, 3):  # looked at again (as after a restart or an unpark), still waiting

        async def attempted(least: int = seen) -> bool:
            return await attempts() >= least

        await eventually(attempted, within=10, what=f"attempt {seen}")
        await db.execute(
            "UPDATE postings SET next_attempt_at = now() WHERE posting_key = $1",
            payment.posting_key,
        )
        supervisor.wake.set()

    rows = await db.fetch("SELECT payload FROM outbox ORDER BY seq")
    results = [PostingResult.model_validate_json(r["payload"]) for r in rows]
    assert [(r.posting_key, r.status) for r in results] == [(payment.posting_key, "waiting")]


async def test_a_posting_leased_by_another_replica_is_left_alone_until_the_lease_ends(
    db: asyncpg.Connection, supervisor: Supervisor
) -> None:
    tenant = new_tenant()
    command = _contact(tenant, 1)
    assert await store.intake(db, command, None)
    # Another replica claimed it and may be talking to Dinero right now.
    assert await store.claim(db, command.posting_key, "poster-elsewhere", 1.5)
    supervisor.wake.set()
    await asyncio.sleep(0.8)
    row = await db.fetchrow(
        "SELECT state, attempts, lease_owner FROM postings WHERE posting_key = $1",
        command.posting_key,
    )
    assert row is not None
    assert (row["state"], row["attempts"], row["lease_owner"]) == (
        "in_flight",
        1,
        "poster-elsewhere",
    )

    async def done() -> bool:
        state = await db.fetchval(
            "SELECT state FROM postings WHERE posting_key = $1", command.posting_key
        )
        return bool(state == "done")

    # The lease ran out without a word from its owner: this replica takes over, look-up first.
    await eventually(done, within=10, what="the posting after the lease ended")
    row = await db.fetchrow(
        "SELECT attempts, lease_owner FROM postings WHERE posting_key = $1", command.posting_key
    )
    assert row is not None
    assert (row["attempts"], row["lease_owner"]) == (2, None)
