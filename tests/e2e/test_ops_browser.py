"""The ops pages in a real browser (Debian's chromium, driven by Playwright) over the running
stack with real postings: an operator logs in, finds a failed and a stuck posting, fixes
the tenant's settings, re-drives the failed one (confirmed, recorded, on ops.actions.v1)
and sees it turn done; retries the stuck one; a viewer cannot act.

Screenshots go to `test-output/ops-browser/` (or `$BOGFOER_TEST_OUTPUT/ops-browser/`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect

from bogfoer_contracts.topics import OPS_ACTIONS
from bogfoer_devstack.sales import AT, captured, goods, order, stripe_ref
from tests.e2e.browser import browser, screenshots
from tests.e2e.conftest import kafka_records


@pytest.fixture(scope="module")
def shots() -> Path:
    return screenshots("ops-browser")


@pytest.fixture
def browser_as(
    playwright: Playwright, stack: Any, tmp_path: Path
) -> Iterator[Callable[[str], Page]]:
    """A fresh browser profile per user, logged in to the ops pages with `token`."""
    contexts: list[BrowserContext] = []

    def login(token: str) -> Page:
        context = browser(playwright, tmp_path / f"profile-{len(contexts)}")
        contexts.append(context)
        page = context.new_page()
        page.goto(f"{stack.url('ledger')}/ops")
        expect(page).to_have_url(re.compile(r"/ops/login\?next=%2Fops$"))
        page.fill("input[name=token]", token)
        page.click("button:has-text('Log in')")
        expect(page).to_have_url(re.compile(r"/ops$"))
        return page

    yield login
    for context in contexts:
        context.close()


def refresh_until(page: Page, ready: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        time.sleep(0.5)
        page.reload()


@pytest.mark.timeout(240)
def test_an_operator_finds_fixes_and_re_drives_a_failed_posting_and_a_viewer_cannot(
    new_tenant: Any,
    operator: Any,
    stack: Any,
    http: httpx.Client,
    kafka_bootstrap: str,
    browser_as: Callable[[str], Page],
    shots: Path,
) -> None:
    # A tenant whose settings make Dinero refuse an invoice: booked and e-mailed to one
    # collective contact that has no e-mail address.
    failing = new_tenant(
        booking_mode="booked_and_emailed", trigger="order_placed", customer_handling="collective"
    )
    sent = failing.shop.send(
        "order.placed", "B1-placed", AT, order("B1", lines=[goods("1", 10000)])
    )
    assert sent.status_code == 202
    rows = operator.wait_settled(failing.tenant_id, expected=2)
    (invoice,) = [r for r in rows if r["kind"] == "invoice"]
    assert invoice["state"] == "failed"
    # And one whose payment waits for a bookkeeper to book a draft invoice: stuck.
    drafts = new_tenant(booking_mode="draft", trigger="order_paid")
    for type_, source_id, data in (
        ("order.placed", "S1-placed", order("S1", lines=[goods("1", 50000)])),
        ("payment.captured", "pi_S1", captured("pi_S1", "S1", 50000, "txn_S1")),
        (
            "order.paid",
            "S1-paid",
            {
                "order_id": "S1",
                "amount": 50000,
                "currency": "DKK",
                "payment": stripe_ref("pi_S1"),
                "paid_at": AT,
            },
        ),
    ):
        assert drafts.shop.send(type_, source_id, AT, data).status_code == 202
    waiting = operator.wait_settled(drafts.tenant_id, expected=3, settled=("done", "waiting"))
    (payment,) = [r for r in waiting if r["kind"] == "payment"]
    assert payment["state"] == "waiting"
    time.sleep(3.5)  # older than the stack's "stuck" threshold (3 s)

    page = browser_as(stack.admin_token)
    # The first page says what is wrong and where.
    expect(page.locator(".banner.bad").first).to_contain_text("failed posting")
    expect(page.locator("#stuck")).to_contain_text(payment["posting_key"])
    row = page.locator(f"tr[data-tenant='{failing.tenant_id}']")
    expect(row).to_have_class(re.compile("problem"))
    page.screenshot(path=shots / "1-overview.png", full_page=True)

    # The failed count links to the tenant's failed postings, each to its record.
    row.locator("a.bad").first.click()
    expect(page).to_have_url(re.compile(rf"/ops/tenants/{failing.tenant_id}\?state=failed$"))
    expect(page.locator("tr.posting-row")).to_have_count(1)
    page.screenshot(path=shots / "2-tenant-failed.png", full_page=True)
    page.locator("tr.posting-row a.key").click()
    expect(page.locator("h1")).to_contain_text(invoice["posting_key"])
    expect(page.locator(".why")).to_contain_text("e-mail")
    page.screenshot(path=shots / "3-posting-failed.png", full_page=True)
    posting_url = page.url

    # A viewer sees the failed posting but cannot re-drive it, not even by posting the form
    # (looked at before the operator's re-drive: once re-mapped, it is soon done).
    viewer = browser_as(stack.viewer_token)
    viewer.goto(posting_url)
    viewer.click("#act")
    expect(viewer.locator("#viewer-only")).to_be_visible()
    expect(viewer.locator("#confirm")).to_have_count(0)
    viewer.screenshot(path=shots / "6-viewer-cannot-act.png", full_page=True)
    csrf = viewer.locator("form.who input[name=csrf]").get_attribute("value")
    assert csrf
    refused = viewer.request.post(
        f"{stack.url('ledger')}/ops/actions",
        form={
            "csrf": csrf,
            "action_id": "f" * 32,
            "action": "remap_posting",
            "tenant": failing.tenant_id,
            "posting_key": invoice["posting_key"],
        },
    )
    assert refused.status == 403

    # The tenant's settings are fixed (booked, not e-mailed) through the admin API.
    settings = {
        k: v for k, v in failing.config.items() if k not in ("tenant_id", "version", "updated_at")
    }
    fixed = http.put(
        f"{stack.url('poster')}/v1/tenants/{failing.tenant_id}/settings",
        json={**settings, "booking_mode": "booked"},
        headers={"Authorization": f"Bearer {stack.admin_token}"},
    )
    assert fixed.status_code == 200, fixed.text

    # Re-drive, confirmed, with a note for the trail.
    page.click("#act")
    expect(page.locator("h1")).to_have_text("Re-drive?")
    page.fill("textarea[name=note]", "settings fixed: booked, not e-mailed")
    page.screenshot(path=shots / "4-confirm.png", full_page=True)
    page.click("#confirm")
    expect(page.locator("#requested")).to_be_visible()
    trail = page.locator("tr.action-row")
    expect(trail).to_have_count(1)
    expect(trail).to_contain_text("remap posting")
    expect(trail).to_contain_text("admin")
    expect(trail).to_contain_text("settings fixed")
    page.screenshot(path=shots / "5-requested.png", full_page=True)
    # Read off the loop Playwright runs in this thread.
    with ThreadPoolExecutor(1) as reader:
        records = reader.submit(
            kafka_records, kafka_bootstrap, OPS_ACTIONS, failing.tenant_id
        ).result()
    published = [json.loads(r.value) for r in records]
    assert [(a["action"], a["posting_key"], a["requested_by"]) for a in published] == [
        ("remap_posting", invoice["posting_key"], "admin")
    ]

    recorded = http.get(
        f"{stack.url('ledger')}/v1/actions",
        params={"tenant": failing.tenant_id},
        headers=operator.viewer,
    ).json()
    assert [a["requested_by"] for a in recorded] == ["admin"]

    # The stuck payment: retried now, by the poster, which says so in the history.
    page.goto(f"{stack.url('ledger')}/ops")
    page.locator("#stuck tr.stuck-row", has_text=payment["posting_key"]).locator("a.btn").click()
    expect(page.locator("h1")).to_have_text("Retry now?")
    page.click("#confirm")
    refresh_until(
        page,
        lambda: "retry requested by admin" in page.locator("table.history").inner_text(),
        30,
        "the poster carried out the retry",
    )
    expect(page.locator("tr.action-row")).to_contain_text("waiting")
    page.screenshot(path=shots / "7-stuck-retried.png", full_page=True)

    # The failed invoice, re-mapped with the fixed settings, is posted and turns done.
    page.goto(posting_url)
    refresh_until(
        page,
        lambda: page.locator("h1 .state").inner_text() == "done",
        30,
        "the re-driven posting is done",
    )
    expect(page.locator("tr.action-row")).to_contain_text("done")
    page.screenshot(path=shots / "8-done.png", full_page=True)
