"""What `bogfoer_kit.serve` does around a service's start."""

from __future__ import annotations

import gc

from fastapi import FastAPI

from bogfoer_kit.serve import bound_startup


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


def test_ingest_runs_its_collector_less_often() -> None:
    from bogfoer_ingest.app import GC_THRESHOLDS

    assert GC_THRESHOLDS[0] > gc.get_threshold()[0]
