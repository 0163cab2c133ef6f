"""The rows of the postings a batch of commands creates and of their first history lines, as
PostgreSQL's binary COPY reads them (`COPY ... FROM STDIN (FORMAT binary)`), encoded here for
exactly these columns' types. asyncpg's `copy_records_to_table` encodes any row through a
codec per value; its `timestamptz` codec alone (the command's time, three times a command)
did more work than a row's other columns together.

The format (PostgreSQL's `COPY` documentation, "Binary Format"): a signature, then each row
as its number of fields (int16) and each field as its length in bytes (int32; -1 for NULL)
and its bytes in the type's `send` format, then -1 (int16). The types here: `text` is its
UTF-8; `bigint` 8 bytes and `integer` 4, big-endian; `timestamptz` the microseconds since
2000-01-01 00:00 UTC as a bigint; `jsonb` a version byte (1) and the JSON text; `text[]` its
dimensions (0 or 1), a flag for NULLs (none), the element type (`text`, OID 25), the
dimension's length and lower bound (1), then each element as a field."""

from __future__ import annotations

import datetime as dt
import struct

from bogfoer_ledger.rules import Posting, Transition

# The columns each row below fills, in order.
POSTINGS_COLUMNS = (
    "posting_key",
    "tenant_id",
    "kind",
    "state",
    "amount_minor",
    "currency",
    "depends_on",
    "command",
    "created_at",
    "updated_at",
    "trace_id",
)
LINES_COLUMNS = ("posting_key", "from_state", "to_state", "topic", "partition", "offset", "at")

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(4) + bytes(4)  # no flags, no header extension
TRAILER = b"\xff\xff"

_NULL = b"\xff\xff\xff\xff"
_LENGTH = struct.Struct(">i").pack
_BIGINT = struct.Struct(">iq").pack  # a field of 8 bytes: (8, value)
_JSONB = struct.Struct(">ib").pack  # a field's length, then jsonb's version (1)
_POSITION = struct.Struct(">iiiq").pack  # (4, partition), (8, offset)
_TEXT_OID = 25
_ARRAY = struct.Struct(">iiiiii").pack  # length, dimensions, NULLs, element type, size, bound
_NO_TEXTS = struct.pack(">iiii", 12, 0, 0, _TEXT_OID)
_POSTINGS_FIELDS = struct.pack(">h", len(POSTINGS_COLUMNS))
_LINES_FIELDS = struct.pack(">h", len(LINES_COLUMNS))
_PENDING = _LENGTH(7) + b"pending"

_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)


def _texts(values: list[str]) -> bytes:
    """A `text[]` field of `values`."""
    if not values:
        return _NO_TEXTS
    parts = [b""]
    size = 20
    for value in values:
        encoded = value.encode()
        parts += (_LENGTH(len(encoded)), encoded)
        size += 4 + len(encoded)
    parts[0] = _ARRAY(size, 1, 0, _TEXT_OID, len(values), 1)
    return b"".join(parts)


def _text(value: str) -> bytes:
    encoded = value.encode()
    return _LENGTH(len(encoded)) + encoded


def commanded(new: list[Posting], created: dict[str, Transition]) -> tuple[bytes, bytes]:
    """The copies (`POSTINGS_COLUMNS`, `LINES_COLUMNS`) of postings commands create, each
    `pending` at its command's time with the first line `created` holds for it: the rows
    `store` copied through asyncpg (its `timestamptz` in UTC, the same instant), in order."""
    postings = [SIGNATURE]
    lines = [SIGNATURE]
    # A batch is one tenant's, its kinds and currencies a few: each encoded once.
    fields: dict[str, bytes] = {}

    def field(value: str) -> bytes:
        found = fields.get(value)
        if found is None:
            encoded = value.encode()
            found = fields[value] = _LENGTH(len(encoded)) + encoded
        return found

    for p in new:
        line = created[p.posting_key]
        ref = line.ref
        key = _text(p.posting_key)
        if p.command is None:
            document_length, document = _NULL, b""
        else:
            document = p.command.encode()
            document_length = _JSONB(len(document) + 1, 1)
        # The same instant for the three columns, computed once (asyncpg's codec made each
        # UTC, then subtracted its epoch).
        at = _NULL if p.created_at is None else _BIGINT(8, (p.created_at - _EPOCH) // _MICROSECOND)
        postings += (
            _POSTINGS_FIELDS,
            key,
            field(p.tenant_id),
            field(p.kind),
            _PENDING,
            _NULL if p.amount_minor is None else _BIGINT(8, p.amount_minor),
            _NULL if p.currency is None else field(p.currency),
            _NULL if p.depends_on is None else _texts(p.depends_on),
            document_length,
            document,
            at,
            at,
            _NULL if p.trace_id is None else _text(p.trace_id),
        )
        lines += (
            _LINES_FIELDS,
            key,
            _NULL,
            _PENDING,
            field(ref.topic),
            _POSITION(4, ref.partition, 8, ref.offset),
            at,
        )
    postings.append(TRAILER)
    lines.append(TRAILER)
    return b"".join(postings), b"".join(lines)
