"""A service's hot routes, answered in front of the framework's layers.

Behind uvicorn a FastAPI request passes uvicorn's proxy headers, FastAPI's own `__call__`
(its native telemetry's check), Starlette's, FastAPI's middleware (server errors, exception
telemetry, the exception handlers, an exit stack), ours (request metrics, the NUL refusal),
the router and the parameter resolution before its endpoint runs: for ingest's
`POST /v1/tenants/{tenant}/events` about as much CPU as the endpoint's own work. A hot
route is matched first, by method and the exact shape of its path, in front of all of it
(`FastAPIWithHotRoutes.__call__`, and `edge` for the server: in front of uvicorn's proxy
headers too), and its endpoint is called directly; what those layers would do for it is
done here, the same way:

- any exception is answered as `install_error_handlers` answers it (`error_answer`: the one
  error shape, the same reasons; an unexpected one logged and answered 500);
- the request is counted and timed in the same series as `HttpMetrics` (route template,
  status, reason);
- a request the NUL refusal answers (`%00` in the query), one with a `root_path` (or to an
  app that has one), or one whose path parameters do not match their pattern goes to the
  framework unchanged, which answers it as before (its 400, its 422).

What the skipped outer layers did changes nothing a hot route answers: the proxy headers
rewrite the client's address and scheme (a hot route reads neither), and FastAPI's native
telemetry is off while no global OpenTelemetry provider is set (`bogfoer_kit.telemetry`
hands its provider to the tracers instead; `edge` refuses an app where it is on).

The route stays declared in the FastAPI app, which describes it in the OpenAPI document
and serves it when it is called in any other way.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from bogfoer_kit.errors import error_answer, refuses_nul
from bogfoer_kit.metrics import RouteMetrics

# The endpoint of a hot route: the request and its path parameters, to the answer.
Endpoint = Callable[[Request, dict[str, str]], Awaitable[Response]]
_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class HotRoute:
    template: str
    # Each segment of the path: a literal, or a parameter's name and the pattern it matches.
    segments: tuple[str | tuple[str, re.Pattern[str]], ...]
    endpoint: Endpoint
    metrics: RouteMetrics

    def match(self, parts: list[str]) -> dict[str, str] | None:
        params: dict[str, str] = {}
        for segment, part in zip(self.segments, parts, strict=True):
            if isinstance(segment, str):
                if segment != part:
                    return None
            elif part and segment[1].fullmatch(part):
                params[segment[0]] = part
            else:
                return None
        return params


class HotRoutes:
    """The hot routes of an app: each to its endpoint, in front of `fallback` (`serve`)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._routes: dict[tuple[str, int], list[HotRoute]] = {}

    def add(
        self, method: str, template: str, patterns: Mapping[str, str], endpoint: Endpoint
    ) -> None:
        """Serve `method template` with `endpoint`; each `{name}` in the template must match
        `patterns[name]` in full (else the framework answers)."""
        segments: list[str | tuple[str, re.Pattern[str]]] = []
        for part in template.split("/"):
            name = _PARAMETER.fullmatch(part)
            segments.append(part if name is None else (name[1], re.compile(patterns[name[1]])))
        route = HotRoute(
            template,
            tuple(segments),
            endpoint,
            RouteMetrics(self.service, method, template),
        )
        self._routes.setdefault((method, len(segments)), []).append(route)

    def _match(self, scope: Scope) -> tuple[HotRoute, dict[str, str]] | None:
        if scope["type"] != "http" or scope.get("root_path") or refuses_nul(scope):
            return None
        parts = scope["path"].split("/")
        for route in self._routes.get((scope["method"], len(parts)), ()):
            params = route.match(parts)
            if params is not None:
                return route, params
        return None

    async def serve(self, scope: Scope, receive: Receive, send: Send, fallback: ASGIApp) -> None:
        """A hot route's request to its endpoint; any other to `fallback`."""
        found = self._match(scope) if self._routes else None
        if found is None:
            await fallback(scope, receive, send)
            return
        route, params = found
        started = time.perf_counter()
        request = Request(scope, receive)
        try:
            response = await route.endpoint(request, params)
        except Exception as exc:
            response = await error_answer(request, exc)
        await response(scope, receive, send)
        route.metrics.observe(response.status_code, response.body, time.perf_counter() - started)


class FastAPIWithHotRoutes(FastAPI):
    """A FastAPI app with `hot_routes` in front of all of it."""

    def __init__(self, service: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.hot_routes = HotRoutes(service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.root_path:  # FastAPI sets it on the scope: the framework's, as before
            await super().__call__(scope, receive, send)
            return
        await self.hot_routes.serve(scope, receive, send, super().__call__)

    def edge(self, forwarded_allow_ips: str | None = None) -> ASGIApp:
        """What uvicorn serves, started with `proxy_headers=False`: the hot routes, then
        uvicorn's proxy headers (trusting `forwarded_allow_ips`, by default what uvicorn
        trusts) in front of the app, as uvicorn would put them."""
        if self._native_telemetry.enabled():
            raise RuntimeError(
                "FastAPI's native telemetry is on (a global OpenTelemetry provider is set):"
                " its span would miss the hot routes served in front of it"
            )
        trusted = forwarded_allow_ips or os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
        # uvicorn's own ASGI types, narrower than Starlette's: the same callables.
        behind: ASGIApp = cast(
            ASGIApp, ProxyHeadersMiddleware(cast(Any, super().__call__), trusted_hosts=trusted)
        )
        if self.root_path:  # every request the framework's (see `__call__`)
            return behind
        hot = self.hot_routes

        async def edge(scope: Scope, receive: Receive, send: Send) -> None:
            await hot.serve(scope, receive, send, behind)

        return edge
