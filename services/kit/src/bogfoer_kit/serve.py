"""Run a service's ASGI app under uvicorn; SIGTERM drains in-flight work, then exits.

Once started, what the start made (modules, schemas, clients, pools: the bulk of the heap,
alive as long as the process) is moved out of the garbage collector's reach (`gc.freeze`):
each of its full passes walked all of it again, tens to hundreds of ms during which no
request moves, the bulk of ingest's p99 under load.

A start that does not finish within `startup_timeout_seconds` ends the process (exit 3,
uvicorn's "Application startup failed"), so the orchestrator starts it again: a process
that hangs while starting is neither ready nor gone, and nothing would ever restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator
from types import FrameType

import uvicorn
from fastapi import FastAPI

from bogfoer_kit.hot_routes import FastAPIWithHotRoutes
from bogfoer_kit.logs import configure
from bogfoer_kit.settings import WebSettings

log = logging.getLogger(__name__)


def _drained(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def bound_startup(
    app: FastAPI, seconds: float, gc_thresholds: tuple[int, int, int] | None = None
) -> None:
    """Give the app's lifespan `seconds` to start; its shutdown keeps its own time. Once
    started, the collector runs at `gc_thresholds` (`gc.set_threshold`), if given."""
    starting = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as running:
            try:
                async with asyncio.timeout(seconds):
                    await running.enter_async_context(starting(app))
            except TimeoutError:
                log.error("did not finish starting within %.0f s; exiting, to start again", seconds)
                raise
            gc.collect()
            gc.freeze()
            if gc_thresholds is not None:
                gc.set_threshold(*gc_thresholds)
            yield

    app.router.lifespan_context = lifespan


def serve(
    app: FastAPI, settings: WebSettings, gc_thresholds: tuple[int, int, int] | None = None
) -> None:
    configure(settings.log_level, settings.log_format)
    # uvicorn captures SIGTERM, shuts down gracefully, then raises the signal again at the
    # handler it found installed; Python's default would end a cleanly drained process
    # "killed by SIGTERM" (exit -15/143). This one turns the drained stop into exit 0.
    signal.signal(signal.SIGTERM, _drained)
    bound_startup(app, settings.startup_timeout_seconds, gc_thresholds)
    # An app's hot routes are served in front of uvicorn's proxy headers, too: `edge` puts
    # those in front of the app itself, as uvicorn would have.
    edge = app.edge() if isinstance(app, FastAPIWithHotRoutes) else None
    uvicorn.run(
        app if edge is None else edge,
        proxy_headers=edge is None,
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        # The fast edge: uvloop's event loop and httptools' HTTP parser (pinned).
        loop="uvloop",
        http="httptools",
        # uvicorn stops accepting requests, then the lifespan stops the consumers, which
        # finish the polls in hand and commit their offsets.
        timeout_graceful_shutdown=int(settings.graceful_timeout_seconds),
        # A line per request costs more than the request at thousands a second: requests
        # are counted and timed by `bogfoer_kit.metrics`; the access log is for DEBUG.
        access_log=settings.log_level.upper() == "DEBUG",
        log_config=None,  # keep our handler: uvicorn's loggers propagate to it
    )
