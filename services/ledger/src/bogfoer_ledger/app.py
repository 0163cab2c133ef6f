"""ledger's wiring: settings -> pool + migrations -> broker -> FastAPI app (ops API, ops
pages, metrics) and the consumer-lag monitor."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bogfoer_contracts.topology import LEDGER
from bogfoer_kit.auth import Guard, Principal
from bogfoer_kit.consumer import check_subscriptions, make_consumers
from bogfoer_kit.db import ServiceDatabase
from bogfoer_kit.errors import install_error_handlers
from bogfoer_kit.http import Readiness, health_router
from bogfoer_kit.kafka import client_options, ensure_topics, make_broker
from bogfoer_kit.metrics import install_http_metrics, metrics_router
from bogfoer_kit.telemetry import make_tracer_provider
from bogfoer_kit.web.pages import mount_static
from bogfoer_kit.web.sessions import SessionStore
from bogfoer_ledger import handlers, store
from bogfoer_ledger.api import ops_router
from bogfoer_ledger.lag import LagMonitor
from bogfoer_ledger.metrics import TenantGauges
from bogfoer_ledger.readers import grant_postings_readers
from bogfoer_ledger.settings import LedgerSettings
from bogfoer_ledger.tokens import TenantTokens
from bogfoer_ledger.web.routes import STATIC, web_router

# The collector's thresholds once started (`bogfoer_kit.serve`): a young collection every
# 100,000 allocations (Python's: 700), each older generation after 20 of the one before (10).
# A poll's objects (its records, commands, postings) live until the poll is done, so at 700
# the young collections walked the poll's objects again every few dozen commands, and what
# survived them was walked again in the older generations. The count is of objects made and
# not freed yet: a poll of ~2,700 commands keeps 20,000-30,000 alive at its peak, so at
# 20,000 a young pass came nearly every poll (6 a repetition of the bench's 20,000), found
# nothing to free and cost 9-14 ms each (56-84 ms of the process's CPU a repetition, at
# load 5-7). At 100,000 such a poll is freed by reference counting before a pass walks it
# (none in a repetition; ~1 ms of collection in all); a poll of `POLL_RECORDS` (10,000, many
# partitions busy) may still meet one pass.
GC_THRESHOLDS = (100_000, 20, 20)


def create_app(settings: LedgerSettings) -> FastAPI:
    tracer_provider = make_tracer_provider("ledger", settings.otel_exporter)
    broker = make_broker(settings, tracer_provider, LEDGER)
    consumers = make_consumers(settings, broker, LEDGER, settings.group_id)
    db = ServiceDatabase(
        settings.database_url,
        settings.db_schema,
        "bogfoer_ledger",
        ca_file=settings.database_ca_file,
    )
    static_tokens = settings.authenticator()
    guard = Guard(static_tokens)
    lag = LagMonitor(client_options(settings), settings.lag_interval_seconds)
    gauges: list[TenantGauges] = []

    async def refresh_gauges() -> None:
        for g in gauges:
            await g.refresh()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await db.open()
        await grant_postings_readers(pool, settings.postings_readers)
        await ensure_topics(settings, LEDGER)
        handlers.register(consumers, pool)
        tokens = TenantTokens(pool)
        guard.authenticators.append(tokens)  # tenant read tokens the ledger issued
        gauges.append(TenantGauges(pool))
        app.include_router(ops_router(pool, broker, guard, tokens))

        async def still_granted(principal: Principal) -> bool:
            # A session ends when the token that opened it leaves the settings.
            return static_tokens.grants(principal.subject, principal.role)

        sessions = SessionStore(pool, "ops_sessions", settings.session_hours, still_granted)
        app.include_router(web_router(pool, broker, settings, sessions, static_tokens, lag))
        check_subscriptions(broker, consumers)
        # Ready with the connections a poll's tenant batches use open and their statements
        # prepared, and one more (the readiness probe's, the ops pages'): a connection
        # opened by the first polls, or by a probe while they held the others, was opened
        # and prepared while a poll waited.
        await store.warm(pool, handlers.COMMANDS_CONCURRENCY + 1)
        await broker.start()
        await consumers.start()
        measuring = asyncio.create_task(lag.run(), name="ledger-lag-monitor")
        try:
            yield
        finally:
            measuring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await measuring
            await consumers.stop()  # the polls in hand finish and commit
            await broker.stop()
            await db.close()
            tracer_provider.shutdown()

    app = FastAPI(title="Bogfør ledger", version="1", lifespan=lifespan)
    install_error_handlers(app)
    install_http_metrics(app, "ledger")
    readiness = Readiness(broker, consumers)
    readiness.add("postgres", db.failing)
    app.include_router(health_router(readiness))
    app.include_router(metrics_router(guard, refresh_gauges))
    mount_static(app, STATIC, "ops-static")
    return app
