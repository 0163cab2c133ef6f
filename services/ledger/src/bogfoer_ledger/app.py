"""ledger's wiring: settings -> pool + migrations -> broker -> FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bogfoer_kit.db import ServiceDatabase
from bogfoer_kit.errors import install_error_handlers
from bogfoer_kit.http import health_router
from bogfoer_kit.kafka import ensure_topics, make_broker
from bogfoer_kit.telemetry import make_tracer_provider
from bogfoer_ledger import handlers
from bogfoer_ledger.api import ops_router
from bogfoer_ledger.settings import LedgerSettings


def create_app(settings: LedgerSettings) -> FastAPI:
    tracer_provider = make_tracer_provider("ledger", settings.otel_exporter)
    broker = make_broker(settings, tracer_provider, client_id="bogfoer-ledger")
    db = ServiceDatabase(settings.database_url, settings.db_schema, "bogfoer_ledger")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await db.open()
        await ensure_topics(settings.kafka_bootstrap_servers)
        handlers.register(broker, settings, pool)
        app.include_router(ops_router(pool, broker))
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()  # drains handlers in flight, then commits
            await db.close()
            tracer_provider.shutdown()

    app = FastAPI(title="Bogfør ledger", version="1", lifespan=lifespan)
    install_error_handlers(app)
    app.include_router(health_router(broker, ("postgres", db.ready)))
    return app
