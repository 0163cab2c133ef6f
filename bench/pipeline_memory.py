"""pipeline_memory: does memory stay flat over a million events through ingest's Kafka path
and the mapper? (issue 9's last target)

Setup (all on loopback, in a temporary folder, like `kafka_paths`): Apache Kafka and
PostgreSQL of their own, ingest and the mapper each as its own process
(`python -m bogfoer_ingest`, `python -m bogfoer_mapper`), both consuming at once:
`ingest.inbound.v1` → ingest → `sales.events.v1` → the mapper → its outbox →
`postings.commands.v1` (and the holds to `postings.results.v1`; nothing reads those here).

Workload: EVENTS inbound events (1,000,000; `BENCH_MEMORY_EVENTS` for a shorter try) of the
`mapper_decide` stream — orders in six VAT zones, payments, fees, partial refunds, payouts —
in chunks of CHUNK_ORDERS orders, each chunk from each of TENANT_COPIES copies of the
stream's two shops in turn (8 tenants), so the mix, the orders and the tenants keep coming
as in production. Every record is produced before the measured processes start (a first ingest
process onboards the tenants, then stops), generated and sent in chunks so the benchmark's
own memory stays small; the tenants' settings are on `tenants.config.v1` first.

Measured: every SAMPLE_SECONDS, each process's resident set (VmRSS, through psutil) and its
consumer group's committed offsets (ingest's `inbound`, the mapper's `events`); progress
is printed every PRINT_SECONDS. Per service the ratio (`flatness`) is

    median RSS of the samples in the last tenth of its records (90 % to 100 %)
    / median RSS of the samples from 20 % to 30 % (around the quarter mark)

The baseline is not the start: the first polls grow a process on purpose (modules imported
on first use, pydantic's and asyncpg's caches, aiokafka's fetch buffers, pymalloc arenas
sized for a poll's records in flight and what they publish); by a fifth of a million
events — hundreds of polls — that is over. Medians over a window instead of one sample
each: the resident set breathes with the poll in hand, and a single sample could catch a
peak at one end and a trough at the other. A sample at the end counts once (the first at
100 %): ingest idles while the mapper catches up, and those idle samples would outvote the
others.

Target: ratio <= 1.2 for each. Flat: at 90-110 MiB a process (as measured), 1.2 allows
18-22 MiB over the ~700,000 events between the windows, about 30 bytes an event; a leak of
a position, an event id or a label set per event (100 bytes and more) fails it, and so
does anything kept per order (the stream's orders keep coming). A leak per tenant would
not show: there are 8. Checked once by hand: 1,000 bytes kept per consumed record in
`bogfoer_kit.consumer` read as +1,034 and +1,039 bytes an event (ratios 1.74 and 1.88,
both FAIL) over 150,000 events. The growth per event is
printed with each row. The run fails outright if either service dead-letters anything
(a pipeline that refuses its input would be flat for the wrong reason).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import statistics
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import psutil
from aiokafka.admin import AIOKafkaAdminClient

from bench import infra
from bench.common import Result, cost_ratio
from bench.mapper_decide import configs, inbound_bodies
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_contracts.topics import (
    INGEST_INBOUND,
    POSTINGS_COMMANDS,
    SALES_EVENTS,
    TENANTS_CONFIG,
    dlq_topic,
    key_for,
)
from bogfoer_contracts.topology import INGEST, MAPPER, ServiceKafka
from bogfoer_devstack.offsets import end_offsets
from bogfoer_devstack.stack import Stack
from bogfoer_dinero.sealing import SecretSealer

EVENTS = 1_000_000
EVENTS_VARIABLE = "BENCH_MEMORY_EVENTS"
CHUNK_ORDERS = 1_000  # about 5,600 events
TENANT_COPIES = 4
TARGET = 1.2
BASELINE = (0.2, 0.3)  # of a service's records: the window of the baseline's samples
MEASURED = (0.9, 1.0)  # ... and of the measured samples
SAMPLE_SECONDS = 0.5
PRINT_SECONDS = 15.0
STALL_SECONDS = 300.0  # a service whose group does not move for this long fails the run


@dataclass(frozen=True)
class Sample:
    """One look at a service: how far its group has committed, and its resident set."""

    seconds: float
    done: int
    rss: int


@dataclass(frozen=True)
class Flatness:
    baseline: float  # bytes: median RSS of the samples in the BASELINE window
    measured: float  # bytes: ... in the MEASURED window
    ratio: float
    per_event: float  # bytes of growth per event between the two windows


def _window(samples: Sequence[Sample], total: int, low: float, high: float) -> list[Sample]:
    return [s for s in samples if low * total <= s.done <= high * total]


def flatness(samples: Sequence[Sample], total: int) -> Flatness:
    """How much a service grew from about its quarter mark to its end (see the module's
    doc): samples up to the first that has all `total` records, in the order taken."""
    upto: list[Sample] = []
    for sample in samples:
        upto.append(sample)
        if sample.done >= total:
            break
    windows = []
    for low, high in (BASELINE, MEASURED):
        window = _window(upto, total, low, high)
        if not window:
            raise ValueError(
                f"no sample between {low:.0%} and {high:.0%} of {total:,} records: too few"
                f" records for a sample every {SAMPLE_SECONDS} s (set {EVENTS_VARIABLE} higher)"
            )
        windows.append(window)
    early, late = windows
    baseline = statistics.median(s.rss for s in early)
    measured = statistics.median(s.rss for s in late)
    between = statistics.median(s.done for s in late) - statistics.median(s.done for s in early)
    return Flatness(
        baseline,
        measured,
        cost_ratio(baseline, measured),
        (measured - baseline) / between if between > 0 else 0.0,
    )


def events_to_run() -> int:
    return int(os.environ.get(EVENTS_VARIABLE, EVENTS))


def tenant_of(tenant: str, copy: int) -> str:
    return f"{tenant}-{copy}"


def settings() -> list[TenantConfig]:
    return [
        config.model_copy(update={"tenant_id": tenant_of(tenant, copy)})
        for copy in range(TENANT_COPIES)
        for tenant, config in configs().items()
    ]


def inbound_stream(events: int) -> Iterator[tuple[bytes, bytes]]:
    """(key, InboundEvent JSON) of the first `events` events, generated a chunk at a time:
    chunk n's orders (n*CHUNK_ORDERS onwards) come from each of the TENANT_COPIES copies of
    the shops in turn (the same order number is another order in another shop; building
    the bodies once for all of them makes producing four times cheaper)."""
    produced = 0
    for chunk in itertools.count():
        bodies = inbound_bodies(CHUNK_ORDERS, first=chunk * CHUNK_ORDERS)
        for copy in range(TENANT_COPIES):
            for tenant, body in bodies:
                if produced == events:
                    return
                yield key_for(tenant_of(tenant, copy)), body
                produced += 1
    raise AssertionError("unreachable")


@dataclass
class Watched:
    """A measured service: its process, its group, and the samples taken of it."""

    name: str
    process: psutil.Process
    group: str
    topic: str
    samples: list[Sample]

    @classmethod
    def of(cls, stack: Stack, kafka: ServiceKafka, subscription: str, prefix: str) -> Watched:
        running = stack.services[kafka.service].process
        assert running is not None
        (topic,) = kafka.subscription(subscription).topics
        return cls(
            kafka.service,
            psutil.Process(running.pid),
            kafka.subscription(subscription).group(prefix),
            topic,
            [],
        )


def _mib(value: float) -> str:
    return f"{value / 1_048_576:,.0f} MiB"


async def _watch(bootstrap: str, stack: Stack, watched: list[Watched], total: int) -> float:
    """Sample every service until each group has committed all `total` records; the
    seconds it took."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    started = time.monotonic()
    printed = (started, {w.name: 0 for w in watched})
    moved = {w.name: (started, 0) for w in watched}
    try:
        while True:
            now = time.monotonic()
            for service in watched:
                if service.samples and service.samples[-1].done >= total:
                    continue
                offsets = await admin.list_consumer_group_offsets(service.group)
                done = sum(m.offset for tp, m in offsets.items() if tp.topic == service.topic)
                try:
                    rss = service.process.memory_info().rss
                except psutil.NoSuchProcess:
                    raise RuntimeError(
                        f"{service.name} exited:\n{stack.services[service.name].tail()}"
                    ) from None
                service.samples.append(Sample(now - started, done, rss))
                if done > moved[service.name][1]:
                    moved[service.name] = (now, done)
                elif now - moved[service.name][0] > STALL_SECONDS:
                    raise RuntimeError(
                        f"{service.name} committed nothing for {STALL_SECONDS:.0f} s at"
                        f" {done:,} of {total:,}:\n{stack.services[service.name].tail()}"
                    )
            finished = all(w.samples and w.samples[-1].done >= total for w in watched)
            if finished or now - printed[0] >= PRINT_SECONDS:
                parts = []
                for w in watched:
                    last = w.samples[-1]
                    rate = (last.done - printed[1][w.name]) / max(now - printed[0], 1e-9)
                    pace = "all through" if last.done >= total else f"{rate:>5,.0f}/s"
                    parts.append(f"{w.name} {last.done:>9,} ({pace}, {_mib(last.rss)})")
                    printed[1][w.name] = last.done
                printed = (now, printed[1])
                print(f"  {now - started:5.0f} s  " + "  ".join(parts), flush=True)
            if finished:
                return now - started
            await asyncio.sleep(SAMPLE_SECONDS)
    finally:
        await admin.close()


