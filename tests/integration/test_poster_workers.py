"""The poster's per-tenant workers against a real PostgreSQL: more busy tenants than pool
connections, a query the database kills, a database restart, a stop that races the start of
a worker, and a posting that keeps waiting.

Dinero and Kafka are stand-ins here (a contact that is always found, an outbox that is only
drained by the test): what is under test is the workers' use of the database.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from faststream.kafka import KafkaBroker
from opentelemetry import trace

from bogfoer_contracts.postings import (
    ContactSpec,
    EnsureContact,
    PostingCommand,
    PostingResult,
    RegisterPayment,
)
from bogfoer_contracts.topics import POSTINGS_RESULTS, key_for
from bogfoer_contracts.topology import POSTER
from bogfoer_devstack.offsets import records_to_end
from bogfoer_devstack.postgres import Postgres
from bogfoer_dinero.models import Contact
from bogfoer_kit.db import create_pool, migrate
from bogfoer_kit.outbox import OutboxRelay, enqueue
from bogfoer_kit.publish import Publisher
from bogfoer_poster import store
from bogfoer_poster.locks import TenantLocks
from bogfoer_poster.settings import PosterSettings
from bogfoer_poster.workers import Supervisor

from .conftest import create_database, drop_database, eventually, new_tenant

NOW = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


class _Org:
    """Every contact is already in Dinero: a contact posting is one look-up (by e-mail)."""

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

    def soon(self) -> None:
        pass

    async def settle(self) -> None:
        pass


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
        contact=ContactSpec(name=f"Kunde {n}", country="DK", email=f"kunde{n}@example.dk"),
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


async def _connect(database_url: str) -> asyncpg.Connection:
    return await asyncpg.connect(database_url, server_settings={"search_path": "poster"})


@pytest.fixture
async def db(fresh_database: str, pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """The test's own connection: its checks must not wait for the pool under test."""
    conn = await _connect(fresh_database)
    try:
        yield conn
    finally:
        await conn.close()


def _supervisor(
    pool: asyncpg.Pool,
    database_url: str,
    outbox: OutboxRelay | None = None,
    locks: TenantLocks | None = None,
) -> Supervisor:
    return Supervisor(
        pool,
        _Dinero(),  # type: ignore[arg-type]
        outbox or _Outbox(),  # type: ignore[arg-type]
        _settings(database_url),
        trace.get_tracer("test"),
        locks=locks,
    )


@pytest.fixture
async def supervisor(pool: asyncpg.Pool, fresh_database: str) -> AsyncIterator[Supervisor]:
    sup = _supervisor(pool, fresh_database)
    sup.start()
    try:
        yield sup
    finally:
        await asyncio.wait_for(sup.stop(), 30)


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

    async def looked_at() -> dt.datetime | None:
        value: dt.datetime | None = await db.fetchval(
            "SELECT updated_at FROM postings WHERE posting_key = $1 AND state = 'waiting'",
            payment.posting_key,
        )
        return value

    last: dt.datetime | None = None
    for seen in (1, 2, 3):  # looked at again (as after a restart or an unpark), still waiting
        before = last

        async def looked_again(since: dt.datetime | None = before) -> bool:
            at = await looked_at()
            return at is not None and (since is None or at > since)

        await eventually(looked_again, within=10, what=f"look {seen}")
        last = await looked_at()
        await db.execute(
            "UPDATE postings SET next_attempt_at = now() WHERE posting_key = $1",
            payment.posting_key,
        )
        supervisor.wake.set()

    # A wait is not an attempt: nothing was claimed, nothing will be looked up for it.
    row = await db.fetchrow(
        "SELECT attempts, outcome_unknown FROM postings WHERE posting_key = $1",
        payment.posting_key,
    )
    assert row is not None
    assert (row["attempts"], row["outcome_unknown"]) == (0, False)
    rows = await db.fetch("SELECT payload FROM outbox ORDER BY seq")
    results = [PostingResult.model_validate_json(r["payload"]) for r in rows]
    assert [(r.posting_key, r.status) for r in results] == [(payment.posting_key, "waiting")]


