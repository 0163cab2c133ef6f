"""Canonical sales events: one envelope, typed data, a discriminated union on `type`.

A shop platform or the Stripe adapter sends an `InboundEvent` (the envelope without the
fields ingest stamps); ingest turns it into a `SalesEvent` with a deterministic id.
Versioning rule (see docs/contracts.md): within `schema_version` 1 only additive,
optional changes; anything else is version 2 with an upcaster in `upcast()`.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import (
    BeforeValidator,
    Field,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic_core import SchemaSerializer, SchemaValidator, core_schema

from bogfoer_contracts.ids import TenantId, event_id
from bogfoer_contracts.model import (
    ContractModel,
    as_dicts,
    built,
    checked_first,
    checked_json,
    checked_text_schema,
    checked_text_validator,
    storable_json,
    text_checked,
)
from bogfoer_contracts.money import Currency, MinorUnits, PaymentProvider, VatRate
from bogfoer_contracts.times import Day, Timestamp, timestamp_text_schema

SCHEMA_VERSION = 1
CountryCode = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]


class _Model(ContractModel):
    pass


def _exactly_an_integer(value: Any) -> Any:
    # Literal[1] alone would take True and 1.0 for 1.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("schema_version is an integer")
    return value


SchemaVersion = Annotated[Literal[1], BeforeValidator(_exactly_an_integer)]


class Address(_Model):
    country: CountryCode
    postcode: str | None = None
    city: str | None = None
    street: str | None = None
    name: str | None = None


class Customer(_Model):
    email: str | None = None
    name: str
    kind: Literal["person", "business"] = "person"
    vat_number: str | None = Field(
        default=None, description="EU VAT number incl. country prefix, e.g. DE123456789"
    )
    billing_address: Address
    shipping_address: Address | None = Field(
        default=None, description="Where goods go; the zone follows it. Defaults to billing."
    )

    @property
    def ship_to(self) -> Address:
        return self.shipping_address or self.billing_address


LineKind = Literal["goods", "service", "shipping", "discount", "gift_card"]


class OrderLine(_Model):
    line_id: str
    kind: LineKind
    description: str
    sku: str | None = None
    quantity: Annotated[StrictInt, Field(gt=0)]
    unit_price: MinorUnits = Field(description="Per unit; discount lines are negative")
    vat_rate: VatRate
    prices_include_vat: StrictBool = True


class PaymentRef(_Model):
    provider: PaymentProvider = Field(
        description="Who holds the money until payout; chooses the tenant's deposit account"
    )
    reference: str = Field(description="The provider's id, e.g. a Stripe PaymentIntent id")
    method: str = Field(
        default="card", description="How the customer paid (card, mobilepay, ...); for people"
    )


class Order(_Model):
    order_id: str
    order_number: str | None = None
    placed_at: Timestamp
    currency: Currency
    customer: Customer
    lines: Annotated[list[OrderLine], Field(min_length=1)]
    total: MinorUnits = Field(description="What the customer pays, VAT included")
    vat_total: MinorUnits
    payments: list[PaymentRef] = Field(default_factory=list)


class OrderPaid(_Model):
    order_id: str
    amount: MinorUnits
    currency: Currency
    payment: PaymentRef
    paid_at: Timestamp


class OrderFulfilled(_Model):
    order_id: str
    fulfilled_at: Timestamp


class OrderCancelled(_Model):
    order_id: str
    reason: str | None = None


class RefundLine(_Model):
    line_id: str
    quantity: Annotated[StrictInt, Field(gt=0)]


class OrderRefunded(_Model):
    order_id: str
    refund_id: str
    currency: Currency
    amount: MinorUnits = Field(description="Total refunded, VAT included")
    lines: list[RefundLine] = Field(default_factory=list, description="Empty: an amount refund")
    payment: PaymentRef | None = None
    reason: str | None = None
    refunded_at: Timestamp


class PaymentCaptured(_Model):
    payment_id: str
    order_id: str | None = Field(default=None, description="From the payment's metadata")
    amount: MinorUnits
    currency: Currency
    method: str = Field(default="card", description="How the customer paid; for people")
    provider: PaymentProvider = "stripe"
    balance_transaction_id: str | None = None
    fee: MinorUnits | None = Field(default=None, description="Filled in by the pipeline")
    captured_at: Timestamp


class PaymentRefunded(_Model):
    refund_id: str
    payment_id: str
    order_id: str | None = None
    amount: MinorUnits
    currency: Currency
    provider: PaymentProvider = "stripe"
    balance_transaction_id: str | None = None
    refunded_at: Timestamp


class PaymentFee(_Model):
    payment_id: str
    amount: MinorUnits
    currency: Currency
    provider: PaymentProvider = "stripe"
    balance_transaction_id: str | None = None
    description: str | None = None
    charged_at: Timestamp


class BalanceTransaction(_Model):
    id: str
    reporting_category: str = Field(description="Stripe's: charge, refund, fee, payout, ...")
    amount: MinorUnits
    fee: MinorUnits = 0
    net: MinorUnits
    source: str | None = None


class PayoutPaid(_Model):
    payout_id: str
    amount: MinorUnits
    currency: Currency
    provider: PaymentProvider = "stripe"
    arrival_date: Day
    balance_transactions: list[BalanceTransaction] = Field(default_factory=list)


class _Envelope(_Model):
    id: str = Field(description="Deterministic: bogfoer_contracts.ids.event_id")
    source: str = Field(description="shopify, woocommerce, stripe, api, ...")
    source_event_id: str
    tenant_id: TenantId
    occurred_at: Timestamp
    received_at: Timestamp
    schema_version: SchemaVersion = 1
    backfill: StrictBool = Field(
        default=False, description="Book it even if it is from before the tenant's cutover"
    )


class OrderPlacedEvent(_Envelope):
    type: Literal["order.placed"]
    data: Order


class OrderPaidEvent(_Envelope):
    type: Literal["order.paid"]
    data: OrderPaid


class OrderFulfilledEvent(_Envelope):
    type: Literal["order.fulfilled"]
    data: OrderFulfilled


class OrderCancelledEvent(_Envelope):
    type: Literal["order.cancelled"]
    data: OrderCancelled


class OrderRefundedEvent(_Envelope):
    type: Literal["order.refunded"]
    data: OrderRefunded


class PaymentCapturedEvent(_Envelope):
    type: Literal["payment.captured"]
    data: PaymentCaptured


class PaymentRefundedEvent(_Envelope):
    type: Literal["payment.refunded"]
    data: PaymentRefunded


class PaymentFeeEvent(_Envelope):
    type: Literal["payment.fee"]
    data: PaymentFee


class PayoutPaidEvent(_Envelope):
    type: Literal["payout.paid"]
    data: PayoutPaid


SalesEvent = Annotated[
    OrderPlacedEvent
    | OrderPaidEvent
    | OrderFulfilledEvent
    | OrderCancelledEvent
    | OrderRefundedEvent
    | PaymentCapturedEvent
    | PaymentRefundedEvent
    | PaymentFeeEvent
    | PayoutPaidEvent,
    Field(discriminator="type"),
]
SALES_EVENT: TypeAdapter[SalesEvent] = TypeAdapter(SalesEvent)
EventType = Literal[
    "order.placed",
    "order.paid",
    "order.fulfilled",
    "order.cancelled",
    "order.refunded",
    "payment.captured",
    "payment.refunded",
    "payment.fee",
    "payout.paid",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)


class InboundEvent(_Model):
    """What a shop platform POSTs: the envelope without what ingest stamps."""

    type: EventType
    source: str = Field(min_length=1, max_length=64)
    source_event_id: str = Field(min_length=1, max_length=256)
    occurred_at: Timestamp
    schema_version: StrictInt = SCHEMA_VERSION
    backfill: StrictBool = Field(
        default=False, description="Book it even if it is from before the tenant's cutover"
    )
    data: dict[str, Any]


def _inbound_variant(event: Any) -> Any:
    """`InboundEvent` with the `data` of one event type, for the JSON Schema only."""
    fields = event.model_fields
    typed: dict[str, Any] = {
        "type": (fields["type"].annotation, ...),
        "data": (fields["data"].annotation, ...),
    }
    return create_model(
        event.__name__.replace("Event", "") + "Inbound", __base__=InboundEvent, **typed
    )


# What a platform may send, type by type: the same rules `InboundEvent` and `stamp` apply in
# two steps (envelope, then `data` by `type`), as one schema. It is the committed
# inbound-event.v1 schema and ingest's OpenAPI body, so generated clients and the fuzz suite
# see what is really accepted.
_INBOUND_VARIANTS: Any = Union[  # noqa: UP007 - a union built at run time
    tuple(_inbound_variant(e) for e in get_args(get_args(SalesEvent)[0]))
]
TYPED_INBOUND_EVENT: TypeAdapter[Any] = TypeAdapter(
    Annotated[_INBOUND_VARIANTS, Field(discriminator="type")]
)


def upcast(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring a stored event of any known schema_version to the current one.

    Version 1 is the only version so far; a v2 adds its step here, so consumers and
    replays always see the current shape.
    """
    version = raw.get("schema_version", SCHEMA_VERSION)
    if version == SCHEMA_VERSION:
        return raw
    raise ValueError(f"unknown schema_version {version!r}")


