"""Kafka handlers: remember the events, apply the tenant's rules, publish after commit.

Per poll, one transaction per tenant records its events (dedup by id), loads and saves the
orders' states and writes the resulting commands and holds to the outbox, in a few
statements for all of them; only after every tenant's transaction committed is the outbox
published (`bogfoer_kit.consumer`). Events of a tenant without settings, or whose settings
are inactive, wait and run when (active) settings arrive. New settings also re-evaluate
every state that holds something back, so a hold the settings fix (an unmapped payment
method, a missing deposit account) is booked. `remap_posting` (ops.actions.v1) derives
one posting again from its sale's stored facts with the current settings and publishes it
with a higher revision.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from opentelemetry.context import Context
from pydantic import ValidationError

from bogfoer_contracts.events import SalesEvent, parse_event
from bogfoer_contracts.ops import OPS_ACTION, RemapPosting
from bogfoer_contracts.postings import PostingCommand, PostingError, PostingResult, command_json
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_contracts.topics import (
    POSTINGS_COMMANDS,
    POSTINGS_RESULTS,
    SALES_EVENTS,
    dlq_topic,
)
from bogfoer_kit.consumer import Consumers, TenantBatch
from bogfoer_kit.db import Conn
from bogfoer_kit.deadletter import PoisonMessage, dlq_headers, is_transient
from bogfoer_kit.outbox import OutboxRelay, OutboxRow, Written, enqueue_many
from bogfoer_kit.publish import Publisher
from bogfoer_kit.slots import setters
from bogfoer_kit.telemetry import traced
from bogfoer_mapper import store
from bogfoer_mapper.metrics import COMMANDS, EVENTS, HOLDS
from bogfoer_mapper.states import DEFAULT_SIZE, StateCache, StateWrites, stored
from bogfoer_rules import policy
from bogfoer_rules.holds import Hold
from bogfoer_rules.remap import remap

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class Arrival:
    """An event as it arrived: parsed, its bytes, and the trace it was produced in."""

    event: SalesEvent
    payload: str
    trace: Context | None = None

    @classmethod
    def of(cls, event: SalesEvent, payload: str, trace: Context | None) -> Arrival:
        """`Arrival(event, payload, trace)`, its fields set through their slots: the frozen
        class's `__init__` sets each through `object.__setattr__` (~0.7 against ~0.3 µs; a
        poll makes one a record)."""
        made = _new(cls)
        _SET_EVENT(made, event)
        _SET_PAYLOAD(made, payload)
        _SET_TRACE(made, trace)
        return made


# Each of an arrival's slots, set directly (`Arrival.of`).
_new = object.__new__
_SET_EVENT, _SET_PAYLOAD, _SET_TRACE = setters(Arrival, "event", "payload", "trace")


class Mapper:
    def __init__(
        self,
        publisher: Publisher,
        pool: asyncpg.Pool,
        clock: Clock = _utcnow,
        state_cache_size: int = DEFAULT_SIZE,
    ) -> None:
        self.pool = pool
        self.clock = clock
        self.outbox = OutboxRelay(publisher, pool)
        self.states = StateCache(state_cache_size)

    async def on_events(self, batch: TenantBatch) -> None:
        """One tenant's events of a poll, in one transaction (published by the poll's flush)."""
        arrivals: list[Arrival] = []
        for record in batch.records:
            try:
                event = parse_event(record.value)
            except (ValidationError, ValueError) as exc:
                batch.dead_letter(record, "invalid_event", str(exc))
                continue
            arrivals.append(Arrival.of(event, record.value.decode(), record.trace_context()))
        if arrivals:
            await self.map_arrivals(arrivals)

    async def on_event(self, raw: bytes) -> None:
        """One event on its own (tools and tests), published at once."""
        try:
            event = parse_event(raw)
        except (ValidationError, ValueError) as exc:
            raise PoisonMessage("invalid_event", str(exc)) from exc
        await self.map_arrivals([Arrival(event, raw.decode())])
        await self.outbox.relay()

    async def map_arrivals(self, arrivals: list[Arrival]) -> None:
        """Record the events (a redelivery or a webhook delivered twice is dropped by its id)
        and map every event of their tenants that waits, in one transaction."""
        by_tenant: dict[str, list[Arrival]] = {}
        for arrival in arrivals:
            by_tenant.setdefault(arrival.event.tenant_id, []).append(arrival)
        written: list[Written] = []
        saved = StateWrites()
        async with self.pool.acquire() as conn, conn.transaction():
            for tenant in sorted(by_tenant):  # a record's key and its payload may disagree
                await store.lock_tenant(conn, tenant)
                config = await store.load_config(conn, tenant)
                if config is None or not config.active:
                    # Kept unprocessed: mapped when (active) settings arrive (the cutover
                    # still applies then), instead of being marked done and a later copy
                    # dropped.
                    fresh = await _unseen(conn, tenant, by_tenant[tenant])
                    await store.record_events(conn, tenant, [_row(a) for a in fresh])
                    if config is None and fresh:
                        for arrival in fresh:
                            EVENTS.labels(arrival.event.type, "waiting_for_settings").inc()
                        log.info("%d events wait for tenant %s's settings", len(fresh), tenant)
                    continue
                fresh = _distinct(by_tenant[tenant])
                written += await self._process_pending(conn, config, fresh, saved)
        self.states.committed(saved)
        for rows in written:  # committed: published from memory by the poll's flush
            self.outbox.committed(rows)

    async def on_configs(self, batch: TenantBatch) -> None:
        """A tenant's new settings, in order, in one transaction."""
        configs: list[tuple[TenantConfig, Context]] = []
        for record in batch.records:
            if not record.value:
                continue  # a tombstone: the tenant was deleted; its settings stay for audit
            try:
                config = TenantConfig.model_validate_json(record.value)
            except ValidationError as exc:
                batch.dead_letter(record, "invalid_tenant_config", str(exc))
                continue
            configs.append((config, record.trace_context()))
        if configs:
            saved = StateWrites()
            async with self.pool.acquire() as conn, conn.transaction():
                for config, trace_context in configs:
                    with traced(trace_context):
                        await self._apply_config(conn, config, saved)
            self.states.committed(saved)

    async def on_config(self, raw: bytes) -> None:
        """One tenant's settings on their own (tools and tests), published at once."""
        try:
            config = TenantConfig.model_validate_json(raw)
        except ValidationError as exc:
            raise PoisonMessage("invalid_tenant_config", str(exc)) from exc
        saved = StateWrites()
        async with self.pool.acquire() as conn, conn.transaction():
            await self._apply_config(conn, config, saved)
        self.states.committed(saved)
        await self.outbox.relay()

    async def _apply_config(self, conn: Conn, config: TenantConfig, saved: StateWrites) -> None:
        # The same lock as an event's transaction: an event committing while these
        # settings arrive is either seen here or sees the settings itself.
        await store.lock_tenant(conn, config.tenant_id)
        await store.save_config(conn, config)
        current = await store.load_config(conn, config.tenant_id)
        assert current is not None
        await self._process_pending(conn, current, [], saved)
        await self._reevaluate_holds(conn, current, saved)

    async def on_actions(self, batch: TenantBatch) -> None:
        """Operators' actions of a tenant (`remap_posting` is ours), in one transaction."""
        actions: list[tuple[RemapPosting, Context]] = [
            (action, record.trace_context())
            for record, action in batch.parsed(OPS_ACTION.validate_json, "invalid_action")
            if isinstance(action, RemapPosting)  # the others are the poster's
        ]
        if actions:
            saved = StateWrites()
            async with self.pool.acquire() as conn, conn.transaction():
                for action, trace_context in actions:
                    with traced(trace_context):
                        await self._carry_out(conn, action, saved)
            self.states.committed(saved)

    async def on_action(self, raw: bytes) -> None:
        """One operator action on its own (tools and tests), published at once."""
        try:
            action = OPS_ACTION.validate_json(raw)
        except ValidationError as exc:
            raise PoisonMessage("invalid_action", str(exc)) from exc
        if not isinstance(action, RemapPosting):
            return  # the poster's actions
        saved = StateWrites()
        async with self.pool.acquire() as conn, conn.transaction():
            await self._carry_out(conn, action, saved)
        self.states.committed(saved)
        await self.outbox.relay()

    async def _carry_out(self, conn: Conn, action: RemapPosting, saved: StateWrites) -> None:
        await store.lock_tenant(conn, action.tenant_id)
        if await store.claim_action(conn, action.action_id):
            await self._remap(conn, action, saved)

    async def _remap(self, conn: Conn, action: RemapPosting, saved: StateWrites) -> None:
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
        saved.unknown(tenant, state_key)
        await store.save_state(conn, tenant, state_key, *stored(result.state))
        await self._publish(conn, tenant, state_key, result.commands, result.holds, self.clock())
        if result.command is not None:
            await store.set_revision(conn, tenant, key, next_revision)
        log.info(
            "remap of %s by %s: %s",
            key,
            action.requested_by,
            "held" if result.command is None else f"revision {next_revision}",
        )

    async def _reevaluate_holds(self, conn: Conn, config: TenantConfig, saved: StateWrites) -> None:
        """New settings may resolve a hold (a payment method or deposit account now mapped)."""
        if not config.active:
            return
        for state_key, raw_state in await store.held_states(conn, config.tenant_id):
            state = policy.OrderState.load(raw_state)
            decision = policy.advance(state, config, self.clock())
            if not decision.commands and not decision.holds:
                continue
            saved.unknown(config.tenant_id, state_key)
            await store.save_state(conn, config.tenant_id, state_key, *stored(decision.state))
            await self._publish(
                conn, config.tenant_id, state_key, decision.commands, decision.holds, self.clock()
            )

    async def _process_pending(
        self, conn: Conn, config: TenantConfig, fresh: list[Arrival], saved: StateWrites
    ) -> list[Written]:
        """Map every event of the tenant that waits, in order, then `fresh` (this batch's
        events, each once, parsed already): states read and written, the fresh events
        recorded as mapped, and commands and holds put in the outbox, in a few statements
        for all of them. A copy of an event an earlier batch mapped (a redelivery, a webhook
        delivered twice) is dropped by its order's state, which keeps the ids of the events
        it has seen (`decide`'s `duplicate_event`), not by a look-up of the batch's ids in
        the events table first. Should a statement fail for a reason other than an outage,
        the fresh events are recorded as waiting (a copy of a stored event dropped there)
        and every waiting event is mapped again one by one, each in a savepoint, so the
        event it failed for is found and dead-lettered. Returns the outbox rows written
        together, for the relay once the transaction committed (those written one by one it
        reads back from the table). The states written go to `saved`: those of the batch
        once its savepoint is released, those written one by one as unknown
        (`bogfoer_mapper.states`)."""
        if not config.active:
            return []  # kept waiting, as in `map_arrivals`
        tenant = config.tenant_id
        pending = await store.unprocessed(conn, tenant)
        if not pending and not fresh:
            return []
        try:
            async with conn.transaction():  # a savepoint for all of them
                written, version, states = await self._map_together(conn, config, pending, fresh)
            saved.saved(tenant, version, states)
            return [written]
        except Exception as exc:
            if is_transient(exc):
                raise  # the whole batch is retried (the connection may be gone)
            if _a_copy(exc):
                # Not a fault: a copy its order's state did not know (see `store.record_mapped`).
                log.info("a copy of an event of %s stopped by its id: one by one", tenant)
            else:
                log.exception("mapping %d events of %s together failed", len(pending), tenant)
            seqs = await store.record_events(conn, tenant, [_row(a) for a in fresh])
            arrived = {seq: a for seq, a in zip(seqs, fresh, strict=True) if seq is not None}
            for seq, arrival in zip(seqs, fresh, strict=True):
                if seq is None:  # stored before: a copy
                    EVENTS.labels(arrival.event.type, "duplicate").inc()
            pending = await store.unprocessed(
                conn, tenant, {seq: a.payload for seq, a in arrived.items()}
            )
            await self._map_one_by_one(conn, config, pending, arrived, saved)
            return []

    async def _map_together(
        self,
        conn: Conn,
        config: TenantConfig,
        pending: list[tuple[int, str]],
        fresh: list[Arrival],
    ) -> tuple[Written, int, dict[str, policy.OrderState]]:
        """Written; the states' version; the states written, by key."""
        tenant = config.tenant_id
        # (seq — None for a fresh event, not stored yet —, payload, event, its state's key,
        # trace)
        events: list[tuple[int | None, str, SalesEvent | None, str, Context | None]] = []
        for stored_seq, stored_payload in pending:
            try:
                parsed = parse_event(stored_payload)
            except (ValidationError, ValueError):
                events.append((stored_seq, stored_payload, None, "", None))
                continue
            events.append((stored_seq, stored_payload, parsed, policy.state_key(parsed), None))
        events += [(None, a.payload, a.event, policy.state_key(a.event), a.trace) for a in fresh]
        keys = sorted({key for _, _, e, key, _ in events if e is not None})
        # The states this process wrote last are not sent again, nor validated again,
        # where their rows are still that write (`bogfoer_mapper.states`).
        known = self.states.known(tenant, keys)
        rows = await store.load_states(
            conn, tenant, keys, {key: version for key, (version, _) in known.items()}
        )
        states: dict[str, policy.OrderState] = {}
        loaded: dict[str, policy.OrderState] = {}  # as stored before this batch
        changed: dict[str, policy.OrderState] = {}
        writes = _Writes(tenant)
        # One time for the batch: what `now` decides (an event waiting too long for its
        # order) is days, not the µs between two events; the clock was a call per event.
        now = self.clock()
        for seq, payload, event, key, trace in events:
            try:
                if event is None:
                    parse_event(payload)  # raises the reason it does not parse
                    raise AssertionError("unreachable")
                if key not in states and key in rows:
                    states[key] = loaded[key] = _state(rows[key], known.get(key))
                decision = policy.decide(event, config, states.get(key), now, key)
            except Exception as exc:
                log.exception("event %s of %s failed in the mapper", seq, tenant)
                writes.dead_letter(seq, payload, exc, event)
                continue
            if seq is None and decision.ignored == policy.DUPLICATE_EVENT:
                # A copy of an event its state has seen: dropped, as a copy found in the
                # events table was — no row, its state not written again.
                writes.duplicate(event)
                continue
            states[key] = changed[key] = decision.state
            writes.decided(key, decision, event, seq, payload, _outcome(decision), trace)
        # The events' own texts: not dumped again (`states.stored`).
        texts = {id(e): (e, payload) for _, payload, e, _, _ in events if e is not None}
        # The states found stored are updated, the others inserted (`store.save_states`).
        version = await store.save_states(
            conn, tenant, {k: stored(state, texts) for k, state in changed.items()}, rows
        )
        writes.new_origins(rows, loaded)
        return await writes.store(conn), version, changed

    async def _map_one_by_one(
        self,
        conn: Conn,
        config: TenantConfig,
        pending: list[tuple[int, str]],
        arrived: dict[int, Arrival],
        saved: StateWrites,
    ) -> None:
        for seq, payload in pending:
            try:
                async with conn.transaction():  # a savepoint per event
                    await self._process(conn, config, seq, payload, _trace(arrived, seq), saved)
            except Exception as exc:
                if is_transient(exc):
                    raise  # the whole record is retried
                # A bug meeting this one event must not block every later event of the
                # tenant: it is dead-lettered (re-drivable from the ledger) and forgotten
                # here, so a re-drive is processed like a new arrival.
                log.exception("event %s of %s failed in the mapper", seq, config.tenant_id)
                writes = _Writes(config.tenant_id)
                writes.dead_letter(seq, payload, exc)
                await writes.store(conn)

    async def _process(
        self,
        conn: Conn,
        config: TenantConfig,
        seq: int,
        payload: str,
        trace: Context | None,
        saved: StateWrites,
    ) -> None:
        event = parse_event(payload)
        key = policy.state_key(event)
        saved.unknown(event.tenant_id, key)
        raw_state = await store.load_state(conn, event.tenant_id, key)
        state = None if raw_state is None else policy.OrderState.load(raw_state)
        decision = policy.decide(event, config, state, self.clock(), key)
        await store.save_state(conn, event.tenant_id, key, *stored(decision.state))
        writes = _Writes(config.tenant_id)
        writes.decided(key, decision, event, seq, payload, _outcome(decision), trace)
        await writes.store(conn)

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
        writes = _Writes(tenant)
        writes.published(state_key, commands, holds, at, None)
        await writes.store(conn)


