"""The mapper keeps the order states it wrote parsed (`bogfoer_mapper.states`) and trusts
one only while its row is still that write: its own last write is neither read back nor
validated again; another replica's write, and a transaction that rolled back, are seen
(real PostgreSQL, what the mappers publish recorded in memory)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import asyncpg
import pytest

from bogfoer_contracts.events import SALES_EVENT, InboundEvent, parse_event, stamp
from bogfoer_devstack.sales import AT, goods, order
from bogfoer_mapper import handlers, store
from bogfoer_mapper.states import StateCache, StateWrites
from bogfoer_rules import policy
from tests.integration.conftest import new_tenant
from tests.integration.test_mapper_isolation import RecordingPublisher, batch_of, settings
from tests.integration.test_mapper_settings import settings as config_with
from tests.integration.test_mapper_settings import stripe_capture

pytestmark = pytest.mark.integration


@pytest.fixture
def pool(mapper_pool: asyncpg.Pool) -> asyncpg.Pool:
    return mapper_pool


def event(tenant: str, type_: str, source_event_id: str, data: dict[str, Any]) -> bytes:
    inbound = InboundEvent.model_validate(
        {
            "type": type_,
            "source": "shopify",
            "source_event_id": source_event_id,
            "occurred_at": AT,
            "data": data,
        }
    )
    return SALES_EVENT.dump_json(stamp(inbound, tenant, dt.datetime.now(dt.UTC)))


def placed(tenant: str, order_id: str) -> bytes:
    return event(
        tenant, "order.placed", f"{order_id}-placed", order(order_id, lines=[goods("1", 10000)])
    )


def fulfilled(tenant: str, order_id: str, n: int) -> bytes:
    data = {"order_id": order_id, "fulfilled_at": AT}
    return event(tenant, "order.fulfilled", f"{order_id}-shipped-{n}", data)


async def mapper_of(pool: asyncpg.Pool, tenant: str | None = None) -> handlers.Mapper:
    mapper = handlers.Mapper(RecordingPublisher(), pool)  # type: ignore[arg-type]
    if tenant is not None:
        await mapper.on_config(settings(tenant).model_dump_json().encode())
    return mapper


async def poll(mapper: handlers.Mapper, tenant: str, *values: bytes) -> None:
    await mapper.on_events(batch_of(tenant, list(values)))


async def stored(pool: asyncpg.Pool, tenant: str, key: str) -> tuple[int, list[str]]:
    """The row's version and the event ids its state has seen."""
    row = await pool.fetchrow(
        "SELECT version, state FROM order_states WHERE tenant_id = $1 AND state_key = $2",
        tenant,
        key,
    )
    assert row is not None
    return row["version"], json.loads(row["state"])["seen_event_ids"]


