"""Kafka handlers: parse, apply exactly once, commit. Poison records go to the DLQ."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from pydantic import ValidationError

from bogfoer_contracts.postings import POSTING_COMMAND, PostingResult
from bogfoer_contracts.topics import DLQ_TOPICS, POSTINGS_COMMANDS, POSTINGS_RESULTS
from bogfoer_kit.deadletter import Handler, PoisonMessage, reliable_subscriber
from bogfoer_ledger import store
from bogfoer_ledger.settings import LedgerSettings

DEAD_LETTER_TOPICS = DLQ_TOPICS


def _ref(msg: KafkaMessage) -> store.RecordRef:
    record = msg.raw_message
    assert not isinstance(record, tuple)
    return store.RecordRef(record.topic, record.partition, record.offset)


def register(broker: KafkaBroker, settings: LedgerSettings, pool: asyncpg.Pool) -> None:
    def subscribe(name: str, *topics: str) -> Callable[[Handler], object]:
        # One group per subscription: groups with different subscriptions rebalance
        # each other for nothing.
        return reliable_subscriber(broker, *topics, group_id=f"{settings.group_id}.{name}")

    @subscribe("commands", POSTINGS_COMMANDS)
    async def on_command(msg: KafkaMessage) -> None:
        try:
            command = POSTING_COMMAND.validate_json(msg.body)
        except ValidationError as exc:
            raise PoisonMessage("invalid_command", str(exc)) from exc
        await store.apply_command(pool, _ref(msg), command)

    @subscribe("results", POSTINGS_RESULTS)
    async def on_result(msg: KafkaMessage) -> None:
        try:
            result = PostingResult.model_validate_json(msg.body)
        except ValidationError as exc:
            raise PoisonMessage("invalid_result", str(exc)) from exc
        await store.apply_result(pool, _ref(msg), result)

    @subscribe("dead-letters", *DEAD_LETTER_TOPICS)
    async def on_dead_letter(msg: KafkaMessage) -> None:
        record = msg.raw_message
        assert not isinstance(record, tuple)
        tenant = record.key.decode() if record.key else None
        await store.apply_dead_letter(pool, _ref(msg), tenant, msg.body, dict(msg.headers))
