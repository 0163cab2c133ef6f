"""Publish after commit: rows written in the same transaction as the state they follow
from, published to Kafka only once that transaction committed, deleted once acked.

Each row keeps the trace context it was written in, and is published inside it, so one
sale stays one trace across the outbox.

Each service's migrations create its own `outbox` table with the columns used here. A
crash between publish and delete publishes a row again; every consumer drops such a
duplicate by its event id or posting key.

A row holds one record (`topic`, `payload`, `headers`) or a run of one tenant's records
written together (`topics`, `payloads`, `headers_list`: `enqueue_many` writes each run of
consecutive records of a tenant as one row): its records are published together, in their
order, and deleted together. A run in one row was a heap tuple, an index entry and a WAL
record fewer per record to insert, lock and delete (the mapper's commands of a tenant batch).

A writer that keeps what it wrote (`enqueue_many` returns it) hands it to the relay once its
transaction committed (`OutboxRelay.committed`): the next run publishes those rows from
memory and deletes them in one statement, instead of locking them and reading them back.
Only when no other row older than one of them waits in the table and no other run holds
one of them (else they go the ordinary way, in order): a tenant's rows are published in the
order they were written either way, and a replica's run never publishes a second copy of
rows another holds.

Two replicas' runs share the table: a run takes the oldest rows it can lock (another run's
are skipped, so one slow tenant does not hold up the others) but publishes none of a
tenant's rows that come after an older row of that tenant it did not take — held by another
run, its publish in flight — and asks again shortly (`RETRY_SECONDS`): else the later row
could reach the tenant's partition first. (A row whose transaction is not yet committed is
not seen: two writers' transactions of one tenant at once would keep their commit order,
not their seqs'.)
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import asyncpg
from opentelemetry import propagate
from opentelemetry.context import Context

from bogfoer_contracts.topics import key_for
from bogfoer_kit.db import Conn, json_texts
from bogfoer_kit.publish import Outgoing, Publisher
from bogfoer_kit.slots import setters

log = logging.getLogger(__name__)

# Records a row of a run holds at most (a longer run is written as several rows, in order),
# and rows a relay run takes at a time: together they bound what a run holds in memory to
# RELAY_ROWS x RUN_RECORDS records (100,000), however many rows waited — a backlog builds
# while Kafka refuses the publishes and the consumers go on mapping what they poll, a row
# per tenant a poll, each of up to a poll's records (10,000). Rows of one record (the
# poster's results) go 200 a round trip; the mapper's are published from memory
# (`OutboxRelay.committed`) unless something older waits.
RUN_RECORDS = 500
RELAY_ROWS = 200
RETRY_SECONDS = 0.05  # rows left behind another run's are asked for again after this

# A relay run's rows: the oldest it can lock (another run's are skipped, so one slow tenant
# does not hold up the others), each with whether an older row of its tenant is not among
# them — held by another run (or deleted by one since this statement's snapshot): such a row
# is `behind`, left locked and unpublished until this run ends. The rows up to the newest
# taken are one range of the primary key. Tenants in $2 were found behind in this run's
# earlier batch: not taken again.
_TAKE = (
    "WITH taken AS MATERIALIZED (SELECT seq, tenant_id, topic, payload, headers, topics,"
    " payloads, headers_list FROM outbox"
    " WHERE tenant_id <> ALL($2::text[]) ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED),"
    " held AS (SELECT o.tenant_id, min(o.seq) AS seq FROM outbox o"
    " WHERE o.seq <= (SELECT max(seq) FROM taken)"
    " AND NOT EXISTS (SELECT 1 FROM taken t WHERE t.seq = o.seq) GROUP BY o.tenant_id)"
    " SELECT t.seq, t.tenant_id, t.topic, t.payload, t.headers::text AS headers, t.topics,"
    " t.payloads, t.headers_list, coalesce(t.seq > h.seq, false) AS behind"
    " FROM taken t LEFT JOIN held h USING (tenant_id) ORDER BY t.seq"
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A record to publish after commit. It is published inside `trace` (the context it
    follows from: the record that caused it), or the current context when None."""

    tenant_id: str
    topic: str
    payload: str
    headers: dict[str, str] = field(default_factory=dict)
    trace: Context | None = None

    @classmethod
    def of(cls, tenant_id: str, topic: str, payload: str, trace: Context | None) -> OutboxRow:
        """`OutboxRow(tenant_id, topic, payload, trace=trace)` (no headers of its own), its
        fields set through their slots: the frozen class's `__init__` sets each through
        `object.__setattr__` (~1 against ~0.4 µs; the mapper writes a row a command)."""
        made = _new(cls)
        _SET_ROW_TENANT(made, tenant_id)
        _SET_ROW_TOPIC(made, topic)
        _SET_ROW_PAYLOAD(made, payload)
        _SET_ROW_HEADERS(made, {})
        _SET_ROW_TRACE(made, trace)
        return made


