"""HTTP routes: canonical shop events in, records on Kafka out, 202 only once acked."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from bogfoer_contracts.events import SALES_EVENT, InboundEvent, stamp
from bogfoer_contracts.ids import TENANT_PATTERN
from bogfoer_contracts.topics import INGEST_RAW, SALES_EVENTS, key_for
from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, ValidationError

from bogfoer_ingest.errors import ApiError, ErrorResponse
from bogfoer_ingest.settings import IngestSettings

TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN)]


class Accepted(BaseModel):
    event_id: str
    type: str


def events_router(broker: KafkaBroker, settings: IngestSettings) -> APIRouter:
    router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["events"])

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and int(declared) > settings.max_body_bytes:
            raise ApiError(413, "body_too_large", {"limit_bytes": settings.max_body_bytes})
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_body_bytes:
                raise ApiError(413, "body_too_large", {"limit_bytes": settings.max_body_bytes})
        return body

    @router.post(
        "/events",
        status_code=202,
        response_model=Accepted,
        responses={
            400: {"model": ErrorResponse, "description": "malformed JSON"},
            413: {"model": ErrorResponse, "description": "body over the size limit"},
            422: {"model": ErrorResponse, "description": "body fails the contract"},
        },
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": InboundEvent.model_json_schema()}},
            }
        },
    )
    async def post_event(tenant: TenantPath, request: Request) -> JSONResponse:
        received_at = dt.datetime.now(dt.UTC)
        body = await read_body(request)
        try:
            raw = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ApiError(400, "malformed_json", str(exc)) from exc
        try:
            event = stamp(InboundEvent.model_validate(raw), tenant, received_at)
        except (ValidationError, ValueError) as exc:
            detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
            raise ApiError(
                422, "invalid_event", json.loads(json.dumps(detail, default=str))
            ) from exc
        key = key_for(tenant)
        # The raw body first: the audit trail and the source for replay.
        await broker.publish(
            body,
            topic=INGEST_RAW,
            key=key,
            headers={
                "content-type": "application/json",
                "x-tenant": tenant,
                "x-received-at": received_at.isoformat(),
                "x-event-id": event.id,
            },
        )
        await broker.publish(
            SALES_EVENT.dump_json(event),
            topic=SALES_EVENTS,
            key=key,
            headers={"content-type": "application/json", "x-event-id": event.id},
        )
        return JSONResponse(Accepted(event_id=event.id, type=event.type).model_dump(), 202)

    return router
