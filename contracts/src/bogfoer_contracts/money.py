"""Money is an integer number of minor units (øre, cents) plus an ISO 4217 currency.

Never a float: `StrictInt` refuses 12.5 and "125" alike. Conversion to Dinero's decimals
happens only at the poster's edge (`bogfoer_dinero.money`).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. DKK")]
# Far above any sale (ten thousand billion kroner) and far inside every store: PostgreSQL's
# bigint holds sums of thousands of them, Dinero's decimals hold them exactly. Bounded where an
# amount enters, so nothing accepted can overflow later (it did: 2**63 øre was answered 202 and
# then never reached the ledger).
MAX_MINOR_UNITS = 10**15
MinorUnits = Annotated[
    StrictInt,
    Field(
        ge=-MAX_MINOR_UNITS,
        le=MAX_MINOR_UNITS,
        description="Integer minor units (øre, cents); never a float",
    ),
]
VatRate = Annotated[
    StrictInt,
    Field(ge=0, le=10_000, description="VAT rate in basis points: 2500 means 25 %"),
]


# Who holds a payment's money until it reaches the bank: the key of a tenant's deposit
# accounts. One rule for every movement of that money (capture, fee, refund, payout): they
# all meet on the provider's deposit account ("beholdning"), whatever the card or wallet.
PaymentProvider = Literal[
    "stripe",  # cards, wallets, Klarna, MobilePay … taken through Stripe
    "mobilepay",  # Vipps MobilePay settled by MobilePay itself
    "quickpay",
    "nets",  # Nexi / Nets Easy
    "frisbii",  # formerly Reepay
    "paypal",
    "klarna",  # Klarna settled by Klarna itself
    "viabill",
    "bank",  # a bank transfer: the money lands in the bank directly
    "cash",
    "other",
]


class Money(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: MinorUnits
    currency: Currency
