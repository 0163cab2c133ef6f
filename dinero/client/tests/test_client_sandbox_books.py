"""End-to-end through the client: the sandbox's books match figures computed by hand, and
three organisations at full speed never see a 429 nor go faster than the limit."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from decimal import Decimal

import httpx
import pytest
from sandbox_client_harness import CONNECT_TENANT, sandbox_client

from bogfoer_dinero import RetryLater
from bogfoer_dinero.models import (
    NO_VAT,
    ContactCreate,
    DepositAccountCreate,
    InvoiceCreate,
    ManualVoucherCreate,
    ManualVoucherLine,
    PaymentCreate,
    ProductLine,
)
from dinero_sandbox.process import SandboxHandle

pytestmark = pytest.mark.integration

STRIPE = 55010


async def test_invoice_payment_and_fee_voucher_give_the_hand_computed_trial_balance(
    dinero_sandbox: SandboxHandle,
) -> None:
    async with sandbox_client(dinero_sandbox) as client:
        org = client.organisation(CONNECT_TENANT, dinero_sandbox.main_org)
        await org.create_deposit_account(DepositAccountCreate(number=STRIPE, name="Stripe"))
        contact = await org.create_contact(ContactCreate(name="Kunde", is_person=True))
        # 2 T-shirts at 125.00 incl. VAT (account 1000, U25) + shipping 50.00 incl. VAT (1350).
        created = await org.create_invoice(
            InvoiceCreate(
                contact_guid=contact,
                date=date(2025, 3, 14),
                external_reference="bogfoer:t1:order:1042",
                show_lines_incl_vat=True,
                product_lines=[
                    ProductLine(
                        description="T-shirt",
                        quantity=Decimal(2),
                        account_number=1000,
                        base_amount_ore=12500,
                    ),
                    ProductLine(description="Fragt", account_number=1350, base_amount_ore=5000),
                ],
            )
        )
        assert created.timestamp is not None
        booked = await org.book_invoice(created.guid, created.timestamp)
        assert booked.timestamp is not None
        await org.add_payment(
            created.guid,
            PaymentCreate(
                timestamp=booked.timestamp,
                deposit_account_number=STRIPE,
                amount_ore=30000,
                external_reference="bogfoer:t1:pi_1:payment",
                payment_date=date(2025, 3, 14),
            ),
        )
        fee = await org.create_manual_voucher(
            ManualVoucherCreate(
                voucher_date=date(2025, 3, 18),
                external_reference="bogfoer:t1:fee:w11",
                lines=[
                    ManualVoucherLine(
                        description="Stripe gebyrer",
                        account_number=7220,
                        balancing_account_number=STRIPE,
                        amount_ore=465,
                        account_vat_code=NO_VAT,
                        balancing_account_vat_code=NO_VAT,
                    )
                ],
            )
        )
        assert fee.timestamp is not None
        await org.book_manual_voucher(fee.guid, fee.timestamp)

    # By hand, øre, debit positive:
    #   goods 2 x 12500 incl. VAT = 25000 -> revenue 20000, VAT 5000
    #   shipping          5000 incl. VAT  -> revenue  4000, VAT 1000
    #   invoice: Dr 53000 30000 / Cr 1000 20000 / Cr 1350 4000 / Cr 64000 6000
    #   payment: Dr 55010 30000 / Cr 53000 30000
    #   fee:     Dr 7220    465 / Cr 55010   465
    expected = {1000: -20000, 1350: -4000, 64000: -6000, 55010: 29535, 7220: 465}
    balances = dinero_sandbox.trial_balance(dinero_sandbox.main_org)
    assert {a: b for a, b in balances.items() if b != 0} == expected
    assert sum(balances.values()) == 0


def max_in_window(starts: list[float], window: float) -> int:
    starts = sorted(starts)
    best, j = 0, 0
    for i, t in enumerate(starts):
        while starts[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def test_three_organisations_at_full_speed_never_see_a_429(
    dinero_sandbox_factory: Callable[..., SandboxHandle],
) -> None:
    limit, window = 100, 6.0
    sandbox = dinero_sandbox_factory(
        "--rate-limit", str(limit), "--rate-window-seconds", str(window)
    )
    # Three organisations, each its own bucket: the two seeded Pro organisations through
    # Visma Connect and a third, made for this test, through its legacy API key.
    async with httpx.AsyncClient() as admin:
        made = await admin.post(f"{sandbox.base_url}/_sandbox/orgs", json={"name": "Third ApS"})
        third = made.json()
    sent: dict[tuple[str, str], list[float]] = defaultdict(list)

    async def on_request(request: httpx.Request) -> None:
        # The moment each API request leaves the client, per (organisation, credential).
        if request.url.path.startswith("/v1/"):
            org = request.url.path.split("/")[2]
            sent[(org, request.headers["Authorization"])].append(time.monotonic())

    async with sandbox_client(
        sandbox,
        on_request=on_request,
        rate_limit_requests=limit,
        rate_limit_window_seconds=window,
        max_attempts=1,
    ) as client:
        await client.auth.register_api_key("tenant-third", third["api_key"])
        orgs = [
            client.organisation(CONNECT_TENANT, sandbox.main_org),
            client.organisation(CONNECT_TENANT, sandbox.vat_free_org),
            client.organisation("tenant-third", third["id"]),
        ]
        per_org_calls = 2 * limit + 1  # three bursts: the limit is reached twice over

        async def worker(index: int, remaining: list[int]) -> None:
            org = orgs[index]
            while remaining[0] > 0:
                remaining[0] -= 1
                try:
                    await org.vat_types()
                except RetryLater:  # max_attempts=1: a 429 would surface here
                    pytest.fail("a 429 reached the caller")

        budgets = [[per_org_calls] for _ in orgs]
        await asyncio.gather(*(worker(i, budgets[i]) for i in range(len(orgs)) for _ in range(20)))

    log = sandbox.requests()
    assert [r for r in log if r.get("status") == 429] == []
    assert len(sent) == 3
    assert {org for org, _ in sent} == {
        str(sandbox.main_org),
        str(sandbox.vat_free_org),
        str(third["id"]),
    }
    for index, times in sent.items():
        times.sort()
        assert len(times) == per_org_calls
        # Client-side send times: never more than the limit in any window...
        assert max_in_window(times, window) <= limit
        # ...and never faster than the limit allows. Whether the limit is also *used* is
        # the in-process limiter's test (test_client_ratelimit: three bursts in three
        # windows) and `make bench` (dinero_calls) end to end: here, 180 callers and the
        # sandbox share the machine, and on a loaded one the calls' own round trips, not
        # the limiter, set the pace.
        elapsed = times[2 * limit] - times[0]
        assert 2 * limit / elapsed <= limit / window, (index, elapsed)
