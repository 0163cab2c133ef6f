"""The machine-readable error answers of ingest's HTTP API."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel


class ErrorBody(BaseModel):
    reason: str
    detail: Any = None


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    def __init__(self, status: int, reason: str, detail: Any = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail


async def api_error_handler(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    body = ErrorResponse(error=ErrorBody(reason=exc.reason, detail=exc.detail))
    return JSONResponse(body.model_dump(mode="json"), status_code=exc.status)
