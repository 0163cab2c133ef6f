"""kafka_paths: records per second through each Kafka consumer of Bogfør against a batched
consume→produce loop over the same records, measured in the same run.

Setup (all on loopback, in a temporary folder): Apache Kafka and PostgreSQL of their own;
each service as its own process (`python -m bogfoer_<service>`); the anchor
(`bench.anchors consume`: `getmany` of everything fetched, produce every record to a sink
topic, await every ack, commit) as its own process. Workload: the `mapper_decide` stream
(two shops, six VAT zones, payments, fees, refunds, payouts), RECORDS records a repetition,
under fresh tenant ids each time (so nothing is dropped as seen before):

- `ingest_kafka`: `InboundEvent`s on `ingest.inbound.v1` (the tenants onboarded with
  credentials before ingest starts, `_onboard`) → ingest validates, stamps and publishes
  each to `sales.events.v1`;
- `mapper`: the same events stamped, on `sales.events.v1` (the tenants' settings on
  `tenants.config.v1` first) → the mapper records them, decides, stores the states and the
  commands in its outbox, publishes the outbox;
- `ledger`: the commands the rules make of them, on `postings.commands.v1` → the ledger
  records each posting with its history, exactly once.

Each stage and its anchor read the same range of the same topic, each with a consumer group
of its own committed at the range's start (on every partition: one without a committed
offset would be read from its beginning, earlier repetitions and stages included); both are
watched the same way from outside (the group's committed offsets, every 25 ms), and the
rate counts from the first commit to the last, so starting a process and joining a group
are not measured. A stage that
dead-letters any record fails the run: every record is valid, and a dead letter is no
work. REPEATS repetitions, anchor and stage alternately; the median rates, and the ratio
the median of each repetition's stage / anchor (`paired_speed_ratio`).

Target: each stage at least 0.5 x its anchor (issue 9). The anchor's work is the floor of
any consumer that publishes what it reads; the stages parse and validate every record, and
the mapper and the ledger write PostgreSQL in a transaction per tenant batch.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

from bench import infra
from bench.common import Result, paired_speed_ratio
from bench.mapper_decide import NOW, configs, inbound_bodies
from bench.replay import canonical
from bogfoer_contracts.events import parse_event
from bogfoer_contracts.postings import POSTING_COMMAND
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_contracts.topics import (
    INGEST_INBOUND,
    POSTINGS_COMMANDS,
    SALES_EVENTS,
    TENANTS_CONFIG,
    dlq_topic,
    key_for,
)
from bogfoer_contracts.topology import INGEST, LEDGER, MAPPER, ServiceKafka
from bogfoer_devstack.offsets import Offsets, commit_group, end_offsets
from bogfoer_dinero.sealing import SecretSealer
from bogfoer_rules.policy import OrderState, decide, state_key

# 50,000: at 20,000 a repetition's measured window was 0.3-0.7 s for an anchor and 0.7-1.8 s
# for the ledger — a few polls, so a few hundred ms of another process's work on a core (or
# one poll more or less before the first commit) decided a repetition (the ledger's swung
# 18,000-39,000 rec/s on a quiet machine); 50,000 gives every window a few seconds.
RECORDS = 50_000
REPEATS = 5  # a median of five: one repetition in a burst of other work does not decide it
TARGET = 0.5
WITHIN_SECONDS = 300.0

Records = list[tuple[bytes, bytes]]  # (key, value)


def renamed(suffix: str) -> dict[str, str]:
    return {tenant: f"{tenant}-{suffix}" for tenant in configs()}


def stream(suffix: str, records: int) -> list[tuple[str, bytes]]:
    """(tenant, inbound body) of the bench stream, under this repetition's tenant ids."""
    names = renamed(suffix)
    orders = records // 5 + 10
    return [(names[tenant], body) for tenant, body in inbound_bodies(orders)][:records]


def settings_of(suffix: str) -> list[TenantConfig]:
    names = renamed(suffix)
    return [c.model_copy(update={"tenant_id": names[t]}) for t, c in configs().items()]


def inbound_records(suffix: str, records: int) -> Records:
    return [(key_for(tenant), body) for tenant, body in stream(suffix, records)]


def event_records(suffix: str, records: int) -> Records:
    return [(key_for(tenant), canonical(tenant, body)) for tenant, body in stream(suffix, records)]


