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
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bogfoer_devstack.day_of_sales import SHAPES, Item, Refund, day_of_sales
from bogfoer_devstack.infra import local_infra
from bogfoer_devstack.platform import Platform
from bogfoer_devstack.sales import AT
from bogfoer_devstack.shop import Operator, Shop
from bogfoer_devstack.stack import Stack
from bogfoer_devstack.stripe_double import StripeDoubleClient, StripeWorld, sign
from dinero_sandbox.process import SandboxHandle

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


def plan_day(tenant: DemoTenant, world: StripeWorld, prefix: str) -> list[Item]:
    """Every order shape once, a partial refund (one item of the first) and a full one (the
    Greenland order), and the payout: what `send` sends, in order."""
    orders = [(label, shape(f"{prefix}-{1001 + n}", 1)) for n, (label, shape) in enumerate(SHAPES)]
    day = day_of_sales(world, orders, [Refund(0, 1), Refund(4, 1)])
    for label, placed in day.orders:
        say(f"    {placed['order_id']}: {label}, {placed['total'] / 100:.2f} DKK")
    say(
        f"    a partial and a full refund, and Stripe payout {day.payout.payout['id']} of "
        f"{day.payout.payout['amount'] / 100:.2f} DKK"
    )
    tenant.expected_postings = day.postings
    return day.items


def deliver(item: Item, tenant: DemoTenant, stack: Stack, http: httpx.Client) -> httpx.Response:
    """One item as its sender sends it: a shop event signed with the tenant's secret, or a
    Stripe webhook signed with its webhook secret."""
    assert tenant.shop is not None
    kind, payload = item
    if kind == "shop":
        type_, source_id, data = payload
        return tenant.shop.send(type_, source_id, AT, data)
    body = json.dumps(payload).encode()
    return http.post(
        f"{stack.url('ingest')}/v1/tenants/{tenant.tenant_id}/webhooks/stripe",
        content=body,
        headers={"Content-Type": "application/json", "Stripe-Signature": sign(body, tenant.whsec)},
    )


def send(items: list[Item], tenant: DemoTenant, stack: Stack, http: httpx.Client) -> None:
    for item in items:
        response = deliver(item, tenant, stack, http)
        if not response.is_success:
            raise RuntimeError(f"{item[0]} event refused: {response.status_code} {response.text}")


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

    def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
        # The bookkeeper shares the organisation's request quota with the poster, which may
        # just have used it up: wait as Dinero asks (a 429), as its UI would.
        deadline = time.monotonic() + 120
        while True:
            response = http.request(method, url, headers=auth, **kwargs)
            if response.status_code != 429 or time.monotonic() > deadline:
                return response.raise_for_status()
            time.sleep(2.0)

    found = call("GET", base, params={"fields": "Guid,Number", "pageSize": "1000"})
    drafts = [
        d for d in found.json()["Collection"] if d.get("Number") in (None, 9223372036854775807)
    ]
    for draft in drafts:
        current = call("GET", f"{base}/{draft['Guid']}").json()
        call("POST", f"{base}/{draft['Guid']}/book", json={"Timestamp": current["TimeStamp"]})
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
        say("Starting Apache Kafka (KRaft), PostgreSQL, the Dinero sandbox, the Stripe double")
        infra = cleanup.enter_context(local_infra(workdir))
        broker, pg, sandbox = infra.broker, infra.postgres, infra.sandbox
        say(f"  Kafka {broker.version} at {broker.bootstrap_servers}; PostgreSQL at {pg.url}")
        say(f"  Dinero sandbox at {sandbox.base_url}; Stripe API double at {infra.stripe_url}")
        stack = infra.stack(workdir)
        say("Starting ingest, mapper, poster, ledger and the portal ...")
        stack.start()
        cleanup.callback(stack.stop)
        for name, service in stack.services.items():
            say(f"  {name:<7} {service.url}")
        http = cleanup.enter_context(httpx.Client(timeout=30))
        operator = Operator(stack, http)
        stripe_double = StripeDoubleClient(infra.stripe_url)
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
            streams[tenant.tenant_id] = plan_day(tenant, world, f"{index + 1}")
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
            keep_running(stack, http, stripe_double)
        return 0 if all(results) else 1


def keep_running(stack: Stack, http: httpx.Client, stripe_double: StripeDoubleClient) -> None:
    """Show where to look, and a third shop waiting to connect itself through the portal;
    then wait for Ctrl-C (the ExitStack stops everything after)."""
    stripe_key = "rk_test_ny_butik"
    stripe_double.load({"api_key": stripe_key})
    link = Platform(stack, http).create("ny-butik")["link"]["url"]
    say(
        "\nStill running, so you can look at what was booked:\n"
        f"  ops pages   {stack.url('ledger')}/ops\n"
        f"  log in as an operator with  {stack.admin_token}\n"
        f"  or as a viewer with         {stack.viewer_token}\n"
        f"  ops API     {stack.url('ledger')}/docs  (Authorization: Bearer <one of the above>)\n"
        "And connect a new shop yourself, as its owner would (docs/onboarding.md):\n"
        f"  onboarding  {link}\n"
        f"  (the sandbox's Dinero login reaches three organisations; the Stripe step takes\n"
        f"  the restricted key {stripe_key})\n"
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
