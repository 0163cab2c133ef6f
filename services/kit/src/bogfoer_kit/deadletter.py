"""At-least-once consumption with dead letters, for handlers that take the raw message.

A handler either
- succeeds: the offset is committed;
- raises `PoisonMessage`: the record can never be processed as it is; it goes to
  `<topic>.dlq.v1` with the reason in headers and the offset is committed, so nothing is
  lost and nothing blocks;
- raises a transient fault (`TransientFailure`, a connection or timeout error of Postgres,
  Kafka or the network): the record is redelivered after a backoff, in order, for as long
  as it takes (an outage must not dead-letter good records);
- raises anything else (a bug meeting this record): redelivered with backoff up to
  `MAX_UNEXPECTED_ATTEMPTS` times, then dead-lettered as `processing_error`, so one bad
  record cannot stall its partition forever.
The ledger lists dead letters and re-drives one to its original topic
(`POST /v1/dead-letters/{id}/redrive`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable

import asyncpg
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from bogfoer_contracts.topics import dlq_topic
from bogfoer_contracts.topology import Subscription

log = logging.getLogger(__name__)

Handler = Callable[[KafkaMessage], Awaitable[None]]
MAX_BACKOFF_SECONDS = 30.0
MAX_UNEXPECTED_ATTEMPTS = 5


class TransientFailure(Exception):
    """A fault that passes (a dependency is down): retry the record, however long it takes."""


TRANSIENT: tuple[type[BaseException], ...] = (
    TransientFailure,
    OSError,  # connection refused / reset, including asyncpg's connection errors
    TimeoutError,
    asyncpg.exceptions.PostgresConnectionError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    KafkaError,
)


class PoisonMessage(Exception):
    """The record can never be processed as it is; `reason` is machine-readable."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def dlq_headers(reason: str, detail: str, original_topic: str, **more: str) -> dict[str, str]:
    """The headers every dead letter carries (the ledger lists and re-drives by them)."""
    return {
        "x-dlq-reason": reason,
        "x-dlq-detail": detail[:2000],
        "x-original-topic": original_topic,
        "x-dead-lettered-at": dt.datetime.now(dt.UTC).isoformat(),
        **more,
    }


async def dead_letter(broker: KafkaBroker, msg: KafkaMessage, reason: str, detail: str) -> None:
    record = msg.raw_message
    assert not isinstance(record, tuple), "dead letters are per record"
    headers = dict(msg.headers) | dlq_headers(
        reason,
        detail,
        record.topic,
        **{"x-original-partition": str(record.partition), "x-original-offset": str(record.offset)},
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
            except Exception as exc:
                attempt = failures.get(where, 0) + 1
                failures[where] = attempt
                if not isinstance(exc, TRANSIENT) and attempt >= MAX_UNEXPECTED_ATTEMPTS:
                    log.exception("dead-lettering %s after %d failed attempts", where, attempt)
                    await dead_letter(broker, msg, "processing_error", f"{exc!r}")
                    failures.pop(where, None)
                    await msg.ack()
                    return
                delay = min(MAX_BACKOFF_SECONDS, 0.2 * 2**attempt)
                log.exception("failure on %s, attempt %d; retry in %.1fs", where, attempt, delay)
                await asyncio.sleep(delay)
                await msg.nack()
                return
            failures.pop(where, None)
            await msg.ack()

        return wrapper

    return decorate


def reliable_subscriber(
    broker: KafkaBroker, subscription: Subscription, group_prefix: str
) -> Callable[[Handler], object]:
    """Subscribe a handler the one way every Bogfør consumer subscribes: the group and topics
    of one of its service's `Subscription`s (`bogfoer_contracts.topology`, the list the
    production ACLs and autoscaling are rendered from), from the earliest offset, manual
    acks, wrapped by `reliably` (commit after the work is durable, retry transient faults,
    dead-letter poison)."""
    subscriber = broker.subscriber(
        *subscription.topics,
        group_id=subscription.group(group_prefix),
        ack_policy=AckPolicy.MANUAL,
        auto_offset_reset="earliest",
    )

    def decorate(handler: Handler) -> object:
        return subscriber(reliably(broker)(handler))

    return decorate
