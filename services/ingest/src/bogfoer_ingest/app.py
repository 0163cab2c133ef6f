"""ingest's wiring: settings -> broker -> FastAPI app with lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bogfoer_kit.http import health_router
from bogfoer_kit.kafka import ensure_topics, make_broker
from bogfoer_kit.telemetry import make_tracer_provider
from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from bogfoer_ingest.api import events_router
from bogfoer_ingest.errors import ApiError, api_error_handler
from bogfoer_ingest.settings import IngestSettings


def create_app(settings: IngestSettings) -> FastAPI:
    tracer_provider = make_tracer_provider("ingest", settings.otel_exporter)
    broker: KafkaBroker = make_broker(settings, tracer_provider, client_id="bogfoer-ingest")

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ensure_topics(settings.kafka_bootstrap_servers)
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()
            tracer_provider.shutdown()

    app = FastAPI(title="Bogfør ingest", version="1", lifespan=lifespan)
    app.add_exception_handler(ApiError, api_error_handler)
    app.include_router(health_router(broker))
    app.include_router(events_router(broker, settings))
    return app
