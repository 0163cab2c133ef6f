"""Money at the edge: JSON decimals in kroner in and out, integer øre inside."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

ORE_PER_KRONE = 100
_ORE = Decimal("0.01")


def round_to_ore(amount_kroner: Decimal) -> int:
    """Round a kroner amount half away from zero to whole øre (ROUND_HALF_UP is away from zero)."""
    return int(amount_kroner.quantize(_ORE, rounding=ROUND_HALF_UP) * ORE_PER_KRONE)


def ore_to_kroner(ore: int) -> Decimal:
    """Integer øre to a two-decimal Decimal in kroner, for JSON output."""
    return (Decimal(ore) / ORE_PER_KRONE).quantize(_ORE)


def exact_ore(amount_kroner: Decimal) -> int | None:
    """Øre for an amount with at most two decimals; None when it has more (never rounds)."""
    try:
        scaled = amount_kroner * ORE_PER_KRONE
    except InvalidOperation:
        return None
    if scaled != scaled.to_integral_value():
        return None
    return int(scaled)


def vat_from_net(net_ore: int, rate: Decimal) -> int:
    """VAT on a net amount, rounded per line to whole øre."""
    return round_to_ore(Decimal(net_ore) * rate / ORE_PER_KRONE)


def vat_from_gross(gross_ore: int, rate: Decimal) -> int:
    """The VAT part of a VAT-inclusive amount (gross x rate / (1 + rate)), rounded to whole øre."""
    return round_to_ore(Decimal(gross_ore) * rate / (1 + rate) / ORE_PER_KRONE)