# Commands the rules make of an event of the stream, at least (~0.64: a payout or a fee
# makes none). The ledger's stream was cut from `records` events, ~12,700 commands where
# the table says 20,000: its windows were a third shorter than the others'.
COMMANDS_AN_EVENT = 0.5


def command_records(suffix: str, records: int) -> Records:
    """The commands the rules make of the stream, until there are `records` of them."""
    settings = {c.tenant_id: c for c in settings_of(suffix)}
    states: dict[str, OrderState] = {}
    out: Records = []
    for tenant, body in stream(suffix, int(records / COMMANDS_AN_EVENT)):
        event = parse_event(canonical(tenant, body))
        key = f"{tenant}/{state_key(event)}"
        decision = decide(event, settings[tenant], states.get(key), NOW)
        states[key] = decision.state
        out += [(key_for(tenant), POSTING_COMMAND.dump_json(c)) for c in decision.commands]
        if len(out) >= records:
            break
    return out[:records]


@dataclass(frozen=True)
class Stage:
    name: str
    service: ServiceKafka
    subscription: str
    topic: str
    records: Callable[[str, int], Records]
    # Subscriptions that must read what is on their topics (the mapper's settings); the
    # others start at the end, so only the measured one has work.
    from_start: tuple[str, ...] = ()


STAGES = (
    Stage("ingest_kafka", INGEST, "inbound", INGEST_INBOUND, inbound_records),
    Stage("mapper", MAPPER, "events", SALES_EVENTS, event_records, ("config",)),
    Stage("ledger", LEDGER, "commands", POSTINGS_COMMANDS, command_records),
)


async def _prepare(
    found: infra.Infra, stage: Stage, suffix: str, records: Records
) -> tuple[Offsets, Offsets]:
    if stage.service is MAPPER:
        await infra.produce(
            found.bootstrap,
            TENANTS_CONFIG,
            [(key_for(c.tenant_id), c.model_dump_json().encode()) for c in settings_of(suffix)],
        )
    start = await end_offsets(found.bootstrap, stage.topic)
    await infra.produce(found.bootstrap, stage.topic, records)
    ends = await end_offsets(found.bootstrap, stage.topic)
    return start, {tp: end for tp, end in ends.items() if end > start[tp]}


async def _groups_at_end(
    found: infra.Infra, stage: Stage, prefix: str, *, measured: bool = False
) -> None:
    """Every other subscription of the service (with `measured`, every one) starts at its
    topics' end."""
    for subscription in stage.service.subscriptions:
        if not measured and subscription.name in (stage.subscription, *stage.from_start):
            continue
        for topic in subscription.topics:
            ends = await end_offsets(found.bootstrap, topic)
            await commit_group(found.bootstrap, subscription.group(prefix), ends)


def _anchor(found: infra.Infra, stage: Stage, suffix: str, start: Offsets, ends: Offsets) -> float:
    group = f"anchor-{stage.name}-{suffix}"

    async def go() -> float:
        # Every partition at the repetition's start, not only those its records went to: a
        # partition without a committed offset is read from its beginning, so a repetition
        # whose tenants hashed elsewhere re-read every earlier repetition's records there.
        await commit_group(found.bootstrap, group, start)
        process = infra.start_anchor(found.bootstrap, group, ends)
        try:
            progress = await infra.watch_group(
                found.bootstrap, group, start, ends, process, WITHIN_SECONDS
            )
        finally:
            process.wait(30)
        return progress.rate

    return asyncio.run(go())


def _onboard(
    found: infra.Infra, stage: Stage, database: str, suffix: str, env: dict[str, str]
) -> None:
    """The repetition's tenants onboarded before ingest reads a record of theirs
    (`infra.onboard`: its groups first set to their topics' end, so it reads nothing).
    Onboarded once the measured ingest ran, they were not for its first records: it
    dead-lettered thousands as `unknown_tenant`, which is no work, and the rate was the
    race's."""
    prefix = env[f"BOGFOER_{INGEST.service.upper()}_GROUP_ID"]
    asyncio.run(_groups_at_end(found, stage, prefix, measured=True))
    name = f"{stage.name}-{suffix}-onboarding"
    infra.onboard(found, database, name, env, renamed(suffix).values())