def _schema_version_schema(schema: dict[str, Any]) -> Any:
    """For `checked_text_validator`: `SchemaVersion`'s check (`_exactly_an_integer`, a call
    into Python for every event) as pydantic-core's own — an integer, not a boolean or a
    float, that is 1: what it takes, `SchemaVersion` takes as the same 1, and what it
    refuses the full validation decides, with its own error. Else None."""
    if schema.get("type") != "function-before":
        return None
    called = schema.get("function")
    if not isinstance(called, dict) or called.get("function") is not _exactly_an_integer:
        return None
    return core_schema.int_schema(strict=True, ge=SCHEMA_VERSION, le=SCHEMA_VERSION)


# The same validators without the models' walks for unstorable text: for what was parsed
# from JSON text `storable_json` proved storable (`checked_text_validator`).
_SALES_EVENT_CHECKED_TEXT = checked_text_validator(
    SALES_EVENT, timestamp_text_schema, _schema_version_schema
)
_INBOUND_CHECKED_TEXT = checked_text_validator(TYPED_INBOUND_EVENT, timestamp_text_schema)
_INBOUNDS_CHECKED_TEXT = checked_text_validator(
    TYPED_INBOUND_EVENT, timestamp_text_schema, many=True
)


def parse_event(raw: dict[str, Any] | bytes | str) -> SalesEvent:
    """A canonical event, fully validated (a consumer's record or a stored payload)."""
    if isinstance(raw, bytes | str):
        storable = storable_json(raw)  # the text proves it storable: no walk over its parts
        if storable:
            try:
                # Straight from the text (pydantic's own JSON parser): half the time of
                # `json.loads` and validating what it made, and the same event — what
                # it takes has schema_version 1, so `upcast` had nothing to do. What it
                # refuses, the way below decides, with the errors it always answered.
                event: SalesEvent = _SALES_EVENT_CHECKED_TEXT.validate_json(raw)
                return event
            except ValidationError:
                pass
        parsed = upcast(json.loads(raw))
        if storable:
            checked: SalesEvent = checked_first(_SALES_EVENT_CHECKED_TEXT, SALES_EVENT, parsed)
            return checked
        return SALES_EVENT.validate_python(parsed)
    return SALES_EVENT.validate_python(upcast(raw))


