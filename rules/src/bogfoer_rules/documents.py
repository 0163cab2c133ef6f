"""Pure builders for the documents of one order: contact, invoice lines, credit-note lines.

Each builder returns either what to send or a `Problem` (reason + readable message) that the
rules turn into a hold. No state, no I/O; policy.py decides *when* to build.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

from bogfoer_contracts.events import Customer, LineKind, Order, OrderLine, RefundLine
from bogfoer_contracts.model import ContractModel, built
from bogfoer_contracts.postings import ContactSpec, InvoiceLineSpec
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_rules import checked
from bogfoer_rules.accounts import ROUNDING, line_accounts
from bogfoer_rules.holds import HoldReason
from bogfoer_rules.totals import (
    ROUNDING_DESCRIPTION,
    PricedLine,
    Totals,
    TotalsMismatch,
    checked_totals,
    document_totals,
    format_minor,
    round_half_away_from_zero,
    vat_of,
)
from bogfoer_rules.zones import Zone, valid_eu_vat_number, zone_of

# Dates on Danish documents are Danish calendar dates: 23:30 UTC on 31 March is 1 April here.
DANISH_TIME = ZoneInfo("Europe/Copenhagen")
BOOKING_CURRENCY = "DKK"
ROUNDING_LINE_ID = "__rounding__"


def danish_date(at: dt.datetime) -> dt.date:
    return at.astimezone(DANISH_TIME).date()


@dataclass(frozen=True)
class Problem:
    reason: HoldReason
    message: str


class InvoicedLine(ContractModel):
    """One invoice line as sent, remembered so credit notes reuse its account and price.

    A contract model (unknown fields refused, frozen, no unstorable text) so that a stored
    state is validated without the text walks (`OrderState.load`), and built without them
    (`checked.without_text_walk`, where tests compare): pydantic-core validates a plain
    `BaseModel` by its own validator, which would walk its `spec` again. The rules build it
    without validating (`checked.constructed`).
    """

    line_id: str
    kind: LineKind | None  # None for the rounding line
    spec: InvoiceLineSpec
    vat_rate: int

    def priced(self, quantity: int | None = None) -> PricedLine:
        spec = self.spec if quantity is None else checked.replaced(self.spec, quantity=quantity)
        return PricedLine(spec, self.vat_rate)


# Its spec is an `InvoiceLineSpec` the rules built a moment before; see `checked`.
_invoiced_line = checked.constructed(InvoicedLine)


class InvoiceDraft(NamedTuple):
    lines: list[InvoicedLine]
    show_lines_incl_vat: bool
    expected_total: int
    expected_vat: int
    zone: Zone


def order_title(order: Order) -> str:
    """ "Ordre #1042": the shop's order number (without a leading '#') or its id."""
    number = (order.order_number or order.order_id).lstrip("#")
    return f"Ordre #{number}"


# Only ASCII letters are folded: "Jens@Example.DK" is "jens@example.dk" (every mail provider
# and shop platform treats them as one), but no other character is touched, so two
# addresses that differ in anything else (`jens+shop`, `jens_shop`, the Kelvin sign
# against "k") stay two contacts. docs/mapper-rules.md, "Contacts".
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalise_email(email: str) -> str:
    email = email.strip()
    # ASCII text: `lower` folds exactly its letters, in one C call (`translate` with a
    # table is a dictionary look-up a character).
    return email.lower() if email.isascii() else email.translate(_ASCII_LOWER)


