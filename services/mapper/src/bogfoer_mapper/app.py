"""mapper's wiring: settings -> pool + migrations -> broker -> FastAPI app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bogfoer_contracts.topology import MAPPER
from bogfoer_kit.consumer import check_subscriptions, make_consumers
from bogfoer_kit.db import ServiceDatabase
from bogfoer_kit.errors import install_error_handlers
from bogfoer_kit.http import Readiness, health_router
from bogfoer_kit.kafka import ensure_topics, make_broker
from bogfoer_kit.metrics import install_http_metrics, metrics_router
from bogfoer_kit.telemetry import make_tracer_provider
from bogfoer_mapper import handlers
from bogfoer_mapper.settings import MapperSettings


def create_app(settings: MapperSettings) -> FastAPI:
    tracer_provider = make_tracer_provider("mapper", settings.otel_exporter)
    broker = make_broker(settings, tracer_provider, MAPPER)
    consumers = make_consumers(settings, broker, MAPPER, settings.group_id)
    db = ServiceDatabase(
        settings.database_url,
        settings.db_schema,
        "bogfoer_mapper",
        ca_file=settings.database_ca_file,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        pool = await db.open()
        await ensure_topics(settings, MAPPER)
        mapper = handlers.Mapper(
            consumers.publisher, pool, state_cache_size=settings.state_cache_size
        )
        handlers.register(consumers, mapper)
        check_subscriptions(broker, consumers)
        await broker.start()
        await mapper.outbox.relay()  # what a crash left committed but unpublished
        await consumers.start()
        try:
            yield
        finally:
            await consumers.stop()  # the polls in hand finish, publish and commit
            await broker.stop()
            await db.close()
            tracer_provider.shutdown()

    app = FastAPI(title="Bogfør mapper", version="1", lifespan=lifespan)
    install_error_handlers(app)
    install_http_metrics(app, "mapper")
    readiness = Readiness(broker, consumers)
    readiness.add("postgres", db.failing)
    app.include_router(health_router(readiness))
    app.include_router(metrics_router(settings.guard()))
    return app
