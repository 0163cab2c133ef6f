"""`make demo`: a day of sales for two shops, booked into a local Dinero, end to end.

Starts Apache Kafka, PostgreSQL, the Dinero sandbox, the Stripe API double and the four
services as separate processes; connects two tenants through the admin APIs (one leaves
drafts and books on payment, one books and e-mails on fulfilment); sends orders, Stripe
webhooks, refunds and a payout through the public HTTP APIs with the real signing schemes;
plays the bookkeeper who books the drafts; and prints each tenant's postings and Dinero's
trial balance. Exits non-zero if any posting ends in a state other than the expected one.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bogfoer_devstack.kafka import KafkaBroker
from bogfoer_devstack.ports import free_port, stop_process, wait_for_port
from bogfoer_devstack.postgres import Postgres
from bogfoer_devstack.sales import AT, discount, goods, order, shipping, stripe_ref
from bogfoer_devstack.shop import Operator, Shop
from bogfoer_devstack.stack import Stack
from bogfoer_devstack.stripe_double import StripeDoubleClient, StripeWorld, sign
from dinero_sandbox.process import SandboxHandle, start_sandbox

ACCOUNT_NAMES = {
    1000: "Salg m/moms",
    1100: "EU-salg varer (B)",
    1255: "Eksport varer (C)",
    1350: "Fragt m/moms",
    7220: "Gebyrer",
    53000: "Debitorer",
    55000: "Bank",
    55010: "Stripe (beholdning)",
    64000: "Salgsmoms",
}


def say(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


@dataclass
class DemoTenant:
    tenant_id: str
    title: str
    settings: dict[str, Any]
    org_id: int = 0
    api_key: str = ""
    shop: Shop | None = None
    whsec: str = field(default_factory=lambda: f"whsec_{secrets.token_hex(16)}")
    stripe_key: str = field(default_factory=lambda: f"rk_test_{secrets.token_hex(8)}")
    expected_postings: int = 0


def connect(
    tenant: DemoTenant, stack: Stack, operator: Operator, sandbox: SandboxHandle, http: httpx.Client
) -> None:
    created = http.post(
        f"{sandbox.base_url}/_sandbox/orgs",
        json={
            "name": tenant.title,
            "deposit_accounts": [{"number": 55010, "name": "Stripe"}],
        },
    ).json()
    tenant.org_id, tenant.api_key = created["id"], created["api_key"]
    hmac_secret = secrets.token_urlsafe(24)
    operator.onboard(
        tenant.tenant_id,
        hmac_secret=hmac_secret,
        dinero_api_key=tenant.api_key,
        settings={
            "dinero_organization_id": tenant.org_id,
            "cutover": "2026-01-01",
            **tenant.settings,
        },
        stripe_webhook_secret=tenant.whsec,
        stripe_api_key=tenant.stripe_key,
    )
    tenant.shop = Shop(stack, http, tenant.tenant_id, hmac_secret)
    say(
        f"  {tenant.title}: tenant {tenant.tenant_id}, Dinero organisation {tenant.org_id}, "
        f"{tenant.settings['booking_mode']} on {tenant.settings['trigger']}"
    )


def day_of_sales(tenant: DemoTenant, world: StripeWorld, prefix: str) -> list[tuple[str, Any]]:
    """('shop', (type, id, data)) and ('stripe', event) items, in the order they happen."""
    items: list[tuple[str, Any]] = []
    orders = [
        (
            "domestic, multi-line with shipping and a discount",
            order(
                f"{prefix}-1001",
                lines=[goods("1", 24900, 2), goods("2", 9900), discount(5000), shipping(4900)],
            ),
        ),
        (
            "EU consumer (DE), Danish VAT under the threshold",
            order(
                f"{prefix}-1002",
                lines=[goods("1", 34900), shipping(7500)],
                country="DE",
                postcode="10115",
            ),
        ),
        (
            "EU business (SE) with a VAT number: reverse charge",
            order(
                f"{prefix}-1003",
                lines=[goods("1", 80000, 3, vat_rate=0), shipping(12000, vat_rate=0)],
                country="SE",
                postcode="11122",
                kind="business",
                vat_number="SE556677889901",
            ),
        ),
        (
            "outside the EU (NO): export",
            order(
                f"{prefix}-1004",
                lines=[goods("1", 45000, vat_rate=0), shipping(9000, vat_rate=0)],
                country="NO",
                postcode="0150",
            ),
        ),
        (
            "Greenland: export",
            order(
                f"{prefix}-1005",
                lines=[goods("1", 19900, vat_rate=0)],
                country="GL",
                postcode="3900",
            ),
        ),
        (
            "Canary Islands (ES 35xxx): export",
            order(
                f"{prefix}-1006",
                lines=[goods("1", 29900, vat_rate=0)],
                country="ES",
                postcode="35001",
            ),
        ),
    ]
    payments = {}
    for label, placed in orders:
        oid = placed["order_id"]
        paid = world.payment(placed["total"], order_id=oid)
        payments[oid] = paid
        placed["payments"] = [stripe_ref(paid.id)]
        say(f"    {oid}: {label}, {placed['total'] / 100:.2f} DKK")
        items.append(("shop", ("order.placed", f"{oid}-placed", placed)))
        items += [("stripe", event) for event in paid.events.values()]
        items.append(
            (
                "shop",
                (
                    "order.paid",
                    f"{oid}-paid",
                    {
                        "order_id": oid,
                        "amount": placed["total"],
                        "currency": "DKK",
                        "payment": stripe_ref(paid.id),
                        "paid_at": AT,
                    },
                ),
            )
        )
        items.append(
            ("shop", ("order.fulfilled", f"{oid}-shipped", {"order_id": oid, "fulfilled_at": AT}))
        )
    # A partial refund (one item of 1001) and a full refund (1005).
    first, gl = orders[0][1], orders[4][1]
    for placed, line, qty, amount in ((first, "1", 1, 24900), (gl, "1", 1, 19900)):
        oid = placed["order_id"]
        refund = world.refund(payments[oid], amount)
        items += [("stripe", event) for event in refund.events.values()]
        items.append(
            (
                "shop",
                (
                    "order.refunded",
                    f"{oid}-refund",
                    {
                        "order_id": oid,
                        "refund_id": refund.refund["id"],
                        "currency": "DKK",
                        "amount": amount,
                        "lines": [{"line_id": line, "quantity": qty}],
                        "payment": stripe_ref(payments[oid].id),
                        "refunded_at": AT,
                    },
                ),
            )
        )
    payout = world.payout()
    items += [("stripe", event) for event in payout.events.values()]
    say(
        f"    a partial and a full refund, and Stripe payout {payout.payout['id']} of "
        f"{payout.payout['amount'] / 100:.2f} DKK"
    )
    # contact per order (6), invoice (6), payment (6), fee (6), credit notes (2),
    # refund payments (2), payout (1)
    tenant.expected_postings = 6 * 4 + 2 + 2 + 1
    return items


def send(
    items: list[tuple[str, Any]], tenant: DemoTenant, stack: Stack, http: httpx.Client
) -> None:
    assert tenant.shop is not None
    for kind, item in items:
        if kind == "shop":
            type_, source_id, data = item
            response = tenant.shop.send(type_, source_id, AT, data)
            ok = response.status_code == 202
        else:
            body = json.dumps(item).encode()
            response = http.post(
                f"{stack.url('ingest')}/v1/tenants/{tenant.tenant_id}/webhooks/stripe",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "Stripe-Signature": sign(body, tenant.whsec),
                },
            )
            ok = response.status_code == 200
        if not ok:
            raise RuntimeError(f"{kind} event refused: {response.status_code} {response.text}")


def progress(
    operator: Operator, tenants: list[DemoTenant], until: tuple[str, ...], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    shown = ""
    while True:
        line = []
        finished = True
        for tenant in tenants:
            states = Counter(r["state"] for r in operator.postings(tenant.tenant_id))
            total = sum(states.values())
            line.append(
                f"{tenant.tenant_id}: "
                + (", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "nothing yet")
            )
            settled = sum(n for s, n in states.items() if s in until)
            finished &= total >= tenant.expected_postings and settled == total
        text = " | ".join(line)
        if text != shown:  # a line when something moved, not every second
            say(f"  [progress] {text}")
            shown = text
        if finished or time.monotonic() > deadline:
            return
        time.sleep(1.0)


def book_drafts(
    tenant: DemoTenant, sandbox: SandboxHandle, http: httpx.Client, resource: str
) -> int:
    """The bookkeeper books every draft invoice (or credit note) in Dinero, as in its UI."""
    token = sandbox.password_token(tenant.org_id, tenant.api_key)
    auth = {"Authorization": f"Bearer {token}"}
    base = f"{sandbox.base_url}/v1/{tenant.org_id}/{resource}"
    found = http.get(base, headers=auth, params={"fields": "Guid,Number", "pageSize": "1000"})
    drafts = [
        d for d in found.json()["Collection"] if d.get("Number") in (None, 9223372036854775807)
    ]
    for draft in drafts:
        current = http.get(f"{base}/{draft['Guid']}", headers=auth).json()
        http.post(
            f"{base}/{draft['Guid']}/book", headers=auth, json={"Timestamp": current["TimeStamp"]}
        ).raise_for_status()
    return len(drafts)


def summary(tenant: DemoTenant, operator: Operator, sandbox: SandboxHandle) -> bool:
    rows = operator.postings(tenant.tenant_id)
    say(f"\n== {tenant.title} ({tenant.tenant_id}; Dinero organisation {tenant.org_id}) ==")
    say(f"  {'kind':<12} {'state':<8} {'count':>5} {'amount DKK':>12}")
    groups: dict[tuple[str, str], list[int]] = {}
    for r in rows:
        groups.setdefault((r["kind"], r["state"]), []).append(r["amount_minor"] or 0)
    for (kind, state), amounts in sorted(groups.items()):
        say(f"  {kind:<12} {state:<8} {len(amounts):>5} {sum(amounts) / 100:>12.2f}")
    balance = {k: v for k, v in sandbox.trial_balance(tenant.org_id).items() if v}
    say("  trial balance in Dinero (debit +, credit -):")
    for account, amount in sorted(balance.items()):
        say(f"    {account:>6} {ACCOUNT_NAMES.get(account, ''):<22} {amount / 100:>12.2f}")
    say(f"    {'':>6} {'sum':<22} {sum(balance.values()) / 100:>12.2f}")
    bad = [r for r in rows if r["state"] != "done"]
    for r in bad:
        say(f"  UNEXPECTED: {r['posting_key']} is {r['state']}: {r['detail']}")
    ok = not bad and len(rows) == tenant.expected_postings and sum(balance.values()) == 0
    if len(rows) != tenant.expected_postings:
        say(f"  UNEXPECTED: {len(rows)} postings, expected {tenant.expected_postings}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--keep",
        action="store_true",
        help="leave everything running after the summary, to look around the ops pages",
    )
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bogfoer-demo-"))
    say(f"Bogfør demo (logs in {workdir})")
    with contextlib.ExitStack() as cleanup:
        say("Starting Apache Kafka (KRaft) and PostgreSQL ...")
        broker = KafkaBroker(workdir / "kafka").start()
        cleanup.callback(broker.stop)
        pg = Postgres(workdir / "postgres").start()
        cleanup.callback(pg.stop)
        say(f"  Kafka {broker.version} at {broker.bootstrap_servers}; PostgreSQL at {pg.url}")
        sandbox = start_sandbox(log_dir=workdir)
        cleanup.callback(sandbox.stop)
        stripe_port = free_port()
        stripe_log = (workdir / "stripe-double.log").open("wb")
        stripe_proc = subprocess.Popen(
            [sys.executable, "-m", "bogfoer_devstack.stripe_double", "--port", str(stripe_port)],
            stdout=stripe_log,
            stderr=subprocess.STDOUT,
        )
        cleanup.callback(stop_process, stripe_proc)
        wait_for_port(stripe_port, 20)
        stripe_url = f"http://127.0.0.1:{stripe_port}"
        say(f"  Dinero sandbox at {sandbox.base_url}; Stripe API double at {stripe_url}")
        stack = Stack(
            workdir=workdir,
            kafka_bootstrap=broker.bootstrap_servers,
            database_url=pg.url,
            dinero_url=sandbox.base_url,
            stripe_url=stripe_url,
            dinero_legacy_client_id=sandbox.legacy.client_id,
            dinero_legacy_client_secret=sandbox.legacy.client_secret,
        )
        say("Starting ingest, mapper, poster and ledger ...")
        stack.start()
        cleanup.callback(stack.stop)
        for name, service in stack.services.items():
            say(f"  {name:<7} {service.url}")
        http = cleanup.enter_context(httpx.Client(timeout=30))
        operator = Operator(stack, http)
        stripe_double = StripeDoubleClient(stripe_url)
        cleanup.callback(stripe_double.close)

        tenants = [
            DemoTenant(
                "nordlys-keramik",
                "Nordlys Keramik",
                {"booking_mode": "draft", "trigger": "order_paid"},
            ),
            DemoTenant(
                "fjord-cykler",
                "Fjord Cykler ApS",
                {"booking_mode": "booked_and_emailed", "trigger": "order_fulfilled"},
            ),
        ]
        say("Connecting the tenants (settings validated against their Dinero charts) ...")
        streams = {}
        for tenant in tenants:
            connect(tenant, stack, operator, sandbox, http)
        for index, tenant in enumerate(tenants):
            say(f"  {tenant.title}'s day:")
            world = StripeWorld(api_key=tenant.stripe_key, seed=index)
            streams[tenant.tenant_id] = day_of_sales(tenant, world, f"{index + 1}")
            stripe_double.load(world.objects())
        say("Sending shop events (Bogfoer-Signature) and Stripe webhooks (Stripe-Signature) ...")
        for tenant in tenants:
            send(streams[tenant.tenant_id], tenant, stack, http)
        progress(
            operator, tenants, until=("done", "waiting", "failed", "held", "parked"), timeout=120
        )
        drafts_tenant = tenants[0]
        waiting = [r for r in operator.postings(drafts_tenant.tenant_id) if r["state"] == "waiting"]
        kinds = Counter(r["kind"] for r in waiting)
        say(
            f"{drafts_tenant.title} leaves invoices as drafts, so "
            + ", ".join(f"{n} {kind.replace('_', ' ')}s" for kind, n in sorted(kinds.items()))
            + f' wait, e.g. "{waiting[0]["detail"] if waiting else "-"}"'
        )
        booked = book_drafts(drafts_tenant, sandbox, http, "invoices")
        say(f"The bookkeeper books {booked} draft invoices in Dinero; the poster notices ...")
        progress(operator, tenants, until=("done", "failed", "held", "parked"), timeout=120)
        booked = book_drafts(drafts_tenant, sandbox, http, "sales/creditnotes")
        say(f"... and later books the {booked} draft credit notes for the refunds too.")
        results = [summary(tenant, operator, sandbox) for tenant in tenants]
        say(
            f"\nE-mails sent by Dinero for {tenants[1].title}: "
            f"{len(sandbox.emails(tenants[1].org_id))}"
        )
        if all(results):
            say("\nDemo finished: every posting is done and every trial balance sums to zero.")
        else:
            say("\nDemo finished with unexpected states (see above).")
        if args.keep:
            keep_running(stack)
        return 0 if all(results) else 1


def keep_running(stack: Stack) -> None:
    """Show where to look, then wait for Ctrl-C (the ExitStack stops everything after)."""
    say(
        "\nStill running, so you can look at what was booked:\n"
        f"  ops pages   {stack.url('ledger')}/ops\n"
        f"  log in as an operator with  {stack.admin_token}\n"
        f"  or as a viewer with         {stack.viewer_token}\n"
        f"  ops API     {stack.url('ledger')}/docs  (Authorization: Bearer <one of the above>)\n"
        "Press Ctrl-C to stop everything."
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Started in the background, SIGINT may be ignored: SIGTERM stops it cleanly as well.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    raise SystemExit(main())
