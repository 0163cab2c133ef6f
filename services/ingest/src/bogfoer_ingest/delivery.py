"""Records a request accepted go to Kafka, or the client hears 503 within a deadline.

Without a deadline an unreachable broker kept a shop or Stripe waiting 30–120 s (aiokafka
retries a batch until its request timeout) until the client itself gave up. Now:

- **Unreachable broker** (no live connection to a partition leader, and none can be opened
  within the deadline): 503 `kafka_unavailable` with `Retry-After`, and *nothing* is handed
  to the producer, so nothing from the refused request reaches Kafka later.
- **Broker stops answering after the records were handed over**: 503 once the deadline
  passes. The records of one request were handed over together and are delivered together
  when the broker answers again (or expire together); each is complete on its own, and the
  client's retry carries the same event id, so the event is booked once.

Retrying a 503 is always safe: event ids are derived from the body (docs/ingest-api.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka.client import ConnectionGroup
from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from bogfoer_kit.errors import ApiError
from bogfoer_kit.kafka import producer_client
from bogfoer_kit.publish import Outgoing, Publisher


class Delivery:
    def __init__(self, publisher: Publisher, deadline_seconds: float, retry_after: int) -> None:
        self.publisher = publisher
        self.deadline = deadline_seconds
        self.retry_after = retry_after
        # Each topic's partition leaders, from the producer's metadata (`_cluster`), kept
        # until that metadata changes: working them out took a look-up per partition per
        # request.
        self._cluster: Any = None
        self._leaders_by_topic: dict[str, frozenset[Any]] = {}

    def _unavailable(self, why: str) -> ApiError:
        return ApiError(
            503,
            "kafka_unavailable",
            f"{why}; nothing was accepted, retry later (the same body is safe to resend)",
            headers={"Retry-After": str(self.retry_after)},
        )

    async def deliver(self, records: Sequence[Outgoing]) -> None:
        """Hand `records` to the producer together and wait for every acknowledgement
        (acks=all); raise 503 if the broker is unreachable or does not answer in time.
        Each carries the current trace (the request's span)."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self.deadline
        topics = {r.topic for r in records}
        # Connected to every leader (the usual case): nothing to wait for, so no deadline.
        if not self._connected(topics):
            try:
                async with asyncio.timeout_at(until):
                    reachable = await self._leaders_reachable(topics)
            except TimeoutError:
                reachable = False
            if not reachable:
                raise self._unavailable("no Kafka broker can be reached")
        try:
            # What the producer takes without waiting (a request's records usually all),
            # then the rest within the deadline.
            acks, left = self.publisher.hand_over(records)
            if left:
                async with asyncio.timeout_at(until):
                    acks += await self.publisher.send(left)
        except (TimeoutError, KafkaError) as exc:
            raise self._unavailable(f"Kafka did not take the records: {exc!r}") from exc
        # Not cancelled on timeout: the producer still owns them (see the module docstring).
        if not await _all_done(acks, until):
            raise self._unavailable(f"Kafka did not acknowledge within {self.deadline:g} s")
        for ack in acks:
            if (error := ack.exception()) is not None:
                self.publisher.failed(error)
                raise self._unavailable(f"Kafka refused the records: {error!r}") from error
        self.publisher.count(records)

    def _connected(self, topics: set[str]) -> bool:
        """Whether the producer holds a live connection to every broker leading a
        partition of `topics` (what `_leaders_reachable` finds without waiting)."""
        client = producer_client(self.publisher.broker)
        leaders = self._leaders(client.cluster, topics)
        if None in leaders or -1 in leaders:
            return False
        for node in leaders:
            conn = client._conns.get((node, ConnectionGroup.DEFAULT))
            if conn is None or not conn.connected():
                return False
        return True

    async def _leaders_reachable(self, topics: set[str]) -> bool:
        """Whether the producer has (or can open) a connection to every broker leading a
        partition of `topics`. Free while connected: no request is sent."""
        client = producer_client(self.publisher.broker)
        leaders = self._leaders(client.cluster, topics)
        if None in leaders or -1 in leaders:
            return False  # a partition without a leader takes no records
        for node in leaders:
            if not await client.ready(node):
                return False
        return True

    def _leaders(self, cluster: Any, topics: set[str]) -> set[Any]:
        """The brokers leading a partition of `topics` in `cluster` (the producer's metadata;
        a renewed producer has its own), worked out again once it has changed."""
        if cluster is not self._cluster:
            cluster.add_listener(self._metadata_changed)  # called on every update
            self._cluster = cluster
            self._leaders_by_topic.clear()
        leaders: set[Any] = set()
        for topic in topics:
            known = self._leaders_by_topic.get(topic)
            if known is None:
                known = frozenset(
                    cluster.leader_for_partition(TopicPartition(topic, partition))
                    for partition in cluster.partitions_for_topic(topic) or ()
                )
                self._leaders_by_topic[topic] = known
            leaders |= known
        return leaders

    def _metadata_changed(self, cluster: Any) -> None:
        if cluster is self._cluster:
            self._leaders_by_topic.clear()


async def _all_done(futures: Sequence[asyncio.Future[Any]], until: float) -> bool:
    """Whether every one of `futures` is done by `until` (the loop's time), none cancelled
    here: `asyncio.wait(futures, timeout=...)` with one waiter for all of them, without the
    sets it makes of them before and after (a request's two acks: a tenth of its delivery)."""
    left = [future for future in futures if not future.done()]
    if not left:
        return True
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[bool] = loop.create_future()
    waiting = len(left)

    def one_done(_: asyncio.Future[Any]) -> None:
        nonlocal waiting
        waiting -= 1
        if not waiting and not waiter.done():
            waiter.set_result(True)

    def too_late() -> None:
        if not waiter.done():
            waiter.set_result(False)

    for future in left:
        future.add_done_callback(one_done)
    timer = loop.call_at(until, too_late)
    try:
        return await waiter
    finally:
        timer.cancel()
        for future in left:
            future.remove_done_callback(one_done)
