"""The Stripe consumer reads the raw topic, where every shop event's body is too and which
it only skips: its consumer asks the broker to answer a fetch once FETCH_MIN_BYTES have come
(or the fetch wait has passed), instead of polling, handling and committing every few
records. The other subscriptions fetch as before (1 byte: at once)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from bogfoer_contracts.topology import INGEST
from bogfoer_ingest import kafka_inbound, stripe_consumer
from bogfoer_kit import consumer as consumer_module
from bogfoer_kit.consumer import Consumers


class _Consumer:
    made: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **options: Any) -> None:
        self.made.append(options)
        # aiokafka's default (0.1 s), which the loop replaces once the consumer started
        self._fetcher = SimpleNamespace(_prefetch_backoff=0.1)

    def subscribe(self, topics: list[str], listener: Any) -> None:
        pass

    async def start(self) -> None:
        pass


async def test_the_stripe_consumer_fetches_in_bulk_the_others_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(consumer_module, "AIOKafkaConsumer", _Consumer)
    _Consumer.made = []
    consumers = Consumers(None, INGEST, "test", {})  # type: ignore[arg-type]
    stripe_consumer.register(consumers, stripe_consumer.StripeNormaliser(None, None))  # type: ignore[arg-type]
    kafka_inbound.register(consumers, None)  # type: ignore[arg-type]
    for name in ("stripe", "inbound"):
        loop = consumers.loops[name]
        await loop.start()
        assert loop.task is not None
        loop.task.cancel()
        # Both hold a node's next fetch while the poll's records are buffered.
        assert loop.consumer is not None
        assert loop.consumer._fetcher._prefetch_backoff == consumer_module.PREFETCH_HOLD_SECONDS
    by_client = {options["client_id"]: options for options in _Consumer.made}
    assert by_client["bogfoer-ingest.stripe"]["fetch_min_bytes"] == stripe_consumer.FETCH_MIN_BYTES
    assert stripe_consumer.FETCH_MIN_BYTES > 1
    assert by_client["bogfoer-ingest.inbound"]["fetch_min_bytes"] == 1
