"""HTTP routes: shop events and Stripe webhooks in, records on Kafka out.

A 2xx is answered only once Kafka (acks=all) holds what we accepted. Shop events are
normalised in the request path (the raw body and the canonical event are both published
first); Stripe events are verified and their raw body published, and the Stripe consumer
(stripe_consumer.py) normalises them, because a fee or a payout's contents must be
fetched from Stripe's API, which is no business of the request path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Annotated, Any

import stripe
from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from pydantic import BaseModel, ValidationError

from bogfoer_contracts.events import SALES_EVENT, InboundEvent, stamp
from bogfoer_contracts.ids import TENANT_PATTERN
from bogfoer_contracts.topics import INGEST_RAW, SALES_EVENTS, key_for
from bogfoer_ingest.auth import SIGNATURE_HEADER, authenticate
from bogfoer_ingest.metrics import EVENTS
from bogfoer_ingest.settings import IngestSettings
from bogfoer_ingest.tenants import Tenant, TenantCredentials, TenantDirectory
from bogfoer_kit.auth import Guard
from bogfoer_kit.errors import ApiError, ErrorResponse

TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN)]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "malformed JSON / bad Stripe signature"},
    401: {"model": ErrorResponse, "description": "missing or bad credentials"},
    404: {"model": ErrorResponse, "description": "unknown tenant"},
    413: {"model": ErrorResponse, "description": "body over the size limit"},
    422: {"model": ErrorResponse, "description": "body fails the contract"},
}


class Accepted(BaseModel):
    event_id: str
    type: str


class StripeReceived(BaseModel):
    received: bool
    stripe_event_id: str
    type: str


def events_router(
    broker: KafkaBroker, settings: IngestSettings, tenants: TenantDirectory, tracer: trace.Tracer
) -> APIRouter:
    router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["events"])

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
            raise ApiError(413, "body_too_large", {"limit_bytes": settings.max_body_bytes})
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_body_bytes:
                raise ApiError(413, "body_too_large", {"limit_bytes": settings.max_body_bytes})
        return bytes(body)

    async def known_tenant(tenant: str) -> Tenant:
        found = await tenants.get(tenant)
        if found is None:
            raise ApiError(404, "unknown_tenant", tenant)
        return found

    async def publish_raw(
        tenant: str, body: bytes, received_at: dt.datetime, headers: dict[str, str]
    ) -> asyncio.Future[Any]:
        """Enqueue the raw body (the audit trail and the source for replay); the caller
        awaits the returned acknowledgement before answering."""
        return await broker.publish(
            body,
            topic=INGEST_RAW,
            key=key_for(tenant),
            headers={
                "content-type": "application/json",
                "x-tenant": tenant,
                "x-received-at": received_at.isoformat(),
                **headers,
            },
            no_confirm=True,
        )

    @router.post(
        "/events",
        status_code=202,
        response_model=Accepted,
        responses=ERRORS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": InboundEvent.model_json_schema()}},
            },
            "parameters": [
                {
                    "name": "Bogfoer-Signature",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + body)>",
                },
            ],
        },
    )
    async def post_event(
        tenant: TenantPath,
        request: Request,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> JSONResponse:
        received_at = dt.datetime.now(dt.UTC)
        body = await read_body(request)
        known = await known_tenant(tenant)
        authenticate(
            known,
            body,
            authorization,
            request.headers.get(SIGNATURE_HEADER),
            settings.signature_tolerance_seconds,
        )
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
        # The sale's trace starts here: both records, and everything after, belong to it.
        with tracer.start_as_current_span(
            f"receive {event.type}",
            kind=trace.SpanKind.SERVER,
            attributes={"bogfoer.tenant_id": tenant, "bogfoer.event_id": event.id},
        ):
            raw_acked = await publish_raw(
                tenant, body, received_at, {"x-source": event.source, "x-event-id": event.id}
            )
            event_acked = await broker.publish(
                SALES_EVENT.dump_json(event),
                topic=SALES_EVENTS,
                key=key_for(tenant),
                headers={"content-type": "application/json", "x-event-id": event.id},
                no_confirm=True,
            )
            # Both enqueued, one wait: 202 only once Kafka (acks=all) holds both records.
            await asyncio.gather(raw_acked, event_acked)
        EVENTS.labels(event.type, "http").inc()
        return JSONResponse(Accepted(event_id=event.id, type=event.type).model_dump(), 202)

    @router.post("/webhooks/stripe", response_model=StripeReceived, responses=ERRORS)
    async def post_stripe(
        tenant: TenantPath,
        request: Request,
        stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
    ) -> StripeReceived:
        received_at = dt.datetime.now(dt.UTC)
        body = await read_body(request)
        known = await known_tenant(tenant)
        if known.stripe_webhook_secret is None:
            raise ApiError(404, "stripe_not_configured", tenant)
        if not stripe_signature:
            raise ApiError(400, "bad_signature", "no Stripe-Signature header")
        try:
            event = stripe.Webhook.construct_event(
                body,
                stripe_signature,
                known.stripe_webhook_secret,
                tolerance=settings.signature_tolerance_seconds,
            )
        except stripe.SignatureVerificationError as exc:
            raise ApiError(400, "bad_signature", str(exc)) from exc
        except ValueError as exc:
            raise ApiError(400, "malformed_json", str(exc)) from exc
        with tracer.start_as_current_span(
            f"receive stripe {event['type']}",
            kind=trace.SpanKind.SERVER,
            attributes={"bogfoer.tenant_id": tenant, "stripe.event_id": str(event["id"])},
        ):
            acked = await publish_raw(
                tenant,
                body,
                received_at,
                {
                    "x-source": "stripe",
                    "x-stripe-event-id": str(event["id"]),
                    "x-stripe-event-type": str(event["type"]),
                },
            )
            await acked  # Stripe hears 200 only once Kafka holds the event
        return StripeReceived(
            received=True, stripe_event_id=str(event["id"]), type=str(event["type"])
        )

    return router


def admin_router(guard: Guard, tenants: TenantDirectory) -> APIRouter:
    router = APIRouter(
        prefix="/v1/admin", tags=["admin"], dependencies=[Depends(guard.require("operator"))]
    )

    @router.put("/tenants/{tenant}/credentials", status_code=204)
    async def put_credentials(tenant: TenantPath, body: TenantCredentials) -> None:
        await tenants.put(tenant, body)

    return router
