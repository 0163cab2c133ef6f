"""Kafka handlers: parse, apply exactly once, commit. Poison records go to the DLQ."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from bogfoer_contracts.ops import OPS_ACTION
from bogfoer_contracts.postings import POSTING_COMMAND, PostingResult
from bogfoer_contracts.topology import LEDGER
from bogfoer_kit.deadletter import Handler, PoisonMessage, reliable_subscriber
from bogfoer_ledger import store
from bogfoer_ledger.metrics import count_transition
from bogfoer_ledger.settings import LedgerSettings


def _ref(msg: KafkaMessage) -> store.RecordRef:
    record = msg.raw_message
    assert not isinstance(record, tuple)
    return store.RecordRef(record.topic, record.partition, record.offset)


def trace_id_of(headers: dict[str, object]) -> str | None:
    """The trace id of a W3C `traceparent` header (00-<trace id>-<span id>-<flags>)."""
    value = headers.get("traceparent")
    if isinstance(value, bytes):
        value = value.decode(errors="replace")
    if not isinstance(value, str):
        return None
    parts = value.split("-")
    if len(parts) != 4 or len(parts[1]) != 32:
        return None
    return parts[1]


def register(broker: KafkaBroker, settings: LedgerSettings, pool: asyncpg.Pool) -> None:
    def subscribe(name: str) -> Callable[[Handler], object]:
        # One group per subscription: groups with different subscriptions rebalance
        # each other for nothing.
        return reliable_subscriber(broker, LEDGER.subscription(name), settings.group_id)

    @subscribe("commands")
    async def on_command(msg: KafkaMessage) -> None:
        try:
            command = POSTING_COMMAND.validate_json(msg.body)
        except ValidationError as exc:
            raise PoisonMessage("invalid_command", str(exc)) from exc
        applied = await store.apply_command(
            pool, _ref(msg), command, trace_id_of(dict(msg.headers))
        )
        if applied is not None:
            count_transition(command.tenant_id, command.kind, *applied)

    @subscribe("results")
    async def on_result(msg: KafkaMessage) -> None:
        try:
            result = PostingResult.model_validate_json(msg.body)
        except ValidationError as exc:
            raise PoisonMessage("invalid_result", str(exc)) from exc
        applied = await store.apply_result(pool, _ref(msg), result)
        if applied is not None:
            count_transition(result.tenant_id, result.kind, *applied)

    @subscribe("actions")
    async def on_action(msg: KafkaMessage) -> None:
        try:
            action = OPS_ACTION.validate_json(msg.body)
        except ValidationError as exc:
            raise PoisonMessage("invalid_action", str(exc)) from exc
        await store.apply_action(pool, _ref(msg), action)

    @subscribe("dead-letters")
    async def on_dead_letter(msg: KafkaMessage) -> None:
        record = msg.raw_message
        assert not isinstance(record, tuple)
        tenant = record.key.decode() if record.key else None
        await store.apply_dead_letter(pool, _ref(msg), tenant, msg.body, dict(msg.headers))
