"""ledger's wiring: settings -> pool + migrations -> broker -> FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI

from bogfoer_kit.db import create_pool, migrate
from bogfoer_kit.http import health_router
from bogfoer_kit.kafka import ensure_topics, make_broker
from bogfoer_kit.telemetry import make_tracer_provider
from bogfoer_ledger import handlers
from bogfoer_ledger.api import ops_router
from bogfoer_ledger.settings import LedgerSettings


def create_app(settings: LedgerSettings) -> FastAPI:
    tracer_provider = make_tracer_provider("ledger", settings.otel_exporter)
    broker = make_broker(settings, tracer_provider, client_id="bogfoer-ledger")
    state: dict[str, asyncpg.Pool] = {}

    async def db_ready() -> bool:
        return bool(await state["pool"].fetchval("SELECT true"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(settings.database_url, settings.db_schema)
        state["pool"] = pool
        await migrate(pool, "bogfoer_ledger")
        await ensure_topics(settings.kafka_bootstrap_servers)
        handlers.register(broker, settings, pool)
        app.include_router(ops_router(pool, broker))
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()  # drains handlers in flight, then commits
            await pool.close()
            tracer_provider.shutdown()

    app = FastAPI(title="Bogfør ledger", version="1", lifespan=lifespan)
    app.include_router(health_router(broker, ("postgres", db_ready)))
    return app
