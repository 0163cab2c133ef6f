"""HTTP routes: shop events and Stripe webhooks in, records on Kafka out.

A 2xx is answered only once Kafka (acks=all) holds what we accepted; a 4xx leaves nothing
on any topic (everything is checked and serialised before the first record is handed to the
producer); a 503 means Kafka could not be reached in time (delivery.py), or PostgreSQL, for a
tenant whose credentials the replica does not hold. Shop events are
normalised in the request path (the raw body and the canonical event are published
together); Stripe events are verified and their raw body published, and the Stripe consumer
(stripe_consumer.py) normalises them, because a fee or a payout's contents must be fetched
from Stripe's API, which is no business of the request path.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry import trace
from pydantic import BaseModel, ValidationError

from bogfoer_contracts.events import TYPED_INBOUND_EVENT
from bogfoer_contracts.ids import TENANT_PATTERN
from bogfoer_contracts.model import checked_json
from bogfoer_contracts.topics import INGEST_RAW, key_for
from bogfoer_ingest import batch
from bogfoer_ingest import body as request_body
from bogfoer_ingest.auth import SIGNATURE_HEADER, authenticate
from bogfoer_ingest.delivery import Delivery
from bogfoer_ingest.metrics import events_via
from bogfoer_ingest.settings import IngestSettings
from bogfoer_ingest.shop_events import stamped_body
from bogfoer_ingest.signatures import SignatureError, verify
from bogfoer_ingest.stripe.event import StripeEvent
from bogfoer_ingest.stripe_consumer import STRIPE_EVENT_ID, canonical_record
from bogfoer_ingest.tenants import Tenant, TenantCredentials, TenantDirectory
from bogfoer_kit.auth import Guard
from bogfoer_kit.deadletter import is_transient
from bogfoer_kit.errors import ApiError, ErrorResponse, validation_detail
from bogfoer_kit.hot_routes import Endpoint, HotRoutes
from bogfoer_kit.publish import Outgoing
from bogfoer_kit.telemetry import server_span

YIELD_EVERY = 50  # batch events sorted out between two turns of the event loop
TenantPath = Annotated[str, Path(pattern=TENANT_PATTERN)]
ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "malformed JSON / bad Stripe signature"},
    401: {"model": ErrorResponse, "description": "missing or bad credentials"},
    404: {"model": ErrorResponse, "description": "unknown tenant"},
    413: {"model": ErrorResponse, "description": "body over the size limit"},
    415: {"model": ErrorResponse, "description": "not Content-Type: application/json (UTF-8)"},
    422: {"model": ErrorResponse, "description": "body fails the contract"},
    503: {
        "model": ErrorResponse,
        "description": "Kafka or PostgreSQL unavailable: nothing was accepted; retry after"
        " Retry-After",
    },
}


SIGNATURE_PARAMETER: dict[str, Any] = {
    "name": "Bogfoer-Signature",
    "in": "header",
    "required": False,
    "schema": {"type": "string"},
    "description": "t=<unix seconds>,v1=<hex HMAC-SHA256(secret, '<t>.' + body)>",
}


class Accepted(BaseModel):
    """The answer of POST /events (202): the event's deterministic id and its type."""

    event_id: str
    type: str


# Each event is checked on its own and answered in the results, so the request's schema
# takes any item: only an envelope outside it (not an object, no `events`, an unknown
# field, none or over 500 events) is refused as a whole.
BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "events": {
            "type": "array",
            "minItems": 1,
            "maxItems": batch.MAX_EVENTS,
            "items": {
                "description": "A shop event, as the body of POST /v1/tenants/{tenant}/events"
                " (contracts/schemas/inbound-event.v1.schema.json); one that is not is"
                " rejected in the answer, the others are taken."
            },
        }
    },
    "required": ["events"],
    "additionalProperties": False,
}