async def test_a_posting_leased_by_another_replica_is_left_alone_until_the_lease_ends(
    db: asyncpg.Connection, supervisor: Supervisor, caplog: pytest.LogCaptureFixture
) -> None:
    tenant = new_tenant()
    command = _contact(tenant, 1)
    assert await store.intake(db, command, None)
    # Another replica claimed it and may be talking to Dinero right now.
    assert await store.claim(db, command.posting_key, "poster-elsewhere", 3.0) is not None
    supervisor.wake.set()

    async def deferred() -> bool:
        return f"{command.posting_key} is leased by another replica" in caplog.text

    await eventually(deferred, within=3, what="this replica's look at the leased posting")
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
        # The attempt records its outcome, then gives its own lease back (a statement later).
        row = await db.fetchrow(
            "SELECT state, lease_owner FROM postings WHERE posting_key = $1", command.posting_key
        )
        return row is not None and (row["state"], row["lease_owner"]) == ("done", None)

    # The lease ran out without a word from its owner: this replica takes over, look-up first.
    await eventually(done, within=10, what="the posting after the lease ended")
    row = await db.fetchrow(
        "SELECT attempts, lease_owner FROM postings WHERE posting_key = $1", command.posting_key
    )
    assert row is not None
    assert (row["attempts"], row["lease_owner"]) == (2, None)


@pytest.fixture
async def restartable_database(restartable_postgres: Postgres) -> AsyncIterator[str]:
    url = await create_database(restartable_postgres.url)
    yield url
    await drop_database(restartable_postgres.url, url)