# Each of a row's slots, set directly (`OutboxRow.of`).
_new = object.__new__
_SET_ROW_TENANT, _SET_ROW_TOPIC, _SET_ROW_PAYLOAD, _SET_ROW_HEADERS, _SET_ROW_TRACE = setters(
    OutboxRow, "tenant_id", "topic", "payload", "headers", "trace"
)


async def enqueue(
    conn: Conn, tenant_id: str, topic: str, payload: str, headers: dict[str, str] | None = None
) -> None:
    await enqueue_many(conn, [OutboxRow(tenant_id, topic, payload, headers or {})])


@dataclass(frozen=True)
class Written:
    """What `enqueue_many` wrote: the seqs of its table rows, and each record as the relay
    would read it back."""

    seqs: list[int]
    records: list[Outgoing]


_INSERT_ONE = (
    "INSERT INTO outbox (tenant_id, topic, payload, headers) VALUES ($1, $2, $3, $4::jsonb)"
    " RETURNING seq"
)
# A run's topics and headers as one JSON array each (`db.json_texts`), its payloads a text[],
# cut into rows of up to $5 records (RUN_RECORDS) in the statement: one round trip a run,
# the seqs back as one array in the order written.
_INSERT_RUN = (
    "WITH run AS (SELECT"
    " ARRAY(SELECT t FROM json_array_elements_text($2::json) WITH ORDINALITY AS a(t, n)"
    " ORDER BY n) AS topics, $3::text[] AS payloads,"
    " ARRAY(SELECT t FROM json_array_elements_text($4::json) WITH ORDINALITY AS a(t, n)"
    " ORDER BY n) AS headers),"
    " written AS (INSERT INTO outbox (tenant_id, topics, payloads, headers_list)"
    " SELECT $1, topics[i:i + $5 - 1], payloads[i:i + $5 - 1], headers[i:i + $5 - 1]"
    " FROM run, generate_series(1, cardinality(payloads), $5::int) AS i ORDER BY i"
    " RETURNING seq)"
    " SELECT array_agg(seq ORDER BY seq) FROM written"
)


async def enqueue_many(conn: Conn, rows: Sequence[OutboxRow]) -> Written:
    """Records in order, published in this order: each run of consecutive records of one
    tenant in one statement, as rows of up to RUN_RECORDS records; a lone record in a row of
    its own (the columns of one).

    A record without headers written in an empty context (a record that came without a
    trace: most of the mapper's) is stored as `{}` and published with the headers every
    such record has (`_PLAIN`, one object), not with two dicts of its own made by merging
    and sorting nothing. A run's stored headers are each record's JSON with its keys in
    jsonb's order (`_as_jsonb`), so that a run read back publishes them as a record of its
    own read back does, and as they are published from memory."""
    if not rows:
        return Written([], [])
    seqs: list[int] = []
    records: list[Outgoing] = []
    for tenant, run in itertools.groupby(rows, key=_TENANT):
        seqs += await _enqueue_run(conn, tenant, list(run), records)
    return Written(seqs, records)