def contact_identity(customer: Customer, config: TenantConfig) -> tuple[str, ContactSpec]:
    """The contact's key part (normalised e-mail or "collective") and what Dinero should hold.

    Per-e-mail handling without an e-mail falls back to the collective contact: there is
    nothing stable to key a person on, and a new contact per order would litter the books.
    Daily summaries have no customer: their documents name the collective contact.
    """
    if (
        config.customer_handling == "contact_per_email"
        and config.posting_mode == "per_order"
        and customer.email
        and customer.email.strip()
    ):
        email = normalise_email(customer.email)
        vat_number = (
            valid_eu_vat_number(customer.vat_number) if customer.kind == "business" else None
        )
        # `checked.ContactSpec(...)` of every field, built directly (an order's contact).
        return email, built(
            ContactSpec,
            {
                "name": customer.name,
                "email": email,
                "country": customer.billing_address.country,
                "is_person": customer.kind == "person",
                "vat_number": vat_number,
            },
            set(_CONTACT_FIELDS),
        )
    return "collective", _collective_contact(config)


_CONTACT_FIELDS = frozenset(ContactSpec.model_fields)


# `_collective_contact`'s answers: the settings' id -> (the settings, their contact). The
# settings are held, so their id is not reused while their contact is here.
_COLLECTIVE: dict[int, tuple[TenantConfig, ContactSpec]] = {}
_COLLECTIVE_KEPT = 256


def _collective_contact(config: TenantConfig) -> ContactSpec:
    """The tenant's collective contact, built once for these settings (frozen, so it cannot
    change): every order of a tenant without a contact per e-mail names it, and its
    commands may share it, as frozen as they are."""
    found = _COLLECTIVE.get(id(config))
    if found is not None and found[0] is config:
        return found[1]
    contact = checked.ContactSpec(name=config.collective_contact_name, country="DK")
    if len(_COLLECTIVE) >= _COLLECTIVE_KEPT:
        _COLLECTIVE.clear()
    _COLLECTIVE[id(config)] = (config, contact)
    return contact


def _vat_problem(line: OrderLine, zone: Zone, expected: int, config: TenantConfig) -> Problem:
    where = f"line {line.line_id!r} ({line.description})"
    charged = f"{line.vat_rate / 100:g} %"
    if config.vat_exempt_seller:
        return Problem(
            "vat_charged_by_exempt_seller",
            f"{where} charges {charged} VAT, but the tenant is a VAT-exempt seller.",
        )
    if line.kind == "gift_card":
        return Problem(
            "gift_card_with_vat",
            f"{where} is a gift card with {charged} VAT; gift cards are booked as a liability "
            "without VAT (single-purpose vouchers are not supported).",
        )
    if zone in ("eu_b2b", "non_eu") and line.vat_rate > 0:
        sale = "an intra-EU B2B sale" if zone == "eu_b2b" else "an export sale"
        return Problem(
            "vat_charged_on_zero_rated_sale",
            f"{where} charges {charged} VAT on {sale}, which is zero-rated in Denmark. "
            "Refund the VAT or correct the order's customer/VAT number.",
        )
    if zone == "eu_b2c" and line.vat_rate > 0:
        return Problem(
            "oss_not_supported",
            f"{where} charges {charged} VAT on an EU consumer sale; Dinero does not support "
            "OSS, so only Danish VAT (25 %) under the €10,000 threshold can be booked.",
        )
    return Problem(
        "unsupported_vat_rate",
        f"{where} charges {charged} VAT, but its account carries {expected / 100:g} %.",
    )


# Every field of an invoice line (and of its spec) is given: all of them counted as set.
_INVOICED_FIELDS = frozenset(InvoicedLine.model_fields)
_SPEC_FIELDS = frozenset(InvoiceLineSpec.model_fields)


def _line(line: OrderLine, kind: LineKind, account: int, rate: int) -> InvoicedLine:
    """`_invoiced_line(line_id=..., kind=..., spec=checked.InvoiceLineSpec(...),
    vat_rate=rate)` of an order's line, every field given, built directly (`built`): an
    order's every line went through both builders' keyword handling, a fifth of mapping
    it (`rules/tests/test_rules_constructed.py` holds each to validating its dump)."""
    spec = built(
        InvoiceLineSpec,
        {
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": line.unit_price,
            "account_number": account,
            "unit": "shipment" if kind == "shipping" else "parts",
            "vat_rate": rate,
        },
        set(_SPEC_FIELDS),
    )
    return built(
        InvoicedLine,
        {"line_id": line.line_id, "kind": kind, "spec": spec, "vat_rate": rate},
        set(_INVOICED_FIELDS),
    )


