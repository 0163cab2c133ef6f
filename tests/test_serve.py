"""What `bogfoer_kit.serve` does around a service's start."""

from __future__ import annotations

import gc
import runpy
import signal

import pytest
import uvicorn
from fastapi import FastAPI

import bogfoer_kit.serve
from bogfoer_dinero.sealing import SecretSealer
from bogfoer_kit.hot_routes import FastAPIWithHotRoutes
from bogfoer_kit.serve import bound_startup
from bogfoer_kit.settings import WebSettings


async def test_what_the_start_made_is_out_of_the_collectors_reach() -> None:
    async def start(app: FastAPI):  # type: ignore[no-untyped-def]
        yield

    app = FastAPI(lifespan=start)
    bound_startup(app, 5)
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            # Full collections no longer walk the heap the start left behind.
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


async def test_a_service_may_have_the_collector_run_less_often_once_started() -> None:
    async def start(app: FastAPI):  # type: ignore[no-untyped-def]
        yield

    app = FastAPI(lifespan=start)
    bound_startup(app, 5, (20_000, 20, 20))
    thresholds = gc.get_threshold()
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_threshold() == (20_000, 20, 20)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@pytest.mark.parametrize("service", ["ingest", "mapper", "ledger"])
def test_a_hot_service_starts_with_its_collector_running_less_often(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m bogfoer_<service>` hands `serve` thresholds above Python's default (the
    young generation passed less often), not the default."""
    started: list[tuple[int, int, int] | None] = []

    def serve(
        app: FastAPI, settings: object, gc_thresholds: tuple[int, int, int] | None = None
    ) -> None:
        started.append(gc_thresholds)

    monkeypatch.setattr(bogfoer_kit.serve, "serve", serve)
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    monkeypatch.setenv("BOGFOER_INGEST_ADMIN_TOKEN", "t" * 32)
    monkeypatch.setenv("BOGFOER_LEDGER_ADMIN_TOKEN", "t" * 32)
    monkeypatch.setenv("BOGFOER_INGEST_SECRETS_KEY", SecretSealer.generate_key())
    runpy.run_module(f"bogfoer_{service}", run_name="__main__")

    (thresholds,) = started
    assert thresholds is not None
    assert thresholds[0] > gc.get_threshold()[0]


@pytest.mark.parametrize("hot", [True, False])
def test_an_app_with_hot_routes_is_served_through_its_edge(
    hot: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """uvicorn runs an app with hot routes as its `edge()`, with uvicorn's own proxy headers
    off (the edge puts them behind the hot routes: on as well, a forwarded address would be
    rewritten twice); any other app as itself, with them on."""
    ran: list[tuple[object, dict[str, object]]] = []
    monkeypatch.setattr(signal, "signal", lambda *_: None)
    monkeypatch.setattr(bogfoer_kit.serve, "configure", lambda *_: None)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: ran.append((app, options)))
    app = FastAPIWithHotRoutes("serve-edge-test") if hot else FastAPI()
    bogfoer_kit.serve.serve(app, WebSettings())

    ((served, options),) = ran
    assert options["proxy_headers"] is not hot
    assert (served is app) is not hot
    assert callable(served)
