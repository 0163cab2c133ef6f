"""Kafka intake: a command is durable in the poster's queue before its offset commits (a
re-mapped command, with a higher revision, replaces the stored one); an operator's action
(retry a posting, resume a tenant) is carried out once."""

from __future__ import annotations

import asyncpg
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from opentelemetry import propagate
from pydantic import ValidationError

from bogfoer_contracts.ops import OPS_ACTION
from bogfoer_contracts.postings import POSTING_COMMAND
from bogfoer_contracts.topology import POSTER
from bogfoer_kit.deadletter import PoisonMessage, reliable_subscriber
from bogfoer_poster import store
from bogfoer_poster.settings import PosterSettings
from bogfoer_poster.workers import Supervisor


def register(
    broker: KafkaBroker, settings: PosterSettings, pool: asyncpg.Pool, supervisor: Supervisor
) -> None:
    @reliable_subscriber(broker, POSTER.subscription("commands"), settings.group_id)
    async def on_command(msg: KafkaMessage) -> None:
        try:
            command = POSTING_COMMAND.validate_json(msg.body)
        except ValidationError as exc:
            raise PoisonMessage("invalid_command", str(exc)) from exc
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # the consumer span this command arrived in
        async with pool.acquire() as conn:
            # A known posting key is a duplicate (dropped) unless re-mapped (a higher revision).
            await store.intake(conn, command, carrier.get("traceparent"))
        supervisor.wake.set()

    @reliable_subscriber(broker, POSTER.subscription("actions"), settings.group_id)
    async def on_action(msg: KafkaMessage) -> None:
        try:
            action = OPS_ACTION.validate_json(msg.body)
        except ValidationError as exc:
            raise PoisonMessage("invalid_action", str(exc)) from exc
        await supervisor.carry_out(action)
