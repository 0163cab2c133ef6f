"""Publish after commit: rows written in the same transaction as the state they follow
from, published to Kafka only once that transaction committed, deleted once acked.

Each row keeps the trace context it was written in, and is published inside it, so one
sale stays one trace across the outbox.

Each service's migrations create its own `outbox` table with the columns used here. A
crash between publish and delete publishes a row again; every consumer drops such a
duplicate by its event id or posting key.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
from opentelemetry import propagate
from opentelemetry.context import Context

from bogfoer_contracts.topics import key_for
from bogfoer_kit.db import Conn
from bogfoer_kit.publish import Outgoing, Publisher

log = logging.getLogger(__name__)

RELAY_ROWS = 2000  # rows a relay run takes at a time


@dataclass(frozen=True)
class OutboxRow:
    """A record to publish after commit. It is published inside `trace` (the context it
    follows from: the record that caused it), or the current context when None."""

    tenant_id: str
    topic: str
    payload: str
    headers: dict[str, str] = field(default_factory=dict)
    trace: Context | None = None


async def enqueue(
    conn: Conn, tenant_id: str, topic: str, payload: str, headers: dict[str, str] | None = None
) -> None:
    await enqueue_many(conn, [OutboxRow(tenant_id, topic, payload, headers or {})])


async def enqueue_many(conn: Conn, rows: Sequence[OutboxRow]) -> None:
    """Rows in one statement, published in this order."""
    if not rows:
        return
    tenants, topics, payloads, headers = [], [], [], []
    for row in rows:
        carrier: dict[str, str] = {}
        propagate.inject(carrier, context=row.trace)  # the traceparent, if any
        tenants.append(row.tenant_id)
        topics.append(row.topic)
        payloads.append(row.payload)
        headers.append(json.dumps({**row.headers, **carrier}))
    await conn.execute(
        "INSERT INTO outbox (tenant_id, topic, payload, headers)"
        " SELECT tenant_id, topic, payload, headers::jsonb"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) WITH ORDINALITY"
        " AS row(tenant_id, topic, payload, headers, n) ORDER BY n",
        tenants,
        topics,
        payloads,
        headers,
    )


class OutboxRelay:
    def __init__(self, publisher: Publisher, pool: asyncpg.Pool) -> None:
        self.publisher = publisher
        self.pool = pool
        self._lock = asyncio.Lock()
        self._wanted = False
        self._draining: asyncio.Task[None] | None = None

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
        """Wait for the runs `soon` started (before a shutdown closes the pool)."""
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
            while True:
                async with self.pool.acquire() as conn, conn.transaction():
                    rows = await conn.fetch(
                        "SELECT seq, tenant_id, topic, payload, headers::text AS headers"
                        " FROM outbox ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                        RELAY_ROWS,
                    )
                    if not rows:
                        return sent
                    # Handed over in order (the idempotent producer keeps a partition's
                    # order), all acks awaited, then the rows deleted. Each row is published
                    # inside its own trace: its headers keep the traceparent it was written in.
                    await self.publisher.publish(
                        [
                            Outgoing(
                                r["topic"],
                                r["payload"].encode(),
                                key_for(r["tenant_id"]),
                                {"content-type": "application/json", **json.loads(r["headers"])},
                            )
                            for r in rows
                        ]
                    )
                    await conn.execute(
                        "DELETE FROM outbox WHERE seq = ANY($1::bigint[])", [r["seq"] for r in rows]
                    )
                    sent += len(rows)
                if len(rows) < RELAY_ROWS:
                    # All that was committed when the run began (a consumer's flush after its
                    # poll); rows committed since are their writer's to ask for.
                    return sent
