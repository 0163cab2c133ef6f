"""SIGTERM or SIGKILL a consumer mid-stream: no record is lost, none is handled twice.

Each consumer takes hundreds of records a poll (`bogfoer_kit.consumer`), so a signal
landing mid-stream lands in the middle of a batch: in a tenant batch's transaction, while
the poll's records are published, or before its offsets are committed. A SIGTERM lets the
poll in hand finish; a SIGKILL leaves whatever it was doing half done.

The ledger records every Kafka record it applied (`ledger_applied`, a tenant batch's as one
run in `ledger_applied_runs`) and every posting's
transitions in one transaction, so its tables show exactly what it did with each record.
The mapper consumes and publishes (through its outbox); its output topic shows whether a
restart lost or repeated anything. Ingest's Kafka path (`ingest.inbound.v1` →
`sales.events.v1`) publishes what it reads; its output shows the same.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from bogfoer_contracts.events import SALES_EVENT, InboundEvent, stamp
from bogfoer_contracts.ids import event_id, posting_key
from bogfoer_contracts.postings import POSTING_COMMAND, PostingResult, RegisterPayment
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_contracts.topics import (
    INGEST_INBOUND,
    INGEST_RAW,
    POSTINGS_COMMANDS,
    POSTINGS_RESULTS,
    SALES_EVENTS,
    TENANTS_CONFIG,
    key_for,
)
from bogfoer_devstack.offsets import end_offsets
from bogfoer_devstack.stack import ServiceProcess, Stack
from tests.integration.conftest import (
    eventually,
    idempotent_producer,
    make_stack,
    new_tenant,
    read_from,
    report,
    running,
    start_group_at_end,
)

pytestmark = pytest.mark.integration

GRACEFUL_SECONDS = 20.0  # Stack.env_for sets *_GRACEFUL_TIMEOUT_SECONDS=20
# Enough that a consumer taking hundreds a poll is still mid-stream when the SIGTERM lands.
RESULTS = 20_000
# Streams long enough that the kill lands mid-stream however fast the stage runs (the
# consumer no longer waits out idle fetches between polls): a stream done before the kill
# fails the test ("did not land mid-stream") without telling anything.
ORDERS = 6_000
# The kill must land between a stream's first poll and its last: a service's own poll takes
# everything fetched (up to 10,000 records), so these streams would be a poll or two. Small
# polls change nothing a crash can hit (a poll is handled, published and committed alike).
POLL_RECORDS = "500"
# Ingest's: its records are small and it moves 500 in a few milliseconds, so at 500 a poll a
# quiet machine finished the stream before the kill; at 50 each poll still waits out the
# producer's linger and the commit.
INGEST_POLL_RECORDS = "50"


async def sigterm_mid_stream(
    service: ServiceProcess, done: Callable[[], Awaitable[int]], total: int
) -> int:
    """SIGTERM the process while it is busy and wait for it to exit, cleanly and within the
    grace period, mid-stream; returns how much of `total` was done."""
    proc = service.process
    assert proc is not None
    started = time.monotonic()
    service.signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(proc.wait, GRACEFUL_SECONDS + 10)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"{service.name} ignored SIGTERM:\n{service.tail()}") from None
    took = time.monotonic() - started
    at_exit = await done()
    report(f"\n[{service.name}] SIGTERM: exit {code} in {took:.2f}s with {at_exit} of {total} done")
    assert code == 0, service.tail()
    assert took < GRACEFUL_SECONDS
    assert 0 < at_exit < total, "the SIGTERM did not land mid-stream"
    return at_exit


def _crash_stack(
    tmp_path: Path,
    topics: str,
    database: str,
    service: str,
    group: str,
    poll_records: str = POLL_RECORDS,
) -> Stack:
    """The stack a crash test starts `service` of: its own consumer groups, small polls."""
    prefix = f"BOGFOER_{service.upper()}"
    return make_stack(
        tmp_path,
        topics,
        database,
        **{f"{prefix}_GROUP_ID": group, f"{prefix}_KAFKA_POLL_RECORDS": poll_records},
    )


async def sigkill_mid_stream(
    service: ServiceProcess, done: Callable[[], Awaitable[int]], total: int
) -> int:
    """SIGKILL the process while it is busy; returns how much of `total` was done."""
    await asyncio.to_thread(service.kill)
    at_kill = await done()
    report(f"\n[{service.name}] SIGKILL with {at_kill} of {total} done")
    assert 0 < at_kill < total, "the SIGKILL did not land mid-stream"
    return at_kill


async def restart(service: ServiceProcess) -> None:
    service.start()
    await asyncio.to_thread(service.wait_ready)


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_ledger_stopped_mid_stream_applies_every_result_exactly_once(
    how: str, topics: str, fresh_database: str, tmp_path: Path
) -> None:
    tenant = new_tenant()
    group = f"it-ledger-{uuid4().hex[:8]}"
    for name, topic in (("results", POSTINGS_RESULTS), ("commands", POSTINGS_COMMANDS)):
        await start_group_at_end(topics, f"{group}.{name}", topic)

    # All N results are on Kafka before the ledger starts, so it is mid-stream at once.
    producer = await idempotent_producer(topics)
    at = dt.datetime.now(dt.UTC)
    keys = [posting_key(tenant, "invoice", "shopify", str(i)) for i in range(RESULTS)]
    try:
        futures = [
            await producer.send(
                POSTINGS_RESULTS,
                PostingResult(
                    posting_key=key,
                    tenant_id=tenant,
                    kind="invoice",
                    status="done",
                    dinero_guid=str(uuid4()),
                    dinero_number=i + 1,
                    amount=100 * (i + 1),
                    at=at,
                )
                .model_dump_json()
                .encode(),
                key=key_for(tenant),
            )
            for i, key in enumerate(keys)
        ]
        sent = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    offsets = sorted((m.partition, m.offset) for m in sent)
    (partition,) = {p for p, _ in offsets}  # one tenant, one partition
    our_offsets = [o for _, o in offsets]

    db = await asyncpg.connect(fresh_database)

    async def applied() -> int:
        return await _tracked(db, POSTINGS_RESULTS, partition, tenant, our_offsets)

    stack = _crash_stack(tmp_path, topics, fresh_database, "ledger", group)
    try:
        async with running(stack, "ledger"):
            ledger = stack.services["ledger"]
            await eventually(lambda: _at_least(applied, 100), 30, "the ledger applies 100")
            if how == "SIGKILL":
                await sigkill_mid_stream(ledger, applied, RESULTS)
            else:
                at_exit = await sigterm_mid_stream(ledger, applied, RESULTS)

                # What the group committed on shutdown is exactly what was applied: a restart
                # neither skips a record nor receives one it already applied.
                committed = await _committed(
                    topics, f"{group}.results", POSTINGS_RESULTS, partition
                )
                last_applied = await db.fetchval(
                    'SELECT max(o) FROM (SELECT "offset" AS o FROM ledger.ledger_applied'
                    " WHERE topic = $1 AND partition = $2 UNION ALL SELECT last_offset"
                    " FROM ledger.ledger_applied_runs WHERE topic = $1 AND partition = $2) AS t",
                    POSTINGS_RESULTS,
                    partition,
                )
                assert committed == last_applied + 1
                assert last_applied == our_offsets[at_exit - 1]

            started = time.monotonic()
            await restart(ledger)
            await eventually(lambda: _at_least(applied, RESULTS), 60, "all results applied")
            report(
                f"[ledger] restarted after {how}; all {RESULTS} applied"
                f" {time.monotonic() - started:.2f}s later"
            )
            await asyncio.sleep(0.5)  # anything redelivered would be applied by now

        postings = await db.fetchval(
            "SELECT count(*) FROM ledger.postings WHERE tenant_id = $1", tenant
        )
        per_key = await db.fetch(
            "SELECT posting_key, count(*) AS n, min(to_state) AS state"
            " FROM ledger.posting_transitions WHERE posting_key = ANY($1::text[])"
            " GROUP BY posting_key",
            keys,
        )
        tracking = await applied()
    finally:
        await db.close()
    counts = Counter(r["n"] for r in per_key)
    report(f"[ledger] postings {postings}, transitions per key {dict(counts)}, tracked {tracking}")
    assert postings == RESULTS
    assert len(per_key) == RESULTS
    assert counts == {1: RESULTS}
    assert {r["state"] for r in per_key} == {"done"}
    assert tracking == RESULTS


COMMANDS = 12_000  # see ORDERS


async def test_ledger_killed_mid_stream_records_every_command_exactly_once(
    topics: str, fresh_database: str, tmp_path: Path
) -> None:
    # Commands create their postings with their first history lines in one statement per
    # batch, and only the tracking rows guard against a redelivery: a SIGKILL in the middle
    # of the stream, a restart, and each posting is there once with one line.
    tenant = new_tenant()
    group = f"it-ledger-{uuid4().hex[:8]}"
    for name, topic in (("results", POSTINGS_RESULTS), ("commands", POSTINGS_COMMANDS)):
        await start_group_at_end(topics, f"{group}.{name}", topic)
    at = dt.datetime.now(dt.UTC)
    commands = [
        RegisterPayment(
            posting_key=posting_key(tenant, "payment", "stripe", f"pi_{i}"),
            tenant_id=tenant,
            organization_id=1,
            issued_at=at,
            invoice_key=posting_key(tenant, "invoice", "shopify", str(i)),
            depends_on=[posting_key(tenant, "invoice", "shopify", str(i))],
            amount=100 * (i + 1),
            currency="DKK",
            deposit_account=55010,
            payment_date=at.date(),
            description="Betaling",
        )
        for i in range(COMMANDS)
    ]
    producer = await idempotent_producer(topics)
    try:
        futures = [
            await producer.send(
                POSTINGS_COMMANDS, POSTING_COMMAND.dump_json(c), key=key_for(tenant)
            )
            for c in commands
        ]
        sent = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    (partition,) = {m.partition for m in sent}  # one tenant, one partition
    our_offsets: list[int] = sorted(m.offset for m in sent)

    db = await asyncpg.connect(fresh_database)

    async def applied() -> int:
        return await _tracked(db, POSTINGS_COMMANDS, partition, tenant, our_offsets)

    async def all_committed() -> bool:
        committed = await _committed(topics, f"{group}.commands", POSTINGS_COMMANDS, partition)
        return committed > our_offsets[-1]

    stack = _crash_stack(tmp_path, topics, fresh_database, "ledger", group)
    try:
        async with running(stack, "ledger"):
            ledger = stack.services["ledger"]
            await eventually(lambda: _at_least(applied, 1), 30, "the ledger applies a command")
            await sigkill_mid_stream(ledger, applied, COMMANDS)
            await restart(ledger)
            await eventually(all_committed, 60, "every command applied and committed")
        rows = await db.fetch(
            "SELECT p.posting_key, p.amount_minor, p.state, count(t.*) AS lines"
            " FROM ledger.postings p JOIN ledger.posting_transitions t USING (posting_key)"
            " WHERE p.tenant_id = $1 GROUP BY 1, 2, 3",
            tenant,
        )
        tracking = await applied()
    finally:
        await db.close()
    report(f"[ledger] postings {len(rows)}, tracked {tracking} after SIGKILL")
    assert tracking == COMMANDS
    assert sorted((r["posting_key"], r["amount_minor"]) for r in rows) == sorted(
        (c.posting_key, c.amount) for c in commands
    )
    assert {(r["state"], r["lines"]) for r in rows} == {("pending", 1)}


async def _tracked(
    db: asyncpg.Connection, topic: str, partition: int, tenant: str, offsets: list[int]
) -> int:
    """How many of these records (the tenant's) the ledger tracks as applied exactly once:
    by a row of its own, or in one of the tenant's runs (`store.claim_run`), not by two."""
    n: int = await db.fetchval(
        "SELECT count(*) FROM unnest($3::bigint[]) AS o WHERE"
        " (SELECT count(*) FROM ledger.ledger_applied a"
        '  WHERE a.topic = $1 AND a.partition = $2 AND a."offset" = o)'
        " + (SELECT count(*) FROM ledger.ledger_applied_runs r"
        "  WHERE r.topic = $1 AND r.partition = $2 AND r.tenant = $4"
        "  AND o BETWEEN r.first_offset AND r.last_offset) = 1",
        topic,
        partition,
        offsets,
        tenant,
    )
    return n


async def _at_least(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() >= n


async def _committed(bootstrap: str, group: str, topic: str, partition: int) -> int:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        offset = await consumer.committed(tp)
    finally:
        await consumer.stop()
    assert isinstance(offset, int)
    return offset


def _order_placed(tenant: str, n: int) -> bytes:
    return SALES_EVENT.dump_json(stamp(_inbound_order(n), tenant, dt.datetime.now(dt.UTC)))


def _inbound_order(n: int) -> InboundEvent:
    occurred = "2026-11-20T10:00:00+01:00"
    return InboundEvent(
        type="order.placed",
        source="shopify",
        source_event_id=f"order-{n}-created",
        occurred_at=dt.datetime.fromisoformat(occurred),
        data={
            "order_id": str(n),
            "order_number": f"#{n}",
            "placed_at": occurred,
            "currency": "DKK",
            "customer": {
                "email": f"kunde-{n}@example.dk",
                "name": f"Kunde {n}",
                "billing_address": {"country": "DK", "postcode": "8000", "city": "Aarhus"},
            },
            "lines": [
                {
                    "line_id": "1",
                    "kind": "goods",
                    "description": "Vare",
                    "quantity": 1,
                    "unit_price": 12500,
                    "vat_rate": 2500,
                }
            ],
            "total": 12500,
            "vat_total": 2500,
        },
    )


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
async def test_mapper_stopped_mid_stream_loses_no_command_and_repeats_none(
    how: str, topics: str, fresh_database: str, tmp_path: Path
) -> None:
    tenant = new_tenant()
    group = f"it-mapper-{uuid4().hex[:8]}"
    await start_group_at_end(topics, f"{group}.events", SALES_EVENTS)
    await start_group_at_end(topics, f"{group}.config", TENANTS_CONFIG)
    commands_start = await end_offsets(topics, POSTINGS_COMMANDS)

    config = TenantConfig(
        tenant_id=tenant,
        version=1,
        updated_at=dt.datetime.now(dt.UTC),
        dinero_organization_id=1,
        booking_mode="booked",
        trigger="order_placed",
        cutover=dt.date(2026, 1, 1),
    )
    producer = await idempotent_producer(topics)
    try:
        await producer.send_and_wait(
            TENANTS_CONFIG, config.model_dump_json().encode(), key=key_for(tenant)
        )
        futures = [
            await producer.send(SALES_EVENTS, _order_placed(tenant, n), key=key_for(tenant))
            for n in range(ORDERS)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    invoice_keys = {posting_key(tenant, "invoice", "shopify", str(n)) for n in range(ORDERS)}

    db = await asyncpg.connect(fresh_database)

    async def processed() -> int:
        n: int = await db.fetchval(
            "SELECT count(*) FROM mapper.events WHERE tenant_id = $1 AND processed", tenant
        )
        return n

    stack = _crash_stack(tmp_path, topics, fresh_database, "mapper", group)
    try:
        async with running(stack, "mapper"):
            mapper = stack.services["mapper"]
            await eventually(lambda: _at_least(processed, 30), 30, "the mapper processes 30")
            if how == "SIGKILL":
                await sigkill_mid_stream(mapper, processed, ORDERS)
            else:
                await sigterm_mid_stream(mapper, processed, ORDERS)
                outbox_left = await db.fetchval("SELECT count(*) FROM mapper.outbox")
                assert outbox_left == 0, "a graceful stop leaves nothing unpublished"

            started = time.monotonic()
            await restart(mapper)
            await eventually(lambda: _at_least(processed, ORDERS), 60, "all events processed")
            took = time.monotonic() - started
            report(f"[mapper] restarted; all {ORDERS} processed {took:.2f}s later")
    finally:
        await db.close()

    def all_invoices(records: list[Any]) -> bool:
        seen = {json.loads(r.value)["posting_key"] for r in records if r.key == key_for(tenant)}
        return invoice_keys <= seen

    records = await read_from(topics, commands_start, all_invoices, within=30, settle=1.0)
    values = [r.value for r in records if r.key == key_for(tenant)]
    commands = [json.loads(v) for v in values]
    per_key = Counter(c["posting_key"] for c in commands)
    contact_keys = {c["contact_key"] for c in commands if c["kind"] == "invoice"}
    repeated = {k: n for k, n in per_key.items() if n > 1}
    report(
        f"[mapper] {len(commands)} commands for {len(per_key)} keys on {POSTINGS_COMMANDS};"
        f" keys published more than once: {len(repeated)}"
    )
    assert invoice_keys <= per_key.keys(), "an invoice command was lost"
    assert contact_keys <= per_key.keys(), "a contact command was lost"
    assert len(per_key) == 2 * ORDERS
    if how == "SIGTERM":
        assert repeated == {}
    else:
        # Killed between publishing outbox rows and deleting them, the mapper publishes
        # those rows again: the very same command, which the poster drops by its posting
        # key. A command decided twice (an event mapped again) would differ or be new.
        assert len(set(values)) == len(per_key), "a posting key got two different commands"


INBOUND = 10_000


async def test_ingest_killed_mid_stream_loses_no_event_and_repeats_none(
    topics: str, fresh_database: str, tmp_path: Path
) -> None:
    """SIGKILL ingest while it moves `ingest.inbound.v1` to `sales.events.v1`: every event
    arrives; one published again after the restart (its offset was not committed) is the
    very same record, stamped from the inbound record, which the mapper drops by its id."""
    tenant = new_tenant()
    group = f"it-ingest-{uuid4().hex[:8]}"
    await start_group_at_end(topics, f"{group}.inbound", INGEST_INBOUND)
    await start_group_at_end(topics, f"{group}.stripe", INGEST_RAW)
    events_start = await end_offsets(topics, SALES_EVENTS)

    async def published() -> int:
        now = await end_offsets(topics, SALES_EVENTS)
        return sum(now[tp] - events_start[tp] for tp in now)

    stack = _crash_stack(tmp_path, topics, fresh_database, "ingest", group, INGEST_POLL_RECORDS)
    async with running(stack, "ingest"):
        ingest = stack.services["ingest"]
        async with httpx.AsyncClient(timeout=10) as http:
            put = await http.put(
                f"{stack.url('ingest')}/v1/admin/tenants/{tenant}/credentials",
                json={"api_key": uuid4().hex},
                headers={"Authorization": f"Bearer {stack.admin_token}"},
            )
            assert put.status_code == 204, put.text
        # Stopped while the stream is produced, started on all of it: an ingest consuming
        # as the records arrived kept pace with the producer and had published all 10,000
        # by the time the kill landed (CI, once).
        assert await asyncio.to_thread(ingest.stop) == 0, ingest.tail()
        inbound = [_inbound_order(n) for n in range(INBOUND)]
        producer = await idempotent_producer(topics)
        try:
            futures = [
                await producer.send(
                    INGEST_INBOUND, event.model_dump_json().encode(), key=key_for(tenant)
                )
                for event in inbound
            ]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()
        assert await published() == 0
        ingest.start()  # not waited ready: it consumes before it answers, and the kill is
        # timed by what it published (at the first 100), not by its readiness
        await eventually(lambda: _at_least(published, 100), 60, "ingest publishes 100")
        await sigkill_mid_stream(ingest, published, INBOUND)
        await restart(ingest)
        await eventually(lambda: _at_least(published, INBOUND), 60, "every event published")

    ids = {event_id(tenant, "shopify", e.source_event_id) for e in inbound}

    def all_events(records: list[Any]) -> bool:
        return ids <= {dict(r.headers)["x-event-id"].decode() for r in records}

    records = await read_from(topics, events_start, all_events, within=30, settle=1.0)
    values: dict[str, set[bytes]] = {}
    for r in records:
        values.setdefault(dict(r.headers)["x-event-id"].decode(), set()).add(r.value)
    repeated = len(records) - len(values)
    report(f"[ingest] {len(records)} records for {len(values)} events; repeats {repeated}")
    assert values.keys() == ids, "an event was lost (or one not sent appeared)"
    assert {len(v) for v in values.values()} == {1}, "an event was published differently"
