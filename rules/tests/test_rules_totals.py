"""Dinero's arithmetic in integer øre, the rounding rule, and the totals check."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bogfoer_contracts.postings import InvoiceLineSpec
from bogfoer_rules.totals import (
    PricedLine,
    Totals,
    TotalsMatch,
    TotalsMismatch,
    amounts_totals,
    checked_totals,
    document_totals,
    round_half_away_from_zero,
    vat_of,
)


@pytest.mark.parametrize(
    ("numerator", "denominator", "expected"),
    [
        (0, 5, 0),
        (10, 5, 2),
        (12, 5, 2),  # 2.4 → 2
        (13, 5, 3),  # 2.6 → 3
        (5, 2, 3),  # 2.5 → 3 (banker's would give 2)
        (7, 2, 4),  # 3.5 → 4 (banker's also 4)
        (-5, 2, -3),  # -2.5 → -3: away from zero, not towards +∞
        (-12, 5, -2),
        (-13, 5, -3),
        (1, 3, 0),
        (2, 3, 1),
        (25, 10, 3),  # 2.5 → 3
        (35, 10, 4),
        (45, 10, 5),  # banker's would give 4
    ],
)
def test_round_half_away_from_zero_table(numerator: int, denominator: int, expected: int) -> None:
    assert round_half_away_from_zero(numerator, denominator) == expected


def test_rounding_refuses_a_non_positive_denominator() -> None:
    with pytest.raises(ValueError, match="denominator"):
        round_half_away_from_zero(1, 0)


@given(st.integers(-(10**12), 10**12), st.integers(1, 10**6))
def test_rounding_is_within_half_and_symmetric(numerator: int, denominator: int) -> None:
    rounded = round_half_away_from_zero(numerator, denominator)
    assert isinstance(rounded, int)
    assert abs(2 * (rounded * denominator - numerator)) <= denominator
    assert round_half_away_from_zero(-numerator, denominator) == -rounded


@pytest.mark.parametrize(
    ("amount", "rate", "incl", "vat"),
    [
        (25000, 2500, True, 5000),  # 250.00 incl. → 50.00 VAT
        (5000, 2500, True, 1000),
        (1003, 2500, True, 201),  # 10.03 / 5 = 2.006 → 2.01
        (1002, 2500, True, 200),  # 2.004 → 2.00
        (1, 2500, True, 0),
        (3, 2500, True, 1),  # 0.6 øre → 1
        (-3, 2500, True, -1),
        (24000, 2500, False, 6000),
        (7999, 2500, False, 2000),  # 19.9975 → 20.00
        (10000, 0, True, 0),
        (10000, 0, False, 0),
    ],
)
def test_vat_of_one_line(amount: int, rate: int, incl: bool, vat: int) -> None:
    assert vat_of(amount, rate, incl_vat=incl) == vat


def _line(price: int, qty: int = 1, account: int = 1000, rate: int = 2500) -> PricedLine:
    return PricedLine(
        InvoiceLineSpec(description="x", quantity=qty, unit_price=price, account_number=account),
        rate,
    )


def test_document_totals_reproduce_the_docs_example() -> None:
    lines = [_line(12500, 2), _line(5000, account=1350)]
    assert document_totals(lines, incl_vat=True) == Totals(total=30000, vat=6000)


def test_document_totals_with_net_prices_add_vat_per_line() -> None:
    lines = [_line(10000, 2), _line(4000, account=1350)]
    assert document_totals(lines, incl_vat=False) == Totals(total=30000, vat=6000)


def test_vat_is_rounded_per_line_not_on_the_total() -> None:
    # Two lines of 10.03 incl. VAT: 2.01 VAT each (4.02); on the total it would be 4.01.
    assert document_totals([_line(1003), _line(1003)], incl_vat=True).vat == 402


def _check(lines: list[PricedLine], total: int, vat: int, tolerance: int, **kw: int) -> object:
    return checked_totals(
        document_totals(lines, incl_vat=bool(kw.get("incl", 1))),
        incl_vat=bool(kw.pop("incl", 1)),
        expected_total=total,
        expected_vat=vat,
        tolerance=tolerance,
        rounding_account=kw.pop("account", 1000),
        rounding_rate=kw.pop("rate", 2500),
        currency="DKK",
    )


def test_exact_totals_need_no_rounding_line() -> None:
    result = _check([_line(12500, 2), _line(5000, account=1350)], 30000, 6000, tolerance=0)
    assert result == TotalsMatch(rounding=None, totals=Totals(30000, 6000))


def test_small_difference_within_tolerance_adds_a_visible_rounding_line() -> None:
    # The shop says 300.01 (VAT 60.00); Dinero gets there with a 0.01 line on 1000 (VAT 0).
    result = _check([_line(12500, 2), _line(5000, account=1350)], 30001, 6000, tolerance=5)
    assert isinstance(result, TotalsMatch)
    assert result.rounding is not None
    assert result.rounding.spec.description == "Øreafrunding"
    assert result.rounding.spec.unit_price == 1
    assert result.rounding.spec.account_number == 1000
    assert result.totals == Totals(30001, 6000)


def test_a_rounding_line_on_a_vat_account_also_matches_the_vat_when_it_can() -> None:
    # 0.04 more in total and 0.01 more VAT: one 0.04 line incl. VAT carries 0.01 VAT.
    result = _check([_line(12500, 2)], 25004, 5001, tolerance=5)
    assert isinstance(result, TotalsMatch)
    assert result.totals == Totals(25004, 5001)


def test_difference_above_tolerance_is_a_total_mismatch() -> None:
    result = _check([_line(12500, 2)], 25100, 5000, tolerance=10)
    assert isinstance(result, TotalsMismatch)
    assert result.reason == "total_mismatch"
    assert "251.00" in result.message
    assert "250.00" in result.message


def test_zero_tolerance_holds_even_one_ore() -> None:
    result = _check([_line(12500, 2)], 25001, 5000, tolerance=0)
    assert isinstance(result, TotalsMismatch)
    assert result.reason == "total_mismatch"


def test_vat_only_difference_cannot_be_fixed_by_one_line() -> None:
    # Shop rounded VAT on the order total (4.01), Dinero per line (4.02): same gross.
    result = _check([_line(1003), _line(1003)], 2006, 401, tolerance=10)
    assert isinstance(result, TotalsMismatch)
    assert result.reason == "vat_mismatch"


def test_zero_rated_rounding_line_changes_only_the_total() -> None:
    result = _check(
        [_line(24000, account=1255, rate=0)], 24002, 0, tolerance=5, account=1255, rate=0
    )
    assert isinstance(result, TotalsMatch)
    assert result.rounding is not None
    assert (result.rounding.spec.account_number, result.rounding.spec.unit_price) == (1255, 2)


def test_net_priced_rounding_line_is_net() -> None:
    # Net 240.00 → 300.00; shop says 300.05 incl. with VAT 60.01: a net 0.04 line (+0.01 VAT).
    result = _check([_line(24000)], 30005, 6001, tolerance=5, incl=0)
    assert isinstance(result, TotalsMatch)
    assert result.rounding is not None
    assert result.rounding.spec.unit_price == 4
    assert result.totals == Totals(30005, 6001)


@given(
    st.lists(st.tuples(st.integers(-(10**10), 10**10), st.sampled_from([0, 1, 600, 2500, 10_000]))),
    st.booleans(),
)
def test_amounts_totals_are_each_lines_vat_of_summed(
    amounts: list[tuple[int, int]], incl_vat: bool
) -> None:
    """`amounts_totals` is each line's `vat_of`, summed, and the total with or without it."""
    vat = sum(vat_of(amount, rate, incl_vat=incl_vat) for amount, rate in amounts)
    total = sum(amount for amount, _ in amounts) + (0 if incl_vat else vat)
    assert amounts_totals(amounts, incl_vat=incl_vat) == (total, vat)
