"""Settings are checked against the organisation's chart; a refusal names every field,
including the defaults the caller never sent, and what to do."""

from __future__ import annotations

from bogfoer_contracts.tenants import TenantSettings
from bogfoer_poster.chart_check import account_problems

DEFAULT_CHART: dict[int, str | None] = {
    1000: "U25",
    1050: None,
    1100: "UEUV",
    1200: "UEUY",
    1255: "UVV",
    1260: "UVY",
    1350: "U25",
    7220: None,
    53000: None,
    63080: None,
}


def _settings(**fields: object) -> TenantSettings:
    return TenantSettings.model_validate(
        {"dinero_organization_id": 900001, "cutover": "2026-01-01", **fields}
    )


def test_settings_that_fit_the_chart_have_no_problems() -> None:
    assert account_problems(_settings(), DEFAULT_CHART, {55000, 55010}) == ([], [])


def test_a_default_that_does_not_fit_says_it_was_not_sent() -> None:
    unknown, _ = account_problems(_settings(), DEFAULT_CHART, {55000})
    (stripe,) = unknown
    assert (stripe.field, stripe.account, stripe.defaulted) == (
        "deposit_accounts.stripe",
        55010,
        True,
    )
    assert stripe.message.startswith("deposit_accounts was not sent")


def test_a_sent_account_is_named_as_sent() -> None:
    unknown, _ = account_problems(
        _settings(accounts={"goods_domestic": 1001}), DEFAULT_CHART, {55000, 55010}
    )
    (goods,) = unknown
    assert (goods.field, goods.defaulted) == ("accounts.goods_domestic", False)
    assert goods.message == "account 1001 is not in organisation 900001"


def test_a_sales_account_without_the_vat_its_role_needs_is_refused() -> None:
    _, mismatched = account_problems(
        _settings(accounts={"goods_domestic": 1050}), DEFAULT_CHART, {55000, 55010}
    )
    (goods,) = mismatched
    assert (goods.field, goods.account) == ("accounts.goods_domestic", 1050)
    assert "VAT code none" in goods.message
    assert "U25" in goods.message
