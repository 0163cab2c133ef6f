"""A hot route (bogfoer_kit.hot_routes) answers exactly as the same endpoint behind FastAPI's
layers: every status, header and body, the same request metrics, and whatever it does not
serve (a parameter outside its pattern, a NUL, another method) left to the framework."""

from __future__ import annotations

import json
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI, Header, HTTPException, Path, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import REGISTRY
from starlette.types import ASGIApp

from bogfoer_kit.errors import ApiError, install_error_handlers
from bogfoer_kit.hot_routes import FastAPIWithHotRoutes
from bogfoer_kit.metrics import install_http_metrics

TEMPLATE = "/v1/shops/{shop}/orders"
PATTERN = r"^[a-z]{2,8}$"


async def _endpoint(shop: str, request: Request, authorization: str | None) -> Response:
    body = await request.body()
    if body == b"api":
        raise ApiError(409, "conflict_here", {"key": "a\ud800b"}, headers={"Retry-After": "2"})
    if body == b"http":
        raise HTTPException(403, "nope")
    if body == b"boom":
        raise RuntimeError("secret internals")
    return JSONResponse({"shop": shop, "authorization": authorization, "bytes": len(body)}, 202)


def _app(service: str, hot: bool) -> tuple[FastAPI, list[str]]:
    """The app (its metrics under `service`) and the shops its hot route served."""
    app = FastAPIWithHotRoutes(service) if hot else FastAPI()
    install_error_handlers(app)
    install_http_metrics(app, service)
    served: list[str] = []

    @app.post(TEMPLATE, status_code=202)
    async def post_order(
        shop: Annotated[str, Path(pattern=PATTERN)],
        request: Request,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Response:
        return await _endpoint(shop, request, authorization)

    if isinstance(app, FastAPIWithHotRoutes):

        async def door(request: Request, params: dict[str, str]) -> Response:
            served.append(params["shop"])
            return await post_order(params["shop"], request, request.headers.get("authorization"))

        app.hot_routes.add("POST", TEMPLATE, {"shop": PATTERN}, door)
    return app, served


# (method, path, body, headers); each is sent to both apps.
REQUESTS: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("POST", "/v1/shops/abc/orders", b'{"a": 1}', {"Authorization": "Bearer k"}),
    ("POST", "/v1/shops/abc/orders", b"", {}),
    ("POST", "/v1/shops/abc/orders", b"api", {}),
    ("POST", "/v1/shops/abc/orders", b"http", {}),
    ("POST", "/v1/shops/abc/orders", b"boom", {}),
    ("POST", "/v1/shops/A-B/orders", b"{}", {}),  # outside the pattern: 422
    ("POST", "/v1/shops/abc/orders?x=%00", b"{}", {}),  # NUL: 400 unstorable_text
    ("POST", "/v1/shops/abc/orders/", b"{}", {}),  # the framework's redirect
    ("POST", "/v1/shops//orders", b"{}", {}),
    ("GET", "/v1/shops/abc/orders", b"", {}),  # 405
    ("POST", "/v1/shops/abc/other", b"{}", {}),  # 404
]
HOT = {0, 1, 2, 3, 4}  # the requests the hot route itself serves


def _samples(service: str) -> dict[tuple[Any, ...], float]:
    found: dict[tuple[Any, ...], float] = {}
    for metric in REGISTRY.collect():
        if metric.name not in ("bogfoer_http_requests", "bogfoer_http_request_duration_seconds"):
            continue
        for sample in metric.samples:
            if sample.labels.get("service") != service or sample.name.endswith("_created"):
                continue
            if sample.name.endswith(("_sum", "_bucket")):
                continue  # timings differ; their count does not
            labels = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "service"))
            found[(sample.name, labels)] = sample.value
    return found


async def _answers(app: ASGIApp, root_path: str = "") -> list[tuple[int, dict[str, str], bytes]]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, root_path=root_path)
    answers = []
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        for method, path, body, headers in REQUESTS:
            response = await client.request(method, path, content=body, headers=headers)
            answers.append((response.status_code, dict(response.headers), response.content))
    return answers


