"""One event the mapper's rules cannot handle is dead-lettered on its own; the tenant's
later events are still mapped (real PostgreSQL, what it publishes recorded in memory)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from bogfoer_contracts import events
from bogfoer_contracts.events import SALES_EVENT, InboundEvent, stamp
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_contracts.topics import SALES_EVENTS, key_for
from bogfoer_devstack.sales import AT, goods, order
from bogfoer_kit.consumer import Record, TenantBatch
from bogfoer_kit.publish import Outgoing
from bogfoer_mapper import handlers
from bogfoer_mapper import store as mapper_store
from bogfoer_rules import policy
from tests.integration.conftest import new_tenant

pytestmark = pytest.mark.integration


class RecordingPublisher:
    """What the mapper publishes, in order: (topic, headers, value)."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, str], bytes]] = []

    async def publish(self, records: Sequence[Outgoing]) -> None:
        self.published += [(r.topic, dict(r.headers), r.value) for r in records]


@pytest.fixture
def pool(mapper_pool: asyncpg.Pool) -> asyncpg.Pool:
    return mapper_pool


def placed(tenant: str, order_id: str) -> bytes:
    inbound = InboundEvent.model_validate(
        {
            "type": "order.placed",
            "source": "shopify",
            "source_event_id": f"{order_id}-placed",
            "occurred_at": AT,
            "data": order(order_id, lines=[goods("1", 10000)]),
        }
    )
    return SALES_EVENT.dump_json(stamp(inbound, tenant, dt.datetime.now(dt.UTC)))


def _count(outcome: str) -> float:
    """The mapper's order.placed events counted with this outcome so far."""
    labels = {"type": "order.placed", "outcome": outcome}
    return REGISTRY.get_sample_value("bogfoer_mapper_events_total", labels) or 0.0


def settings(tenant: str) -> TenantConfig:
    return TenantConfig.model_validate(
        {
            "tenant_id": tenant,
            "version": 1,
            "updated_at": AT,
            "dinero_organization_id": 1,
            "cutover": "2026-01-01",
            "trigger": "order_placed",
        }
    )


async def configured(pool: asyncpg.Pool) -> tuple[str, RecordingPublisher, handlers.Mapper]:
    """A new tenant with settings, and a mapper that records what it publishes."""
    tenant = new_tenant()
    broker = RecordingPublisher()
    mapper = handlers.Mapper(broker, pool)  # type: ignore[arg-type]
    await mapper.on_config(settings(tenant).model_dump_json().encode())
    return tenant, broker, mapper


def batch_of(tenant: str, values: list[bytes]) -> TenantBatch:
    """The values as one poll's records of the tenant on sales.events.v1."""
    records = [Record(SALES_EVENTS, 0, n, key_for(tenant), v) for n, v in enumerate(values)]
    return TenantBatch(tenant, records)


