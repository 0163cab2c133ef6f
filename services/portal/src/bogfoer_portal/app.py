"""The portal's wiring: settings -> pool + migrations -> the poster's and ingest's admin
APIs -> FastAPI app (the platform API, the shop owner's pages, metrics). No Kafka: every
step is an admin call on the service that owns what it changes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from bogfoer_dinero.sealing import SecretSealer
from bogfoer_kit.auth import Principal
from bogfoer_kit.db import ServiceDatabase
from bogfoer_kit.errors import install_error_handlers
from bogfoer_kit.http import Readiness, health_router
from bogfoer_kit.metrics import install_http_metrics, metrics_router
from bogfoer_kit.web.pages import mount_static
from bogfoer_kit.web.sessions import SessionStore
from bogfoer_portal import store
from bogfoer_portal.api import api_router
from bogfoer_portal.backends import Backends
from bogfoer_portal.flow import Flow
from bogfoer_portal.settings import PortalSettings
from bogfoer_portal.store import Authorizations
from bogfoer_portal.web.routes import STATIC, SUBJECT, web_router


def create_app(settings: PortalSettings) -> FastAPI:
    db = ServiceDatabase(
        settings.database_url,
        settings.db_schema,
        "bogfoer_portal",
        ca_file=settings.database_ca_file,
    )
    guard = settings.guard()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await db.open()
        backends = Backends(settings)
        flow = Flow(
            pool, backends, Authorizations(pool, SecretSealer(settings.secrets_key)), settings
        )

        async def still_granted(principal: Principal) -> bool:
            # A shop owner's session ends when its onboarding is withdrawn.
            found = await store.get(pool, principal.subject.removeprefix(SUBJECT))
            return found is not None and found.withdrawn_at is None

        sessions = SessionStore(pool, "portal_sessions", settings.session_hours, still_granted)
        app.include_router(api_router(guard, flow))
        app.include_router(web_router(flow, sessions, settings))
        try:
            yield
        finally:
            await backends.aclose()
            await db.close()

    app = FastAPI(title="Bogfør portal", version="1", lifespan=lifespan)
    install_error_handlers(app)
    install_http_metrics(app, "portal")
    readiness = Readiness(None)  # no Kafka: PostgreSQL is all the portal needs to be ready
    readiness.add("postgres", db.failing)
    app.include_router(health_router(readiness))
    app.include_router(metrics_router(guard))
    mount_static(app, STATIC, "portal-static")
    return app