def _settings_applied(
    found: infra.Infra, stage: Stage, database: str, suffix: str, env: dict[str, str]
) -> None:
    """The repetition's settings applied before the measured mapper reads an event of
    theirs: a mapper of the same database and groups, with nothing to read on the measured
    topic, runs until its settings' group has read them all, and stops. Started together,
    the measured mapper's first poll came before the settings: it recorded the events as
    waiting and committed them, and mapped them in its next poll, so the work of the records
    the first commit counted out fell inside the measured window (a tenth of it)."""
    prefix = env[f"BOGFOER_{stage.service.service.upper()}_GROUP_ID"]

    async def settled(process: subprocess.Popen[bytes] | None) -> None:
        for name in stage.from_start:
            subscription = stage.service.subscription(name)
            for topic in subscription.topics:
                await infra.wait_committed(
                    found.bootstrap,
                    subscription.group(prefix),
                    await end_offsets(found.bootstrap, topic),
                    process,
                    WITHIN_SECONDS,
                )

    asyncio.run(_groups_at_end(found, stage, prefix))
    measured = stage.service.subscription(stage.subscription)
    for topic in measured.topics:
        ends = asyncio.run(end_offsets(found.bootstrap, topic))
        asyncio.run(commit_group(found.bootstrap, measured.group(prefix), ends))
    stack = found.stack(f"{stage.name}-{suffix}-settings", database, **env)
    try:
        stack.start((stage.service.service,))
        asyncio.run(settled(stack.services[stage.service.service].process))
    finally:
        stack.stop()


async def _dead_letters(found: infra.Infra, stage: Stage) -> int:
    return sum((await end_offsets(found.bootstrap, dlq_topic(stage.topic))).values())


def _service(
    found: infra.Infra,
    stage: Stage,
    database: str,
    suffix: str,
    start: Offsets,
    ends: Offsets,
) -> float:
    prefix = f"bench-{suffix}"
    group = stage.service.subscription(stage.subscription).group(prefix)
    name = stage.service.service
    env = {
        f"BOGFOER_{name.upper()}_GROUP_ID": prefix,
        f"BOGFOER_{name.upper()}_LOG_LEVEL": "WARNING",
    }
    if stage.service is INGEST:
        env[f"BOGFOER_{name.upper()}_SECRETS_KEY"] = SecretSealer.generate_key()
        _onboard(found, stage, database, suffix, env)
    if stage.from_start:
        _settings_applied(found, stage, database, suffix, env)
    # Every partition, as the anchor's (see `_anchor`): the ledger has no groups set to the
    # end before, and re-read, parsed and claimed the earlier repetitions' commands again.
    asyncio.run(commit_group(found.bootstrap, group, start))
    asyncio.run(_groups_at_end(found, stage, prefix))
    dead_before = asyncio.run(_dead_letters(found, stage))
    stack = found.stack(f"{stage.name}-{suffix}", database, **env)
    try:
        stack.start((name,))
        process = stack.services[name].process
        progress = asyncio.run(
            infra.watch_group(found.bootstrap, group, start, ends, process, WITHIN_SECONDS)
        )
    finally:
        stack.stop()
    dead = asyncio.run(_dead_letters(found, stage)) - dead_before
    if dead:
        # A dead letter is no work: a rate that counts them measures something else.
        raise RuntimeError(f"{stage.name}: {dead:,} records dead-lettered; every one is valid")
    return progress.rate


def measure(found: infra.Infra, stage: Stage) -> Result:
    database = asyncio.run(found.database())
    anchors: list[float] = []
    rates: list[float] = []
    for repeat in range(REPEATS):
        suffix = f"{stage.name[:3]}{repeat}-{secrets.token_hex(3)}"
        records = stage.records(suffix, RECORDS)
        start, ends = asyncio.run(_prepare(found, stage, suffix, records))
        anchors.append(_anchor(found, stage, suffix, start, ends))
        rates.append(_service(found, stage, database, suffix, start, ends))
        print(
            f"  {stage.name}: anchor {anchors[-1]:,.0f}/s, {stage.service.service}"
            f" {rates[-1]:,.0f}/s",
            flush=True,
        )
    anchor, rate = statistics.median(anchors), statistics.median(rates)
    return Result(
        stage.name,
        "rec/s",
        anchor,
        rate,
        paired_speed_ratio(anchors, rates),
        TARGET,
        f"{RECORDS:,} records of {stage.topic} a repetition, rates the median of {REPEATS},"
        " ratio the median of each repetition's; anchor a batched consume→produce loop over"
        " the same records",
        at_least=True,
    )


def run() -> list[Result]:
    with infra.infra() as found:
        return [measure(found, stage) for stage in STAGES]
