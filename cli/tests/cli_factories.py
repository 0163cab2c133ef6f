"""Builders for the reconciler's pure tests: events as the topic holds them, settings, and
the three sides (expected postings, ledger postings, Dinero documents)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bogfoer_cli.reconcile.books import Books, Document, Line
from bogfoer_cli.reconcile.expectation import Arrival, Expected, replay_orders
from bogfoer_cli.reconcile.findings import Evidence
from bogfoer_cli.reconcile.ledger import LedgerPosting
from bogfoer_contracts.events import SALES_EVENT, InboundEvent, SalesEvent, stamp
from bogfoer_contracts.postings import PostingCommand
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_devstack.sales import AT, captured, goods, order
from bogfoer_rules.policy import state_key

TENANT = "shop-a"
RECEIVED = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.UTC)
NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
FIRST, LAST = dt.date(2026, 11, 1), dt.date(2026, 11, 30)


def settings(version: int = 1, **choices: Any) -> TenantConfig:
    return TenantConfig.model_validate(
        {
            "tenant_id": TENANT,
            "version": version,
            "updated_at": RECEIVED,
            "dinero_organization_id": 1,
            "cutover": "2026-01-01",
            "trigger": "order_placed",
            **choices,
        }
    )


def event(type_: str, sid: str, data: dict[str, Any], source: str = "shopify") -> SalesEvent:
    inbound = InboundEvent.model_validate(
        {"type": type_, "source": source, "source_event_id": sid, "occurred_at": AT, "data": data}
    )
    return stamp(inbound, TENANT, RECEIVED)


def body(e: SalesEvent) -> bytes:
    return SALES_EVENT.dump_json(e)


def placed(order_id: str) -> SalesEvent:
    return event(
        "order.placed",
        f"{order_id}-placed",
        order(
            order_id,
            lines=[goods("1", 10000)],
            payments=[{"provider": "stripe", "reference": f"pi_{order_id}", "method": "card"}],
        ),
    )


def capture(order_id: str) -> SalesEvent:
    return event(
        "payment.captured",
        f"pi_{order_id}",
        captured(f"pi_{order_id}", order_id, 10000, f"txn_{order_id}"),
        source="stripe",
    )


def expect(
    events: list[tuple[SalesEvent, int]],
    configs: list[TenantConfig],
    revisit: dict[str, int] | None = None,
    ledger_keys: frozenset[str] = frozenset(),
) -> dict[str, Expected]:
    """What the rules derive from (event, index of the settings in force) in arrival order."""
    arrivals = [(state_key(e), Arrival(e, index, RECEIVED)) for e, index in events]
    return {x.key: x for x in replay_orders(arrivals, configs, NOW, revisit or {}, ledger_keys)}


def done(command: PostingCommand, guid: str, state: str = "done") -> LedgerPosting:
    return _posting(command.posting_key, command.kind, state, guid, command=command)


def poster_made(key: str, kind: str, guid: str, amount: int) -> LedgerPosting:
    """A posting the poster made itself (a daily summary): the ledger has its result only."""
    return _posting(key, kind, "done", guid, amount=amount, at=NOW)


def _posting(
    key: str,
    kind: str,
    state: str,
    guid: str,
    *,
    command: PostingCommand | None = None,
    amount: int | None = None,
    at: dt.datetime = RECEIVED,
) -> LedgerPosting:
    return LedgerPosting(
        key=key,
        kind=kind,
        state=state,
        amount=amount,
        dinero_guid=guid,
        dinero_number=None,
        attempts=1,
        detail=None,
        error=None,
        command=command,
        created_at=at,
        updated_at=at,
    )


def invoice_document(
    key: str, guid: str, total: int = 10000, *, booked: bool = True, account: int = 1000
) -> Document:
    vat = total // 5
    return Document(
        kind="invoice",
        guid=guid,
        reference=key,
        booked=booked,
        date=dt.date(2026, 11, 20),
        total=total,
        vat=vat,
        lines=(Line(account, total, total - vat),),
        contact_guid="guid-contact",  # the ledger's contact posting's guid in these tests
        payment_status="Paid" if booked else "Draft",
    )


def evidence(
    expected: dict[str, Expected],
    ledger: dict[str, LedgerPosting],
    documents: list[Document],
    stuck_after: dt.timedelta = dt.timedelta(hours=24),
) -> Evidence:
    books = Books()
    for document in documents:
        books.add(document)
    return Evidence(TENANT, FIRST, LAST, expected, ledger, books, NOW, stuck_after)