_TENANT = operator.attrgetter("tenant_id")


async def _enqueue_run(
    conn: Conn, tenant: str, rows: Sequence[OutboxRow], records: list[Outgoing]
) -> list[int]:
    """One tenant's records in one statement (rows of up to RUN_RECORDS); each appended to
    `records` as published. Returns the rows' seqs."""
    key = key_for(tenant)
    topics, payloads, headers = [], [], []
    for row in rows:
        topic, payload, trace = row.topic, row.payload, row.trace
        if not row.headers and trace is not None and not trace:
            stored_text, published = "{}", _PLAIN
        else:
            carrier: dict[str, str] = {}
            # The traceparent, if any. An empty context (a record that came without one)
            # has nothing to inject: skipped, a few µs a row.
            if trace is None or trace:
                propagate.inject(carrier, context=trace)
            stored = _as_jsonb({**row.headers, **carrier})
            stored_text = json.dumps(stored) if stored else "{}"
            published = _with_content_type(stored)
        topics.append(topic)
        payloads.append(payload)
        headers.append(stored_text)
        records.append(Outgoing.of(topic, payload.encode(), key, published))
    if len(rows) == 1:
        return [await conn.fetchval(_INSERT_ONE, tenant, topics[0], payloads[0], headers[0])]
    seqs = await conn.fetchval(
        _INSERT_RUN, tenant, json_texts(topics), payloads, json_texts(headers), RUN_RECORDS
    )
    return list(seqs)


# A record's headers where its row has none: shared by every such record, never changed
# (`Publisher` only reads a record's headers).
_PLAIN: Mapping[str, str] = MappingProxyType({"content-type": "application/json"})


def _outgoing(tenant_id: str, topic: str, payload: str, headers: dict[str, str]) -> Outgoing:
    """A record as it is published. Inside its own trace: its headers keep the traceparent
    it was written in."""
    return Outgoing(topic, payload.encode(), key_for(tenant_id), _with_content_type(headers))


def _read_back(row: asyncpg.Record) -> list[Outgoing]:
    """A table row's records, in order."""
    tenant = row["tenant_id"]
    if row["payloads"] is None:
        return [_outgoing(tenant, row["topic"], row["payload"], json.loads(row["headers"]))]
    return [
        _outgoing(tenant, topic, payload, json.loads(headers))
        for topic, payload, headers in zip(
            row["topics"], row["payloads"], row["headers_list"], strict=True
        )
    ]


def _with_content_type(headers: dict[str, str]) -> Mapping[str, str]:
    return {"content-type": "application/json", **headers} if headers else _PLAIN


def _as_jsonb(headers: dict[str, str]) -> dict[str, str]:
    """`headers` as they come back from the table's jsonb column: its keys shortest first,
    then by their bytes (PostgreSQL's order for an object's keys), so a row published from
    memory carries its headers in the order the same row read back would."""
    return dict(sorted(headers.items(), key=lambda kv: (len(kv[0].encode()), kv[0].encode())))


