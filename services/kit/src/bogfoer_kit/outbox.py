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

import asyncpg
from faststream.kafka import KafkaBroker
from opentelemetry import context as otel_context
from opentelemetry import propagate

from bogfoer_contracts.topics import key_for
from bogfoer_kit.db import Conn


async def enqueue(
    conn: Conn, tenant_id: str, topic: str, payload: str, headers: dict[str, str] | None = None
) -> None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)  # the current span's traceparent, if any
    await conn.execute(
        "INSERT INTO outbox (tenant_id, topic, payload, headers) VALUES ($1, $2, $3, $4::jsonb)",
        tenant_id,
        topic,
        payload,
        json.dumps({**(headers or {}), **carrier}),
    )


_TRACE_HEADERS = ("traceparent", "tracestate")


class OutboxRelay:
    def __init__(self, broker: KafkaBroker, pool: asyncpg.Pool) -> None:
        self.broker = broker
        self.pool = pool
        self._lock = asyncio.Lock()

    async def relay(self) -> int:
        """Publish committed rows in order; other replicas skip rows this one holds."""
        sent = 0
        async with self._lock:
            while True:
                async with self.pool.acquire() as conn, conn.transaction():
                    rows = await conn.fetch(
                        "SELECT seq, tenant_id, topic, payload, headers::text AS headers"
                        " FROM outbox ORDER BY seq LIMIT 500 FOR UPDATE SKIP LOCKED"
                    )
                    if not rows:
                        return sent
                    # Enqueue in order without waiting for each ack (the idempotent producer
                    # keeps the order), then wait for all acks before the rows are deleted.
                    acks = []
                    for r in rows:
                        headers = {"content-type": "application/json", **json.loads(r["headers"])}
                        # Publish inside the row's own trace; the telemetry middleware
                        # writes the traceparent of its producer span.
                        trace_context = propagate.extract(headers)
                        for name in _TRACE_HEADERS:
                            headers.pop(name, None)
                        token = otel_context.attach(trace_context)
                        try:
                            acks.append(
                                await self.broker.publish(
                                    r["payload"].encode(),
                                    topic=r["topic"],
                                    key=key_for(r["tenant_id"]),
                                    headers=headers,
                                    no_confirm=True,
                                )
                            )
                        finally:
                            otel_context.detach(token)
                    await asyncio.gather(*acks)
                    await conn.execute(
                        "DELETE FROM outbox WHERE seq = ANY($1::bigint[])", [r["seq"] for r in rows]
                    )
                    sent += len(rows)
