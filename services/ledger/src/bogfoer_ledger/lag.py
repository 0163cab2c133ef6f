"""Consumer lag of every Bogfør consumer group, measured in one place: the ledger.

Measured centrally rather than by each service for its own groups, because a service that
is down (or wedged) cannot report that it has stopped consuming; here its lag keeps
growing on the dashboards and the ops page. Every `interval` seconds: the committed offset
of each group whose name starts with `prefix`, against the end of each of its partitions.
A tenant's lag is the lag on the partitions its records go to (the key is the tenant id).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.partitioner import DefaultPartitioner

from bogfoer_contracts.topics import key_for
from bogfoer_ledger.metrics import CONSUMER_LAG, LAG_MEASURED_AT

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LagSnapshot:
    # (group, topic, partition) -> records not yet consumed
    lag: dict[tuple[str, str, int], int] = field(default_factory=dict)
    # topic -> its number of partitions
    partitions: dict[str, int] = field(default_factory=dict)
    measured_at: float | None = None

    def by_group(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for (group, _, _), lag in self.lag.items():
            totals[group] = totals.get(group, 0) + lag
        return totals

    def for_tenant(self, tenant_id: str) -> int:
        """The most records any group still has to read on the tenant's partitions."""
        key = key_for(tenant_id)
        worst = 0
        for (_, topic, partition), lag in self.lag.items():
            count = self.partitions.get(topic, 0)
            if count and partition == DefaultPartitioner()(key, list(range(count)), []):
                worst = max(worst, lag)
        return worst


class LagMonitor:
    def __init__(
        self, connection: dict[str, Any], interval: float, prefix: str = "bogfoer-"
    ) -> None:
        # bogfoer_kit.kafka.client_options: the ledger's own user, over TLS where configured;
        # its ACLs let it describe every service's groups (bogfoer_contracts.topology).
        self.connection = connection
        self.interval = interval
        self.prefix = prefix
        self.snapshot = LagSnapshot()

    async def run(self) -> None:
        admin = AIOKafkaAdminClient(**self.connection)
        consumer = AIOKafkaConsumer(**self.connection, enable_auto_commit=False)
        await admin.start()
        await consumer.start()
        try:
            while True:
                try:
                    self.snapshot = await self.measure(admin, consumer)
                    self.export()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the broker away for a moment: measure again later
                    log.warning("measuring consumer lag failed; trying again", exc_info=True)
                await asyncio.sleep(self.interval)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await admin.close()

    async def measure(self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer) -> LagSnapshot:
        groups = sorted(
            g[0] for g in await admin.list_consumer_groups() if g[0].startswith(self.prefix)
        )
        committed: dict[tuple[str, TopicPartition], int] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            for tp, meta in offsets.items():
                if meta.offset >= 0:
                    committed[(group, tp)] = meta.offset
        partitions = {tp for _, tp in committed}
        ends: dict[TopicPartition, int] = (
            await consumer.end_offsets(sorted(partitions)) if partitions else {}
        )
        lag = {
            (group, tp.topic, tp.partition): max(0, ends.get(tp, offset) - offset)
            for (group, tp), offset in committed.items()
        }
        topics = sorted({tp.topic for tp in partitions})
        described = await admin.describe_topics(topics) if topics else []
        counts = {d["topic"]: len(d["partitions"]) for d in described if d["error_code"] == 0}
        return LagSnapshot(lag, counts, time.time())

    def export(self) -> None:
        CONSUMER_LAG.clear()
        for (group, topic, partition), lag in self.snapshot.lag.items():
            CONSUMER_LAG.labels(group, topic, str(partition)).set(lag)
        if self.snapshot.measured_at is not None:
            LAG_MEASURED_AT.set(self.snapshot.measured_at)