class OutboxRelay:
    def __init__(self, publisher: Publisher, pool: asyncpg.Pool) -> None:
        self.publisher = publisher
        self.pool = pool
        self._lock = asyncio.Lock()
        self._wanted = False
        self._draining: asyncio.Task[None] | None = None
        self._in_hand: list[Written] = []
        self._retry: asyncio.Task[None] | None = None

    def committed(self, written: Written) -> None:
        """Rows whose transaction committed: the next run publishes them from memory."""
        if written.seqs:
            self._in_hand.append(written)

    def soon(self) -> None:
        """Have what is committed now published shortly, without waiting for it.

        For many concurrent writers (the poster's tenant workers): one relay runs at a time,
        and every request made while it runs is served by one more run after it, which sees
        the rows committed before the request. A failed run is logged; the rows stay in the
        outbox for the next run (whoever calls `relay` on a schedule sees the failure)."""
        self._wanted = True
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain(), name="outbox-relay")

    async def _drain(self) -> None:
        while self._wanted:
            self._wanted = False
            try:
                await self.relay()
            except Exception as exc:  # the rows wait in the outbox for the next run
                log.warning("publishing the outbox failed (%r); its rows wait", exc)
                return

    async def settle(self) -> None:
        """Wait for the runs `soon` started (before a shutdown closes the pool). A retry not
        yet started is dropped: its rows wait in the outbox for the next run."""
        if self._retry is not None:
            self._retry.cancel()
            await asyncio.gather(self._retry, return_exceptions=True)
        if self._draining is not None:
            await asyncio.gather(self._draining, return_exceptions=True)

    async def relay(self) -> int:
        """Publish committed rows in order; other replicas skip rows this one holds.

        A run ends once it has published what was committed when it began: one that went on
        until the table was empty would not end while writers keep adding rows, and neither
        would whoever awaits it — the poster's supervisor, whose rounds start the tenants'
        workers, waited minutes under a backlog."""
        sent = 0
        async with self._lock:
            in_hand, self._in_hand = self._in_hand, []
            if in_hand:
                sent = await self._publish_in_hand(in_hand)
            behind: list[str] = []  # tenants with an older row another run holds
            try:
                while True:
                    async with self.pool.acquire() as conn, conn.transaction():
                        rows = await conn.fetch(_TAKE, RELAY_ROWS, behind)
                        if not rows:
                            return sent
                        ours = [r for r in rows if not r["behind"]]
                        behind += {r["tenant_id"] for r in rows if r["behind"]}
                        # Handed over in order (the idempotent producer keeps a partition's
                        # order), all acks awaited, then the rows deleted.
                        if ours:
                            records = [record for r in ours for record in _read_back(r)]
                            await self.publisher.publish(records)
                            await conn.execute(
                                "DELETE FROM outbox WHERE seq = ANY($1::bigint[])",
                                [r["seq"] for r in ours],
                            )
                            sent += len(records)
                    if len(rows) < RELAY_ROWS:
                        # All that was committed when the run began (a consumer's flush after
                        # its poll); rows committed since are their writer's to ask for.
                        return sent
            finally:
                if behind:
                    self._retry_later()

    def _retry_later(self) -> None:
        """Rows this run left behind an older row of their tenant another run holds: asked
        for again shortly, by this relay — the run holding the older row may have ended
        before they were committed, and their writer asked already."""
        if self._retry is None or self._retry.done():
            self._retry = asyncio.create_task(self._after(RETRY_SECONDS), name="outbox-retry")

    async def _after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self.soon()

    async def _publish_in_hand(self, in_hand: list[Written]) -> int:
        """Rows committed by this process, published from memory and deleted in one
        statement, under the row locks an ordinary run takes (another replica's run skips
        them, as it skips rows an ordinary run holds). None when another row older than one
        of them waits in the table (a crash's, a failed run's, another writer's) or when
        another run holds one of them: then the ordinary run publishes them, in order."""
        seqs = [seq for written in in_hand for seq in written.seqs]
        async with self.pool.acquire() as conn, conn.transaction():
            # Ours all locked, and up to the newest of them the table holds exactly them.
            counts = await conn.fetchrow(
                "WITH mine AS (SELECT seq FROM outbox WHERE seq = ANY($1::bigint[])"
                " FOR UPDATE SKIP LOCKED)"
                " SELECT (SELECT count(*) FROM mine), (SELECT count(*) FROM outbox"
                " WHERE seq <= $2)",
                seqs,
                max(seqs),
            )
            if counts is None or tuple(counts) != (len(seqs), len(seqs)):
                return 0
            records = [r for written in in_hand for r in written.records]
            await self.publisher.publish(records)
            await conn.execute("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", seqs)
        return len(records)
