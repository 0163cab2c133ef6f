"""The onboarding's rules without I/O: the order of the steps, what a change of
organisation undoes, the VAT warnings, the settings the choices add up to, and PKCE."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest

from bogfoer_contracts.tenants import SalesAccounts
from bogfoer_portal import visma
from bogfoer_portal.progress import (
    AccountsChoice,
    BookingChoice,
    OrganisationChoice,
    Progress,
    StartChoice,
    may_open,
    next_step,
    roles_for,
    settings_of,
    vat_warnings,
    with_organisation,
)

NOW = dt.datetime(2026, 11, 29, 23, 30, tzinfo=dt.UTC)  # already 30 November in Copenhagen
ORG = OrganisationChoice(id=900001, name="Butik ApS")
ACCOUNTS = AccountsChoice(accounts=SalesAccounts(), fee_account=7220, bank_account=55000)


def chosen_up_to_start(start: StartChoice) -> Progress:
    return Progress(
        dinero_connected_at=NOW,
        organisation=ORG,
        accounts=ACCOUNTS,
        stripe_deposit_account=55010,
        signing_secret_issued_at=NOW,
        booking=BookingChoice(booking_mode="draft", trigger="order_placed"),
        start=start,
    )


def test_steps_open_in_order_and_close_after_activation() -> None:
    fresh = Progress()
    assert next_step("onboard", fresh) == "dinero"
    assert may_open("onboard", "dinero", fresh)
    assert not may_open("onboard", "organisation", fresh)
    connected = fresh.model_copy(update={"dinero_connected_at": NOW})
    assert may_open("onboard", "organisation", connected)
    assert not may_open("onboard", "accounts", connected)
    ready = chosen_up_to_start(StartChoice(mode="forward"))
    assert next_step("onboard", ready) == "stripe"
    assert not may_open("onboard", "activate", ready)  # Stripe is not connected yet
    activated = ready.model_copy(update={"activated_at": NOW})
    assert not may_open("onboard", "dinero", activated)


def test_a_reconnect_is_dinero_alone() -> None:
    assert next_step("reconnect", Progress()) == "dinero"
    assert not may_open("reconnect", "organisation", Progress(dinero_connected_at=NOW))
    assert next_step("reconnect", Progress(dinero_connected_at=NOW)) is None


def test_another_organisation_forgets_the_accounts_chosen_in_the_first() -> None:
    chosen = chosen_up_to_start(StartChoice(mode="forward"))
    same = with_organisation(chosen, ORG.model_copy(update={"name": "Butik ApS (renamed)"}))
    assert same.accounts == ACCOUNTS
    other = with_organisation(chosen, OrganisationChoice(id=900002, name="Anden ApS"))
    assert (other.accounts, other.stripe_deposit_account) == (None, None)
    assert other.signing_secret_issued_at == NOW


def test_a_vat_exempt_organisation_chooses_only_its_two_accounts() -> None:
    assert roles_for(ORG)[0] == "goods_domestic"
    assert "without_vat" not in roles_for(ORG)
    assert roles_for(ORG.model_copy(update={"vat_free": True})) == ("without_vat", "gift_cards")


def test_a_choice_that_contradicts_its_role_is_warned_in_words() -> None:
    chart: dict[int, str | None] = {1000: "U25", 1050: None, 1100: "UEUV", 1350: "U25"}
    warnings = vat_warnings(SalesAccounts(goods_domestic=1050), False, chart)
    assert list(warnings) == ["goods_domestic"]
    assert warnings["goods_domestic"] == (
        "Account 1050 has no VAT in Dinero, but “Goods sold in Denmark, and to consumers in"
        " other EU countries” needs U25: Dinero would book another VAT than your shop charged."
    )
    assert vat_warnings(SalesAccounts(), False, chart) == {}


def test_settings_book_from_today_or_from_the_backfills_first_day() -> None:
    forward = settings_of(chosen_up_to_start(StartChoice(mode="forward")), NOW)
    assert forward.cutover == dt.date(2026, 11, 30)  # the Danish date, not UTC's
    assert forward.deposit_accounts == {"stripe": 55010}
    assert (forward.booking_mode, forward.trigger, forward.active) == (
        "draft",
        "order_placed",
        True,
    )
    backfill = settings_of(
        chosen_up_to_start(StartChoice(mode="backfill", since=dt.date(2026, 10, 1))), NOW
    )
    assert backfill.cutover == dt.date(2026, 10, 1)
    before_deposit = settings_of(
        chosen_up_to_start(StartChoice(mode="forward")), NOW, deposit=False
    )
    assert before_deposit.deposit_accounts == {}


def test_settings_need_the_organisation_and_the_accounts() -> None:
    with pytest.raises(ValueError, match="chosen first"):
        settings_of(Progress(organisation=ORG), NOW)


def test_pkce_s256_and_the_authorize_url() -> None:
    verifier = visma.new_verifier()
    assert 43 <= len(verifier) <= 128
    assert set(verifier) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
    )
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    assert visma.challenge(verifier) == expected.decode()
    url = visma.authorize_url(
        "https://connect.example/connect/authorize",
        client_id="isv_bogfoer",
        redirect_uri="https://portal.example/portal/dinero/callback",
        scope="dineropublicapi:read dineropublicapi:write offline_access",
        state="s1",
        verifier=verifier,
        login_hint="ejer@butik.dk",
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query == {
        "client_id": "isv_bogfoer",
        "response_type": "code",
        "response_mode": "form_post",
        "scope": "dineropublicapi:read dineropublicapi:write offline_access",
        "redirect_uri": "https://portal.example/portal/dinero/callback",
        "state": "s1",
        "code_challenge": visma.challenge(verifier),
        "code_challenge_method": "S256",
        "login_hint": "ejer@butik.dk",
    }
    assert verifier not in url
    assert visma.new_state() != visma.new_state()
