"""poster's wiring: settings -> pool, Dinero client, workers -> broker -> FastAPI app."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bogfoer_contracts.topology import POSTER
from bogfoer_dinero import DineroClient
from bogfoer_dinero.ratelimit_postgres import PostgresRateLimiter
from bogfoer_dinero.sealing import SecretSealer
from bogfoer_dinero.store_postgres import PostgresCredentialStore
from bogfoer_kit.consumer import check_subscriptions, make_consumers
from bogfoer_kit.db import ServiceDatabase
from bogfoer_kit.errors import install_error_handlers
from bogfoer_kit.http import Readiness, health_router
from bogfoer_kit.kafka import ensure_topics, make_broker
from bogfoer_kit.metrics import install_http_metrics, metrics_router
from bogfoer_kit.outbox import OutboxRelay
from bogfoer_kit.telemetry import make_tracer_provider
from bogfoer_poster import handlers
from bogfoer_poster.admin import admin_router
from bogfoer_poster.dinero_admin import dinero_admin_router
from bogfoer_poster.metrics import DineroMetrics
from bogfoer_poster.settings import PosterSettings
from bogfoer_poster.workers import Supervisor

log = logging.getLogger(__name__)


def create_app(settings: PosterSettings) -> FastAPI:
    tracer_provider = make_tracer_provider("poster", settings.otel_exporter)
    broker = make_broker(settings, tracer_provider, POSTER)
    consumers = make_consumers(settings, broker, POSTER, settings.group_id)
    db = ServiceDatabase(
        settings.database_url,
        settings.db_schema,
        "bogfoer_poster",
        max_size=20,
        ca_file=settings.database_ca_file,
    )
    guard = settings.guard()
    readiness = Readiness(broker, consumers)
    readiness.add("postgres", db.failing)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await db.open()
        await PostgresCredentialStore.create_schema(pool)
        credentials = PostgresCredentialStore(pool, SecretSealer(settings.credentials_key))
        await PostgresRateLimiter.create_schema(pool)
        # One budget per organisation for every replica and the reconciler (in PostgreSQL).
        limiter = PostgresRateLimiter(
            pool,
            settings.dinero_rate_limit,
            settings.dinero_rate_window_seconds,
            holder="poster",
            reserved_share=settings.dinero_rate_reserved_share,
        )
        await ensure_topics(settings, POSTER)
        outbox = OutboxRelay(consumers.publisher, pool)
        async with DineroClient.open(
            settings.dinero_config(), credentials, limiter=limiter, observer=DineroMetrics()
        ) as dinero:
            supervisor = Supervisor(
                pool, dinero, outbox, settings, tracer_provider.get_tracer("bogfoer.poster")
            )
            handlers.register(consumers, pool, supervisor)
            app.include_router(
                admin_router(
                    guard,
                    pool,
                    dinero,
                    outbox,
                    broker,
                    dinero_timeout=settings.admin_dinero_timeout_seconds,
                    dinero_retry_after=math.ceil(settings.dinero_rate_window_seconds),
                )
            )
            app.include_router(
                dinero_admin_router(
                    guard,
                    pool,
                    dinero,
                    credentials,
                    dinero_timeout=settings.admin_dinero_timeout_seconds,
                    dinero_retry_after=math.ceil(settings.dinero_rate_window_seconds),
                )
            )
            check_subscriptions(broker, consumers)
            await broker.start()
            await outbox.relay()  # what a crash left committed but unpublished
            await consumers.start()
            supervisor.start()
            readiness.add("workers", supervisor.failing)
            try:
                yield
            finally:
                await consumers.stop()  # no new commands
                await supervisor.stop()  # the Dinero calls in hand finish and are recorded
                try:
                    await outbox.relay()  # their results, while the producer is still there
                except Exception as exc:  # durable in the outbox: the next start sends them
                    log.warning("results left in the outbox for the next start: %r", exc)
                await broker.stop()
                await db.close()
                tracer_provider.shutdown()

    app = FastAPI(title="Bogfør poster", version="1", lifespan=lifespan)
    install_error_handlers(app)
    install_http_metrics(app, "poster")
    app.include_router(health_router(readiness))
    app.include_router(metrics_router(guard))
    return app
