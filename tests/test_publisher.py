"""How `Publisher.send` hands records to the producer: a few records of a partition (an
HTTP request's) one `send` each, so concurrent requests share the partition's open batch;
many (a consumer's poll, a batch request) as a record batch of their own, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bogfoer_contracts.topology import INGEST
from bogfoer_kit import publish
from bogfoer_kit.publish import BATCH_FROM, Outgoing, Publisher


class _Batch:
    def __init__(self) -> None:
        self.records: list[bytes] = []

    def append(self, *, timestamp: Any, key: bytes, value: bytes, headers: Any) -> object:
        self.records.append(value)
        return object()

    def close(self) -> None:
        pass


class _Client:
    async def _wait_on_metadata(self, topic: str) -> None:
        return None


class _Producer:
    """The aiokafka producer as far as `Publisher.send` uses it; one partition a key."""

    def __init__(self) -> None:
        self.client = _Client()
        self.handed: list[tuple[str, str, int, list[bytes]]] = []

    def _serialize(self, key: bytes, value: bytes, headers: Any) -> tuple[bytes, bytes]:
        return key, value

    def _partition(self, topic: str, *args: Any) -> int:
        return 0

    def create_batch(self) -> _Batch:
        return _Batch()

    async def send_batch(self, batch: _Batch, topic: str, *, partition: int) -> Any:
        self.handed.append(("batch", topic, partition, batch.records))
        return asyncio.get_running_loop().create_future()

    async def send(self, topic: str, value: bytes, **kwargs: Any) -> Any:
        self.handed.append(("send", topic, kwargs["partition"], [value]))
        return asyncio.get_running_loop().create_future()


@pytest.fixture
def producer(monkeypatch: pytest.MonkeyPatch) -> _Producer:
    found = _Producer()
    monkeypatch.setattr(publish, "producer_of", lambda broker: found)
    return found


def _records(topic: str, n: int) -> list[Outgoing]:
    return [Outgoing(topic, f"{topic}-{i}".encode(), b"shop-a") for i in range(n)]


async def test_a_requests_records_join_the_partitions_open_batch(producer: _Producer) -> None:
    raw, events = "ingest.raw.v1", "sales.events.v1"
    await Publisher(None, INGEST).send(_records(raw, 1) + _records(events, 1))  # type: ignore[arg-type]
    assert [(how, topic) for how, topic, _, _ in producer.handed] == [
        ("send", raw),
        ("send", events),
    ]


async def test_a_polls_records_go_as_a_batch_of_their_own_in_order(producer: _Producer) -> None:
    records = _records("sales.events.v1", BATCH_FROM)
    acks = await Publisher(None, INGEST).send(records)  # type: ignore[arg-type]
    assert len(acks) == 1
    assert producer.handed == [
        ("batch", "sales.events.v1", 0, [r.value for r in records]),
    ]