def counting_loads(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every stored state `OrderState.load` validates from here on."""
    loads: list[object] = []
    real = policy.OrderState.load

    def load(stored: str | bytes) -> policy.OrderState:
        loads.append(stored)
        return real(stored)

    monkeypatch.setattr(policy.OrderState, "load", load)
    return loads


async def test_the_state_this_process_wrote_is_not_loaded_again(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = new_tenant()
    mapper = await mapper_of(pool, tenant)
    await poll(mapper, tenant, placed(tenant, "A"))
    loads = counting_loads(monkeypatch)
    await poll(mapper, tenant, fulfilled(tenant, "A", 1))
    await poll(mapper, tenant, fulfilled(tenant, "A", 2))
    assert loads == []
    version, seen = await stored(pool, tenant, "order:A")
    assert len(seen) == 3
    ((kept_version, kept),) = mapper.states.known(tenant, ["order:A"]).values()
    assert kept_version == version
    assert kept.seen_event_ids == seen


async def test_a_second_replica_s_write_is_loaded_not_the_state_kept(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebalance moves the tenant's partition to another replica and back: each sees
    what the other wrote."""
    tenant = new_tenant()
    first = await mapper_of(pool, tenant)
    second = await mapper_of(pool)
    await poll(first, tenant, placed(tenant, "A"))
    await poll(second, tenant, fulfilled(tenant, "A", 1))
    loads = counting_loads(monkeypatch)
    await poll(first, tenant, fulfilled(tenant, "A", 2))
    assert len(loads) == 1  # the second replica's write
    _, seen = await stored(pool, tenant, "order:A")
    assert len(seen) == 3  # nothing the second replica wrote is lost
    await poll(second, tenant, fulfilled(tenant, "A", 3))
    assert len(loads) == 2
    _, seen = await stored(pool, tenant, "order:A")
    assert len(seen) == 4


async def test_a_rolled_back_transaction_leaves_the_states_kept_as_they_were(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two tenants' events in one transaction: the first's states are written, the
    second's write fails with the connection, and the whole transaction rolls back."""
    first, second = sorted([new_tenant(), new_tenant()])
    mapper = await mapper_of(pool, first)
    await mapper.on_config(settings(second).model_dump_json().encode())
    await poll(mapper, first, placed(first, "A"))
    await poll(mapper, second, placed(second, "A"))
    before = {t: mapper.states.known(t, ["order:A"]) for t in (first, second)}
    real_save = store.save_states

    async def save_then_lose_the_connection(conn: Any, tenant: str, *args: Any) -> int:
        version = await real_save(conn, tenant, *args)
        if tenant == second:
            raise ConnectionResetError("the connection is gone after the write")
        return version

    monkeypatch.setattr(store, "save_states", save_then_lose_the_connection)
    values = [fulfilled(first, "A", 1), fulfilled(second, "A", 1)]
    arrivals = [handlers.Arrival(parse_event(v), v.decode()) for v in values]
    with pytest.raises(ConnectionResetError):  # transient: the whole poll rolls back
        await mapper.map_arrivals(arrivals)
    assert {t: mapper.states.known(t, ["order:A"]) for t in (first, second)} == before
    for tenant in (first, second):
        version, seen = await stored(pool, tenant, "order:A")
        assert version == before[tenant]["order:A"][0]
        assert len(seen) == 1

    monkeypatch.setattr(store, "save_states", real_save)
    loads = counting_loads(monkeypatch)
    await mapper.map_arrivals(arrivals)  # the poll again
    assert loads == []  # the rows are still the writes kept
    for tenant in (first, second):
        _, seen = await stored(pool, tenant, "order:A")
        assert len(seen) == 2


async def test_a_state_the_settings_re_evaluate_is_forgotten_and_loaded_again(
    pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """States written outside the batch's path (holds re-evaluated, remaps, one by one)
    are forgotten, and loaded from their rows next time."""
    tenant = new_tenant()
    mapper = await mapper_of(pool)
    await mapper.on_config(config_with(tenant, 1, deposit_accounts={}))
    await poll(mapper, tenant, placed(tenant, "P1"), stripe_capture(tenant, "P1"))
    held_version, _ = await stored(pool, tenant, "order:P1")
    assert mapper.states.known(tenant, ["order:P1"])  # held: unmapped deposit account

    await mapper.on_config(config_with(tenant, 2, deposit_accounts={"stripe": 55010}))
    version, _ = await stored(pool, tenant, "order:P1")
    assert version != held_version  # the hold resolved and the state written again
    assert not mapper.states.known(tenant, ["order:P1"])
    loads = counting_loads(monkeypatch)
    await poll(mapper, tenant, fulfilled(tenant, "P1", 1))
    assert len(loads) == 1
    _, seen = await stored(pool, tenant, "order:P1")
    assert len(seen) == 3


def test_the_states_kept_are_bounded_least_recently_used_first() -> None:
    cache = StateCache(2)
    states = {key: policy.OrderState(key=key) for key in ("a", "b", "c")}
    writes = StateWrites()
    writes.saved("t", 7, {"a": states["a"], "b": states["b"]})
    cache.committed(writes)
    assert set(cache.known("t", ["a"])) == {"a"}  # used: b is now the oldest
    writes = StateWrites()
    writes.saved("t", 8, {"c": states["c"]})
    cache.committed(writes)
    assert cache.known("t", ["a", "b", "c"]) == {"a": (7, states["a"]), "c": (8, states["c"])}
    writes = StateWrites()
    writes.saved("t", 9, {"a": states["a"]})
    writes.unknown("t", "a")  # written again, in a way not tracked: forgotten
    writes.unknown("t", "z")
    cache.committed(writes)
    assert cache.known("t", ["a", "b", "c", "z"]) == {"c": (8, states["c"])}
    assert len(cache) == 1
