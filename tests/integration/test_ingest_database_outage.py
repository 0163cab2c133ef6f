"""ingest with its PostgreSQL gone (seen in `make chaos`, seed 4009): a request for a tenant
whose credentials the replica does not hold (new to it, or forgotten because the database
could not be asked for changes) was answered 500 while the database restarted. It is a 503
with `Retry-After`, like the broker's outage (test_kafka_outage.py): nothing was accepted and
the same body is safe to resend; once the database is back the same request is answered
as usual without a restart."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bogfoer_devstack.postgres import Postgres
from bogfoer_devstack.stack import Stack
from tests.integration.conftest import (
    create_database,
    drop_database,
    make_stack,
    new_tenant,
    running,
)

pytestmark = pytest.mark.integration

EVENT = json.dumps(
    {
        "type": "order.fulfilled",
        "source": "shopify",
        "source_event_id": "f-1",
        "occurred_at": "2026-11-20T10:00:00+01:00",
        "data": {"order_id": "1001", "fulfilled_at": "2026-11-20T12:00:00+01:00"},
    }
).encode()


@pytest.fixture
async def ingest_on_restartable_database(
    topics: str, restartable_postgres: Postgres, tmp_path: Path
) -> AsyncIterator[Stack]:
    database = await create_database(restartable_postgres.url)
    try:
        async with running(make_stack(tmp_path, topics, database), "ingest") as stack:
            yield stack
    finally:
        await drop_database(restartable_postgres.url, database)


async def test_a_tenant_read_while_the_database_is_down_is_told_to_retry_not_answered_500(
    ingest_on_restartable_database: Stack, restartable_postgres: Postgres
) -> None:
    ingest = ingest_on_restartable_database
    tenant = new_tenant()  # never asked for: its credentials must be read from PostgreSQL
    doors = {
        "events": f"{ingest.url('ingest')}/v1/tenants/{tenant}/events",
        "stripe": f"{ingest.url('ingest')}/v1/tenants/{tenant}/webhooks/stripe",
    }
    headers = {"Content-Type": "application/json", "Authorization": "Bearer x"}
    async with httpx.AsyncClient(timeout=30) as http:
        await asyncio.to_thread(restartable_postgres.stop, "fast")
        try:
            down = {
                door: await http.post(url, content=EVENT, headers=headers)
                for door, url in doors.items()
            }
        finally:
            await asyncio.to_thread(restartable_postgres.start)
        for door, answer in down.items():
            assert answer.status_code == 503, (door, answer.status_code, answer.text)
            assert answer.json()["error"]["reason"] == "database_unavailable", door
            assert int(answer.headers["Retry-After"]) > 0, door
        # Back: the same requests are answered as usual (no such tenant), without a restart.
        for door, url in doors.items():
            again = await http.post(url, content=EVENT, headers=headers)
            assert (door, again.status_code) == (door, 404), again.text