async def test_every_tenant_is_served_again_after_the_database_restarts(
    restartable_postgres: Postgres, restartable_database: str
) -> None:
    pool = await create_pool(restartable_database, "poster", max_size=2)
    await migrate(pool, "bogfoer_poster")
    sup = _supervisor(pool, restartable_database)
    sup.start()
    first, second = new_tenant(), new_tenant()

    async def states() -> dict[str, str]:
        # A connection of its own each time: the test's checks outlive the restart.
        conn = await asyncpg.connect(
            restartable_database, server_settings={"search_path": "poster"}
        )
        try:
            return await _states(conn, [first, second])
        finally:
            await conn.close()

    async def intake(*commands: PostingCommand) -> None:
        conn = await asyncpg.connect(
            restartable_database, server_settings={"search_path": "poster"}
        )
        try:
            await _intake(conn, *commands)
        finally:
            await conn.close()
        sup.wake.set()

    try:
        await intake(_contact(first, 1))

        async def first_done() -> bool:
            return await states() == {f"{first}:contact:1": "done"}

        await eventually(first_done, within=10, what="a posting before the restart")
        # The database goes away under the running workers (a failover, an upgrade) and
        # comes back on the same address, with the supervisor looking all along.
        await asyncio.to_thread(restartable_postgres.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(restartable_postgres.start)
        await intake(_contact(first, 2), _contact(second, 1))

        async def all_done() -> bool:
            return set((await states()).values()) == {"done"} and len(await states()) == 3

        await eventually(all_done, within=20, what="every tenant served after the restart")
    finally:
        await asyncio.wait_for(sup.stop(), 30)
        await asyncio.wait_for(pool.close(), 10)


async def test_nothing_starts_after_a_stop_and_no_pooled_connection_stays_held(
    db: asyncpg.Connection, pool: asyncpg.Pool, fresh_database: str
) -> None:
    # The supervisor is in the middle of looking for due tenants (held up by a table lock
    # here) when it is told to stop; what that look finds must not start a worker after
    # stop() returned: such a worker took a pooled connection for the tenants' locks and
    # kept it, and closing the pool at shutdown then waited for ever.
    tenant = new_tenant()
    await _intake(db, _contact(tenant, 1))
    admin = await asyncpg.connect(fresh_database)
    sup = _supervisor(pool, fresh_database)
    try:
        async with admin.transaction():
            await admin.execute("LOCK TABLE poster.postings IN ACCESS EXCLUSIVE MODE")
            sup.start()

            async def supervisor_blocked() -> bool:
                blocked = await admin.fetchval(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE pg_backend_pid() = ANY(pg_blocking_pids(pid))"
                )
                return bool(blocked)

            await eventually(supervisor_blocked, within=10, what="the supervisor's look")
            stopping = asyncio.create_task(sup.stop())
            await asyncio.sleep(0.3)
        # The table lock is gone: the look returns the tenant, as stop() goes on.
        await asyncio.wait_for(stopping, 15)
        await asyncio.sleep(1.0)  # a worker started after the stop would be at work now
        attempts = await db.fetchval("SELECT attempts FROM postings WHERE tenant_id = $1", tenant)
        assert attempts == 0
        await asyncio.wait_for(pool.close(), 5)
    finally:
        await admin.close()
        pool.terminate()


async def test_the_supervisor_says_when_its_workers_cannot_make_progress(
    db: asyncpg.Connection, pool: asyncpg.Pool, fresh_database: str
) -> None:
    # What the poster's readiness reports: every worker crashing, every look for due
    # postings failing, the supervisor gone; and nothing once they work again.
    unreachable = "postgresql://postgres@127.0.0.1:9/nowhere"
    sup = _supervisor(pool, fresh_database, locks=TenantLocks(lambda: asyncpg.connect(unreachable)))
    assert await sup.failing() == "the supervisor is not running"
    sup.start()
    try:
        tenant = new_tenant()
        await _intake(db, _contact(tenant, 1))
        sup.wake.set()

        async def crashing() -> bool:
            return "tenant worker(s) crashing" in (await sup.failing() or "")

        await eventually(crashing, within=10, what="the workers' crash reported")
        assert f"e.g. {tenant}: ConnectionRefusedError" in (await sup.failing() or "")

        await db.execute("ALTER TABLE postings RENAME TO postings_away")
        try:

            async def looking_fails() -> bool:
                return "rounds fail" in (await sup.failing() or "")

            await eventually(looking_fails, within=10, what="the failing look reported")
            assert "UndefinedTableError" in (await sup.failing() or "")
        finally:
            await db.execute("ALTER TABLE postings_away RENAME TO postings")
        await db.execute("DELETE FROM postings WHERE tenant_id = $1", tenant)

        async def healthy() -> bool:
            return await sup.failing() is None

        await eventually(healthy, within=10, what="nothing to report once nothing fails")
        dying = sup._running
        assert dying is not None
        dying.cancel()  # the supervisor dies
        await asyncio.gather(dying, return_exceptions=True)
        assert await sup.failing() == "the supervisor is not running"
    finally:
        await asyncio.wait_for(sup.stop(), 30)


async def test_results_a_broker_outage_left_in_the_outbox_are_published_once_it_is_back(
    db: asyncpg.Connection, pool: asyncpg.Pool, fresh_database: str, topics: str
) -> None:
    # The broker is not there yet: publishing fails, as during an outage. The posting is
    # done and its result waits in the outbox; nothing else happens for the tenant after.
    broker = KafkaBroker(topics)
    sup = _supervisor(pool, fresh_database, outbox=OutboxRelay(Publisher(broker, POSTER), pool))
    sup.start()
    try:
        tenant = new_tenant()
        await _intake(db, _contact(tenant, 1))
        sup.wake.set()

        async def done() -> bool:
            return await _states(db, [tenant]) == {f"{tenant}:contact:1": "done"}

        await eventually(done, within=10, what="the posting done")
        assert await db.fetchval("SELECT count(*) FROM outbox WHERE tenant_id = $1", tenant) == 1

        await broker.start()  # the broker is back; no new command comes

        async def published() -> bool:
            left = await db.fetchval("SELECT count(*) FROM outbox WHERE tenant_id = $1", tenant)
            return bool(left == 0)

        await eventually(published, within=10, what="the result published")
    finally:
        await asyncio.wait_for(sup.stop(), 30)
        await broker.stop()


@pytest.fixture
async def outbox(pool: asyncpg.Pool, topics: str) -> AsyncIterator[OutboxRelay]:
    """A relay publishing to the test's own broker."""
    broker = KafkaBroker(topics)
    await broker.start()
    try:
        yield OutboxRelay(Publisher(broker, POSTER), pool)
    finally:
        await broker.stop()


async def test_many_workers_results_are_published_by_one_relay_run_at_a_time(
    db: asyncpg.Connection, pool: asyncpg.Pool, topics: str, outbox: OutboxRelay
) -> None:
    # Fifty tenants' workers each commit a result and ask for it to be published: none waits,
    # the requests share relay runs, and every row committed before a request is published.
    runs = 0
    relay = outbox.relay

    async def counted() -> int:
        nonlocal runs
        runs += 1
        return await relay()

    outbox.relay = counted  # type: ignore[method-assign]
    tenants = [new_tenant() for _ in range(50)]

    async def worker(tenant: str) -> None:
        for n in range(3):
            async with pool.acquire() as conn:
                await enqueue(conn, tenant, POSTINGS_RESULTS, f'{{"n": {n}}}')
            outbox.soon()
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(t) for t in tenants))
    await outbox.settle()
    left = await db.fetchval("SELECT count(*) FROM outbox WHERE tenant_id = ANY($1)", tenants)
    assert left == 0
    assert 1 <= runs < len(tenants) * 3
    keys = {key_for(t): t for t in tenants}
    published = Counter(
        keys[r.key] for r in await records_to_end(topics, POSTINGS_RESULTS) if r.key in keys
    )
    assert published == dict.fromkeys(tenants, 3)


