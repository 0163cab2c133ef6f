"""Turns one Stripe webhook event, or one object a backfill listed, into the canonical
inbound events it means.

Pure apart from the reads through `StripeBalance`. Every Stripe event about the same fact
yields the same `source_event_id` (`captured:<payment>`, `refund:<re>`, `payout:<po>`), so
ingest's deterministic event id drops the duplicates: payment_intent.succeeded and
charge.succeeded for one payment, charge.refunded and refund.* for one refund, redeliveries
— and a backfill's copy of a fact a webhook already brought (`listed`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import ValidationError

from bogfoer_contracts.events import (
    InboundEvent,
    PaymentCaptured,
    PaymentFee,
    PaymentRefunded,
    PayoutPaid,
)
from bogfoer_ingest.stripe.api import StripeBalance

SOURCE = "stripe"

CAPTURE_TYPES = frozenset({"payment_intent.succeeded", "charge.succeeded", "charge.captured"})
REFUND_TYPES = frozenset({"charge.refunded", "refund.created", "refund.updated"})
PAYOUT_TYPES = frozenset({"payout.paid"})


StripeEventType = Literal["payment.captured", "payment.fee", "payment.refunded", "payout.paid"]


class StripeEventError(ValueError):
    """The event lacks what its type promises; retrying cannot help (dead-letter)."""


async def normalise(event: dict[str, Any], balance: StripeBalance) -> list[InboundEvent]:
    """The canonical events one Stripe event stands for; `[]` for types we do not book.

    Raises `StripeEventError` for a malformed event, and lets `StripeTransient` /
    `StripePermanent` from the reads through.
    """
    try:
        return await _normalise(event, balance)
    except (KeyError, TypeError, ValidationError) as error:
        raise StripeEventError(
            f"{event.get('id')}: unreadable {event.get('type')}: {error}"
        ) from error


async def _normalise(event: dict[str, Any], balance: StripeBalance) -> list[InboundEvent]:
    kind = event.get("type")
    obj = _object(event)
    if kind == "payment_intent.succeeded":
        charge_id = _id(obj.get("latest_charge"))
        if charge_id is None:
            raise StripeEventError(f"{obj.get('id')}: succeeded without a latest_charge")
        return await _captured(
            await balance.charge(charge_id), balance, fallback_metadata=obj.get("metadata")
        )
    if kind in ("charge.succeeded", "charge.captured"):
        return await _captured(obj, balance, fallback_metadata=None)
    if kind == "charge.refunded":
        charge = obj
        refunds = (obj.get("refunds") or {}).get("data")
        if refunds is None or (obj.get("refunds") or {}).get("has_more"):
            # Since API 2022-11-15 the webhook's charge carries no refunds list.
            charge = await balance.charge(obj["id"])
            refunds = (charge.get("refunds") or {}).get("data") or []
        return [_refunded(r, charge) for r in refunds if r.get("status") == "succeeded"]
    if kind in ("refund.created", "refund.updated"):
        if obj.get("status") != "succeeded":
            return []
        charge_id = _id(obj.get("charge"))
        if charge_id is None:
            raise StripeEventError(f"{obj.get('id')}: refund without a charge")
        return [_refunded(obj, await balance.charge(charge_id))]
    if kind == "payout.paid":
        return [await _payout(obj, event, balance)]
    return []


async def listed(listing: str, obj: dict[str, Any], balance: StripeBalance) -> list[InboundEvent]:
    """The events one object from a backfill's list stands for, marked `backfill` — the
    same ids as the webhooks' events for the same facts. A charge comes with its balance
    transaction expanded (read through `balance`), a refund with its charge."""
    try:
        if listing == "charges":
            found = await _captured(obj, balance, fallback_metadata=None)
        elif listing == "refunds":
            charge = obj.get("charge")
            if not isinstance(charge, dict):
                raise StripeEventError(f"{obj.get('id')}: listed without its charge")
            found = [_refunded(obj, charge)] if obj.get("status") == "succeeded" else []
        elif listing == "payouts":
            # payout.paid is sent on the arrival date; a listed payout stands for that event.
            found = [await _payout(obj, {"created": obj.get("arrival_date")}, balance)]
        else:
            raise ValueError(f"unknown listing {listing!r}")
    except (KeyError, TypeError, ValidationError) as error:
        raise StripeEventError(f"{obj.get('id')}: unreadable {listing[:-1]}: {error}") from error
    return [event.model_copy(update={"backfill": True}) for event in found]


def _object(event: dict[str, Any]) -> dict[str, Any]:
    try:
        obj = event["data"]["object"]
    except (KeyError, TypeError) as error:
        raise StripeEventError(f"{event.get('id')}: no data.object") from error
    if not isinstance(obj, dict):
        raise StripeEventError(f"{event.get('id')}: data.object is not an object")
    return obj


def _id(ref: Any) -> str | None:
    """An expandable field: an id, an expanded object, or null."""
    if isinstance(ref, dict):
        ref = ref.get("id")
    return ref if isinstance(ref, str) and ref else None


def _at(timestamp: Any) -> dt.datetime:
    if not isinstance(timestamp, int):
        raise StripeEventError(f"not a Unix timestamp: {timestamp!r}")
    return dt.datetime.fromtimestamp(timestamp, dt.UTC)


def _payment_id(charge: dict[str, Any]) -> str:
    """The PaymentIntent when there is one (what shops store), else the charge."""
    return _id(charge.get("payment_intent")) or str(charge["id"])


def _order_id(*metadatas: dict[str, Any] | None) -> str | None:
    for metadata in metadatas:
        order_id = (metadata or {}).get("order_id")
        if order_id:
            return str(order_id)
    return None


async def _captured(
    charge: dict[str, Any], balance: StripeBalance, *, fallback_metadata: dict[str, Any] | None
) -> list[InboundEvent]:
    # An authorisation (capture_method=manual) fires charge.succeeded with captured=false;
    # the money moves only at capture.
    if charge.get("status") != "succeeded" or not charge.get("captured", True):
        return []
    payment_id = _payment_id(charge)
    currency = str(charge["currency"]).upper()
    amount: int = charge["amount_captured"] if "amount_captured" in charge else charge["amount"]
    captured_at = _at(charge.get("created"))
    method = (charge.get("payment_method_details") or {}).get("type") or "card"
    order_id = _order_id(charge.get("metadata"), fallback_metadata)

    txn_id = _id(charge.get("balance_transaction"))
    fee: int | None = None
    if txn_id is not None:
        txn = await balance.balance_transaction(txn_id)
        # The fee is in the settlement currency. Only when the balance transaction's amount
        # equals the charge's is that the charge currency; otherwise the fee stays with the
        # payout's balance transactions, which carry it in the payout currency.
        if txn.amount == amount:
            fee = txn.fee

    captured = PaymentCaptured(
        payment_id=payment_id,
        order_id=order_id,
        amount=amount,
        currency=currency,
        method=method,
        balance_transaction_id=txn_id,
        fee=fee,
        captured_at=captured_at,
    )
    out = [_inbound("payment.captured", f"captured:{payment_id}", captured_at, captured)]
    if fee:
        charged = PaymentFee(
            payment_id=payment_id,
            amount=fee,
            currency=currency,
            balance_transaction_id=txn_id,
            description="Stripe processing fee",
            charged_at=captured_at,
        )
        out.append(_inbound("payment.fee", f"fee:{payment_id}", captured_at, charged))
    return out


def _refunded(refund: dict[str, Any], charge: dict[str, Any]) -> InboundEvent:
    refunded_at = _at(refund.get("created"))
    refunded = PaymentRefunded(
        refund_id=refund["id"],
        payment_id=_id(refund.get("payment_intent")) or _payment_id(charge),
        order_id=_order_id(charge.get("metadata"), refund.get("metadata")),
        amount=refund["amount"],
        currency=str(refund["currency"]).upper(),
        balance_transaction_id=_id(refund.get("balance_transaction")),
        refunded_at=refunded_at,
    )
    return _inbound("payment.refunded", f"refund:{refund['id']}", refunded_at, refunded)


async def _payout(
    payout: dict[str, Any], event: dict[str, Any], balance: StripeBalance
) -> InboundEvent:
    arrival = _at(payout.get("arrival_date")).date()
    paid = PayoutPaid(
        payout_id=payout["id"],
        amount=payout["amount"],
        currency=str(payout["currency"]).upper(),
        arrival_date=arrival,
        balance_transactions=await balance.payout_transactions(payout["id"]),
    )
    occurred_at = _at(event.get("created", payout.get("created")))
    return _inbound("payout.paid", f"payout:{payout['id']}", occurred_at, paid)


def _inbound(
    kind: StripeEventType,
    source_event_id: str,
    occurred_at: dt.datetime,
    data: PaymentCaptured | PaymentFee | PaymentRefunded | PayoutPaid,
) -> InboundEvent:
    return InboundEvent(
        type=kind,
        source=SOURCE,
        source_event_id=source_event_id,
        occurred_at=occurred_at,
        data=data.model_dump(mode="json"),
    )