async def test_a_hot_route_answers_as_the_framework_does() -> None:
    hot_app, served = _app("hot-route-test", hot=True)
    framework_app, _ = _app("framework-route-test", hot=False)

    hot = await _answers(hot_app)
    framework = await _answers(framework_app)

    assert hot == framework
    assert [answer[0] for answer in hot] == [202, 202, 409, 403, 500, 422, 400, 307, 404, 405, 404]
    assert json.loads(hot[4][2]) == {
        "error": {"reason": "internal_error", "detail": "an unexpected error; it has been logged"}
    }
    assert hot[2][1]["retry-after"] == "2"
    # Only what the hot route matches was served by it; the rest went to the framework.
    assert served == ["abc"] * len(HOT)
    assert _samples("hot-route-test") == _samples("framework-route-test")
    assert _samples("hot-route-test")[
        (
            "bogfoer_http_requests_total",
            (
                ("method", "POST"),
                ("reason", "conflict_here"),
                ("route", TEMPLATE),
                ("status", "409"),
            ),
        )
    ] == pytest.approx(1.0)


async def test_the_openapi_document_still_describes_the_hot_route() -> None:
    hot_app, _ = _app("hot-route-openapi", hot=True)
    framework_app, _ = _app("framework-route-openapi", hot=False)
    assert hot_app.openapi() == framework_app.openapi()
    assert "post" in hot_app.openapi()["paths"][TEMPLATE]


async def test_the_servers_edge_answers_as_the_framework_does() -> None:
    """What uvicorn runs (`edge()`, with its own proxy headers off): the hot route in front
    of everything, the same answers and metrics; the rest behind uvicorn's proxy headers,
    which still give a route the client a trusted proxy forwarded for."""
    hot_app, served = _app("edge-route-test", hot=True)
    framework_app, _ = _app("edge-framework-route-test", hot=False)
    assert isinstance(hot_app, FastAPIWithHotRoutes)
    for app in (hot_app, framework_app):

        @app.get("/whoami")
        async def whoami(request: Request) -> dict[str, str]:
            assert request.client is not None
            return {"client": request.client.host, "scheme": request.url.scheme}

    assert await _answers(hot_app.edge()) == await _answers(framework_app)
    assert served == ["abc"] * len(HOT)
    assert _samples("edge-route-test") == _samples("edge-framework-route-test")

    transport = httpx.ASGITransport(app=hot_app.edge(), client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        answer = await client.get("/whoami", headers=forwarded)
    assert answer.json() == {"client": "203.0.113.7", "scheme": "https"}


def test_the_edge_refuses_an_app_whose_native_telemetry_is_on() -> None:
    """FastAPI's own span would miss the hot routes served in front of it."""
    app = FastAPIWithHotRoutes("edge-telemetry-test")
    app._native_telemetry.enabled = lambda: True  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="native telemetry"):
        app.edge()


async def test_a_request_under_a_root_path_is_the_frameworks() -> None:
    """An app mounted under a root path (its own, or the server's `--root-path` in the
    scope): every request goes to the framework, through the app and through its edge,
    and is answered as a plain FastAPI app answers it."""
    for service, root in (("root-app", "/api"), ("root-scope", "")):
        hot_app, served = _app(f"{service}-hot", hot=True)
        framework_app, _ = _app(f"{service}-framework", hot=False)
        assert isinstance(hot_app, FastAPIWithHotRoutes)
        hot_app.root_path = framework_app.root_path = root
        scope_root = "" if root else "/api"
        expected = await _answers(framework_app, scope_root)
        assert await _answers(hot_app, scope_root) == expected
        assert await _answers(hot_app.edge(), scope_root) == expected
        assert served == [], service


async def _client_seen(edge: ASGIApp, peer: str) -> dict[str, str]:
    transport = httpx.ASGITransport(app=edge, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        forwarded = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}
        answer = await client.get("/whoami", headers=forwarded)
    seen: dict[str, str] = answer.json()
    return seen


async def test_the_edge_trusts_the_proxies_uvicorn_trusts_and_no_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Behind the edge, as behind uvicorn's own proxy headers: a peer not trusted cannot
    claim another client's address or scheme; `FORWARDED_ALLOW_IPS` (uvicorn's setting)
    or the `forwarded_allow_ips` given name the proxies that can."""
    app, _ = _app("edge-trust-test", hot=True)
    assert isinstance(app, FastAPIWithHotRoutes)

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, str]:
        assert request.client is not None
        return {"client": request.client.host, "scheme": request.url.scheme}

    proxy = "198.51.100.9"
    spoofed = {"client": "203.0.113.7", "scheme": "https"}
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    assert await _client_seen(app.edge(), proxy) == {"client": proxy, "scheme": "http"}
    assert await _client_seen(app.edge(), "::1") == spoofed  # uvicorn's default: local
    assert await _client_seen(app.edge(proxy), proxy) == spoofed
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", proxy)
    assert await _client_seen(app.edge(), proxy) == spoofed
    assert await _client_seen(app.edge(), "127.0.0.1") == {"client": "127.0.0.1", "scheme": "http"}
