"""An organisation's chart is read in its own Dinero budget: the list of organisations (for
its VAT status) names none, and in the client id's budget without one — shared by every
tenant — fifty organisations starting at once waited windows for their charts."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from bogfoer_dinero.models import EntryAccount, Organisation, VatType
from bogfoer_poster.charts import Charts


class _Org:
    tenant = "t1"
    organization_id = 900001

    async def vat_types(self) -> list[VatType]:
        return [VatType(vat_code="U25", vat_rate=Decimal("0.25"))]

    async def entry_accounts(self) -> list[EntryAccount]:
        return [EntryAccount(account_number=1000, vat_code="U25")]


class _Dinero:
    def __init__(self) -> None:
        self.asked: list[dict[str, Any]] = []

    async def organisations(self, tenant: str, **counted: Any) -> list[Organisation]:
        self.asked.append({"tenant": tenant, **counted})
        return [Organisation(id=900001, is_vat_free=True)]


def test_the_chart_counts_the_organisations_list_in_the_organisations_own_budget() -> None:
    dinero = _Dinero()
    chart = asyncio.run(Charts(dinero, 300.0).of(_Org()))  # type: ignore[arg-type]
    assert dinero.asked == [{"tenant": "t1", "counted_for": 900001}]
    assert chart.accounts == {1000: ("U25", 0)}  # VAT-free: Dinero charges none
