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
