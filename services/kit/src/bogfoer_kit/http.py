"""Liveness, readiness and the topics' AsyncAPI, in every service (metrics: `metrics.py`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from bogfoer_kit.asyncapi import document

ReadyCheck = Callable[[], Awaitable[bool]]


def health_router(broker: KafkaBroker, *extra_checks: tuple[str, ReadyCheck]) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/health/ready")
    async def ready() -> JSONResponse:
        checks = {"kafka": await broker.ping(timeout=2.0)}
        for name, check in extra_checks:
            try:
                checks[name] = await check()
            except Exception:  # a failing dependency means "not ready", not a 500
                checks[name] = False
        status = 200 if all(checks.values()) else 503
        return JSONResponse({"ready": status == 200, "checks": checks}, status_code=status)

    @router.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> dict[str, Any]:
        return document()

    return router
