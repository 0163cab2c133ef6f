"""Why the mapper holds something back: a machine-readable reason and a readable message.

A hold never becomes a posting by itself. The handler publishes it for the dashboard; a
person fixes the cause (the order, the tenant's settings) and re-drives the state.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bogfoer_contracts.postings import PostingKind

HoldReason = Literal[
    # the invoice
    "unsupported_currency",
    "unsupported_vat_rate",
    "vat_charged_on_zero_rated_sale",
    "vat_charged_by_exempt_seller",
    "oss_not_supported",
    "gift_card_with_vat",
    "mixed_price_basis",
    "total_mismatch",
    "vat_mismatch",
    # payments and refunds
    "currency_mismatch",
    "unmapped_deposit_account",
    "invalid_amount",
    "payment_for_cancelled_order",
    "refund_for_cancelled_order",
    "refund_without_invoice",
    "payment_without_order",
    "refund_unknown_line",
    "refund_exceeds_order",
    "refund_exceeds_invoice",
    "refund_amount_mismatch",
    "ambiguous_amount_refund",
    "refund_method_unknown",
    "cancel_after_amount_refund",
    "order_missing",
    # payouts
    "payout_unreconciled",
    "payout_needs_manual_booking",
]


class Hold(BaseModel):
    """Something the mapper will not post (or could not reconcile) until a person looks."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: HoldReason
    message: str
    posting_key: str = Field(max_length=128, description="The document that is held back")
    kind: PostingKind = Field(description="That document's kind")