def parse_inbound(raw: Any, text: bytes | None = None) -> InboundEvent:
    """What a platform sent (parsed JSON), validated once and completely: the envelope and
    its `data` by `type` (`TYPED_INBOUND_EVENT`), so `stamp` has nothing left to check in
    it. `text`: the JSON `raw` was parsed from, which may prove its text storable."""
    if text is None:
        return _inbound(raw)
    with checked_json(text):
        return _inbound(raw)


def _inbound(raw: Any) -> InboundEvent:
    if text_checked():  # in a `checked_json` block that proved the text storable
        checked: InboundEvent = checked_first(_INBOUND_CHECKED_TEXT, TYPED_INBOUND_EVENT, raw)
        return checked
    inbound: InboundEvent = TYPED_INBOUND_EVENT.validate_python(raw)
    return inbound


def parse_inbounds(raws: list[Any]) -> list[InboundEvent] | None:
    """Each of `raws` (parsed JSON, in a `checked_json` block whose text proved storable)
    as `parse_inbound` types it, all in one call; None when that cannot be (the text not
    proven, or one of them refused): then each goes through `parse_inbound` alone, and a
    refused one gets its own errors."""
    if not text_checked():
        return None
    try:
        inbound: list[InboundEvent] = _INBOUNDS_CHECKED_TEXT.validate_python(raws)
    except ValidationError:
        return None
    return inbound


