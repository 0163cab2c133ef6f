"""Prometheus metrics every service exports the same way: `/metrics` (viewer credentials) and
the HTTP requests it answers, by route, status and error reason, with their latency.

Labels stay bounded: a route is its template (`/v1/tenants/{tenant}/events`), never the
path; a reason is one of the services' error words. A service's own metrics live in its
`metrics.py`; gauges read from a database are refreshed just before a scrape by the
`refreshers` given to `metrics_router`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bogfoer_kit.auth import Guard

log = logging.getLogger(__name__)
Refresher = Callable[[], Awaitable[None]]

HTTP_REQUESTS = Counter(
    "bogfoer_http_requests_total",
    "HTTP requests answered, by route template, status and error reason ('' on success)",
    ["service", "method", "route", "status", "reason"],
)
HTTP_DURATION = Histogram(
    "bogfoer_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template",
    ["service", "method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


def metrics_router(guard: Guard, *refreshers: Refresher) -> APIRouter:
    router = APIRouter(tags=["health"])

    @router.get(
        "/metrics",
        dependencies=[Depends(guard.require("viewer"))],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
    )
    async def metrics() -> Response:
        """Prometheus exposition (viewer credentials: Prometheus scrapes with a token)."""
        for refresh in refreshers:
            try:
                await refresh()
            except Exception:  # stale gauges beat no metrics at all
                log.exception("refreshing metrics before a scrape failed")
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return router


def _reason(body: bytes) -> str:
    """The `error.reason` of the one error shape (bogfoer_kit.errors)."""
    try:
        parsed: Any = json.loads(body)
        reason = parsed["error"]["reason"]
    except (ValueError, KeyError, TypeError):
        return "unknown"
    return reason if isinstance(reason, str) and len(reason) <= 64 else "unknown"


class RouteMetrics:
    """The series `HttpMetrics` writes, for one route served without it
    (bogfoer_kit.hot_routes): its children looked up once per status and reason."""

    def __init__(self, service: str, method: str, template: str) -> None:
        self._labels = (service, method, template)
        self._duration = HTTP_DURATION.labels(service, method, template)
        self._requests: dict[tuple[int, str], Any] = {}

    def observe(self, status: int, body: bytes | memoryview, seconds: float) -> None:
        reason = "" if status < 400 else _reason(bytes(body))
        counter = self._requests.get((status, reason))
        if counter is None:
            counter = HTTP_REQUESTS.labels(*self._labels, str(status), reason)
            if len(self._requests) < 64:  # reasons are a short list; never grow without bound
                self._requests[(status, reason)] = counter
        counter.inc()
        self._duration.observe(seconds)


class HttpMetrics:
    """ASGI middleware counting and timing every HTTP request the app answers."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        error_body = bytearray()

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif (
                message["type"] == "http.response.body" and status >= 400 and len(error_body) < 8192
            ):
                # Error bodies are small (the one shape); never buffer a big one.
                error_body.extend(message.get("body", b""))
            await send(message)

        raised = False
        try:
            await self.app(scope, receive, observe)
        except Exception:
            raised = True  # answered 500 by the outermost handler, in the one shape
            raise
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            if raised:
                status, reason = 500, "internal_error"
            else:
                reason = "" if status < 400 else _reason(bytes(error_body))
            HTTP_REQUESTS.labels(self.service, method, template, str(status), reason).inc()
            HTTP_DURATION.labels(self.service, method, template).observe(
                time.perf_counter() - started
            )


def install_http_metrics(app: FastAPI, service: str) -> None:
    app.add_middleware(HttpMetrics, service=service)
