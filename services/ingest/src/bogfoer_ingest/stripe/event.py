"""What a Stripe webhook body must be before it is stored: a Stripe event.

A correctly signed body can still be `[]`, `null` or `{}` (whoever holds the secret decides
what to sign); such a body is refused at the door (422) instead of being stored and then
dead-lettered by the Stripe consumer. Stripe adds fields over time, so unknown ones are
kept; text that cannot be stored (NUL, lone surrogates) is refused anywhere in the event.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bogfoer_contracts.model import StorableText


class StripeEventData(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    object: dict[str, Any] = Field(description="The object the event is about")


class StripeEvent(StorableText):
    model_config = ConfigDict(extra="allow", frozen=True)

    id: str = Field(min_length=1, max_length=255, description="evt_…")
    object: Literal["event"]
    type: str = Field(min_length=1, max_length=255, description="e.g. payment_intent.succeeded")
    data: StripeEventData
