"""Run a service's ASGI app under uvicorn; SIGTERM drains in-flight work, then exits."""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn
from fastapi import FastAPI

from bogfoer_kit.logs import configure
from bogfoer_kit.settings import ServiceSettings


def _drained(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def serve(app: FastAPI, settings: ServiceSettings) -> None:
    configure(settings.log_level, settings.log_format)
    # uvicorn captures SIGTERM, shuts down gracefully, then raises the signal again at the
    # handler it found installed; Python's default would end a cleanly drained process
    # "killed by SIGTERM" (exit -15/143). This one turns the drained stop into exit 0.
    signal.signal(signal.SIGTERM, _drained)
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        # uvicorn stops accepting requests, then the lifespan stops the broker, which
        # waits up to graceful_timeout for handlers in flight and commits their offsets.
        timeout_graceful_shutdown=int(settings.graceful_timeout_seconds),
        access_log=False,
        log_config=None,  # keep our handler: uvicorn's loggers propagate to it
    )