async def _unseen(conn: Conn, tenant: str, arrivals: list[Arrival]) -> list[Arrival]:
    """The arrivals whose event was not seen before (a redelivery, a webhook delivered
    twice: dropped by its stored id; a second copy in this batch: `_distinct`), in order."""
    distinct = _distinct(arrivals)
    seen = await store.seen_events(conn, tenant, [_identity(a) for a in distinct])
    fresh: list[Arrival] = []
    for arrival in distinct:
        if _identity(arrival) in seen:
            log.debug("event %s seen before; nothing to do", arrival.event.id)
            EVENTS.labels(arrival.event.type, "duplicate").inc()
            continue
        fresh.append(arrival)
    return fresh


def _identity(arrival: Arrival) -> tuple[str, bool]:
    """An event's identity: a copy has the same (the events' primary key, migration 008)."""
    return arrival.event.id, arrival.event.backfill


def _a_copy(exc: Exception) -> bool:
    """Whether a batch failed on the events' primary key: a copy of an event stored before
    that its order's state did not know (`store.record_mapped`). Not a fault: logged
    without its traceback."""
    return (
        isinstance(exc, asyncpg.UniqueViolationError)
        and getattr(exc, "constraint_name", None) == store.EVENTS_KEY
    )


def _distinct(arrivals: list[Arrival]) -> list[Arrival]:
    """The arrivals without the second copy of an event in this batch (its identity), in
    order; copies of events of earlier batches are left to their states (or `_unseen`)."""
    identities: set[tuple[str, bool]] = set()
    distinct: list[Arrival] = []
    for arrival in arrivals:
        identity = _identity(arrival)
        if identity in identities:
            log.debug("event %s twice in one batch; the second dropped", arrival.event.id)
            EVENTS.labels(arrival.event.type, "duplicate").inc()
            continue
        identities.add(identity)
        distinct.append(arrival)
    return distinct


