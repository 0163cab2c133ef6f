"""What Dinero will total for the lines Bogfør sends, and the check against the shop's totals.

Dinero computes VAT itself, per line, from the VAT type of each line's account. We mirror
that arithmetic in integer øre (no floats, no Decimal needed) so a mismatch with the shop's
`total`/`vat_total` is found before anything is posted:
- line amount = quantity × unit price (exact in øre);
- VAT of a VAT-inclusive line = amount × rate / (1 + rate); of a net line = amount × rate;
  each rounded **half away from zero** to whole øre, per line, then summed. That is the
  convention in danish-vat-and-accounts.md §6 and what the Dinero sandbox implements;
  Dinero's own method is undocumented, so the poster's `invoices/fetch` preview stays the
  final check against the real API.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

from bogfoer_contracts.postings import InvoiceLineSpec
from bogfoer_rules import checked

ROUNDING_DESCRIPTION = "Øreafrunding"
_BASIS = 10_000  # VAT rates are basis points: 2500 = 25 %


def round_half_away_from_zero(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, ties away from zero.

    The one rounding function of the mapper. Integer arithmetic only: 5 / 2 → 3,
    -5 / 2 → -3, 3 / 2 → 2 (banker's rounding would give 2, -2, 2).
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if 2 * remainder >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def vat_of(amount: int, rate: int, *, incl_vat: bool) -> int:
    """The VAT Dinero computes on one line amount at `rate` basis points."""
    if incl_vat:
        return round_half_away_from_zero(amount * rate, _BASIS + rate)
    return round_half_away_from_zero(amount * rate, _BASIS)


# The rules' own values are named tuples, not frozen dataclasses: a frozen dataclass's
# `__init__` sets each field by `object.__setattr__` (~0.5 µs an instance, a few a decision).
class PricedLine(NamedTuple):
    """An invoice line as sent, plus the VAT rate its account carries in Dinero."""

    spec: InvoiceLineSpec
    vat_rate: int


class Totals(NamedTuple):
    total: int  # incl. VAT
    vat: int


def document_totals(lines: Sequence[PricedLine], *, incl_vat: bool) -> Totals:
    """TotalInclVat and TotalVat as Dinero computes them for these lines."""
    return amounts_totals(
        [(line.spec.quantity * line.spec.unit_price, line.vat_rate) for line in lines],
        incl_vat=incl_vat,
    )


class TotalsMatch(NamedTuple):
    """The lines reproduce the shop's totals, with an optional explicit rounding line."""

    rounding: PricedLine | None
    totals: Totals


@dataclass(frozen=True)
class TotalsMismatch:
    reason: Literal["total_mismatch", "vat_mismatch"]
    message: str
    computed: Totals


def rounding_line_amount(
    total_diff: int, vat_diff: int, rate: int, *, incl_vat: bool
) -> int | None:
    """The unit price of one line on an account with `rate` that closes both differences.

    None when no single line can: e.g. the VAT differs by 1 øre while the total matches.
    """
    amount = total_diff if incl_vat else total_diff - vat_diff
    if vat_of(amount, rate, incl_vat=incl_vat) != vat_diff:
        return None
    return amount


def amounts_totals(amounts: Sequence[tuple[int, int]], *, incl_vat: bool) -> Totals:
    """TotalInclVat and TotalVat as Dinero computes them for lines given as (quantity ×
    unit price, VAT rate), line by line (`document_totals` of built lines)."""
    total = vat = 0
    for amount, rate in amounts:
        line_vat = vat_of(amount, rate, incl_vat=incl_vat)
        vat += line_vat
        total += amount if incl_vat else amount + line_vat
    return Totals(total, vat)