def map_order(order: Order, config: TenantConfig) -> InvoiceDraft | Problem:
    """Map the order's lines to accounts and check Dinero's totals against the shop's."""
    if order.currency != BOOKING_CURRENCY:
        # A foreign-currency invoice needs Dinero's day rate on the invoice and the DKK
        # amount Stripe actually settled on every payment; until that is built, such an
        # order is held whole rather than booked at a rate nobody chose.
        return Problem(
            "unsupported_currency",
            f"The order is in {order.currency}; Bogfør books DKK orders only. Book it by hand "
            "in Dinero (as a foreign-currency invoice), or sell in DKK.",
        )
    zone = zone_of(order.customer)
    accounts = line_accounts(config, zone)
    # One pass: each line's account checked and its invoice line built (`_line`), and
    # Dinero's totals of the lines (`amounts_totals`) summed as they come: a VAT-bearing
    # line's VAT is computed on its own basis, which is the document's unless the bases
    # are mixed (a problem, below); a zero-rated line's VAT is 0 on either basis, and its
    # amount the same in the total. A problem found later leaves them unused.
    lines: list[InvoicedLine] = []
    bases: set[bool] = set()
    any_incl_vat = False
    total = vat = 0
    for line in order.lines:
        kind = line.kind
        account, rate = accounts[kind]
        if line.vat_rate != rate:
            return _vat_problem(line, zone, rate, config)
        incl = line.prices_include_vat
        amount = line.quantity * line.unit_price
        if rate > 0:
            bases.add(incl)
            line_vat = vat_of(amount, rate, incl_vat=incl)
            vat += line_vat
            total += amount if incl else amount + line_vat
        else:
            total += amount
        any_incl_vat = any_incl_vat or incl
        lines.append(_line(line, kind, account, rate))
    if len(bases) > 1:
        return Problem(
            "mixed_price_basis",
            "Some VAT-bearing lines are priced incl. VAT and others excl. VAT; Dinero reads "
            "every line of a document the same way.",
        )
    # With only zero-rated lines the basis changes nothing; then follow the shop.
    incl_vat = bases.pop() if bases else any_incl_vat
    if total == order.total and vat == order.vat_total:
        # `checked_totals`' answer when nothing differs (most orders): no rounding line.
        return InvoiceDraft(lines, incl_vat, total, vat, zone)
    totals_check = checked_totals(
        Totals(total, vat),
        incl_vat=incl_vat,
        expected_total=order.total,
        expected_vat=order.vat_total,
        tolerance=config.rounding_tolerance,
        rounding_account=accounts[ROUNDING][0],
        rounding_rate=accounts[ROUNDING][1],
        currency=order.currency,
    )
    if isinstance(totals_check, TotalsMismatch):
        return Problem(totals_check.reason, totals_check.message)
    if totals_check.rounding is not None:
        lines.append(
            _invoiced_line(
                line_id=ROUNDING_LINE_ID,
                kind=None,
                spec=totals_check.rounding.spec,
                vat_rate=totals_check.rounding.vat_rate,
            )
        )
    return InvoiceDraft(lines, incl_vat, totals_check.totals.total, totals_check.totals.vat, zone)


def rounding_for_total(total_diff: int, rate: int, *, incl_vat: bool) -> int | None:
    """The unit price of one line at `rate` whose total incl. VAT is exactly `total_diff`."""
    if incl_vat:
        return total_diff
    guess = round_half_away_from_zero(total_diff * 10_000, 10_000 + rate)
    for candidate in (guess, guess - 1, guess + 1):
        if candidate + vat_of(candidate, rate, incl_vat=False) == total_diff:
            return candidate
    return None