def _state(
    stored: tuple[int, str | None], known: tuple[int, policy.OrderState] | None
) -> policy.OrderState:
    """A state as `store.load_states` gave it: its text, or None for the one `known`."""
    version, text = stored
    if text is not None:
        return policy.OrderState.load(text)
    if known is None or known[0] != version:
        raise AssertionError(f"no text for a state not held as version {version}")
    return known[1]


# An outcome by its counts of commands and holds: the same few texts, made once each.
_OUTCOMES: dict[tuple[int, int], str] = {}


def _outcome(decision: policy.Decision) -> str:
    """What an event came to, as its row keeps it."""
    if decision.ignored:
        return decision.ignored
    counts = (len(decision.commands), len(decision.holds))
    outcome = _OUTCOMES.get(counts)
    if outcome is None:
        outcome = f"{counts[0]} commands, {counts[1]} holds"
        if len(_OUTCOMES) < 256:  # a bound: the counts are small
            _OUTCOMES[counts] = outcome
    return outcome


def _row(arrival: Arrival) -> tuple[str, str, str, bool]:
    """An arrival as `store.record_events` keeps it."""
    event = arrival.event
    return (event.id, policy.state_key(event), arrival.payload, event.backfill)


def _trace(arrived: dict[int, Arrival], seq: int) -> Context | None:
    """The trace an event arrived in, when it arrived with this batch."""
    arrival = arrived.get(seq)
    return None if arrival is None else arrival.trace