def checked_totals(
    computed: Totals,
    *,
    incl_vat: bool,
    expected_total: int,
    expected_vat: int,
    tolerance: int,
    rounding_account: int,
    rounding_rate: int,
    currency: str,
) -> TotalsMatch | TotalsMismatch:
    """Compare Dinero's totals for some lines (`computed`: their `document_totals` or
    `amounts_totals`) with the shop's, to the øre.

    Within `tolerance` (øre, per the tenant) one explicit "Øreafrunding" line on
    `rounding_account` closes the gap; anything else is a mismatch, and the caller holds.
    """
    total_diff = expected_total - computed.total
    vat_diff = expected_vat - computed.vat
    if total_diff == 0 and vat_diff == 0:
        return TotalsMatch(rounding=None, totals=computed)
    shown = (
        f"Dinero would total {format_minor(computed.total)} {currency} "
        f"with VAT {format_minor(computed.vat)}; "
        f"the shop says {format_minor(expected_total)} with VAT {format_minor(expected_vat)}"
    )
    if abs(total_diff) > tolerance:
        return TotalsMismatch(
            "total_mismatch",
            f"{shown}. The difference {format_minor(total_diff)} is above the tenant's rounding "
            f"tolerance of {format_minor(tolerance)}.",
            computed,
        )
    amount = rounding_line_amount(total_diff, vat_diff, rounding_rate, incl_vat=incl_vat)
    if amount is None or abs(amount) > tolerance or amount == 0:
        return TotalsMismatch(
            "vat_mismatch",
            f"{shown}. No single rounding line within the tolerance of {format_minor(tolerance)} "
            "reproduces both the total and the VAT.",
            computed,
        )
    rounding = PricedLine(
        checked.InvoiceLineSpec(
            description=ROUNDING_DESCRIPTION,
            quantity=1,
            unit_price=amount,
            account_number=rounding_account,
            vat_rate=rounding_rate,
        ),
        rounding_rate,
    )
    # `document_totals([*lines, rounding])`: the totals are sums over the lines.
    added = document_totals([rounding], incl_vat=incl_vat)
    return TotalsMatch(
        rounding=rounding,
        totals=Totals(total=computed.total + added.total, vat=computed.vat + added.vat),
    )


def format_minor(minor: int) -> str:
    """Øre as a readable amount for hold messages, e.g. -1234 → "-12.34"."""
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def _round_half_even(numerator: int, denominator: int) -> int:
    quotient, remainder = divmod(numerator, denominator)
    if 2 * remainder > denominator or (2 * remainder == denominator and quotient % 2):
        quotient += 1
    return quotient


def unambiguous_totals(lines: Sequence[PricedLine], *, incl_vat: bool) -> Totals | None:
    """Dinero's totals for these lines when every reading of its undocumented rounding
    agrees; None when they differ (then only Dinero can say, by reading the document).

    The readings: VAT rounded per line half away from zero (the sandbox, and our model),
    per line half to even, and once on the document's unrounded VAT. They agree on almost
    every webshop order — a VAT-inclusive amount in whole kroner or in 5-øre steps has an
    exact VAT, and an inclusive amount's VAT (gross/5) can never be a tie — so the poster
    knows Dinero's total before creating the document, without reading it back.
    """
    per_line = document_totals(lines, incl_vat=incl_vat)
    even = 0
    exact_numerator = 0  # Σ amount·rate / (base [+ rate]), on one common denominator below
    for line in lines:
        amount = line.spec.quantity * line.spec.unit_price
        base = _BASIS + line.vat_rate if incl_vat else _BASIS
        even += _round_half_even(amount * line.vat_rate, base)
    rates = {line.vat_rate for line in lines}
    if len(rates) <= 1:
        rate = rates.pop() if rates else 0
        base = _BASIS + rate if incl_vat else _BASIS
        exact_numerator = sum(line.spec.quantity * line.spec.unit_price for line in lines) * rate
        once = round_half_away_from_zero(exact_numerator, base)
    else:
        once = sum(
            round_half_away_from_zero(
                sum(ln.spec.quantity * ln.spec.unit_price for ln in lines if ln.vat_rate == r) * r,
                _BASIS + r if incl_vat else _BASIS,
            )
            for r in sorted(rates)
        )
    if not per_line.vat == even == once:
        return None
    return per_line
