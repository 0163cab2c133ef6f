"""Liveness, readiness and the topics' AsyncAPI, in every service (metrics: `metrics.py`).

Readiness tells the truth about whether the service can make progress: Kafka answers,
every consumer of the service is running, and whatever the service adds (its database,
the poster's workers). A failing check answers 503 and names the check with the reason.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker

from bogfoer_kit.asyncapi import document

if TYPE_CHECKING:
    from bogfoer_kit.consumer import Consumers

# A readiness check answers None when all is well, or why not (for the operator).
ReadyCheck = Callable[[], Awaitable[str | None]]
CHECK_TIMEOUT_SECONDS = 3.0


def reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class Readiness:
    def __init__(self, broker: KafkaBroker | None, consumers: Consumers | None = None) -> None:
        """Kafka's checks for a service that uses it (the portal speaks only HTTP): the broker
        answers, and each of the service's consumer loops is consuming."""
        self._checks: dict[str, ReadyCheck] = {}
        if broker is not None:
            self._checks["kafka"] = functools.partial(self._kafka, broker)
        if consumers is not None:
            self._checks["consumers"] = consumers.ready

    def add(self, name: str, check: ReadyCheck) -> None:
        self._checks[name] = check

    async def failing(self) -> dict[str, str | None]:
        """Every check with its failure (None: passing), asked at once."""
        names = list(self._checks)
        answers = await asyncio.gather(*(self._ask(self._checks[n]) for n in names))
        return dict(zip(names, answers, strict=True))

    @staticmethod
    async def _ask(check: ReadyCheck) -> str | None:
        try:
            return await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
        except TimeoutError:
            return f"no answer within {CHECK_TIMEOUT_SECONDS:.0f} s"
        except Exception as exc:  # a failing dependency means "not ready", not a 500
            return reason(exc)

    @staticmethod
    async def _kafka(broker: KafkaBroker) -> str | None:
        answered = await broker.ping(timeout=CHECK_TIMEOUT_SECONDS - 1)
        return None if answered else "the broker does not answer"


def health_router(readiness: Readiness) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "alive"}

    @router.get("/health/ready")
    async def ready() -> JSONResponse:
        results = await readiness.failing()
        failing = {name: why for name, why in results.items() if why is not None}
        return JSONResponse(
            {
                "ready": not failing,
                "checks": {name: why is None for name, why in results.items()},
                "failing": failing,
            },
            status_code=503 if failing else 200,
        )

    @router.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi() -> dict[str, Any]:
        return document()

    return router