class StripeReceived(BaseModel):
    received: bool
    stripe_event_id: str
    type: str


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema with its `$defs` put in place: an OpenAPI document resolves `#/$defs/…`
    against its own root, where they are not. Our models are not recursive."""
    defs = schema.get("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**resolve(defs[ref.removeprefix("#/$defs/")]), **resolve(rest)}
            return {k: resolve(v) for k, v in node.items() if k != "$defs"}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    resolved.pop("discriminator", None)  # its mapping points into $defs as well
    return resolved


def _json_body(schema: dict[str, Any], *headers: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI of a route that reads its own body: what it must be, and the headers."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(schema)}},
        },
        "parameters": list(headers),
    }


def _invalid(reason: str, exc: ValidationError) -> ApiError:
    return ApiError(422, reason, validation_detail(exc.errors(include_url=False)))


def events_router(
    delivery: Delivery,
    settings: IngestSettings,
    tenants: TenantDirectory,
    tracer: trace.Tracer,
    hot: HotRoutes | None = None,
) -> APIRouter:
    """The tenants' doors; the shop events' two also served by `hot` (in front of the
    framework's layers, bogfoer_kit.hot_routes), through the same endpoints."""
    router = APIRouter(prefix="/v1/tenants/{tenant}", tags=["events"])
    accepted_via_http, accepted_via_batch = events_via("http"), events_via("http_batch")

    async def known_tenant(tenant: str) -> Tenant:
        try:
            found = await tenants.get(tenant)
        except Exception as exc:
            if not is_transient(exc):
                raise
            # PostgreSQL is away (a restart, a failover) and this replica does not hold the
            # tenant's credentials: nothing was accepted, as when Kafka is away.
            raise ApiError(
                503,
                "database_unavailable",
                "the tenant's credentials cannot be read now; nothing was accepted, retry"
                " later (the same body is safe to resend)",
                headers={"Retry-After": str(delivery.retry_after)},
            ) from exc
        if found is None:
            raise ApiError(404, "unknown_tenant", tenant)
        return found

    async def shop_body(tenant: str, request: Request, authorization: str | None) -> bytes:
        """The body of a shop platform's request, once its sender is proven and it is
        declared JSON."""
        body = await request_body.read(request, settings.max_body_bytes)
        authenticate(
            await known_tenant(tenant),
            body,
            authorization,
            request.headers.get(SIGNATURE_HEADER),
            settings.signature_tolerance_seconds,
        )
        request_body.require_json(request.headers.get("content-type"))
        return body

    def raw_record(
        tenant: str, body: bytes, received_at: dt.datetime, headers: dict[str, str]
    ) -> Outgoing:
        """The raw body: the audit trail and the source for replay."""
        return Outgoing(
            INGEST_RAW,
            body,
            key_for(tenant),
            {
                "content-type": "application/json",
                "x-tenant": tenant,
                "x-received-at": received_at.isoformat(),
                **headers,
            },
        )

    @router.post(
        "/events",
        status_code=202,
        response_model=Accepted,
        responses=ERRORS,
        openapi_extra=_json_body(
            TYPED_INBOUND_EVENT.json_schema(),
            SIGNATURE_PARAMETER,
        ),
    )
    async def post_event(
        tenant: TenantPath,
        request: Request,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> JSONResponse:
        received_at = dt.datetime.now(dt.UTC)
        body = await shop_body(tenant, request, authorization)
        event = stamped_body(body, tenant, received_at)
        canonical = canonical_record(event)  # serialised before anything is published
        # The sale's trace starts here: both records, and everything after, belong to it.
        with server_span(
            tracer,
            f"receive {event.type}",
            {"bogfoer.tenant_id": tenant, "bogfoer.event_id": event.id},
        ) as trace_headers:
            raw = {"x-source": event.source, "x-event-id": event.id}
            if trace_headers is not None:  # written out once for both: none injected
                raw |= trace_headers
                canonical = replace(canonical, headers={**canonical.headers, **trace_headers})
            await delivery.deliver([raw_record(tenant, body, received_at, raw), canonical])
        accepted_via_http[event.type].inc()
        # `Accepted`'s fields (its schema is the route's answer in the OpenAPI), without
        # building the model only to dump it again: both are plain strings.
        return JSONResponse({"event_id": event.id, "type": event.type}, 202)

    @router.post(
        "/events/batch",
        response_model=batch.BatchAnswer,
        responses=ERRORS,
        openapi_extra=_json_body(
            BATCH_SCHEMA,
            SIGNATURE_PARAMETER,
        ),
    )
    async def post_batch(
        tenant: TenantPath,
        request: Request,
        authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    ) -> Response:
        """Up to 500 shop events in one request, each validated on its own; the answer lists
        each event's id or its error, in the order sent, once Kafka holds every accepted
        one (docs/ingest-api.md)."""
        received_at = dt.datetime.now(dt.UTC)
        body = await shop_body(tenant, request, authorization)
        # The events sit two levels down ({"events": [...]}): each may nest as one alone.
        text = request_body.text_of(body, request_body.MAX_DEPTH + 2)
        sorted_out = batch.Sorted(tenant, received_at)
        # One scan of the whole body settles whether any event's text could be unstorable
        # (`checked_json`), instead of a walk over each event.
        with checked_json(body):
            # Usually typed straight from the text, all in one call; else parsed, and each
            # event sorted out on its own (the answers are the same either way).
            typed = batch.typed_at_once(body)
            events: list[Any] = (
                typed if typed is not None else batch.events_of(request_body.parsed(text))
            )
            take = sorted_out.take_typed if typed is not None else sorted_out.take_all
            for start in range(0, len(events), YIELD_EVERY):
                take(events[start : start + YIELD_EVERY])
                # Sorting out a batch is CPU work of several ms (typing it all at once above,
                # a few): between its chunks other requests' acks and answers go through,
                # instead of waiting out their deadline.
                await asyncio.sleep(0)
        if sorted_out.accepted:
            # Serialised before anything is published; the raw body once, as the audit trail.
            records = [
                raw_record(
                    tenant,
                    body,
                    received_at,
                    {
                        "x-batch-events": str(len(events)),
                        "x-batch-accepted": str(len(sorted_out.accepted)),
                    },
                ),
                *(canonical_record(event) for event in sorted_out.accepted),
            ]
            with server_span(
                tracer,
                "receive batch",
                {
                    "bogfoer.tenant_id": tenant,
                    "bogfoer.batch.events": len(events),
                    "bogfoer.batch.accepted": len(sorted_out.accepted),
                },
            ):
                await delivery.deliver(records)
            for event_type, n in Counter(event.type for event in sorted_out.accepted).items():
                accepted_via_batch[event_type].inc(n)
        return Response(sorted_out.answer_json(), 200, media_type="application/json")

    @router.post(
        "/webhooks/stripe",
        response_model=StripeReceived,
        responses=ERRORS,
        openapi_extra=_json_body(StripeEvent.model_json_schema()),
    )
    async def post_stripe(
        tenant: TenantPath,
        request: Request,
        stripe_signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None,
    ) -> StripeReceived:
        received_at = dt.datetime.now(dt.UTC)
        body = await request_body.read(request, settings.max_body_bytes)
        known = await known_tenant(tenant)
        if known.stripe_webhook_secret is None:
            raise ApiError(404, "stripe_not_configured", tenant)
        if not stripe_signature:
            raise ApiError(400, "bad_signature", "no Stripe-Signature header")
        try:
            verify(
                stripe_signature,
                body,
                known.stripe_webhook_secret,
                settings.signature_tolerance_seconds,
                time.time(),
            )
        except SignatureError as exc:
            raise ApiError(400, exc.reason, exc.detail) from exc
        request_body.require_json(request.headers.get("content-type"))
        try:
            event = StripeEvent.model_validate(request_body.parse(body))
        except ValidationError as exc:
            raise _invalid("invalid_stripe_event", exc) from exc
        with tracer.start_as_current_span(
            f"receive stripe {event.type}",
            kind=trace.SpanKind.SERVER,
            attributes={"bogfoer.tenant_id": tenant, "stripe.event_id": event.id},
        ):
            # Stripe hears 200 only once Kafka holds the event.
            await delivery.deliver(
                [
                    raw_record(
                        tenant,
                        body,
                        received_at,
                        {
                            "x-source": "stripe",
                            STRIPE_EVENT_ID: event.id,
                            "x-stripe-event-type": event.type,
                        },
                    )
                ]
            )
        return StripeReceived(received=True, stripe_event_id=event.id, type=event.type)

    if hot is not None:
        for path, endpoint in (("/events", post_event), ("/events/batch", post_batch)):
            hot.add("POST", router.prefix + path, {"tenant": TENANT_PATTERN}, _shop_door(endpoint))
    return router


def _shop_door(endpoint: Callable[[str, Request, str | None], Awaitable[Response]]) -> Endpoint:
    """A shop events route's endpoint with its parameters taken as FastAPI takes them."""

    async def door(request: Request, params: dict[str, str]) -> Response:
        return await endpoint(params["tenant"], request, request.headers.get("authorization"))

    return door


def admin_router(guard: Guard, tenants: TenantDirectory) -> APIRouter:
    router = APIRouter(
        prefix="/v1/admin", tags=["admin"], dependencies=[Depends(guard.require("operator"))]
    )

    @router.put("/tenants/{tenant}/credentials", status_code=204, responses=ERRORS)
    async def put_credentials(tenant: TenantPath, body: TenantCredentials) -> None:
        await tenants.put(tenant, body)

    return router