class CreditDraft(NamedTuple):
    lines: list[InvoicedLine]
    show_lines_incl_vat: bool
    total: int

    @property
    def vat(self) -> int:
        """The VAT Dinero will compute on these lines (the poster checks it before booking)."""
        priced = [line.priced() for line in self.lines]
        return document_totals(priced, incl_vat=self.show_lines_incl_vat).vat


def credit_lines(
    invoiced: Sequence[InvoicedLine],
    credited: dict[str, int],
    refund_lines: Sequence[RefundLine],
    amount: int,
    *,
    incl_vat: bool,
    tolerance: int,
) -> CreditDraft | Problem:
    """Credit-note lines for a refund of `refund_lines` totalling `amount` incl. VAT.

    The lines reuse the invoice's accounts and unit prices; a difference between their total
    and the refunded amount within the tolerance becomes an "Øreafrunding" line, a larger
    one is a problem (e.g. a refund that also returns shipping not listed as a line).
    """
    by_id = {line.line_id: line for line in invoiced}
    lines: list[InvoicedLine] = []
    for refund_line in refund_lines:
        original = by_id.get(refund_line.line_id)
        if original is None:
            return Problem(
                "refund_unknown_line",
                f"The refund names line {refund_line.line_id!r}, which is not on the invoice.",
            )
        left = original.spec.quantity - credited.get(original.line_id, 0)
        if refund_line.quantity > left:
            return Problem(
                "refund_exceeds_order",
                f"The refund credits {refund_line.quantity} × {original.spec.description!r}; "
                f"only {left} are left to credit.",
            )
        lines.append(
            checked.replaced(
                original, spec=checked.replaced(original.spec, quantity=refund_line.quantity)
            )
        )
    total = document_totals([line.priced() for line in lines], incl_vat=incl_vat).total
    diff = amount - total
    if diff != 0:
        first = lines[0] if lines else None
        rate = first.vat_rate if first is not None else 0
        unit = rounding_for_total(diff, rate, incl_vat=incl_vat)
        if first is None or unit is None or abs(diff) > tolerance:
            return Problem(
                "refund_amount_mismatch",
                f"The refund is {format_minor(amount)} but its lines credit "
                f"{format_minor(total)}; the difference is above the tenant's rounding "
                f"tolerance of {format_minor(tolerance)}.",
            )
        lines.append(
            _invoiced_line(
                line_id=ROUNDING_LINE_ID,
                kind=None,
                spec=checked.InvoiceLineSpec(
                    description=ROUNDING_DESCRIPTION,
                    quantity=1,
                    unit_price=unit,
                    account_number=first.spec.account_number,
                    vat_rate=rate,
                ),
                vat_rate=rate,
            )
        )
    return CreditDraft(lines, incl_vat, amount)


def amount_credit_line(
    invoiced: Sequence[InvoicedLine], amount: int, description: str
) -> CreditDraft | Problem:
    """An amount-only refund as one line incl. VAT on the invoice's goods account.

    Only when every invoice line carries the same VAT rate: then the VAT split of the refund
    is the same whatever lines it "really" refunds. Mixed rates (e.g. goods and a gift card)
    cannot be split without knowing the lines, so that is a problem for a person.
    """
    rates = {line.vat_rate for line in invoiced if line.line_id != ROUNDING_LINE_ID}
    if len(rates) != 1:
        return Problem(
            "ambiguous_amount_refund",
            "The refund gives only an amount, and the invoice mixes VAT rates; "
            "refund with lines so the VAT can be credited correctly.",
        )
    target = next((line for line in invoiced if line.kind == "goods"), invoiced[0])
    line = _invoiced_line(
        line_id="__amount__",
        kind=target.kind,
        spec=checked.InvoiceLineSpec(
            description=description,
            quantity=1,
            unit_price=amount,
            account_number=target.spec.account_number,
            vat_rate=target.vat_rate,
        ),
        vat_rate=target.vat_rate,
    )
    return CreditDraft([line], True, amount)
