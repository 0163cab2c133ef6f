"""Helpers for the integration tests: a fresh database per test, consumer groups that
start at the end of the shared topics, and services run as real processes.

Kafka topics are shared by the whole session, so every test uses its own tenant id, its
own database and its own consumer group ids (started at the current end of each topic,
so a service never replays what earlier tests left on the shared topics).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bogfoer_devstack.offsets import commit_group, end_offsets, records_to_end
from bogfoer_devstack.shop import signature
from bogfoer_devstack.stack import Stack
from bogfoer_kit.db import Conn, create_pool, migrate
from bogfoer_kit.deadletter import is_transient
from bogfoer_kit.kafka import ensure_topics
from bogfoer_kit.settings import ServiceSettings

UNUSED_URL = "http://127.0.0.1:9"  # services under test here never call Dinero or Stripe


def report(line: str) -> None:
    """The figures a test measured (records, timings, versions): shown with `pytest -s`,
    and under "Captured stdout" with `-rA`."""
    print(line)  # noqa: T201 - reporting measured figures is the point here


def new_tenant() -> str:
    return f"it-{uuid4().hex[:8]}"


async def create_database(server_url: str) -> str:
    """A new, empty database on the server of `server_url`; returns its URL."""
    name = f"it_{uuid4().hex[:12]}"
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def drop_database(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture
async def fresh_database(database_url: str) -> AsyncIterator[str]:
    url = await create_database(database_url)
    yield url
    await drop_database(database_url, url)


@pytest.fixture(scope="session")
async def topics(kafka_bootstrap: str) -> str:
    """Our declared topics exist (the broker never auto-creates); returns the bootstrap."""
    await ensure_topics(ServiceSettings(KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap))
    return kafka_bootstrap


@contextlib.asynccontextmanager
async def migrated_pool(url: str, service: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on `url` with `service`'s schema migrated (its search path that schema)."""
    pool = await create_pool(url, service)
    try:
        await migrate(pool, f"bogfoer_{service}")
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def mapper_pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new database with the mapper's schema migrated."""
    async with migrated_pool(fresh_database, "mapper") as pool:
        yield pool


@pytest.fixture
async def ledger_pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a new database with the ledger's schema migrated."""
    async with migrated_pool(fresh_database, "ledger") as pool:
        yield pool


async def new_topic(bootstrap: str, prefix: str, partitions: int = 1) -> str:
    """A new topic (of one partition unless told) for this test alone; its name."""
    topic = f"{prefix}-{uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        await admin.close()
    return topic


async def values_in(bootstrap: str, topic: str) -> list[bytes | None]:
    """Every record value of a topic, from the start to its end as it is now."""
    return [r.value for r in await records_to_end(bootstrap, topic)]


async def start_group_at_end(bootstrap: str, group_id: str, topic: str) -> None:
    """Commit the current end of every partition for `group_id`, so a service joining that
    group reads only what is produced from now on."""
    await commit_group(bootstrap, group_id, await end_offsets(bootstrap, topic))


async def idempotent_producer(bootstrap: str) -> AIOKafkaProducer:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, linger_ms=5)
    await producer.start()
    return producer


async def read_from(
    bootstrap: str,
    start: dict[TopicPartition, int],
    done: Callable[[list[Any]], bool],
    within: float,
    settle: float = 0.0,
) -> list[Any]:
    """Read records from `start` until `done(records)`, then `settle` seconds more (to see
    anything that would arrive twice); returns the records (aiokafka ConsumerRecords)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    records: list[Any] = []
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + within
        settle_until: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            for rs in batch.values():
                records.extend(rs)
            if settle_until is None and done(records):
                settle_until = time.monotonic() + settle
            if settle_until is not None and time.monotonic() >= settle_until:
                return records
        return records
    finally:
        await consumer.stop()


async def eventually(
    check: Callable[[], Awaitable[bool]], within: float, what: str, interval: float = 0.05
) -> float:
    """Poll `check` until true; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < within:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(interval)
    raise TimeoutError(f"not within {within}s: {what}")


