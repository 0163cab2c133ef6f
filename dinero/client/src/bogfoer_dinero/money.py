"""The one place where integer øre become Dinero's decimal kroner, and back.

Bogfør counts money in integer øre. Dinero speaks JSON decimals in kroner (`120.50`). The
conversion happens here and nowhere else, with `Decimal` throughout; a float is refused.

Rounding rule (Dinero → øre): half away from zero at two decimals ("kaufmännisch", what Danish
accounting and Dinero's own UI show): 123.455 → 12346, 123.454 → 12345, -123.455 → -12346.
Dinero only rounds line sums it computes itself (e.g. `BaseAmountValueInclVat` of 99.996);
amounts we send are always exact.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

__all__ = ["ORE_PER_KRONE", "dinero_to_ore", "ore_to_dinero"]

ORE_PER_KRONE = 100
_TWO_PLACES = Decimal("0.01")


def ore_to_dinero(ore: int) -> Decimal:
    """Integer øre → Dinero kroner, exact: 12345 → Decimal('123.45'), -5 → Decimal('-0.05')."""
    if isinstance(ore, bool) or not isinstance(ore, int):
        raise TypeError(f"amounts are integer øre, got {type(ore).__name__}")
    return (Decimal(ore) / ORE_PER_KRONE).quantize(_TWO_PLACES)


def dinero_to_ore(amount: Decimal | int | str) -> int:
    """Dinero kroner → integer øre, rounding half away from zero at the øre.

    Accepts what a JSON parser with `parse_float=Decimal` yields (Decimal or int) and decimal
    strings; refuses floats, which have already lost the exact value.
    """
    if isinstance(amount, bool | float):
        raise TypeError("Dinero amounts must be parsed as Decimal, never float")
    try:
        value = Decimal(amount)
    except InvalidOperation as exc:
        raise ValueError(f"not a decimal amount: {amount!r}") from exc
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    return int((value * ORE_PER_KRONE).quantize(Decimal(1), rounding=ROUND_HALF_UP))
