"""ingest_throughput: events per second through the real ingest service against producing
the same bodies straight to Kafka.

Setup (all on loopback, in a temporary folder, stopped afterwards): Apache Kafka (KRaft) and
PostgreSQL from the devstack, and ingest as its own process (`python -m bogfoer_ingest`,
through `bogfoer_devstack.stack.Stack`), with one tenant onboarded with an HMAC secret.

- measured: REQUESTS signed POSTs of canonical shop events (the mapper benchmark's stream)
  to `/v1/tenants/{t}/events`, CONCURRENCY at a time over keep-alive connections (httpx);
  each must answer 202. Per request ingest looks the tenant up, checks the HMAC, validates
  and stamps the event and publishes twice (raw and canonical) with the idempotent producer
  (acks=all), awaiting both acks before answering.
- baseline: the same bodies, CONCURRENCY at a time, to a topic of the same partition count
  with an idempotent aiokafka producer (acks=all, linger 5 ms, as ingest's), awaiting each
  ack: the floor any HTTP front door to Kafka could reach on this machine.

Ratio = baseline events/s / ingest events/s: the price of HTTP, authentication, validation
and the double publish. Target ratio <= 30: measured at about 17-18 here (about 300 against
5,500 events/s) on 2 cores, where the httpx load generator, the broker, PostgreSQL and ingest
share the CPUs, so much of the gap is the load generator's own HTTP cost. More than 30 means
ingest lost its pipelining (e.g. requests serialised on one lock, one connection or a
per-request database round trip too many).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench.common import Result, interleaved_rates, throughput_ratio
from bench.mapper_decide import inbound_bodies
from bogfoer_contracts.topics import key_for
from bogfoer_devstack.kafka import KafkaBroker
from bogfoer_devstack.postgres import Postgres
from bogfoer_devstack.shop import signature
from bogfoer_devstack.stack import Stack

REQUESTS = 2000
CONCURRENCY = 32
REPEATS = 3
RUN_TIMEOUT_SECONDS = 60.0
TARGET = 30.0
TENANT = "bench-shop"
BASELINE_TOPIC = "bench.baseline.v1"


async def _fan_out(items: list[bytes], one: Callable[[int, bytes], Awaitable[None]]) -> int:
    """Run `one` over every item with CONCURRENCY workers; the number done."""
    cursor = iter(enumerate(items))

    async def worker() -> None:
        for index, item in cursor:
            await one(index, item)

    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(CONCURRENCY))), RUN_TIMEOUT_SECONDS
    )
    return len(items)


async def _create_topic(bootstrap: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(BASELINE_TOPIC, 6, 1)])
    finally:
        await admin.close()


def _measure(stack: Stack, bootstrap: str, secret: str, bodies: list[bytes]) -> tuple[float, float]:
    url = f"{stack.url('ingest')}/v1/tenants/{TENANT}/events"
    key = key_for(TENANT)

    async def via_ingest(http: httpx.AsyncClient) -> int:
        # Signed before the clock starts: signing is the shop's work, not ingest's.
        headers = [
            {"Content-Type": "application/json", "Bogfoer-Signature": signature(secret, body)}
            for body in bodies
        ]

        async def one(index: int, body: bytes) -> None:
            response = await http.post(url, content=body, headers=headers[index])
            if response.status_code != 202:
                raise RuntimeError(f"ingest answered {response.status_code}: {response.text}")

        return await _fan_out(bodies, one)

    async def go() -> tuple[float, float]:
        await _create_topic(bootstrap)
        producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, enable_idempotence=True, acks="all", linger_ms=5
        )
        await producer.start()
        limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
        try:
            async with httpx.AsyncClient(limits=limits, timeout=30) as http:

                async def direct() -> int:
                    async def one(_: int, body: bytes) -> None:
                        await producer.send_and_wait(BASELINE_TOPIC, body, key=key)

                    return await _fan_out(bodies, one)

                return await interleaved_rates(direct, lambda: via_ingest(http), REPEATS)
        finally:
            await producer.stop()

    return asyncio.run(go())


def run() -> list[Result]:
    bodies = [body for _, body in inbound_bodies(REQUESTS // 5 + 10)][:REQUESTS]
    workdir = Path(tempfile.mkdtemp(prefix="bogfoer-bench-"))
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(shutil.rmtree, workdir, ignore_errors=True)
        broker = KafkaBroker(workdir / "kafka").start()
        cleanup.callback(broker.stop)
        postgres = Postgres(workdir / "postgres").start()
        cleanup.callback(postgres.stop)
        stack = Stack(
            workdir=workdir / "stack",
            kafka_bootstrap=broker.bootstrap_servers,
            database_url=postgres.url,
            dinero_url="http://127.0.0.1:9",  # ingest never calls Dinero
        )
        cleanup.callback(stack.stop)
        stack.start(("ingest",))
        secret = secrets.token_urlsafe(24)
        httpx.put(
            f"{stack.url('ingest')}/v1/admin/tenants/{TENANT}/credentials",
            content=json.dumps({"hmac_secret": secret}),
            headers={
                "Authorization": f"Bearer {stack.admin_token}",
                "Content-Type": "application/json",
            },
            timeout=10,
        ).raise_for_status()
        baseline, measured = _measure(stack, broker.bootstrap_servers, secret, bodies)
    return [
        Result(
            "ingest_throughput",
            "ev/s",
            baseline,
            measured,
            throughput_ratio(baseline, measured),
            TARGET,
            f"{len(bodies)} signed POSTs, {CONCURRENCY} concurrent, median of {REPEATS}; "
            "baseline one idempotent acks=all produce per body",
        )
    ]