async def _sum_of_ends(bootstrap: str, topic: str) -> int:
    return sum((await end_offsets(bootstrap, topic)).values())


async def _produce_input(bootstrap: str, events: int) -> None:
    config = [(key_for(c.tenant_id), c.model_dump_json().encode()) for c in settings()]
    await infra.produce(bootstrap, TENANTS_CONFIG, config)
    started = time.monotonic()
    produced = await infra.produce(bootstrap, INGEST_INBOUND, inbound_stream(events))
    seconds = time.monotonic() - started
    print(
        f"  {produced:,} inbound events produced in {seconds:.0f} s ({produced / seconds:,.0f}/s)",
        flush=True,
    )


def _row(name: str, found: Flatness, total: int, note: str) -> Result:
    return Result(
        f"{name}_memory",
        "bytes",
        found.baseline,
        found.measured,
        found.ratio,
        TARGET,
        f"median RSS of the last tenth of {total:,} events vs that from 20 % to 30 %:"
        f" {(found.measured - found.baseline) / 1_048_576:+.1f} MiB,"
        f" {found.per_event:+.0f} bytes an event; {note}",
    )


def run() -> list[Result]:
    events = events_to_run()
    prefix = f"bench-mem-{secrets.token_hex(3)}"
    env = {
        "BOGFOER_INGEST_GROUP_ID": prefix,
        "BOGFOER_MAPPER_GROUP_ID": prefix,
        "BOGFOER_INGEST_LOG_LEVEL": "WARNING",
        "BOGFOER_MAPPER_LOG_LEVEL": "WARNING",
        # The same key for both ingest processes: the second opens what the first sealed.
        "BOGFOER_INGEST_SECRETS_KEY": SecretSealer.generate_key(),
    }
    with infra.infra() as found:
        database = asyncio.run(found.database())
        infra.onboard(found, database, "onboarding", env, [c.tenant_id for c in settings()])
        asyncio.run(_produce_input(found.bootstrap, events))
        stack = found.stack("measured", database, **env)
        try:
            stack.start(("ingest", "mapper"))
            watched = [
                Watched.of(stack, INGEST, "inbound", prefix),
                Watched.of(stack, MAPPER, "events", prefix),
            ]
            seconds = asyncio.run(_watch(found.bootstrap, stack, watched, events))
        finally:
            stack.stop()
        dead = {
            topic: asyncio.run(_sum_of_ends(found.bootstrap, dlq_topic(topic)))
            for topic in (INGEST_INBOUND, SALES_EVENTS)
        }
        if any(dead.values()):
            raise RuntimeError(f"dead letters in a run that should have none: {dead}")
        commands = asyncio.run(_sum_of_ends(found.bootstrap, POSTINGS_COMMANDS))
    load = os.getloadavg()[0]
    note = f"all through in {seconds:.0f} s, {commands:,} commands, load average {load:.1f}"
    ingest, mapper = watched
    return [
        _row("ingest_kafka", flatness(ingest.samples, events), events, note),
        _row("mapper", flatness(mapper.samples, events), events, note),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
