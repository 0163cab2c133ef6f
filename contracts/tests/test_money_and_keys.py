"""Money and posting keys: integers only, keys within Dinero's 128 characters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bogfoer_contracts.ids import EXTERNAL_REFERENCE_MAX, posting_key
from bogfoer_contracts.money import MAX_MINOR_UNITS, Money


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_money_round_trips_any_integer(amount: int) -> None:
    money = Money(amount=amount, currency="DKK")
    assert Money.model_validate_json(money.model_dump_json()) == money


@pytest.mark.parametrize("amount", [1.0, "100", 0.1])
def test_money_refuses_non_integers(amount: object) -> None:
    with pytest.raises(ValidationError):
        Money.model_validate({"amount": amount, "currency": "DKK"})


def test_posting_key_is_readable_when_short() -> None:
    assert (
        posting_key("shop-a", "invoice", "shopify", "1042") == "bogfoer:shop-a:invoice:shopify:1042"
    )


@given(st.text(min_size=1, max_size=400))
def test_posting_key_always_fits_and_is_stable(order_id: str) -> None:
    key = posting_key("shop-a", "invoice", "shopify", order_id)
    assert len(key) <= EXTERNAL_REFERENCE_MAX
    assert key == posting_key("shop-a", "invoice", "shopify", order_id)
    assert "'" not in key  # safe inside Dinero's queryFilter quotes


def test_long_keys_stay_unique() -> None:
    a = posting_key("shop-a", "invoice", "x" * 200)
    b = posting_key("shop-a", "invoice", "x" * 199 + "y")
    assert a != b


def test_money_beyond_any_sale_is_refused_where_it_enters() -> None:
    """The fuzz suite's payout of 2**63 øre was accepted, mapped, and then overflowed the
    ledger's bigint: the command never reached the books, with no hold and no reason.
    An amount is bounded where it enters, far above any sale and inside every store."""
    assert MAX_MINOR_UNITS < 2**63 // 1_000  # room for sums of a thousand of them in bigint
    for amount in (MAX_MINOR_UNITS, -MAX_MINOR_UNITS):
        assert Money(amount=amount, currency="DKK").amount == amount
    for amount in (MAX_MINOR_UNITS + 1, -MAX_MINOR_UNITS - 1, 2**63, -(2**64)):
        with pytest.raises(ValidationError, match=r"(less|greater) than or equal"):
            Money.model_validate({"amount": amount, "currency": "DKK"})
