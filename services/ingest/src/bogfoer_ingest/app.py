"""ingest's wiring: settings -> pool, broker -> FastAPI app with lifespan."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from faststream.kafka import KafkaBroker

from bogfoer_contracts.topology import INGEST
from bogfoer_dinero.sealing import SecretSealer
from bogfoer_ingest import kafka_inbound, stripe_consumer
from bogfoer_ingest.api import admin_router, events_router
from bogfoer_ingest.backfill import BackfillRunner
from bogfoer_ingest.delivery import Delivery
from bogfoer_ingest.settings import IngestSettings
from bogfoer_ingest.stripe.api import StripeApi
from bogfoer_ingest.tenant_admin import tenant_admin_router
from bogfoer_ingest.tenants import TenantDirectory
from bogfoer_kit.consumer import check_subscriptions, make_consumers
from bogfoer_kit.db import ServiceDatabase
from bogfoer_kit.errors import install_error_handlers
from bogfoer_kit.hot_routes import FastAPIWithHotRoutes
from bogfoer_kit.http import Readiness, health_router
from bogfoer_kit.kafka import ensure_topics, make_broker
from bogfoer_kit.metrics import install_http_metrics, metrics_router
from bogfoer_kit.telemetry import make_tracer_provider

# The collector's thresholds once started (`bogfoer_kit.serve`): a young collection every
# 20,000 allocations (Python's: 700), each older generation after 20 of the one before (10).
# A request's objects die with it, so what a young collection walks is mostly the requests
# in flight, whatever the threshold: at 700 it walked them again every few requests. Paced
# to the same rate, back to back (load 3-6): ingest's CPU 535 → 485 µs a request and 50.8
# → 45.5 µs an event of a batch; its p99 at that pace moved either way run to run.
GC_THRESHOLDS = (20_000, 20, 20)


def create_app(settings: IngestSettings) -> FastAPI:
    tracer_provider = make_tracer_provider("ingest", settings.otel_exporter)
    broker: KafkaBroker = make_broker(settings, tracer_provider, INGEST)
    consumers = make_consumers(settings, broker, INGEST, settings.group_id)
    db = ServiceDatabase(
        settings.database_url,
        settings.db_schema,
        "bogfoer_ingest",
        ca_file=settings.database_ca_file,
    )
    guard = settings.guard()

    @asynccontextmanager
    async def lifespan(app: FastAPIWithHotRoutes) -> AsyncIterator[None]:
        pool = await db.open()
        tenants = TenantDirectory(
            pool, SecretSealer(settings.secrets_key), settings.tenant_refresh_seconds
        )
        await tenants.start()
        delivery = Delivery(
            consumers.publisher,
            settings.kafka_deadline_seconds,
            settings.kafka_retry_after_seconds,
        )
        app.include_router(
            events_router(
                delivery,
                settings,
                tenants,
                tracer_provider.get_tracer("bogfoer.ingest"),
                app.hot_routes,
            )
        )
        app.include_router(admin_router(guard, tenants))
        # One connection to Stripe per process; each tenant's calls carry its own key.
        stripe_api = StripeApi("unused-default-key", api_base=settings.stripe_api_base)
        stripe_consumer.register(consumers, stripe_consumer.StripeNormaliser(tenants, stripe_api))
        kafka_inbound.register(consumers, tenants)
        runner = BackfillRunner(
            pool,
            tenants,
            stripe_api,
            consumers.publisher,
            poll_seconds=settings.backfill_poll_seconds,
        )
        app.include_router(tenant_admin_router(guard, settings, tenants, pool, stripe_api, runner))
        await ensure_topics(settings, INGEST)
        check_subscriptions(broker, consumers)
        await broker.start()
        await consumers.start()
        backfilling = asyncio.create_task(runner.run(), name="ingest-stripe-backfill")
        try:
            yield
        finally:
            # A backfill stops between pages and gives its job back; it goes on after the
            # last page recorded, here or on another replica.
            backfilling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await backfilling
            await consumers.stop()  # the polls in hand finish, publish and commit
            await broker.stop()
            await stripe_api.aclose()
            await tenants.stop()
            await db.close()
            tracer_provider.shutdown()

    # The shop events' routes are served in front of the middleware (bogfoer_kit.hot_routes).
    app = FastAPIWithHotRoutes("ingest", title="Bogfør ingest", version="1", lifespan=lifespan)
    install_error_handlers(app)
    install_http_metrics(app, "ingest")
    readiness = Readiness(broker, consumers)
    readiness.add("postgres", db.failing)
    app.include_router(health_router(readiness))
    app.include_router(metrics_router(guard))
    return app
