"""Readiness tells the truth: `/health/ready` answers 503, naming the failing check and why,
when a consumer of the service is no longer consuming or a dependency fails; 200 only when
every check passes. Against the real broker (the database and broker outages themselves,
and the poster's workers, are in tests/e2e/test_recovery.py and test_poster_workers.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from bogfoer_contracts.topology import MAPPER
from bogfoer_kit.consumer import Consumers, TenantBatch
from bogfoer_kit.http import Readiness, health_router

pytestmark = pytest.mark.integration


class _Broken:
    def __init__(self) -> None:
        self.why: str | None = None

    async def check(self) -> str | None:
        if self.why == "raise":
            raise ConnectionRefusedError("connect call failed")
        return self.why


@pytest.fixture
async def service(topics: str) -> AsyncIterator[tuple[httpx.AsyncClient, Consumers, _Broken]]:
    """A service's readiness as the four services wire it: its broker and its consumer loops
    (`bogfoer_kit.consumer`), here the mapper's `events` loop with a handler that does
    nothing."""
    broker = KafkaBroker(topics)
    consumers = Consumers(
        broker, MAPPER, f"it-ready-{uuid4().hex[:8]}", {"bootstrap_servers": topics}
    )

    async def on_events(batch: TenantBatch) -> None:
        return None

    consumers.subscribe("events", on_events)
    readiness = Readiness(broker, consumers)
    database = _Broken()
    readiness.add("postgres", database.check)
    app = FastAPI()
    app.include_router(health_router(readiness))
    await broker.start()
    await consumers.start()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
            yield http, consumers, database
    finally:
        await consumers.stop()
        await broker.stop()


async def _ready(http: httpx.AsyncClient) -> tuple[int, dict[str, Any]]:
    response = await http.get("/health/ready")
    body: dict[str, Any] = response.json()
    return response.status_code, body


async def test_ready_when_every_check_passes(
    service: tuple[httpx.AsyncClient, Consumers, _Broken],
) -> None:
    http, _, _ = service
    assert await _ready(http) == (
        200,
        {
            "ready": True,
            "checks": {"kafka": True, "consumers": True, "postgres": True},
            "failing": {},
        },
    )


async def test_a_consumer_that_stopped_consuming_is_named(
    service: tuple[httpx.AsyncClient, Consumers, _Broken],
) -> None:
    http, consumers, _ = service
    loop = consumers.loops["events"]
    assert loop.task is not None
    loop.task.cancel()  # its poll loop is gone, while nobody asked it to stop
    await asyncio.gather(loop.task, return_exceptions=True)
    status, body = await _ready(http)
    assert status == 503
    assert body["checks"] == {"kafka": True, "consumers": False, "postgres": True}
    assert body["failing"] == {"consumers": "not consuming: events: its loop ended"}


@pytest.mark.parametrize(
    ("why", "expected"),
    [
        ("the database is not open yet", "the database is not open yet"),
        ("raise", "ConnectionRefusedError: connect call failed"),
    ],
)
async def test_a_failing_dependency_is_named_with_its_reason(
    service: tuple[httpx.AsyncClient, Consumers, _Broken], why: str, expected: str
) -> None:
    http, _, database = service
    database.why = why
    status, body = await _ready(http)
    assert (status, body["ready"], body["failing"]) == (503, False, {"postgres": expected})
    database.why = None
    assert (await _ready(http))[0] == 200
