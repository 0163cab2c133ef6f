"""The øre ↔ Dinero-decimal edge: exact one way, rounded half away from zero the other."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bogfoer_dinero.money import dinero_to_ore, ore_to_dinero


@pytest.mark.parametrize(
    ("ore", "wire"),
    [
        (12345, "123.45"),
        (0, "0.00"),
        (1, "0.01"),
        (-1, "-0.01"),
        (-12345, "-123.45"),
        (100, "1.00"),
        (99_999_999_999_999, "999999999999.99"),  # large values stay exact
        (-(10**18) - 7, "-10000000000000000.07"),
    ],
)
def test_ore_to_dinero_is_exact(ore: int, wire: str) -> None:
    assert ore_to_dinero(ore) == Decimal(wire)
    assert format(ore_to_dinero(ore), "f") == wire


@pytest.mark.parametrize(
    ("dinero", "ore"),
    [
        (Decimal("123.45"), 12345),
        (Decimal("123.456"), 12346),  # third decimal rounds
        (Decimal("123.454"), 12345),
        (Decimal("123.455"), 12346),  # half goes away from zero...
        (Decimal("-123.455"), -12346),  # ... on both sides
        (Decimal("-123.454"), -12345),
        (Decimal("0.005"), 1),
        (Decimal("-0.005"), -1),
        (Decimal("0.0049"), 0),
        (Decimal("120.5"), 12050),
        (Decimal("1E+2"), 10000),
        (300, 30000),  # a JSON integer
        ("42.10", 4210),
        (Decimal("99999999999999.995"), 9999999999999999 + 1),
    ],
)
def test_dinero_to_ore_rounds_half_away_from_zero(dinero: Decimal | int | str, ore: int) -> None:
    assert dinero_to_ore(dinero) == ore


def test_floats_are_refused_both_ways() -> None:
    with pytest.raises(TypeError):
        dinero_to_ore(123.45)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ore_to_dinero(123.45)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ore_to_dinero(True)


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity"])
def test_non_numbers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        dinero_to_ore(bad)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_round_trip_is_identity(ore: int) -> None:
    assert dinero_to_ore(ore_to_dinero(ore)) == ore
