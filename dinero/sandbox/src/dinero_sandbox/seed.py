"""Seeded organisations, the default Danish chart, VAT types and the sandbox's credentials."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from dinero_sandbox.state import Account, Organization, State, VatType

# --- Credentials (obvious sandbox test values; documented in docs/dinero.md) ---------------


@dataclass(frozen=True)
class ConnectClient:
    """A Visma Connect web application registered with the sandbox."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True)
class SandboxUser:
    """A Dinero user who has consented, in the sandbox automatically, for these organisations."""

    subject: str
    email: str
    orgs: tuple[int, ...]


CONNECT_CLIENT = ConnectClient(
    client_id="isv_bogfoer_sandbox",
    client_secret="sandbox-connect-secret",  # noqa: S106 — a documented sandbox test value
    redirect_uris=("http://127.0.0.1:8000/oauth/dinero/callback",),
)
LEGACY_CLIENT_ID = "bogfoer-personal"
LEGACY_CLIENT_SECRET = "sandbox-personal-secret"  # noqa: S105 — documented sandbox test value

ORG_MAIN = 123456
ORG_VAT_FREE = 234567
ORG_NO_PRO = 345678

USERS = (
    SandboxUser(
        subject="0c3a6f0e-1d2b-4e5f-8a9b-5a4d3c2b1a01",
        email="ejer@bogfoer.test",
        orgs=(ORG_MAIN, ORG_VAT_FREE, ORG_NO_PRO),
    ),
    SandboxUser(
        subject="0c3a6f0e-1d2b-4e5f-8a9b-5a4d3c2b1a02",
        email="bogholder@bogfoer.test",
        orgs=(ORG_MAIN,),
    ),
)
DEFAULT_USER = USERS[0]

# --- The default chart (danish-vat-and-accounts.md §1) --------------------------------------

_CHART: tuple[tuple[int, str, str | None, str], ...] = (
    (1000, "Salg af varer/ydelser m/moms", "U25", "SalesRevenue"),
    (1050, "Salg af varer/ydelser u/moms", None, "SalesRevenue"),
    (1100, "EU-leverancer varer – indberettes (rubrik B-varer)", "UEUV", "SalesRevenue"),
    (1150, "EU-leverancer varer – indberettes ikke (rubrik B-varer)", "UEUV2", "SalesRevenue"),
    (1200, "EU-leverancer ydelser (rubrik B-ydelser)", "UEUY", "SalesRevenue"),
    (1255, "Salg af varer til udlandet (rubrik C)", "UVV", "SalesRevenue"),
    (1260, "Salg af ydelser til udlandet (rubrik C)", "UVY", "SalesRevenue"),
    (1300, "Salg af fragt – momsfrie", None, "SalesRevenue"),
    (1350, "Salg af fragt – momspligtig", "U25", "SalesRevenue"),
    (1445, "Valutakursdifferencer, eksport", None, "SalesRevenue"),
    (2000, "Vareforbrug", "I25", "Expenses"),
    (7220, "Porto og gebyrer", None, "Expenses"),
    (7400, "Betalingsløsning", "I25", "Expenses"),
    (7420, "Indløsere", None, "Expenses"),
    (53000, "Debitorer, ubetalte fakturaer", None, "Assets"),
    (55000, "Bank", None, "Assets"),
    (55040, "Kontanter (kasse)", None, "Assets"),
    (63080, "Gavekort", None, "Liabilities"),
    (64000, "Salgsmoms (udgående moms)", None, "Vat"),
    # Input VAT is not in our accounts doc; 64100 is the sandbox's choice [unverified].
    (64100, "Købsmoms (indgående moms)", None, "Vat"),
)
_DEPOSIT = {55000, 55040}
DEBTORS_ACCOUNT = 53000
OUTPUT_VAT_ACCOUNT = 64000
INPUT_VAT_ACCOUNT = 64100
FEE_ACCOUNT = 7220
# Accounts only Dinero itself writes to; lines and vouchers may not name them [unverified].
SYSTEM_ACCOUNTS = frozenset({DEBTORS_ACCOUNT, OUTPUT_VAT_ACCOUNT, INPUT_VAT_ACCOUNT})


def default_vat_types() -> list[VatType]:
    quarter = Decimal("0.25")
    zero = Decimal("0.00")
    return [
        VatType(code="U25", name="Salgsmoms 25%", rate=quarter, vat_account=OUTPUT_VAT_ACCOUNT),
        VatType(code="I25", name="Købsmoms 25%", rate=quarter, vat_account=INPUT_VAT_ACCOUNT),
        VatType(code="UEUV", name="EU-salg af varer (rubrik B-varer)", rate=zero),
        VatType(code="UEUV2", name="EU-salg af varer, ikke EU-salgsliste (rubrik B)", rate=zero),
        VatType(code="UEUY", name="EU-salg af ydelser (rubrik B-ydelser)", rate=zero),
        VatType(code="UVV", name="Salg af varer til udlandet (rubrik C)", rate=zero),
        VatType(code="UVY", name="Salg af ydelser til udlandet (rubrik C)", rate=zero),
    ]


def default_chart() -> dict[int, Account]:
    return {
        number: Account(
            number=number,
            name=name,
            vat_code=vat,
            category=category,
            is_default_sales=number == 1000,
            is_deposit=number in _DEPOSIT,
        )
        for number, name, vat, category in _CHART
    }


@dataclass(frozen=True)
class SeedOrg:
    id: int
    name: str
    is_pro: bool
    is_vat_free: bool
    vat_number: str
    email: str
    api_key: str


SEED_ORGS = (
    SeedOrg(
        ORG_MAIN,
        "Bogfør Testbutik ApS",
        is_pro=True,
        is_vat_free=False,
        vat_number="DK12345678",
        email="butik@bogfoer.test",
        api_key="sandbox-apikey-123456",
    ),
    SeedOrg(
        ORG_VAT_FREE,
        "Momsfri Keramik",
        is_pro=True,
        is_vat_free=True,
        vat_number="DK23456789",
        email="keramik@bogfoer.test",
        api_key="sandbox-apikey-234567",
    ),
    SeedOrg(
        ORG_NO_PRO,
        "Gratis Hobby",
        is_pro=False,
        is_vat_free=False,
        vat_number="DK34567890",
        email="hobby@bogfoer.test",
        api_key="sandbox-apikey-345678",
    ),
)


def seeded_state() -> State:
    orgs = {
        seed.id: Organization(
            id=seed.id,
            name=seed.name,
            is_pro=seed.is_pro,
            is_vat_free=seed.is_vat_free,
            vat_number=seed.vat_number,
            email=seed.email,
            api_key=seed.api_key,
            accounts=default_chart(),
            vat_types=default_vat_types(),
            # Stable per org so docs and tests can name the template.
            template_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"dinero-sandbox/template/{seed.id}")),
        )
        for seed in SEED_ORGS
    }
    return State(orgs=orgs)
