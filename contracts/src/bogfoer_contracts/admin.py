"""The shapes of the admin APIs that one service calls on another over HTTP: the portal
carries out onboarding through the poster's Dinero routes and ingest's tenant routes. The
pipeline itself still talks only through Kafka; these are operator calls, made by a
service instead of a person."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, SecretStr, field_validator

from bogfoer_contracts.model import StorableText
from bogfoer_contracts.tenants import TenantSettings
from bogfoer_contracts.times import Day, Timestamp

# --- the poster: a tenant's Dinero ------------------------------------------------------


class Parked(BaseModel):
    reason: str
    since: AwareDatetime | None


class DineroConnection(BaseModel):
    """Whether the poster can reach the tenant's Dinero, and whether its postings wait."""

    connected: bool = Field(description="Credentials stored and not refused by Dinero")
    kind: Literal["visma_connect", "api_key"] | None
    refused: str | None = Field(description="Why Dinero refused the stored credentials")
    parked: Parked | None = Field(description="The tenant's postings wait until it is resumed")


class OrganisationView(BaseModel):
    id: int
    name: str | None
    is_pro: bool
    is_vat_free: bool


class ChartAccount(BaseModel):
    number: int
    name: str | None
    vat_code: str = Field(description='Dinero\'s VAT code, "none" for no VAT')
    category: str | None
    hidden: bool


class DepositAccountView(BaseModel):
    number: int
    name: str | None


class TemplateView(BaseModel):
    id: str
    name: str | None
    is_default: bool


class Chart(BaseModel):
    """An organisation's chart of accounts as onboarding shows it."""

    organisation: OrganisationView
    entry_accounts: list[ChartAccount]
    deposit_accounts: list[DepositAccountView]
    invoice_templates: list[TemplateView]

    def vat_codes(self) -> dict[int, str | None]:
        return {a.number: a.vat_code for a in self.entry_accounts}


class NewDepositAccount(StorableText):
    model_config = ConfigDict(extra="forbid")

    number: int = Field(ge=1, le=999_999, description="55010 is the usual Stripe beholdning")
    name: str = Field(min_length=1, max_length=100)


class SettingsAccepted(BaseModel):
    accepted: bool = True


class CurrentSettings(BaseModel):
    version: int
    settings: TenantSettings


# --- ingest: a tenant's doors -----------------------------------------------------------


class Endpoints(BaseModel):
    """Where the shop platform and Stripe send this tenant's events."""

    events: str
    stripe_webhook: str


class SigningView(BaseModel):
    hmac_secret: bool
    api_key: bool


class StripeView(BaseModel):
    api_key: bool
    webhook_secret: bool
    webhook_endpoint_id: str | None


class TenantView(BaseModel):
    """What ingest has for a tenant (never the secrets themselves)."""

    tenant_id: str
    known: bool
    signing: SigningView
    stripe: StripeView
    endpoints: Endpoints


_STRIPE_KEY = re.compile(r"^(rk|sk)_(test|live)_[A-Za-z0-9_]{4,}$")
_WEBHOOK_SECRET = re.compile(r"^whsec_[A-Za-z0-9_]{4,}$")


class StripeConnection(StorableText):
    model_config = ConfigDict(extra="forbid")

    api_key: SecretStr = Field(
        description="A restricted key (rk_…) that may read charges, refunds, balance and"
        " payouts and write webhook endpoints"
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="whsec_… of an endpoint made in Stripe's dashboard; without it the endpoint"
        " is registered through Stripe's API",
    )

    @field_validator("api_key")
    @classmethod
    def _a_secret_key(cls, value: SecretStr) -> SecretStr:
        if not _STRIPE_KEY.match(value.get_secret_value()):
            raise ValueError("a restricted key starts rk_live_ (or rk_test_); not a pk_ key")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _a_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _WEBHOOK_SECRET.match(value.get_secret_value()):
            raise ValueError("a webhook signing secret starts whsec_")
        return value


class RegisteredEndpoint(BaseModel):
    id: str
    url: str
    enabled_events: list[str]


class StripeConnected(BaseModel):
    webhook_url: str
    webhook_endpoint: RegisteredEndpoint | None = Field(
        description="The endpoint registered in Stripe; null when its secret was pasted"
    )


BackfillState = Literal["queued", "running", "done", "failed"]
BackfillListing = Literal["charges", "refunds", "payouts"]


class BackfillCounts(BaseModel):
    charges: int = 0
    refunds: int = 0
    payouts: int = 0
    events: int = Field(default=0, description="Canonical events published (a resumed page twice)")
    skipped: int = Field(default=0, description="Objects that could not be read; see `skipped`")


class Backfill(BaseModel):
    """A Stripe backfill and how far it has come."""

    id: str
    tenant_id: str
    since: AwareDatetime = Field(alias="from")
    until: AwareDatetime
    state: BackfillState
    phase: BackfillListing
    reached: AwareDatetime | None = Field(
        description="How far back the current list has come (lists run newest first)"
    )
    percent: int = Field(ge=0, le=100, description="Share of the range covered, over 3 lists")
    counts: BackfillCounts
    skipped: list[str]
    problem: str | None
    requested_by: str
    created_at: AwareDatetime
    updated_at: AwareDatetime
    finished_at: AwareDatetime | None

    model_config = ConfigDict(populate_by_name=True)


class BackfillRequest(StorableText):
    """From a Danish calendar date (midnight in Copenhagen) up to `until` (default: now)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    since: Day = Field(alias="from")
    until: Timestamp | None = None
