"""Kafka handlers: remember the event, apply the tenant's rules, publish after commit.

One transaction records the event (dedup by id), loads and saves the order's state and
writes the resulting commands and holds to the outbox; only after it commits are they
published. Events of a tenant without settings, or whose settings are inactive, wait and
run when (active) settings arrive. New settings also re-evaluate every state that holds
something back, so a hold the settings fix (an unmapped payment method, a missing deposit
account) is booked. `remap_posting` (ops.actions.v1) derives one posting again from its
sale's stored facts with the current settings and publishes it with a higher revision.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import asyncpg
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from bogfoer_contracts.events import parse_event
from bogfoer_contracts.ops import OPS_ACTION, RemapPosting
from bogfoer_contracts.postings import POSTING_COMMAND, PostingCommand, PostingError, PostingResult
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_contracts.topics import (
    POSTINGS_COMMANDS,
    POSTINGS_RESULTS,
    SALES_EVENTS,
    dlq_topic,
)
from bogfoer_contracts.topology import MAPPER
from bogfoer_kit.db import Conn
from bogfoer_kit.deadletter import TRANSIENT, PoisonMessage, dlq_headers, reliable_subscriber
from bogfoer_kit.outbox import OutboxRelay, enqueue
from bogfoer_mapper import store
from bogfoer_mapper.metrics import COMMANDS, EVENTS, HOLDS
from bogfoer_mapper.settings import MapperSettings
from bogfoer_rules import policy
from bogfoer_rules.holds import Hold
from bogfoer_rules.remap import remap

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Mapper:
    def __init__(self, broker: KafkaBroker, pool: asyncpg.Pool, clock: Clock = _utcnow) -> None:
        self.broker = broker
        self.pool = pool
        self.clock = clock
        self.outbox = OutboxRelay(broker, pool)

    async def on_event(self, raw: bytes) -> None:
        try:
            event = parse_event(raw)
        except (ValidationError, ValueError) as exc:
            raise PoisonMessage("invalid_event", str(exc)) from exc
        key = policy.state_key(event)
        async with self.pool.acquire() as conn, conn.transaction():
            await store.lock_tenant(conn, event.tenant_id)
            seq = await store.record_event(
                conn, event.tenant_id, event.id, key, raw.decode(), event.backfill
            )
            if seq is None:
                log.info("event %s seen before; nothing to do", event.id)
                EVENTS.labels(event.type, "duplicate").inc()
            else:
                config = await store.load_config(conn, event.tenant_id)
                if config is None:
                    log.info("event %s waits for tenant %s's settings", event.id, event.tenant_id)
                    EVENTS.labels(event.type, "waiting_for_settings").inc()
                else:
                    await self._process_pending(conn, config)
        await self.outbox.relay()

    async def on_config(self, raw: bytes) -> None:
        try:
            config = TenantConfig.model_validate_json(raw)
        except ValidationError as exc:
            raise PoisonMessage("invalid_tenant_config", str(exc)) from exc
        async with self.pool.acquire() as conn, conn.transaction():
            # The same lock as an event's transaction: an event committing while these
            # settings arrive is either seen here or sees the settings itself.
            await store.lock_tenant(conn, config.tenant_id)
            await store.save_config(conn, config)
            current = await store.load_config(conn, config.tenant_id)
            assert current is not None
            await self._process_pending(conn, current)
            await self._reevaluate_holds(conn, current)
        await self.outbox.relay()

    async def on_action(self, raw: bytes) -> None:
        try:
            action = OPS_ACTION.validate_json(raw)
        except ValidationError as exc:
            raise PoisonMessage("invalid_action", str(exc)) from exc
        if not isinstance(action, RemapPosting):
            return  # the poster's actions
        async with self.pool.acquire() as conn, conn.transaction():
            await store.lock_tenant(conn, action.tenant_id)
            if not await store.claim_action(conn, action.action_id):
                return
            await self._remap(conn, action)
        await self.outbox.relay()

    async def _remap(self, conn: Conn, action: RemapPosting) -> None:
        tenant, key = action.tenant_id, action.posting_key
        config = await store.load_config(conn, tenant)
        found = await store.origin(conn, tenant, key)
        if config is None or found is None:
            log.warning("remap of %s: no settings or no sale behind it; nothing to do", key)
            return
        state_key, revision = found
        raw_state = await store.load_state(conn, tenant, state_key)
        if raw_state is None:
            log.warning("remap of %s: state %s is gone", key, state_key)
            return
        state = policy.OrderState.load(raw_state)
        next_revision = revision + 1 if key in state.emitted else 0
        result = remap(state, config, self.clock(), key, next_revision)
        await store.save_state(conn, tenant, state_key, result.state.model_dump_json())
        await self._publish(conn, tenant, state_key, result.commands, result.holds, self.clock())
        if result.command is not None:
            await store.set_revision(conn, tenant, key, next_revision)
        log.info(
            "remap of %s by %s: %s",
            key,
            action.requested_by,
            "held" if result.command is None else f"revision {next_revision}",
        )

    async def _reevaluate_holds(self, conn: Conn, config: TenantConfig) -> None:
        """New settings may resolve a hold (a payment method or deposit account now mapped)."""
        if not config.active:
            return
        for state_key, raw_state in await store.held_states(conn, config.tenant_id):
            state = policy.OrderState.load(raw_state)
            decision = policy.advance(state, config, self.clock())
            if not decision.commands and not decision.holds:
                continue
            await store.save_state(
                conn, config.tenant_id, state_key, decision.state.model_dump_json()
            )
            await self._publish(
                conn, config.tenant_id, state_key, decision.commands, decision.holds, self.clock()
            )

    async def _process_pending(self, conn: Conn, config: TenantConfig) -> None:
        if not config.active:
            # Kept unprocessed: booked when the tenant is activated (the cutover still
            # applies then), instead of being marked done and a later copy dropped.
            return
        for seq, payload in await store.unprocessed(conn, config.tenant_id):
            try:
                async with conn.transaction():  # a savepoint per event
                    await self._process(conn, config, seq, payload)
            except TRANSIENT:
                raise  # the whole record is retried
            except Exception as exc:
                # A bug meeting this one event must not block every later event of the
                # tenant: it is dead-lettered (re-drivable from the ledger) and forgotten
                # here, so a re-drive is processed like a new arrival.
                log.exception("event %s of %s failed in the mapper", seq, config.tenant_id)
                EVENTS.labels(_type_of(payload), "dead_lettered").inc()
                await store.forget_event(conn, seq)
                await enqueue(
                    conn,
                    config.tenant_id,
                    dlq_topic(SALES_EVENTS),
                    payload,
                    dlq_headers("processing_error", f"{exc!r}", SALES_EVENTS),
                )

    async def _process(self, conn: Conn, config: TenantConfig, seq: int, payload: str) -> None:
        event = parse_event(payload)
        key = policy.state_key(event)
        raw_state = await store.load_state(conn, event.tenant_id, key)
        state = None if raw_state is None else policy.OrderState.load(raw_state)
        decision = policy.decide(event, config, state, self.clock())
        await store.save_state(conn, event.tenant_id, key, decision.state.model_dump_json())
        await self._publish(
            conn, event.tenant_id, key, decision.commands, decision.holds, event.occurred_at
        )
        outcome = decision.ignored or (
            f"{len(decision.commands)} commands, {len(decision.holds)} holds"
        )
        await store.mark_processed(conn, seq, outcome)
        EVENTS.labels(event.type, "mapped").inc()

    async def _publish(
        self,
        conn: Conn,
        tenant: str,
        state_key: str,
        commands: list[PostingCommand],
        holds: list[Hold],
        at: dt.datetime,
    ) -> None:
        """Commands and holds to the outbox, and where each posting key came from."""
        keys = [c.posting_key for c in commands] + [h.posting_key for h in holds]
        await store.record_origins(conn, tenant, state_key, list(dict.fromkeys(keys)))
        for command in commands:
            COMMANDS.labels(command.kind).inc()
            await enqueue(
                conn, tenant, POSTINGS_COMMANDS, POSTING_COMMAND.dump_json(command).decode()
            )
        for hold in holds:
            HOLDS.labels(tenant, hold.reason).inc()
            result = PostingResult(
                posting_key=hold.posting_key,
                tenant_id=tenant,
                kind=hold.kind,
                status="held",
                detail=hold.message,
                error=PostingError(category="held", message=f"{hold.reason}: {hold.message}"),
                attempts=0,
                at=at,
            )
            await enqueue(conn, tenant, POSTINGS_RESULTS, result.model_dump_json())


def _type_of(payload: str) -> str:
    """The type of an event that failed (a bounded label: the known types, or `unknown`)."""
    try:
        return parse_event(payload).type
    except (ValidationError, ValueError):
        return "unknown"


def register(broker: KafkaBroker, settings: MapperSettings, mapper: Mapper) -> None:
    @reliable_subscriber(broker, MAPPER.subscription("events"), settings.group_id)
    async def on_event(msg: KafkaMessage) -> None:
        await mapper.on_event(msg.body)

    @reliable_subscriber(broker, MAPPER.subscription("config"), settings.group_id)
    async def on_config(msg: KafkaMessage) -> None:
        if not msg.body:
            return  # a tombstone: the tenant was deleted; its stored settings stay for audit
        await mapper.on_config(msg.body)

    @reliable_subscriber(broker, MAPPER.subscription("actions"), settings.group_id)
    async def on_action(msg: KafkaMessage) -> None:
        await mapper.on_action(msg.body)


__all__ = ["Mapper", "register"]