def parse_inbounds_json(text: bytes, field: str, max_items: int) -> list[InboundEvent] | None:
    """The inbound events of JSON text `{field: [...]}` (a batch request's body; in a
    `checked_json` block of it) — that field alone, 1 to `max_items` events — each as
    `parse_inbounds` types it, straight from the text in one call (pydantic's own JSON
    parser, as `parse_event` reads a record); None when that cannot be (the text not
    proven storable, the object not of that shape, one of the events refused): then the
    caller parses the text and sorts out what is in it, for the errors of each part."""
    if not text_checked():
        return None
    try:
        inbound: list[InboundEvent] = _inbounds_in_object(field, max_items).validate_json(text)[
            field
        ]
    except ValidationError:
        return None
    return inbound


@functools.cache
def _inbounds_in_object(field: str, max_items: int) -> SchemaValidator:
    """The validator of `parse_inbounds_json` (`_INBOUNDS_CHECKED_TEXT`'s list, as a
    field of an object that holds nothing else)."""
    events = core_schema.list_schema(
        checked_text_schema(TYPED_INBOUND_EVENT, timestamp_text_schema),
        min_length=1,
        max_length=max_items,
    )
    return SchemaValidator(
        core_schema.typed_dict_schema(
            {field: core_schema.typed_dict_field(events)}, extra_behavior="forbid"
        )
    )


def parse_inbound_json(raw: bytes | str) -> InboundEvent:
    """`parse_inbound` of JSON text (a Kafka record's value); bad UTF-8 or JSON is a
    ValidationError like any other refusal."""
    if storable_json(raw):
        checked: InboundEvent = checked_first(_INBOUND_CHECKED_TEXT, TYPED_INBOUND_EVENT, raw, True)
        return checked
    inbound: InboundEvent = TYPED_INBOUND_EVENT.validate_json(raw)
    return inbound


_TENANT_ID: TypeAdapter[str] = TypeAdapter(TenantId)
_RECEIVED_AT: TypeAdapter[dt.datetime] = TypeAdapter(Timestamp)
# Each event class by its type, and the model of its data.
_EVENT_CLASSES: dict[str, Any] = {
    get_args(cls.model_fields["type"].annotation)[0]: cls
    for cls in get_args(get_args(SalesEvent)[0])
}
_DATA_CLASSES: dict[str, Any] = {
    name: cls.model_fields["data"].annotation for name, cls in _EVENT_CLASSES.items()
}
# The envelope's fields, in the order of the event classes' fields (all share them).
_FIELDS = tuple(OrderPlacedEvent.model_fields)


@functools.lru_cache(maxsize=4096)
def _tenant_id(tenant_id: str) -> str:
    """The tenant id, checked (a batch's events, a poll's records share it)."""
    return _TENANT_ID.validate_python(tenant_id)


def _constructed(event_class: Any, values: dict[str, Any]) -> SalesEvent:
    """`event_class.model_construct(**values)` for `values` that hold every field, in
    field order (`model.built`): its per-field look-ups cost more than the rest of
    stamping an event."""
    event: SalesEvent = built(event_class, values, set(_FIELDS))
    return event


# The last `received_at` stamp checked, and what the check made of it: a batch's events
# share one, and checking it again for each cost as much as building the event. Held by
# identity, not equality (an equal time in another zone is written out differently; the
# datetime held keeps its id from being reused), read and replaced as one tuple (a thread
# never pairs one time with another's check), a sentinel at first (None is refused).
_received: tuple[object, dt.datetime] = (object(), dt.datetime(2000, 1, 1, tzinfo=dt.UTC))


def _received_at(received_at: dt.datetime) -> dt.datetime:
    """`received_at` checked as a `Timestamp` (once for a batch's events)."""
    global _received
    held, checked = _received
    if held is not received_at:
        checked = _RECEIVED_AT.validate_python(received_at)
        _received = (received_at, checked)
    return checked


