"""Every failure a service answers has one shape: {"error": {"reason", "detail"}}."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from bogfoer_kit.errors import ApiError, install_error_handlers


class Body(BaseModel):
    name: str


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/api-error")
    async def api_error() -> None:
        raise ApiError(409, "conflict_here", {"key": "a\ud800b"}, headers={"Retry-After": "2"})

    @app.get("/http-exception")
    async def http_exception() -> None:
        raise HTTPException(403, "nope")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    @app.post("/body")
    async def body(item: Body) -> dict[str, str]:
        return {"name": item.name}

    @app.get("/items/{n}")
    async def items(n: int) -> dict[str, int]:
        return {"n": n}

    return app


async def _call(method: str, path: str, **kwargs: object) -> httpx.Response:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        return await client.request(method, path, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "reason"),
    [
        ("GET", "/api-error", {}, 409, "conflict_here"),
        ("GET", "/http-exception", {}, 403, "forbidden"),
        ("GET", "/boom", {}, 500, "internal_error"),
        ("GET", "/nowhere", {}, 404, "not_found"),
        ("DELETE", "/boom", {}, 405, "method_not_allowed"),
        ("POST", "/body", {"content": b'{"name": 1}'}, 422, "invalid_request"),
        ("POST", "/body", {"content": b'{"name": ["\\ud800"]}'}, 422, "invalid_request"),
    ],
)
async def test_every_failure_has_the_one_shape(
    method: str, path: str, kwargs: dict[str, object], status: int, reason: str
) -> None:
    response = await _call(method, path, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["reason"] == reason
    assert set(body["error"]) == {"reason", "detail"}


async def test_lone_surrogates_survive_the_error_body() -> None:
    response = await _call("GET", "/api-error")
    assert response.headers["retry-after"] == "2"
    assert json.loads(response.content)["error"]["detail"] == {"key": "a\ud800b"}


async def test_an_unexpected_error_does_not_leak_internals() -> None:
    response = await _call("GET", "/boom")
    assert "secret internals" not in response.text