class _FlakyDinero:
    """Each look-up fails with `failure` until `times` have, then the contact is found."""

    def __init__(self, failure: Exception, times: int) -> None:
        self.failure = failure
        self.left = times

    def organisation(self, tenant: str, organization_id: int) -> _Org:
        dinero = self

        class Flaky(_Org):
            async def find_contacts(self, **filters: Any) -> list[Contact]:
                if dinero.left > 0:
                    dinero.left -= 1
                    raise dinero.failure
                return await super().find_contacts(**filters)

        return Flaky(tenant)


@pytest.mark.parametrize(
    ("failure", "state"),
    [
        # PostgreSQL going away under attempt after attempt (restarts, a failover) is an
        # outage: however often, the posting is retried and made once it is back.
        (asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"), "done"),
        (asyncpg.exceptions.AdminShutdownError("terminating connection"), "done"),
        # A failure nobody named is a bug: failed (and dead-lettered) after five, so it
        # cannot spin.
        (RuntimeError("a bug"), "failed"),
    ],
)
async def test_only_failures_no_outage_explains_fail_a_posting(
    db: asyncpg.Connection,
    pool: asyncpg.Pool,
    fresh_database: str,
    failure: Exception,
    state: str,
) -> None:
    from bogfoer_poster.workers import MAX_UNEXPECTED_ATTEMPTS

    tenant = new_tenant()
    dinero = _FlakyDinero(failure, MAX_UNEXPECTED_ATTEMPTS + 2)
    sup = Supervisor(
        pool,
        dinero,  # type: ignore[arg-type]
        _Outbox(),  # type: ignore[arg-type]
        _settings(fresh_database),
        trace.get_tracer("test"),
    )
    sup.start()
    try:
        await _intake(db, _contact(tenant, 1))
        sup.wake.set()

        async def settled() -> bool:
            return (await _states(db, [tenant])).get(f"{tenant}:contact:1") in ("done", "failed")

        await eventually(settled, within=20, what="the posting made or failed")
        assert await _states(db, [tenant]) == {f"{tenant}:contact:1": state}
    finally:
        await asyncio.wait_for(sup.stop(), 30)


async def test_a_relay_run_ends_while_writers_keep_adding_rows(
    db: asyncpg.Connection, pool: asyncpg.Pool, outbox: OutboxRelay
) -> None:
    # The supervisor awaits a relay run in each round, and its rounds start the tenants'
    # workers: a run that lasted until the outbox was empty lasted as long as a backlog's
    # workers kept writing results, and tenants whose commands came in later waited minutes.
    tenant = new_tenant()
    most = 3000
    written = 0
    relayed, started = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        nonlocal written
        while written < most and not relayed.is_set():
            async with pool.acquire() as conn:
                await enqueue(conn, tenant, POSTINGS_RESULTS, f'{{"n": {written}}}')
            written += 1
            if written == 20:
                started.set()

    writing = asyncio.create_task(writer())
    try:
        await started.wait()
        earlier = await db.fetchval("SELECT max(seq) FROM outbox WHERE tenant_id = $1", tenant)
        await outbox.relay()
        relayed.set()
        assert written < most, "the run went on until the writer stopped"
        left = await db.fetchval(
            "SELECT count(*) FROM outbox WHERE tenant_id = $1 AND seq <= $2", tenant, earlier
        )
        assert left == 0  # what was committed before the run began is published
    finally:
        relayed.set()
        await writing
        await outbox.relay()


async def test_a_poll_of_commands_goes_in_at_once_duplicates_dropped_re_maps_taken(
    db: asyncpg.Connection,
) -> None:
    # A tenant's commands of one poll are inserted in one statement; within the poll a
    # duplicate is dropped and a re-mapped command (higher revision) replaces the one before.
    tenant = new_tenant()
    first, second = _contact(tenant, 1), _contact(tenant, 2)
    remapped = first.model_copy(update={"revision": 1, "depends_on": [second.posting_key]})
    accepted = await store.intake_many(
        db, [(first, "00-a-b-01"), (second, None), (second, None), (remapped, None)]
    )
    assert accepted == [True, True, False, True]
    rows = await db.fetch(
        "SELECT posting_key, revision, depends_on, traceparent, state FROM postings"
        " WHERE tenant_id = $1 ORDER BY seq",
        tenant,
    )
    assert [dict(r) for r in rows] == [
        {
            "posting_key": first.posting_key,
            "revision": 1,
            "depends_on": [second.posting_key],
            "traceparent": "00-a-b-01",
            "state": "queued",
        },
        {
            "posting_key": second.posting_key,
            "revision": 0,
            "depends_on": [],
            "traceparent": None,
            "state": "queued",
        },
    ]
    assert await store.intake_many(db, [(first, None), (second, None)]) == [False, False]
