"""What a consumer does with a record it cannot handle: the failure kinds and the headers
of a dead letter (the loop that applies them is `bogfoer_kit.consumer`).

A handler either
- succeeds: the offset is committed;
- raises `PoisonMessage` (or dead-letters one record of its batch): the record can never be
  processed as it is; it goes to `<topic>.dlq.v1` with the reason in headers and the offset
  is committed, so nothing is lost and nothing blocks;
- raises a transient fault (`is_transient`: `TransientFailure`, a connection or timeout
  error of Postgres, Kafka or the network, a connection lost under the handler): the record
  is redelivered after a backoff, in order, for as long as it takes (an outage must not
  dead-letter good records);
- raises anything else (a bug meeting this record): redelivered with backoff until it has
  failed so `MAX_UNEXPECTED_ATTEMPTS` times, then dead-lettered as `processing_error`, so one
  bad record cannot stall its partition forever. Only such failures count: the ones an
  outage caused meanwhile do not.
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
    asyncpg.exceptions.PostgresConnectionError,  # incl. "closed in the middle of operation"
    asyncpg.exceptions.AdminShutdownError,  # the server is stopping (57P01)
    asyncpg.exceptions.CrashShutdownError,  # another backend crashed (57P02)
    asyncpg.exceptions.CannotConnectNowError,  # starting up or shutting down (57P03)
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.TransactionRollbackError,  # a deadlock or serialization failure
    KafkaError,
)

# asyncpg's InterfaceError for a connection that went away under the handler (the server
# stopped between two statements): "connection is closed", and from a transaction's exit or
# a prepared statement "the underlying connection is closed". Other InterfaceErrors are
# bugs (too many arguments, a connection used after its release).
_CONNECTION_LOST = "connection is closed"


def is_transient(exc: BaseException) -> bool:
    """Is `exc` a fault that passes? A `TRANSIENT` type, asyncpg's word that the connection
    is gone, or a failure raised while handling one of these: a database restart between
    two statements reaches the handler as the transaction's exit failing on the closed
    connection (`InterfaceError`), the connection error only as its context."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, TRANSIENT):
            return True
        if isinstance(current, asyncpg.InterfaceError) and _CONNECTION_LOST in str(current):
            return True
        pending += [current.__cause__, current.__context__]
    return False


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
