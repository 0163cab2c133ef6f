"""Delivery's look at the partition leaders before records are handed over: worked out once
per state of the producer's metadata, and again as soon as that changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka.structs import TopicPartition

from bogfoer_ingest import delivery as delivery_module
from bogfoer_ingest.delivery import Delivery


class Cluster:
    """aiokafka's ClusterMetadata, as far as Delivery reads it."""

    def __init__(self, leaders: dict[TopicPartition, int]) -> None:
        self.leaders = leaders
        self.lookups = 0
        self.listeners: list[Callable[[Cluster], None]] = []

    def add_listener(self, listener: Callable[[Cluster], None]) -> None:
        self.listeners.append(listener)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        found = {tp.partition for tp in self.leaders if tp.topic == topic}
        return found or None

    def leader_for_partition(self, partition: TopicPartition) -> int | None:
        self.lookups += 1
        return self.leaders.get(partition)

    def update(self, leaders: dict[TopicPartition, int]) -> None:
        self.leaders = leaders
        for listener in self.listeners:
            listener(self)


class Client:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.asked: list[int] = []

    async def ready(self, node: int) -> bool:
        self.asked.append(node)
        return True


def _leaders(topic: str, node: int, partitions: int = 3) -> dict[TopicPartition, int]:
    return {TopicPartition(topic, p): node for p in range(partitions)}


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Client:
    found = Client(Cluster(_leaders("a", 1) | _leaders("b", 2)))
    monkeypatch.setattr(delivery_module, "producer_client", lambda broker: found)
    return found


def _delivery() -> Delivery:
    publisher: Any = type("Publisher", (), {"broker": None})()
    return Delivery(publisher, 1.0, 1)


async def test_leaders_are_looked_up_once_per_state_of_the_metadata(client: Client) -> None:
    delivery = _delivery()
    for _ in range(3):
        assert await delivery._leaders_reachable({"a", "b"})
    assert client.cluster.lookups == 6  # each partition once, not once a request
    assert sorted(client.asked) == [1, 1, 1, 2, 2, 2]  # a live connection asked every time


async def test_a_changed_leader_is_seen_at_the_next_request(client: Client) -> None:
    delivery = _delivery()
    assert await delivery._leaders_reachable({"a"})
    client.cluster.update(_leaders("a", -1))  # a partition without a leader
    assert not await delivery._leaders_reachable({"a"})
    client.cluster.update(_leaders("a", 3))
    assert await delivery._leaders_reachable({"a"})
    assert client.asked[-1] == 3


async def test_a_renewed_producer_is_asked_afresh(client: Client) -> None:
    delivery = _delivery()
    assert await delivery._leaders_reachable({"a"})
    client.cluster = Cluster(_leaders("a", 7))  # a new producer: its own metadata
    assert await delivery._leaders_reachable({"a"})
    assert client.asked[-1] == 7


async def test_the_acks_are_awaited_together_until_the_deadline() -> None:
    """`_all_done` answers as `asyncio.wait(acks, timeout=…)` did: True once every ack is
    done (a refused one too), False at the deadline, and it cancels none of them."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Any] = loop.create_future()
    done.set_result(None)
    assert await delivery_module._all_done([done], loop.time() + 1)
    assert await delivery_module._all_done([], loop.time() + 1)

    first, second = loop.create_future(), loop.create_future()
    loop.call_later(0.01, first.set_result, None)
    loop.call_later(0.02, second.set_exception, RuntimeError("refused"))
    assert await delivery_module._all_done([first, second, done], loop.time() + 5)

    late: asyncio.Future[Any] = loop.create_future()
    assert not await delivery_module._all_done([done, late], loop.time() + 0.02)
    assert not late.done()  # still the producer's
    late.set_result(None)  # its callback was taken off: nothing left to call
    await asyncio.sleep(0)
    assert not await delivery_module._all_done([late, loop.create_future()], loop.time())
