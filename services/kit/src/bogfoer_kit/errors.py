"""One error shape in every service: `{"error": {"reason": ..., "detail": ...}}`.

`reason` is a stable, machine-readable word; `detail` says more (a string, a list of
validation errors, the offending values). Every HTTP failure a service answers has this
shape: our own `ApiError`s, the framework's 404/405, request validation (422) and any
unexpected exception (500, without internals). Bodies are encoded so that no input —
a lone surrogate, a NUL — can make the error answer itself fail, and a path or query holding
a NUL (`%00`), which PostgreSQL cannot store and no id contains, is answered 400 before any
route runs, whatever the route's own parameters allow.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

# The framework's own errors, named by status.
_REASONS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "too_many_requests",
    503: "unavailable",
}


class ErrorBody(BaseModel):
    reason: str
    detail: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    """Raise from a route: answered as `status` with `{"error": {"reason", "detail"}}`."""

    def __init__(
        self,
        status: int,
        reason: str,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail
        self.headers = headers


def error_response(
    status: int, reason: str, detail: Any = None, headers: dict[str, str] | None = None
) -> Response:
    """The error body, as ASCII JSON: any string a caller sent (lone surrogates included)
    survives the round trip as an escape instead of breaking the encoder."""
    body = json.dumps({"error": {"reason": reason, "detail": detail}}, default=str)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def validation_detail(errors: Any) -> Any:
    """Pydantic's error list without what cannot travel (exception objects, bytes, urls)."""
    cleaned = []
    for error in errors:
        item = {k: v for k, v in dict(error).items() if k in ("type", "loc", "msg", "input")}
        if isinstance(item.get("input"), bytes):
            item["input"] = item["input"].decode("utf-8", "backslashreplace")
        cleaned.append(item)
    return json.loads(json.dumps(cleaned, default=str))


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.reason, exc.detail, exc.headers)


async def _http_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    reason = _REASONS.get(exc.status_code, "http_error")
    detail: Any = exc.detail
    if isinstance(detail, dict) and isinstance(detail.get("reason"), str):
        reason = detail["reason"]
        detail = detail.get("detail")
    elif detail == _default_phrase(exc.status_code):
        detail = None
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, reason, detail, headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return error_response(422, "invalid_request", validation_detail(exc.errors()))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("unexpected error answering %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "an unexpected error; it has been logged")


def _default_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


async def error_answer(request: Request, exc: Exception) -> Response:
    """What `install_error_handlers` answers for `exc`, for a path served outside the
    framework's handlers (bogfoer_kit.hot_routes): the one shape, whatever was raised."""
    if isinstance(exc, ApiError):
        return await _api_error(request, exc)
    if isinstance(exc, StarletteHTTPException):
        return await _http_error(request, exc)
    if isinstance(exc, RequestValidationError):
        return await _validation_error(request, exc)
    return await _unexpected(request, exc)


def refuses_nul(scope: Scope) -> bool:
    """Whether `_RefuseNul` answers this request 400 before any route runs."""
    return "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")


class _RefuseNul:
    """Pure ASGI: a NUL in the decoded path or the raw query is refused in the one shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and refuses_nul(scope):
            detail = "a NUL character (%00) in the path or query cannot be stored"
            await error_response(400, "unstorable_text", detail)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Every failure of `app` answers in the one shape."""
    app.add_middleware(_RefuseNul)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
