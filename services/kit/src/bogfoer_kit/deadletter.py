"""What a consumer does with a record it cannot handle: the failure kinds and the headers
of a dead letter (the loop that applies them is `bogfoer_kit.consumer`).

A handler either
- succeeds: the offset is committed;
- raises `PoisonMessage` (or dead-letters one record of its batch): the record can never be
  processed as it is; it goes to `<topic>.dlq.v1` with the reason in headers and the offset
  is committed, so nothing is lost and nothing blocks;
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

import datetime as dt

import asyncpg
from aiokafka.errors import KafkaError

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
