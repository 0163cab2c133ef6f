"""At-least-once consumption with dead letters, for handlers that take the raw message.

A handler either succeeds (the offset is committed), raises `PoisonMessage` (the record
cannot ever be processed: it goes to `<topic>.dlq.v1` with the reason in headers, then
the offset is committed, so nothing is lost and nothing blocks), or raises anything else
(a transient fault such as a database restart: the record is redelivered after a backoff,
in order, and the offset is not committed). Dead letters are re-driven with
`python -m bogfoer_kit.redrive`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable

from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from bogfoer_contracts.topics import dlq_topic

log = logging.getLogger(__name__)

Handler = Callable[[KafkaMessage], Awaitable[None]]
MAX_BACKOFF_SECONDS = 30.0


class PoisonMessage(Exception):
    """The record can never be processed as it is; `reason` is machine-readable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


async def dead_letter(broker: KafkaBroker, msg: KafkaMessage, reason: str, detail: str) -> None:
    record = msg.raw_message
    assert not isinstance(record, tuple), "dead letters are per record"
    headers = dict(msg.headers)
    headers.update(
        {
            "x-dlq-reason": reason,
            "x-dlq-detail": detail[:2000],
            "x-original-topic": record.topic,
            "x-original-partition": str(record.partition),
            "x-original-offset": str(record.offset),
            "x-dead-lettered-at": dt.datetime.now(dt.UTC).isoformat(),
        }
    )
    await broker.publish(
        record.value,
        topic=dlq_topic(record.topic),
        key=record.key,
        headers=headers,
    )


def reliably(broker: KafkaBroker) -> Callable[[Handler], Handler]:
    """Wrap a MANUAL-ack subscriber with commit-after-success, backoff and dead letters."""

    def decorate(handler: Handler) -> Handler:
        failures: dict[tuple[str, int, int], int] = {}

        @functools.wraps(handler)
        async def wrapper(msg: KafkaMessage) -> None:
            record = msg.raw_message
            assert not isinstance(record, tuple)
            where = (record.topic, record.partition, record.offset)
            try:
                await handler(msg)
            except PoisonMessage as poison:
                log.warning("dead-lettering %s: %s", where, poison)
                await dead_letter(broker, msg, poison.reason, poison.detail)
            except asyncio.CancelledError:
                raise
            except Exception:
                attempt = failures.get(where, 0) + 1
                failures[where] = attempt
                delay = min(MAX_BACKOFF_SECONDS, 0.2 * 2**attempt)
                log.exception(
                    "transient failure on %s, attempt %d; retry in %.1fs", where, attempt, delay
                )
                await asyncio.sleep(delay)
                await msg.nack()
                return
            failures.pop(where, None)
            await msg.ack()

        return wrapper

    return decorate
