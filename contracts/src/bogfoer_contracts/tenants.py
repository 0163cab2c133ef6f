"""Each tenant's settings, as published on the compacted `tenants.config.v1` topic."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, StrictBool, StrictInt, model_validator

from bogfoer_contracts.ids import TenantId
from bogfoer_contracts.model import ContractModel
from bogfoer_contracts.money import MinorUnits, PaymentProvider
from bogfoer_contracts.times import Day, Timestamp

AccountNumber = StrictInt
BookingMode = Literal["draft", "booked", "booked_and_emailed"]
PostingMode = Literal["per_order", "daily_summary"]
Trigger = Literal["order_placed", "order_paid", "order_fulfilled"]


class _Model(ContractModel):
    pass


class SalesAccounts(_Model):
    """Revenue accounts per line kind and zone; defaults are Dinero's default chart."""

    goods_domestic: AccountNumber = 1000
    goods_eu_b2b: AccountNumber = 1100
    goods_non_eu: AccountNumber = 1255
    shipping_domestic: AccountNumber = 1350
    shipping_eu_b2b: AccountNumber = Field(
        default=1100, description="Shipping follows the goods' VAT treatment (UEUV)"
    )
    shipping_non_eu: AccountNumber = Field(default=1255, description="Export shipping (UVV)")
    services_domestic: AccountNumber = 1000
    services_eu_b2b: AccountNumber = 1200
    services_non_eu: AccountNumber = 1260
    without_vat: AccountNumber = Field(default=1050, description="For VAT-exempt sellers")
    gift_cards: AccountNumber = Field(default=63080, description="A liability, not revenue")


class PaymentTerms(_Model):
    type: Literal["Netto", "NettoCash", "CurrentMonthOut", "Paid"] = "Paid"
    days: StrictInt | None = None


def _stripe_deposit_account() -> dict[PaymentProvider, AccountNumber]:
    # 55010 is the Stripe beholdning most Danish shops create (not in Dinero's default chart).
    return {"stripe": 55010}


class TenantSettings(_Model):
    """What a tenant chooses (the admin API's body); validated against Dinero first."""

    dinero_organization_id: StrictInt
    booking_mode: BookingMode = "booked"
    posting_mode: PostingMode = Field(
        default="per_order",
        description="per_order: a document per sale (invoice, payment, credit note, refund)."
        " daily_summary: for high-volume shops, one invoice per day carrying the day's sales per"
        " account and VAT code, one credit note for its refunds and one payment per deposit"
        " account and direction, all on the collective contact; each sale stays traceable in"
        " the ledger. booking_mode then applies to the summary documents (never e-mailed).",
    )
    trigger: Trigger = "order_paid"
    cutover: Day = Field(description="Sales before this date are ignored unless backfilled")
    accounts: SalesAccounts = Field(default_factory=SalesAccounts)
    deposit_accounts: dict[PaymentProvider, AccountNumber] = Field(
        default_factory=_stripe_deposit_account,
        description="Payment provider -> the Dinero deposit account where its money rests until"
        " payout (e.g. the Stripe beholdning). Captures, fees, refunds and payouts of a provider"
        " all book on this one account.",
    )
    fee_account: AccountNumber = 7220
    bank_account: AccountNumber = 55000
    debtor_account: AccountNumber = 53000
    invoice_template_id: str | None = None
    payment_terms: PaymentTerms = Field(default_factory=PaymentTerms)
    customer_handling: Literal["contact_per_email", "collective"] = "contact_per_email"
    collective_contact_name: str = "Webshop-kunder"
    vat_exempt_seller: StrictBool = False
    rounding_tolerance: MinorUnits = Field(
        default=0, ge=0, le=100, description="Largest explicit rounding line allowed, in øre"
    )
    active: StrictBool = True

    @model_validator(mode="after")
    def _summaries_are_not_mailed(self) -> TenantSettings:
        if self.posting_mode == "daily_summary" and self.booking_mode == "booked_and_emailed":
            raise ValueError(
                "a daily summary has no customer to e-mail: choose booking_mode booked or draft"
            )
        return self


class TenantConfig(TenantSettings):
    """The settings as published, with who they belong to and which version they are."""

    tenant_id: TenantId
    version: StrictInt = Field(ge=1, description="Bumped on every change; newest wins")
    updated_at: Timestamp

    @model_validator(mode="before")
    @classmethod
    def _upcast_method_keys(cls, data: Any) -> Any:
        """Settings published before deposit accounts were keyed by provider named Stripe's
        account by the payment method "card"; read them as the "stripe" account."""
        if isinstance(data, dict) and isinstance(data.get("deposit_accounts"), dict):
            accounts = dict(data["deposit_accounts"])
            if "card" in accounts:
                card = accounts.pop("card")
                accounts.setdefault("stripe", card)
                data = {**data, "deposit_accounts": accounts}
        return data
