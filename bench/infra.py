"""What the service benchmarks share: Kafka and PostgreSQL of their own in a temporary
folder, services as processes, records produced in bulk, and a consumer group's progress
watched from outside (its committed offsets), the same way for a service and its anchor."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bogfoer_devstack.kafka import KafkaBroker
from bogfoer_devstack.offsets import Offsets
from bogfoer_devstack.postgres import Postgres
from bogfoer_devstack.stack import Stack
from bogfoer_kit.kafka import ensure_topics
from bogfoer_kit.settings import ServiceSettings

SINK = "bench.sink.v1"  # where the consume→produce anchor writes
WATCH_INTERVAL = 0.025


@dataclass
class Infra:
    workdir: Path
    bootstrap: str
    postgres_url: str

    async def database(self) -> str:
        """A new, empty database; its URL."""
        name = f"bench_{int(time.time() * 1000)}"
        conn = await asyncpg.connect(self.postgres_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.postgres_url.rsplit("/", 1)[0] + f"/{name}"

    def stack(self, name: str, database: str, **env: str) -> Stack:
        return Stack(
            workdir=self.workdir / name,
            kafka_bootstrap=self.bootstrap,
            database_url=database,
            dinero_url="http://127.0.0.1:9",  # no benchmark here calls Dinero
            extra_env=env,
        )


@contextlib.contextmanager
def infra() -> Iterator[Infra]:
    workdir = Path(tempfile.mkdtemp(prefix="bogfoer-bench-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        broker = KafkaBroker(workdir / "kafka").start()
        cleanup.callback(broker.stop)
        postgres = Postgres(workdir / "postgres").start()
        cleanup.callback(postgres.stop)
        found = Infra(workdir, broker.bootstrap_servers, postgres.url)
        asyncio.run(_topics(found.bootstrap))
        yield found


async def _topics(bootstrap: str) -> None:
    await ensure_topics(ServiceSettings(KAFKA_BOOTSTRAP_SERVERS=bootstrap))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        if SINK not in await admin.list_topics():
            await admin.create_topics([NewTopic(SINK, 6, 1)])
    finally:
        await admin.close()


PRODUCE_IN_FLIGHT = 20_000  # acks awaited every so many records: a long stream stays small


async def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes, bytes]]) -> int:
    """(key, value) records, as fast as the idempotent producer takes them; a generator is
    consumed as it goes (at most PRODUCE_IN_FLIGHT records held). Returns how many."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=262_144,
    )
    await producer.start()
    produced = 0
    try:
        acks = []
        for key, value in records:
            acks.append(await producer.send(topic, value, key=key))
            if len(acks) >= PRODUCE_IN_FLIGHT:
                await asyncio.gather(*acks)
                produced += len(acks)
                acks = []
        await asyncio.gather(*acks)
        return produced + len(acks)
    finally:
        await producer.stop()


@dataclass(frozen=True)
class Progress:
    """How a group moved through a range of records: its rate in steady state (from its
    first commit to its last, so starting up and joining the group do not count)."""

    records: int
    seconds: float
    rate: float


async def _commits(
    bootstrap: str,
    group: str,
    partitions: list[TopicPartition],
    alive: subprocess.Popen[bytes] | None,
    within: float,
) -> AsyncGenerator[tuple[float, dict[TopicPartition, int]], None]:
    """(when, committed offset by partition) of `group`, every WATCH_INTERVAL, until the
    caller has seen enough; fails once its process exited or `within` passed."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    deadline = time.monotonic() + within
    try:
        while True:
            committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
            now = time.monotonic()
            offsets = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
            yield now, offsets
            if alive is not None and alive.poll() is not None:
                raise RuntimeError(f"{group}'s process exited with {alive.returncode}")
            if now > deadline:
                raise RuntimeError(f"{group} got only to {offsets} in {within:.0f} s")
            await asyncio.sleep(WATCH_INTERVAL)
    finally:
        await admin.close()


async def watch_group(
    bootstrap: str,
    group: str,
    start: Offsets,
    ends: Offsets,
    alive: subprocess.Popen[bytes] | None,
    within: float,
) -> Progress:
    total = sum(ends[tp] - start[tp] for tp in ends)
    first: tuple[float, int] | None = None
    async with contextlib.aclosing(_commits(bootstrap, group, list(ends), alive, within)) as seen:
        async for now, offsets in seen:
            done = sum(
                max(0, min(ends[tp], offsets[tp]) - start[tp]) for tp in ends if tp in offsets
            )
            if first is None and done > 0:
                first = (now, done)
            if done >= total and first is not None:
                seconds = now - first[0]
                counted = total - first[1]
                if counted <= 0 or seconds <= 0:
                    raise RuntimeError(f"{group} took all {total} records in one commit")
                return Progress(counted, seconds, counted / seconds)
    raise AssertionError("the commits are watched until they end or fail")


async def wait_committed(
    bootstrap: str,
    group: str,
    ends: Offsets,
    alive: subprocess.Popen[bytes] | None,
    within: float,
) -> None:
    """Until `group` has committed `ends` (or past them) on every partition that has records."""
    todo = {tp: end for tp, end in ends.items() if end > 0}
    async with contextlib.aclosing(_commits(bootstrap, group, list(todo), alive, within)) as seen:
        async for _, offsets in seen:
            if all(offsets.get(tp, -1) >= end for tp, end in todo.items()):
                return
    raise AssertionError("the commits are watched until they end or fail")


def start_anchor(bootstrap: str, group: str, ends: Offsets) -> subprocess.Popen[bytes]:
    spec = json.dumps({f"{tp.topic}:{tp.partition}": end for tp, end in ends.items()})
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.anchors",
            "consume",
            "--bootstrap",
            bootstrap,
            "--group",
            group,
            "--sink",
            SINK,
            "--ends",
            spec,
        ]
    )


def onboard(
    found: Infra, database: str, name: str, env: dict[str, str], tenants: Iterable[str]
) -> None:
    """`tenants` onboarded (an HMAC secret each) before the measured ingest reads a record
    of theirs: through an ingest of the same database and sealing key (`env` holds
    `BOGFOER_INGEST_SECRETS_KEY`) with nothing to read, stopped before the measured one
    starts. Onboarded once it ran, they were not for its first records, which it
    dead-lettered as `unknown_tenant`."""
    stack = found.stack(name, database, **env)
    try:
        stack.start(("ingest",))
        for tenant in tenants:
            put_credentials(stack, tenant, {"hmac_secret": secrets.token_urlsafe(24)})
    finally:
        stack.stop()


def put_credentials(stack: Stack, tenant: str, body: dict[str, str]) -> None:
    httpx.put(
        f"{stack.url('ingest')}/v1/admin/tenants/{tenant}/credentials",
        json=body,
        headers={"Authorization": f"Bearer {stack.admin_token}"},
        timeout=10,
    ).raise_for_status()
