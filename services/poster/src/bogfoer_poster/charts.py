"""Each organisation's chart as Dinero last told the poster, to check a document before it
is written.

An invoice or credit note is booked only if Dinero totals it as the shop did, to the øre.
Dinero computes VAT from each line's account's VAT code, so the poster knows Dinero's totals
before it creates the document when it knows the chart: the rules state the VAT rate they
expect on each line (`InvoiceLineSpec.vat_rate`), the chart says what Dinero will apply, and
`bogfoer_rules.totals.unambiguous_totals` does Dinero's arithmetic. Reading each document
back after creating it (what the poster did before) was one call per invoice and credit
note; the chart costs three calls per organisation every `max_age` seconds.

When Dinero's unknown rounding could matter (`unambiguous_totals` is None) the executor
still reads the created draft and checks it before booking; and the booked document Dinero
answers with is compared again, so a chart that changed within `max_age` shows at once
(logged, counted, the chart read anew).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from bogfoer_contracts.postings import InvoiceLineSpec
from bogfoer_dinero import DineroClient, OrganisationClient
from bogfoer_rules.accounts import normal_vat_code
from bogfoer_rules.totals import PricedLine, document_totals, unambiguous_totals

Verdict = Literal["known", "read"]


@dataclass(frozen=True)
class Chart:
    """account -> (VAT code, rate in basis points) as Dinero applies them on invoice lines."""

    accounts: dict[int, tuple[str, int]]
    fetched: float


class ChartRefusal(Exception):
    """The document would not total as the shop did (or names an unknown account)."""


def _basis_points(rate: Decimal | None) -> int:
    # Dinero gives VatRate as a fraction (0.25); the rules speak basis points (2500).
    return int((rate or Decimal(0)) * 10_000)


def verdict(
    lines: Sequence[InvoiceLineSpec],
    *,
    incl_vat: bool,
    expected_total: int,
    expected_vat: int | None,
    chart: Chart,
    document: str,
) -> Verdict:
    """ "known": Dinero will total the document as expected (no need to read it back);
    "read": its rounding could matter, read the draft before booking. Raises ChartRefusal
    when it would total otherwise — nothing is written then."""
    priced: list[PricedLine] = []
    for line in lines:
        found = chart.accounts.get(line.account_number)
        if found is None:
            raise ChartRefusal(
                f"account {line.account_number} is not in the organisation's chart; the"
                f" {document} is not created"
            )
        priced.append(PricedLine(line, found[1]))
    for line, dinero in zip(lines, priced, strict=True):
        if line.vat_rate is not None and line.vat_rate != dinero.vat_rate:
            code = chart.accounts[line.account_number][0]
            computed = document_totals(priced, incl_vat=incl_vat)
            problems = mismatch(computed.total, computed.vat, expected_total, expected_vat)
            raise ChartRefusal(
                f"account {line.account_number} has VAT code {code}"
                f" ({dinero.vat_rate / 100:g} %) in Dinero, the sale charged"
                f" {line.vat_rate / 100:g} %: Dinero would compute the {document} with"
                f" {problems or 'another VAT per line'}; not created"
            )
    totals = unambiguous_totals(priced, incl_vat=incl_vat)
    if totals is None:
        return "read"
    problems = mismatch(totals.total, totals.vat, expected_total, expected_vat)
    if problems:
        raise ChartRefusal(f"Dinero would compute the {document} with {problems}; not created")
    return "known"


def mismatch(
    total: int | None, vat: int | None, expected_total: int, expected_vat: int | None
) -> str | None:
    """What differs, in the words ops read ("VAT 0 øre, expected 2000 øre"); None: nothing."""
    problems = []
    if total != expected_total:
        problems.append(f"total {total} øre, expected {expected_total} øre")
    if expected_vat is not None and vat != expected_vat:
        problems.append(f"VAT {vat} øre, expected {expected_vat} øre")
    return " and ".join(problems) if problems else None


class Charts:
    """The charts of the organisations this replica posts to, read at most every `max_age`."""

    def __init__(
        self,
        dinero: DineroClient,
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dinero = dinero
        self._max_age = max_age
        self._clock = clock
        self._charts: dict[tuple[str, int], Chart] = {}
        self._reading: dict[tuple[str, int], asyncio.Lock] = {}

    async def of(self, org: OrganisationClient) -> Chart:
        key = (org.tenant, org.organization_id)
        lock = self._reading.setdefault(key, asyncio.Lock())
        async with lock:
            chart = self._charts.get(key)
            if chart is None or self._clock() - chart.fetched >= self._max_age:
                chart = self._charts[key] = await self._read(org)
            return chart

    def forget(self, org: OrganisationClient) -> None:
        """Dinero booked other totals than the chart predicted: read it anew next time."""
        self._charts.pop((org.tenant, org.organization_id), None)

    async def _read(self, org: OrganisationClient) -> Chart:
        organisations = await self._dinero.organisations(org.tenant)
        vat_free = any(o.is_vat_free for o in organisations if o.id == org.organization_id)
        rates = {t.vat_code.upper(): _basis_points(t.vat_rate) for t in await org.vat_types()}
        accounts: dict[int, tuple[str, int]] = {}
        for account in await org.entry_accounts():
            code = normal_vat_code(account.vat_code)
            rate = 0 if vat_free or code == "none" else rates.get(code, 0)
            accounts[account.account_number] = (code, rate)
        return Chart(accounts, self._clock())