async def assert_copy_ends_when_lost(
    pool: asyncpg.Pool, copy: Callable[[Conn], Awaitable[object]]
) -> None:
    """`copy` (a copy far larger than the socket takes at once) fails as a transient fault,
    within seconds, when its backend is terminated mid-copy: asyncpg sends a copy's rows as
    the socket takes them and, its connection lost while it waits for the socket, waited for
    good (`bogfoer_kit.db.until_lost`)."""
    async with pool.acquire() as copying, pool.acquire() as other:
        backend = await copying.fetchval("SELECT pg_backend_pid()")

        async def terminate() -> None:
            for _ in range(2_000):  # until the copy runs, 10 s at most
                copying_now = await other.fetchval(
                    "SELECT state = 'active' AND query LIKE 'COPY%' FROM pg_stat_activity"
                    " WHERE pid = $1",
                    backend,
                )
                if copying_now:
                    break
                await asyncio.sleep(0.005)
            await other.execute("SELECT pg_terminate_backend($1)", backend)

        terminating = asyncio.ensure_future(terminate())
        started = asyncio.get_running_loop().time()
        with pytest.raises(Exception) as failed:  # noqa: PT011 - asyncpg's or ours: transient
            async with asyncio.timeout(30), copying.transaction():
                await copy(copying)
        took = asyncio.get_running_loop().time() - started
        await terminating
    assert took < 10, f"the copy hung on its lost connection ({took:.1f} s)"
    assert is_transient(failed.value)


def make_stack(workdir: Path, bootstrap: str, db_url: str, **extra_env: str) -> Stack:
    return Stack(
        workdir=workdir,
        kafka_bootstrap=bootstrap,
        database_url=db_url,
        dinero_url=UNUSED_URL,
        extra_env=dict(extra_env),
    )


@contextlib.asynccontextmanager
async def running(stack: Stack, *names: str) -> AsyncIterator[Stack]:
    """Start the named services as processes (blocking waits run off the event loop)."""
    try:
        await asyncio.to_thread(stack.start, names)
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)


# --- ingest as a process, shared by its HTTP tests (test_ingest_api, test_ingest_door) ---

MAX_BODY = 4096


@dataclass
class Ingest:
    stack: Stack
    http: httpx.AsyncClient
    tenant: str
    secret: str
    api_key: str
    whsec: str

    @property
    def events_url(self) -> str:
        return f"{self.stack.url('ingest')}/v1/tenants/{self.tenant}/events"

    async def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return await self.http.post(
            self.events_url, content=body, headers={"Content-Type": "application/json", **headers}
        )

    async def signed(self, body: bytes, timestamp: int | None = None) -> httpx.Response:
        return await self.post(body, {"Bogfoer-Signature": signature(self.secret, body, timestamp)})


@pytest.fixture(scope="package")
async def ingest(
    topics: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Ingest]:
    db = await create_database(database_url)
    stack = make_stack(
        tmp_path_factory.mktemp("ingest"),
        topics,
        db,
        BOGFOER_INGEST_MAX_BODY_BYTES=str(MAX_BODY),
    )
    try:
        async with running(stack, "ingest"), httpx.AsyncClient(timeout=15) as http:
            tenant = new_tenant()
            secret = secrets.token_urlsafe(24)
            api_key = secrets.token_urlsafe(24)
            whsec = f"whsec_{secrets.token_hex(16)}"
            r = await http.put(
                f"{stack.url('ingest')}/v1/admin/tenants/{tenant}/credentials",
                json={"hmac_secret": secret, "api_key": api_key, "stripe_webhook_secret": whsec},
                headers={"Authorization": f"Bearer {stack.admin_token}"},
            )
            assert r.status_code == 204, r.text
            yield Ingest(stack, http, tenant, secret, api_key, whsec)
    finally:
        await drop_database(database_url, db)