class _Writes:
    """What decisions make of the mapper's tables and its outbox, gathered and then written
    in a few statements; the metrics are counted once they are written."""

    def __init__(self, tenant: str) -> None:
        self.tenant = tenant
        self.origins: list[tuple[str, str]] = []  # (state key, posting key)
        self.origins_new = False  # none of them recorded before (`new_origins`)
        self.outbox: list[OutboxRow] = []
        self.processed: list[tuple[int, str]] = []  # (seq, outcome) of stored events
        # (event id, state key, no payload, backfill) and outcome of events not stored yet
        self.mapped: list[tuple[str, str, str | None, bool]] = []
        self.mapped_outcomes: list[str] = []
        self.forgotten: list[int] = []
        self.events: list[tuple[str, str]] = []  # (type, outcome)
        self.commands: list[str] = []  # kinds
        self.holds: list[str] = []  # reasons

    def published(
        self,
        state_key: str,
        commands: list[PostingCommand],
        holds: list[Hold],
        at: dt.datetime,
        trace: Context | None,
    ) -> None:
        if not commands and not holds:
            return  # most events: a payment or a fulfilment of an order invoiced before
        keys = [c.posting_key for c in commands] + [h.posting_key for h in holds]
        self.origins += [(state_key, key) for key in dict.fromkeys(keys)]
        tenant, outbox, kinds = self.tenant, self.outbox, self.commands
        for command in commands:
            kinds.append(command.kind)
            payload = command_json(command).decode()
            outbox.append(OutboxRow.of(tenant, POSTINGS_COMMANDS, payload, trace))
        for hold in holds:
            self.holds.append(hold.reason)
            result = PostingResult(
                posting_key=hold.posting_key,
                tenant_id=self.tenant,
                kind=hold.kind,
                status="held",
                detail=hold.message,
                error=PostingError(category="held", message=f"{hold.reason}: {hold.message}"),
                attempts=0,
                at=at,
            )
            self.outbox.append(
                OutboxRow(self.tenant, POSTINGS_RESULTS, result.model_dump_json(), trace=trace)
            )

    def decided(
        self,
        state_key: str,
        decision: policy.Decision,
        event: SalesEvent,
        seq: int | None,
        payload: str,
        outcome: str,
        trace: Context | None,
    ) -> None:
        """`event` mapped: stored already as `seq`, or to be recorded as mapped (None)."""
        if decision.commands or decision.holds:  # most events make neither: no call
            self.published(state_key, decision.commands, decision.holds, event.occurred_at, trace)
        if seq is None:  # its state keeps the event: the row keeps no payload
            self.mapped.append((event.id, state_key, None, event.backfill))
            self.mapped_outcomes.append(outcome)
        else:
            self.processed.append((seq, outcome))
        self.events.append((event.type, "mapped"))

    def duplicate(self, event: SalesEvent) -> None:
        """A fresh copy of an event seen before: counted, nothing written."""
        self.events.append((event.type, "duplicate"))

    def dead_letter(
        self, seq: int | None, payload: str, exc: Exception, event: SalesEvent | None = None
    ) -> None:
        """Dead-lettered and forgotten (a stored event deleted, a fresh one never recorded),
        so a re-drive is processed like a new arrival."""
        kind = _type_of(payload) if event is None else event.type
        self.events.append((kind, "dead_lettered"))
        if seq is not None:
            self.forgotten.append(seq)
        headers = dlq_headers("processing_error", f"{exc!r}", SALES_EVENTS)
        self.outbox.append(OutboxRow(self.tenant, dlq_topic(SALES_EVENTS), payload, headers))

    def new_origins(
        self, rows: dict[str, tuple[int, str | None]], loaded: dict[str, policy.OrderState]
    ) -> None:
        """Keep of the origins only those not recorded before, so they are inserted without
        `ON CONFLICT` (PostgreSQL's speculative insertion for it was ~40 % of the insert):
        each pair once, and none whose posting key its state as stored before this batch
        (`loaded`, of the keys in `rows`) had emitted or held already — every such key's
        origin was recorded in the transaction that stored it; a state not stored before
        has none. Under the tenant's lock no other writer adds any meanwhile. A pair
        recorded all the same (a bug) is the unique index's error: the batch is then mapped
        one by one, where origins go with `ON CONFLICT DO NOTHING`."""
        pairs = dict.fromkeys(self.origins)
        before: dict[str, set[str]] = {}
        for state_key in {state_key for state_key, _ in pairs if state_key in rows}:
            state = loaded.get(state_key)
            if state is None:
                return  # not known here: left to `ON CONFLICT`
            keys = set(state.emitted)
            keys.update(marker.rsplit("|", 1)[0] for marker in state.holds_raised)
            before[state_key] = keys
        self.origins = [
            (state_key, key)
            for state_key, key in pairs
            if state_key not in before or key not in before[state_key]
        ]
        self.origins_new = True

    async def store(self, conn: Conn) -> Written:
        """Written; returns the outbox rows as written."""
        await store.record_origins(conn, self.tenant, self.origins, new=self.origins_new)
        written = await enqueue_many(conn, self.outbox)
        if self.mapped:
            await store.record_mapped(conn, self.tenant, self.mapped, self.mapped_outcomes)
        await store.mark_processed(conn, self.tenant, self.processed)
        await store.forget_events(conn, self.tenant, self.forgotten)
        # Once per series, not per event: a label lookup costs more than the increment.
        for (event_type, outcome), n in Counter(self.events).items():
            EVENTS.labels(event_type, outcome).inc(n)
        for kind, n in Counter(self.commands).items():
            COMMANDS.labels(kind).inc(n)
        for reason, n in Counter(self.holds).items():
            HOLDS.labels(self.tenant, reason).inc(n)
        return written


def _type_of(payload: str) -> str:
    """The type of an event that failed (a bounded label: the known types, or `unknown`)."""
    try:
        return parse_event(payload).type
    except (ValidationError, ValueError):
        return "unknown"


def register(consumers: Consumers, mapper: Mapper) -> None:
    # The outbox is published once per poll, after every tenant's transaction committed.
    consumers.subscribe("events", mapper.on_events, flush=mapper.outbox.relay)
    consumers.subscribe("config", mapper.on_configs, flush=mapper.outbox.relay)
    consumers.subscribe("actions", mapper.on_actions, flush=mapper.outbox.relay)


__all__ = ["Arrival", "Mapper", "register"]
