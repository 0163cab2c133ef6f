"""Replaying `tenants.config.v1` and `sales.events.v1` from Kafka, by time, without a group.

The reconciler assigns itself every partition (no consumer group, nothing committed), so it
never moves a service's offsets and needs nobody's database. Settings are read from the
beginning of their compacted topic; events from the first offset at or after `start`
(`offsets_for_times`) up to the first offset at or after `end` (or the end of the partition
when the reconciler started). Each event is spooled (`spool.Spool`) with the index of the
tenant's settings in force when it was written (by record time), and the rules then replay
one bucket at a time (`expected_postings`).

Compaction keeps only a tenant's newest settings: versions it removed are not replayed, so
events older than the surviving version are decided with it (as if they had waited for it).
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable, Container, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from bogfoer_cli.reconcile.expectation import Arrival, Expected, replay_orders
from bogfoer_cli.reconcile.spool import Spool
from bogfoer_contracts.events import parse_event
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_contracts.topics import SALES_EVENTS, TENANTS_CONFIG
from bogfoer_rules.policy import state_key

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]  # (records done, records in all)


def _ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


@dataclass
class Replayed:
    """What the topics held for the tenants asked about."""

    # Per tenant, every surviving version of its settings in topic order, with record time.
    settings: dict[str, list[tuple[dt.datetime, TenantConfig]]] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)  # per tenant
    unreadable: int = 0  # records that are not a valid event (the mapper dead-lettered them)

    def configs(self, tenant: str) -> list[TenantConfig]:
        return [config for _, config in self.settings.get(tenant, [])]

    def settings_at(self, tenant: str, at: dt.datetime) -> int:
        """Index of the tenant's settings in force at `at` (-1: none yet)."""
        times = [when for when, _ in self.settings.get(tenant, [])]
        return bisect.bisect_right(times, at) - 1


async def _partitions(bootstrap: str, topic: str, options: dict[str, Any]) -> list[TopicPartition]:
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, client_id="bogfoer-reconcile", **options
    )
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] != 0:
        raise ConnectionError(f"topic {topic} cannot be read (error {described['error_code']})")
    return sorted(TopicPartition(topic, p["partition"]) for p in described["partitions"])


async def _read(
    bootstrap: str,
    options: dict[str, Any],
    consumer: AIOKafkaConsumer,
    topic: str,
    start: dt.datetime | None,
    end: dt.datetime,
    progress: Progress | None,
) -> AsyncIterator[tuple[bytes | None, dt.datetime, bytes]]:
    """(key, record time, value) of `topic` between `start` (None: the beginning) and `end`,
    each partition in offset order (a tenant's records are on one partition)."""
    tps = await _partitions(bootstrap, topic, options)
    consumer.assign(tps)
    last = await consumer.end_offsets(tps)
    by_end = await consumer.offsets_for_times({tp: _ms(end) for tp in tps})
    stop = {tp: (by_end[tp].offset if by_end.get(tp) else last[tp]) for tp in tps}
    first = await consumer.beginning_offsets(tps)
    if start is not None:
        by_start = await consumer.offsets_for_times({tp: _ms(start) for tp in tps})
        first = {tp: (by_start[tp].offset if by_start.get(tp) else last[tp]) for tp in tps}
    total = sum(max(0, stop[tp] - first[tp]) for tp in tps)
    open_tps = {tp for tp in tps if first[tp] < stop[tp]}
    for tp in tps:
        consumer.seek(tp, first[tp])
    done = 0
    if progress is not None:
        progress(done, total)
    while open_tps:
        batches = await consumer.getmany(*open_tps, timeout_ms=1000, max_records=5000)
        for tp, batch in batches.items():
            for record in batch:
                if record.offset >= stop[tp]:
                    open_tps.discard(tp)
                    break
                at = dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC)
                done += 1
                yield record.key, at, record.value or b""
            if tp in open_tps and await consumer.position(tp) >= stop[tp]:
                open_tps.discard(tp)
        if progress is not None:
            progress(done, total)


async def replay_topics(
    bootstrap: str,
    tenants: set[str] | None,
    start: dt.datetime,
    end: dt.datetime,
    spool: Spool,
    *,
    options: dict[str, Any] | None = None,
    on_settings: Progress | None = None,
    on_events: Progress | None = None,
) -> Replayed:
    """Read settings and events of `tenants` (None: all) into `spool` (see the module doc)."""
    replayed = Replayed()
    options = options or {}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="bogfoer-reconcile",
        **options,
    )
    await consumer.start()
    try:
        settings = _read(bootstrap, options, consumer, TENANTS_CONFIG, None, end, on_settings)
        async for key, at, value in settings:
            tenant = key.decode() if key else ""
            if not value or (tenants is not None and tenant not in tenants):
                continue
            try:
                config = TenantConfig.model_validate_json(value)
            except ValidationError:
                log.warning("unreadable settings record of %s skipped", tenant)
                continue
            replayed.settings.setdefault(tenant, []).append((at, config))
        async for key, at, value in _read(
            bootstrap, options, consumer, SALES_EVENTS, start, end, on_events
        ):
            tenant = key.decode() if key else ""
            if tenants is not None and tenant not in tenants:
                continue
            spool.add(tenant, replayed.settings_at(tenant, at), at, value)
            replayed.events[tenant] = replayed.events.get(tenant, 0) + 1
    finally:
        await consumer.stop()
    return replayed


def expected_postings(
    spool: Spool,
    replayed: Replayed,
    end: dt.datetime,
    revisit: Callable[[str], dict[str, int]],
    on_bucket: Progress | None = None,
    ledger_keys: Callable[[str], Container[str]] = lambda tenant: frozenset(),
) -> Iterator[tuple[str, Expected]]:
    """(tenant, posting) for every posting the rules derive from the spooled events.

    `revisit(tenant)`: posting key -> next revision of the postings to derive with the
    current settings too; `ledger_keys(tenant)`: the posting keys the ledger holds, which
    settle a legacy order's key scheme (see `expectation.replay_orders`)."""
    for done, records in enumerate(spool.replay(), start=1):
        by_tenant: dict[str, list[tuple[str, Arrival]]] = {}
        for tenant, settings, at, body in records:
            try:
                event = parse_event(body)
            except (ValidationError, ValueError):
                replayed.unreadable += 1  # the mapper dead-lettered it
                continue
            by_tenant.setdefault(tenant, []).append(
                (state_key(event), Arrival(event, settings, at))
            )
        for tenant, arrivals in by_tenant.items():
            configs = replayed.configs(tenant)
            for entry in replay_orders(
                arrivals, configs, end, revisit(tenant), ledger_keys(tenant)
            ):
                yield tenant, entry
        if on_bucket is not None:
            on_bucket(done, spool.buckets)


__all__ = ["Replayed", "expected_postings", "replay_topics"]
