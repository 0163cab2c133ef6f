"""How `Publisher.send` hands records to the producer: a few records of a partition (an
HTTP request's) into the partition's open batch, which concurrent requests share (what it
does not take, one `send` each: it waits for the batch to go); many (a consumer's poll, a
batch request) as a record batch of their own, in order. Byte for byte against a real
broker: tests/integration/test_publish_open_batch.py."""

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


class _OpenBatch:
    """aiokafka's MessageBatch as far as `Publisher` appends to it; takes `room` records."""

    def __init__(self, room: int) -> None:
        self.records: list[bytes] = []
        self.room = room

    def append(self, key: bytes, value: bytes, timestamp: Any, *, headers: Any) -> object:
        if len(self.records) == self.room:
            return None
        self.records.append(value)
        return object()


class _Accumulator:
    def __init__(self) -> None:
        self._closed = False
        self._exception: Exception | None = None
        self._batches: dict[Any, list[_OpenBatch]] = {}
        self.room = 100

    def create_builder(self) -> None:
        return None

    def _append_batch(self, builder: None, tp: Any) -> _OpenBatch:
        batch = _OpenBatch(self.room)
        self._batches.setdefault(tp, []).append(batch)
        return batch


class _Cluster:
    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0}


class _Client:
    def __init__(self) -> None:
        self.cluster = _Cluster()

    async def _wait_on_metadata(self, topic: str) -> None:
        return None


class _Producer:
    """The aiokafka producer as far as `Publisher.send` uses it; one partition a key."""

    def __init__(self) -> None:
        self.client = _Client()
        self._message_accumulator = _Accumulator()
        self.handed: list[tuple[str, str, int, list[bytes]]] = []
        self.hashed = 0  # keys the partitioner was asked about

    def _serialize(self, key: bytes, value: bytes, headers: Any) -> tuple[bytes, bytes]:
        return key, value

    def _partition(self, topic: str, *args: Any) -> int:
        self.hashed += 1
        return 0

    def open_batch(self, topic: str) -> list[bytes]:
        return [v for b in self._message_accumulator._batches[(topic, 0)] for v in b.records]

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
    publisher = Publisher(None, INGEST)  # type: ignore[arg-type]
    first = await publisher.send(_records(raw, 1) + _records(events, 1))
    second = await publisher.send(_records(raw, 2))
    assert len(first) == 2
    assert len(second) == 2
    assert producer.handed == []  # no `send`: appended where `send` would have
    assert producer.open_batch(raw) == [b"ingest.raw.v1-0", b"ingest.raw.v1-0", b"ingest.raw.v1-1"]
    assert producer.open_batch(events) == [b"sales.events.v1-0"]


async def test_what_the_open_batch_cannot_take_is_sent_after_it_in_order(
    producer: _Producer,
) -> None:
    producer._message_accumulator.room = 2
    raw = "ingest.raw.v1"
    acks = await Publisher(None, INGEST).send(_records(raw, 5))  # type: ignore[arg-type]
    assert len(acks) == 5
    assert producer.open_batch(raw) == [b"ingest.raw.v1-0", b"ingest.raw.v1-1"]
    assert producer.handed == [("send", raw, 0, [f"{raw}-{i}".encode()]) for i in (2, 3, 4)]


async def test_hand_over_leaves_what_would_wait_to_send(producer: _Producer) -> None:
    producer._message_accumulator.room = 1
    raw, events = "ingest.raw.v1", "sales.events.v1"
    records = _records(raw, 2) + _records(events, 3)
    acks, left = Publisher(None, INGEST).hand_over(records)  # type: ignore[arg-type]
    assert len(acks) == 2  # each partition's first, into its open batch
    assert left == [records[1], *records[3:]]  # in order: the rest found the batch full
    many = _records(events, BATCH_FROM)  # a poll's, a batch request's: for `send`, whole
    assert Publisher(None, INGEST).hand_over(many) == ([], many)  # type: ignore[arg-type]
    assert producer.handed == []


async def test_a_keys_partition_is_worked_out_again_once_the_metadata_changes(
    producer: _Producer,
) -> None:
    publisher = Publisher(None, INGEST)  # type: ignore[arg-type]
    await publisher.send(_records("ingest.raw.v1", 3))
    await publisher.send(_records("ingest.raw.v1", 3))
    assert producer.hashed == 1  # one key: its partition remembered
    for listener in producer.client.cluster.listeners:
        listener(producer.client.cluster)  # a metadata update: partitions may have changed
    await publisher.send(_records("ingest.raw.v1", 1))
    assert producer.hashed == 2


async def test_a_polls_records_go_as_a_batch_of_their_own_in_order(producer: _Producer) -> None:
    records = _records("sales.events.v1", BATCH_FROM)
    acks = await Publisher(None, INGEST).send(records)  # type: ignore[arg-type]
    assert len(acks) == 1
    assert producer.handed == [
        ("batch", "sales.events.v1", 0, [r.value for r in records]),
    ]


async def test_the_remembered_partitions_stay_bounded(
    producer: _Producer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publish, "PLACED_KEYS", 3)
    publisher = Publisher(None, INGEST)  # type: ignore[arg-type]
    for n in range(10):  # keys a platform made up, one a record
        await publisher.send([Outgoing("ingest.raw.v1", b"v", f"key-{n}".encode())])
        assert len(publisher._partitions) <= 4
