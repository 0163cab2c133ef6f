"""Money is an integer number of minor units (øre, cents) plus an ISO 4217 currency.

Never a float: `StrictInt` refuses 12.5 and "125" alike. Conversion to Dinero's decimals
happens only at the poster's edge (`bogfoer_dinero.money`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. DKK")]
MinorUnits = Annotated[
    StrictInt, Field(description="Integer minor units (øre, cents); never a float")
]
VatRate = Annotated[
    StrictInt,
    Field(ge=0, le=10_000, description="VAT rate in basis points: 2500 means 25 %"),
]


class Money(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: MinorUnits
    currency: Currency