def stamp(inbound: InboundEvent, tenant_id: str, received_at: dt.datetime) -> SalesEvent:
    """Turn an inbound event into the canonical envelope with its deterministic id.

    An inbound event `parse_inbound` typed was validated completely at the door: the event
    is built from it as it is, and only what stamp adds (the tenant id, `received_at`) is
    checked. Any other (the Stripe normaliser's, `data` a plain dict) is validated whole."""
    if inbound.schema_version != SCHEMA_VERSION:
        raise ValueError(f"unsupported schema_version {inbound.schema_version}")
    typed: Any = inbound.data
    if type(typed) is not _DATA_CLASSES[inbound.type]:
        return SALES_EVENT.validate_python(
            {
                "id": event_id(tenant_id, inbound.source, inbound.source_event_id),
                "type": inbound.type,
                "source": inbound.source,
                "source_event_id": inbound.source_event_id,
                "tenant_id": tenant_id,
                "occurred_at": inbound.occurred_at,
                "received_at": received_at,
                "schema_version": SCHEMA_VERSION,
                "backfill": inbound.backfill,
                "data": inbound.data,
            }
        )
    tenant_id = _tenant_id(tenant_id)
    return _constructed(
        _EVENT_CLASSES[inbound.type],
        _envelope(
            event_id(tenant_id, inbound.source, inbound.source_event_id),
            inbound.source,
            inbound.source_event_id,
            tenant_id,
            inbound.occurred_at,
            _received_at(received_at),
            inbound.backfill,
            inbound.type,
            typed,
        ),
    )


def _envelope(
    id_: str,
    source: str,
    source_event_id: str,
    tenant_id: str,
    occurred_at: Any,
    received_at: dt.datetime,
    backfill: bool,
    type_: str,
    data: Any,
) -> dict[str, Any]:
    """A stamped event's fields, checked already, in `_FIELDS`' order (the order they are
    written in): for a model built without validation, or its JSON written from a dict."""
    return {
        "id": id_,
        "source": source,
        "source_event_id": source_event_id,
        "tenant_id": tenant_id,
        "occurred_at": occurred_at,
        "received_at": received_at,
        "schema_version": SCHEMA_VERSION,
        "backfill": backfill,
        "type": type_,
        "data": data,
    }


def event_json(event: SalesEvent) -> bytes:
    """The event as published to `sales.events.v1`: `SALES_EVENT.dump_json(event)`, by its
    own class's serializer (the union's would first find which class it is)."""
    return type(event).__pydantic_serializer__.to_json(event)


# `stamped_json`'s way: what a platform sent validated as plain dicts (the checks of
# `_INBOUND_CHECKED_TEXT`), and each event type's serializer of its event as a dict.
_INBOUND_DICTS = SchemaValidator(
    as_dicts(checked_text_schema(TYPED_INBOUND_EVENT, timestamp_text_schema))
)
_EVENT_DICT_JSON: dict[str, SchemaSerializer] = {
    name: SchemaSerializer(as_dicts(checked_text_schema(TypeAdapter(cls))))
    for name, cls in _EVENT_CLASSES.items()
}


def stamped_json(
    raw: bytes, tenant_id: str, received_at: dt.datetime
) -> tuple[bytes, str, str] | None:
    """`event_json(stamp(parse_inbound_json(raw), tenant_id, received_at))` and the event's
    id and type — the same bytes — without a model: validated as plain dicts and written
    from them (`model.as_dicts`). The models' tree was most of the Kafka door's work: built
    by the validation, copied into the stamped event, serialized, freed. None when that
    cannot be (the text not proven storable, anything refused): then the models' way
    decides, with its reason."""
    if not storable_json(raw):
        return None
    try:
        inbound: dict[str, Any] = _INBOUND_DICTS.validate_json(raw)
        tenant_id = _tenant_id(tenant_id)
        received_at = _received_at(received_at)
    except ValidationError:
        return None
    if inbound["schema_version"] != SCHEMA_VERSION:
        return None
    source = inbound["source"]
    source_event_id = inbound["source_event_id"]
    type_ = inbound["type"]
    id_ = event_id(tenant_id, source, source_event_id)
    value = _EVENT_DICT_JSON[type_].to_json(
        _envelope(
            id_,
            source,
            source_event_id,
            tenant_id,
            inbound["occurred_at"],
            received_at,
            inbound["backfill"],
            type_,
            inbound["data"],
        )
    )
    return value, id_, type_
