"""Which account (and thus which VAT) each line kind gets per zone."""

from __future__ import annotations

import pytest
from rules_factories import config

from bogfoer_contracts.tenants import SalesAccounts
from bogfoer_rules.accounts import (
    ROLE_VAT_CODES,
    account_for,
    account_vat_rate,
    rounding_account,
    vat_code_mismatches,
)

DEFAULT = config()
EXEMPT = config(vat_exempt_seller=True)

# (kind, zone, expected account, expected VAT rate in basis points)
TABLE = [
    ("goods", "domestic", 1000, 2500),
    ("goods", "eu_b2c", 1000, 2500),
    ("goods", "eu_b2b", 1100, 0),
    ("goods", "non_eu", 1255, 0),
    ("shipping", "domestic", 1350, 2500),
    ("shipping", "eu_b2c", 1350, 2500),
    ("shipping", "eu_b2b", 1100, 0),
    ("shipping", "non_eu", 1255, 0),
    ("service", "domestic", 1000, 2500),
    ("service", "eu_b2c", 1000, 2500),
    ("service", "eu_b2b", 1200, 0),
    ("service", "non_eu", 1260, 0),
    ("discount", "domestic", 1000, 2500),
    ("discount", "eu_b2b", 1100, 0),
    ("discount", "non_eu", 1255, 0),
    ("gift_card", "domestic", 63080, 0),
    ("gift_card", "non_eu", 63080, 0),
]


@pytest.mark.parametrize(("kind", "zone", "account", "rate"), TABLE)
def test_default_chart_account_and_vat(kind: str, zone: str, account: int, rate: int) -> None:
    assert account_for(kind, zone, DEFAULT) == account  # type: ignore[arg-type]
    assert account_vat_rate(kind, zone, DEFAULT) == rate  # type: ignore[arg-type]


@pytest.mark.parametrize("zone", ["domestic", "eu_b2c", "eu_b2b", "non_eu"])
@pytest.mark.parametrize("kind", ["goods", "shipping", "service", "discount"])
def test_vat_exempt_seller_books_everything_without_vat(kind: str, zone: str) -> None:
    assert account_for(kind, zone, EXEMPT) == 1050  # type: ignore[arg-type]
    assert account_vat_rate(kind, zone, EXEMPT) == 0  # type: ignore[arg-type]


def test_gift_cards_stay_a_liability_for_an_exempt_seller() -> None:
    assert account_for("gift_card", "domestic", EXEMPT) == 63080


def test_tenant_accounts_override_the_default_chart() -> None:
    cfg = config(accounts={"goods_domestic": 1010, "shipping_eu_b2b": 1110, "gift_cards": 63090})
    assert account_for("goods", "domestic", cfg) == 1010
    assert account_for("discount", "eu_b2c", cfg) == 1010
    assert account_for("shipping", "eu_b2b", cfg) == 1110
    assert account_for("gift_card", "eu_b2b", cfg) == 63090


@pytest.mark.parametrize(
    ("zone", "account"), [("domestic", 1000), ("eu_b2c", 1000), ("eu_b2b", 1100), ("non_eu", 1255)]
)
def test_rounding_goes_on_the_zone_goods_account(zone: str, account: int) -> None:
    assert rounding_account(zone, DEFAULT) == account  # type: ignore[arg-type]


def test_every_sales_role_names_the_vat_codes_it_needs() -> None:
    assert set(ROLE_VAT_CODES) == set(SalesAccounts.model_fields)


def test_an_account_whose_vat_code_contradicts_its_role_is_found() -> None:
    chart: dict[int, str | None] = {
        1000: "U25",
        1100: "UEUV",
        1200: "UEUY",
        1255: "UVV",
        1260: "UVY",
        1350: "U25",
        1050: None,
        63080: "none",
    }
    assert vat_code_mismatches(SalesAccounts(), False, chart) == {}
    # A consumer goods account without VAT would sell with no output VAT.
    chart[1000] = None
    found = vat_code_mismatches(SalesAccounts(), False, chart)
    assert found["goods_domestic"] == (1000, "none", frozenset({"U25"}))
    assert set(found) == {"goods_domestic", "services_domestic"}
    # A VAT-exempt seller books everything on without_vat: only that and gift cards matter.
    assert vat_code_mismatches(SalesAccounts(), True, chart) == {}
    assert vat_code_mismatches(SalesAccounts(without_vat=1000), True, chart) == {}
    chart[1000] = "u25"
    assert vat_code_mismatches(SalesAccounts(without_vat=1000), True, chart) == {
        "without_vat": (1000, "U25", frozenset({"none"}))
    }
