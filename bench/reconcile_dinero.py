"""reconcile_dinero_calls: Dinero calls per 1,000 reconciled documents.

Setup: the sandbox as its own process (rate limit lifted), one organisation holding
DOCUMENTS of our documents for a month — booked invoices, each paid, and one fee voucher per
invoice — made through the client as the poster would make them.

- measured: the calls the reconciler makes to read them (`books.read_books`: list endpoints,
  a page of 1,000, `fields` with the lines and the date range; then `read_payments` for the
  invoices whose payment status disagrees with the expectation: none here), per 1,000
  documents.
- baseline: one GET per document, what reading them one by one would cost (1,000 per 1,000).

Ratio = measured / baseline. Target <= 0.02 (20 calls per 1,000 documents): measured at about
0.003 (three lists of at most two pages each). More means the reconciler reads per document
where Dinero offers a list.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import httpx
from pydantic import SecretStr

from bench.common import Result
from bogfoer_cli.reconcile.books import read_books
from bogfoer_dinero import DineroClient, DineroConfig, InMemoryCredentialStore
from bogfoer_dinero.models import (
    ContactCreate,
    InvoiceCreate,
    ManualVoucherCreate,
    ManualVoucherLine,
    PaymentCreate,
    ProductLine,
)
from dinero_sandbox.process import SandboxHandle, start_sandbox

INVOICES = 600  # and as many fee vouchers: 1,200 documents
TARGET = 0.02
TENANT = "bench-recon"
UNLIMITED = 1_000_000
DAY = dt.date(2026, 11, 20)


def _config(sandbox: SandboxHandle) -> DineroConfig:
    return DineroConfig(
        api_base_url=sandbox.api_base_url,
        legacy_token_url=f"{sandbox.authz_base_url}/dineroapi/oauth/token",
        legacy_client_id=sandbox.legacy.client_id,
        legacy_client_secret=SecretStr(sandbox.legacy.client_secret),
        rate_limit_requests=UNLIMITED,
        read_timeout_seconds=30.0,
    )


async def _make_books(sandbox: SandboxHandle) -> None:
    org_id = sandbox.main_org
    async with DineroClient.open(_config(sandbox), InMemoryCredentialStore()) as client:
        await client.auth.register_api_key(TENANT, sandbox.legacy.api_keys[org_id])
        org = client.organisation(TENANT, org_id)
        contact = await org.create_contact(
            ContactCreate(
                name="Kunde",
                country_key="DK",
                is_person=True,
                external_reference=f"bogfoer:{TENANT}:contact:kunde",
            )
        )
        for n in range(INVOICES):
            key = f"bogfoer:{TENANT}:invoice:shop:{n}"
            created = await org.create_invoice(
                InvoiceCreate(
                    product_lines=[
                        ProductLine(
                            description="Vare",
                            quantity=Decimal(1),
                            base_amount_ore=10000,
                            account_number=1000,
                        )
                    ],
                    contact_guid=contact,
                    date=DAY,
                    external_reference=key,
                    show_lines_incl_vat=True,
                )
            )
            booked = await org.book_invoice(created.guid, created.timestamp or "")
            await org.add_payment(
                created.guid,
                PaymentCreate(
                    timestamp=booked.timestamp or "",
                    deposit_account_number=55000,
                    amount_ore=10000,
                    external_reference=f"bogfoer:{TENANT}:payment:shop:{n}",
                    payment_date=DAY,
                    description="Betaling",
                ),
            )
            voucher = await org.create_manual_voucher(
                ManualVoucherCreate(
                    voucher_date=DAY,
                    external_reference=f"bogfoer:{TENANT}:fee:shop:{n}",
                    lines=[
                        ManualVoucherLine(
                            description="Gebyr",
                            account_number=7220,
                            balancing_account_number=55000,
                            amount_ore=200,
                            account_vat_code="none",
                            balancing_account_vat_code="none",
                        )
                    ],
                )
            )
            await org.book_manual_voucher(voucher.guid, voucher.timestamp or "")


async def _count_reads(sandbox: SandboxHandle) -> tuple[int, int]:
    calls = 0

    async def count(request: httpx.Request) -> None:
        nonlocal calls
        if "token" not in request.url.path:
            calls += 1

    config = _config(sandbox)
    async with httpx.AsyncClient(timeout=30, event_hooks={"request": [count]}) as http:
        client = DineroClient(http, config, InMemoryCredentialStore())
        await client.auth.register_api_key(TENANT, sandbox.legacy.api_keys[sandbox.main_org])
        org = client.organisation(TENANT, sandbox.main_org)
        books = await read_books(org, TENANT, dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    documents = sum(len(found) for found in books.documents.values())
    return calls, documents


def run() -> list[Result]:
    sandbox = start_sandbox("--rate-limit", str(UNLIMITED))
    try:
        asyncio.run(_make_books(sandbox))
        calls, documents = asyncio.run(_count_reads(sandbox))
    finally:
        sandbox.stop()
    if documents != 2 * INVOICES:
        raise RuntimeError(f"read {documents} documents, made {2 * INVOICES}")
    per_1000 = calls * 1000 / documents
    return [
        Result(
            "reconcile_dinero_calls",
            "calls",
            1000.0,
            per_1000,
            per_1000 / 1000.0,
            TARGET,
            f"{calls} Dinero calls to read {documents} documents (invoices with their lines, "
            "vouchers); baseline one GET per document, per 1,000 documents",
        )
    ]