async def test_a_failing_event_is_dead_lettered_and_the_next_one_is_mapped(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = new_tenant()
    broker = RecordingPublisher()
    mapper = handlers.Mapper(broker, pool)  # type: ignore[arg-type]
    real_decide = policy.decide

    def decide(event: Any, *args: Any) -> Any:
        if event.data.order_id == "BAD":
            raise RuntimeError("a rule the mapper does not have")
        return real_decide(event, *args)

    monkeypatch.setattr(policy, "decide", decide)
    config = settings(tenant)
    # Both events wait for the settings; the settings then map them in one go.
    await mapper.on_event(placed(tenant, "BAD"))
    await mapper.on_event(placed(tenant, "GOOD"))
    await mapper.on_config(config.model_dump_json().encode())

    topics = [topic for topic, _, _ in broker.published]
    assert topics.count("postings.commands.v1") == 2  # contact and invoice of GOOD
    ((_, headers, body),) = [p for p in broker.published if p[0] == "sales.events.dlq.v1"]
    assert headers["x-dlq-reason"] == "processing_error"
    assert "a rule the mapper does not have" in headers["x-dlq-detail"]
    assert json.loads(body)["data"]["order_id"] == "BAD"
    # Forgotten, so a re-drive from the ledger is mapped like a new arrival.
    monkeypatch.setattr(policy, "decide", real_decide)
    await mapper.on_event(body)
    assert [t for t, _, _ in broker.published].count("postings.commands.v1") == 4


async def test_events_of_a_batch_are_parsed_once_and_a_failing_one_dead_lettered_as_it_came(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events that arrive while the tenant has settings are mapped in the same transaction:
    from what was parsed off the records (not parsed again from the stored copies), and one
    the rules fail on goes to the dead letters exactly as its record carried it."""
    tenant, broker, mapper = await configured(pool)
    real_decide = policy.decide
    parsed: list[object] = []

    def decide(event: Any, *args: Any) -> Any:
        if event.data.order_id == "BAD":
            raise RuntimeError("a rule the mapper does not have")
        return real_decide(event, *args)

    def parse_event(raw: Any) -> Any:
        parsed.append(raw)
        return events.parse_event(raw)

    monkeypatch.setattr(policy, "decide", decide)
    monkeypatch.setattr(handlers, "parse_event", parse_event)
    bad, good = placed(tenant, "BAD"), placed(tenant, "GOOD")
    await mapper.on_events(batch_of(tenant, [bad, good]))
    await mapper.outbox.relay()

    assert parsed == [bad, good]  # once each, off the records
    assert [t for t, _, _ in broker.published].count("postings.commands.v1") == 2
    ((_, headers, body),) = [p for p in broker.published if p[0] == "sales.events.dlq.v1"]
    assert headers["x-dlq-reason"] == "processing_error"
    assert body == bad


async def test_a_batch_records_each_new_event_once_as_mapped_and_drops_copies(
    pool: asyncpg.Pool,
) -> None:
    """A copy in the same batch and the whole batch delivered again change nothing; each
    event is stored once, already mapped (its outcome with it, its payload left to its
    order's state)."""
    tenant, broker, mapper = await configured(pool)
    first, second = placed(tenant, "A"), placed(tenant, "B")
    values = [first, first, second]
    await mapper.on_events(batch_of(tenant, values))
    await mapper.outbox.relay()
    await mapper.on_events(
        batch_of(tenant, values)
    )  # redelivered after a crash before the offsets' commit
    await mapper.outbox.relay()

    commands = [json.loads(v) for t, _, v in broker.published if t == "postings.commands.v1"]
    keys = [c["posting_key"] for c in commands]
    assert len(keys) == 4  # contact and invoice of A and of B, once
    assert len(set(keys)) == 4
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id, processed, outcome, payload FROM events WHERE tenant_id = $1"
            " ORDER BY seq",
            tenant,
        )
    assert [r["event_id"] for r in rows] == [
        json.loads(first)["id"],
        json.loads(second)["id"],
    ]
    assert all(r["processed"] and r["outcome"] == "2 commands, 0 holds" for r in rows)
    assert [r["payload"] for r in rows] == [None, None]


@pytest.mark.parametrize("copy_from", [mapper_store.COPY_FROM, 1], ids=["inserted", "copied"])
async def test_a_copy_its_state_does_not_know_is_dropped_by_the_events_key(
    pool: asyncpg.Pool,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    copy_from: int,
) -> None:
    """The events' primary key is the last word on a copy whose order's state has not seen
    it: here a copy of order A's event (its id) whose payload names order B, so it is
    decided under B's state, which knows nothing of it (the same happens to a live copy
    after a backfill re-opened its order, or a payment first sent without its order). The
    plain insert of the mapped events fails on the key, the batch goes the one-by-one way
    and the copy is dropped there: B's event of the batch is mapped, nothing of the copy
    is published, nothing dead-lettered, each id stored once. With `ON CONFLICT DO NOTHING`
    on the mapped events' insert the copy would book order B. No error is logged: the
    key stopping a copy is no fault. The same when the batch's rows are copied in
    (`store.COPY_FROM`)."""
    monkeypatch.setattr(mapper_store, "COPY_FROM", copy_from)
    tenant, broker, mapper = await configured(pool)
    first, second = placed(tenant, "A"), placed(tenant, "C")
    await mapper.on_events(batch_of(tenant, [first]))
    await mapper.outbox.relay()
    original = json.loads(first)
    copy = json.loads(placed(tenant, "B"))
    copy["id"] = original["id"]  # A's event, its payload B's order
    duplicates = _count("duplicate")
    with caplog.at_level(logging.INFO, logger=handlers.__name__):
        await mapper.on_events(batch_of(tenant, [json.dumps(copy).encode(), second]))
        await mapper.outbox.relay()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("stopped by its id: one by one" in r.getMessage() for r in caplog.records)

    commands = [json.loads(v) for t, _, v in broker.published if t == "postings.commands.v1"]
    keys = [c["posting_key"] for c in commands]
    assert len(keys) == 4  # contact and invoice of A and of C, once; none of B
    assert len(set(keys)) == 4
    assert not [k for k in keys if k.endswith(":B") or "kunde-b" in k]
    assert not [t for t, _, _ in broker.published if t == "sales.events.dlq.v1"]
    assert _count("duplicate") == duplicates + 1
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id, processed FROM events WHERE tenant_id = $1 ORDER BY seq", tenant
        )
        states = await conn.fetch(
            "SELECT state_key FROM order_states WHERE tenant_id = $1 ORDER BY state_key", tenant
        )
    assert [r["processed"] for r in rows] == [True, True]
    assert len({r["event_id"] for r in rows}) == 2
    assert len(states) == 2  # A's and C's: B's state was never written


async def test_a_copy_of_an_event_mapped_before_is_dropped_by_its_state(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An active tenant's batch is not looked up in the events table first: a copy of an
    event an earlier batch mapped (a redelivery) is dropped by its order's state, which
    keeps the ids of the events it has seen — nothing published twice, no second row, its
    state not written again, counted as a duplicate — and a second copy in one batch
    before its state is reached."""
    tenant, broker, mapper = await configured(pool)
    first, second = placed(tenant, "A"), placed(tenant, "B")
    await mapper.on_events(batch_of(tenant, [first]))
    await mapper.outbox.relay()
    async with pool.acquire() as conn:
        version = await conn.fetchval(
            "SELECT version FROM order_states WHERE tenant_id = $1", tenant
        )

    async def seen_events(*_: Any) -> set[tuple[str, bool]]:
        raise AssertionError("an active tenant's events looked up before their states")

    monkeypatch.setattr(mapper_store, "seen_events", seen_events)
    duplicates = {"type": "order.placed", "outcome": "duplicate"}
    before = REGISTRY.get_sample_value("bogfoer_mapper_events_total", duplicates) or 0.0
    await mapper.on_events(batch_of(tenant, [first, second, second]))
    await mapper.outbox.relay()
    after = REGISTRY.get_sample_value("bogfoer_mapper_events_total", duplicates) or 0.0

    commands = [json.loads(v) for t, _, v in broker.published if t == "postings.commands.v1"]
    keys = [c["posting_key"] for c in commands]
    assert len(keys) == 4  # contact and invoice of A and of B, once
    assert len(set(keys)) == 4
    assert after - before == 2
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id, processed FROM events WHERE tenant_id = $1 ORDER BY seq", tenant
        )
        versions = await conn.fetch(
            "SELECT state_key, version FROM order_states WHERE tenant_id = $1", tenant
        )
    assert [(r["event_id"], r["processed"]) for r in rows] == [
        (json.loads(first)["id"], True),
        (json.loads(second)["id"], True),
    ]
    assert version in {r["version"] for r in versions}  # A's state as the first batch left it


async def test_a_batch_whose_statement_fails_is_mapped_one_by_one(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement failing for a reason other than an outage: the batch's events are stored
    to wait, then mapped one at a time, and none is lost or mapped twice."""
    tenant, broker, mapper = await configured(pool)
    real_save_states = mapper_store.save_states
    failed: list[int] = []

    async def save_states(*args: Any) -> None:
        if not failed:
            failed.append(1)
            raise RuntimeError("a statement the database refused")
        await real_save_states(*args)

    monkeypatch.setattr(mapper_store, "save_states", save_states)
    values = [placed(tenant, "A"), placed(tenant, "B")]
    await mapper.on_events(batch_of(tenant, values))
    await mapper.outbox.relay()

    assert failed
    commands = [v for t, _, v in broker.published if t == "postings.commands.v1"]
    keys = [json.loads(v)["posting_key"] for v in commands]
    assert len(keys) == 4
    assert len(set(keys)) == 4
    async with pool.acquire() as conn:
        waiting = await conn.fetchval(
            "SELECT count(*) FROM events WHERE tenant_id = $1 AND NOT processed", tenant
        )
        stored = await conn.fetchval("SELECT count(*) FROM events WHERE tenant_id = $1", tenant)
    assert (waiting, stored) == (0, 2)


async def test_a_batch_counts_each_event_command_and_hold_once(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The metrics ops read: every event of a batch counted once by what became of it, every
    command by its kind, however many share a series."""
    tenant, _, mapper = await configured(pool)
    real_decide = policy.decide

    def decide(event: Any, *args: Any) -> Any:
        if event.data.order_id == "BAD":
            raise RuntimeError("a rule the mapper does not have")
        return real_decide(event, *args)

    def counted() -> dict[str, float]:
        samples = {
            "mapped": (
                "bogfoer_mapper_events_total",
                {"type": "order.placed", "outcome": "mapped"},
            ),
            "duplicate": (
                "bogfoer_mapper_events_total",
                {"type": "order.placed", "outcome": "duplicate"},
            ),
            "dead": (
                "bogfoer_mapper_events_total",
                {"type": "order.placed", "outcome": "dead_lettered"},
            ),
            "invoices": ("bogfoer_mapper_commands_total", {"kind": "invoice"}),
            "contacts": ("bogfoer_mapper_commands_total", {"kind": "contact"}),
        }
        return {
            k: REGISTRY.get_sample_value(n, labels) or 0.0 for k, (n, labels) in samples.items()
        }

    monkeypatch.setattr(policy, "decide", decide)
    before = counted()
    a, b, c = (placed(tenant, order_id) for order_id in ("A", "B", "C"))
    await mapper.on_events(batch_of(tenant, [a, b, placed(tenant, "BAD"), c, a]))
    after = counted()

    assert {k: after[k] - before[k] for k in after} == {
        "mapped": 3,
        "duplicate": 1,
        "dead": 1,
        "invoices": 3,
        "contacts": 3,
    }
