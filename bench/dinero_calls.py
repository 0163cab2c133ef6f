"""dinero_calls_booked / _draft / _summary: Dinero calls per order through the whole
pipeline, counted in the sandbox's request log.

Setup (all on loopback, in a temporary folder, stopped afterwards): Apache Kafka and
PostgreSQL from the devstack, the Dinero sandbox with Dinero's limit scaled down to
LIMIT calls per WINDOW seconds per organisation (the poster is told the same), the Stripe API
double, and ingest, mapper, poster and ledger as their own processes. Three tenants, each with
its own organisation, are sent the same mix of ORDERS orders at the same time (issue 11):
75 new and 25 returning customers, four VAT zones (Denmark, an EU consumer, an EU business
with reverse charge, an export), each paid through Stripe with a fee, REFUNDED of them
partly refunded (the shipping), two Stripe payouts. One tenant books (`booking_mode`
booked); one leaves drafts (`draft`) that the bench, playing the bookkeeper, books in Dinero
at a person's pace (two calls every two seconds: the share of the limit the poster leaves
free) while the payments wait for them; one posts daily summaries (`posting_mode`
daily_summary, booked).

- measured: the calls the poster made to each organisation, from the sandbox's request
  log, until every posting is done (the onboarding's settings check and the bookkeeper's own
  calls, marked in the log, are not counted), per order.
- baseline: the per-order floor for this mix, the writes that cannot be avoided: a contact
  per new customer, the invoice (create and book), its payment, each refund's credit note
  (create and book) and refund payment, and per payout one fee voucher and one payout voucher
  (create and book each) — about 4.4 per order when booked. A draft tenant's floor has no
  books of invoices and credit notes (the bookkeeper books them). The summary tenant is held
  against the booked floor, so what it saves shows as a ratio below 1.

Ratio = measured / baseline; the targets are the issue's bounds as ratios: 5.5 calls per
order booked (and in summary), 6.5 in draft mode (with the polls for booked drafts). More
means the poster reads what its answers already told it, looks up before writing without a
crash, books a fee per payment again, or spends calls on postings that wait for drafts.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import Result, cost_ratio
from bogfoer_devstack.demo import DemoTenant, connect, send
from bogfoer_devstack.infra import local_infra
from bogfoer_devstack.sales import AT, goods, order, shipping, stripe_ref
from bogfoer_devstack.shop import Operator
from bogfoer_devstack.stripe_double import StripeDoubleClient, StripeWorld
from dinero_sandbox.process import SandboxHandle

ORDERS = 100
RETURNING = 25  # orders by a customer who bought before
REFUNDED = 20  # orders partly refunded
PAYOUTS = 2
LIMIT = 100  # calls per organisation per WINDOW seconds, on both sides
WINDOW = 10.0
# The tenants' settings, and the bound on calls per order of each (issue 11).
MODES: dict[str, dict[str, Any]] = {
    "booked": {"booking_mode": "booked", "trigger": "order_paid"},
    "draft": {"booking_mode": "draft", "trigger": "order_paid"},
    "summary": {"booking_mode": "booked", "trigger": "order_paid", "posting_mode": "daily_summary"},
}
TARGETS = {"booked": 5.5, "draft": 6.5, "summary": 5.5}
SETTLE_TIMEOUT = 900.0
# Zones: (country, postcode, kind, VAT number, VAT rate of the lines)
ZONES = [
    ("DK", "8000", "person", None, 2500),
    ("DE", "10115", "person", None, 2500),
    ("SE", "11122", "business", "SE556677889901", 0),
    ("NO", "0150", "person", None, 0),
]


@dataclass
class Mix:
    """The events of one tenant's mix, in the order they happen, and its floor of calls."""

    items: list[tuple[str, Any]] = field(default_factory=list)
    customers: int = 0
    refunds: int = 0
    payouts: int = 0

    def floor(self, mode: str) -> int:
        books = 1 if mode == "booked" else 0  # a draft's book is the bookkeeper's call
        return (
            self.customers
            + ORDERS * (1 + books + 1)  # invoice, its book, its payment
            + self.refunds * (1 + books + 1)  # credit note, its book, the refund payment
            + self.payouts * 4  # fee voucher and payout voucher, each created and booked
        )


def _stripe(event: dict[str, Any]) -> tuple[str, Any]:
    return ("stripe", event)


def mix(world: StripeWorld, prefix: str) -> Mix:
    out = Mix()
    orders = []
    for n in range(ORDERS):
        oid = f"{prefix}-{n + 1:04d}"
        # Every fourth order is by the customer of the order three before it.
        returning = n % (ORDERS // RETURNING) == ORDERS // RETURNING - 1
        customer = n - (ORDERS // RETURNING - 1) if returning else n
        out.customers += 0 if returning else 1
        country, postcode, kind, vat_number, rate = ZONES[customer % len(ZONES)]
        placed = order(
            oid,
            lines=[
                goods("1", 19900 + 100 * (n % 7), 1 + n % 2, vat_rate=rate),
                shipping(4900, rate),
            ],
            country=country,
            postcode=postcode,
            kind=kind,
            vat_number=vat_number,
            email=f"kunde-{prefix}-{customer}@example.dk",
        )
        paid = world.payment(placed["total"], order_id=oid)
        placed["payments"] = [stripe_ref(paid.id)]
        out.items.append(("shop", ("order.placed", f"{oid}-placed", placed)))
        out.items += [_stripe(e) for e in paid.events.values()]
        paid_data = {
            "order_id": oid,
            "amount": placed["total"],
            "currency": "DKK",
            "payment": stripe_ref(paid.id),
            "paid_at": AT,
        }
        out.items.append(("shop", ("order.paid", f"{oid}-paid", paid_data)))
        orders.append((placed, paid))
        if n + 1 == ORDERS // PAYOUTS:
            out.items += _payout(world)
            out.payouts += 1
    for placed, paid in orders[:: ORDERS // REFUNDED][:REFUNDED]:
        oid = placed["order_id"]
        amount = placed["lines"][1]["unit_price"]  # the shipping, refunded
        refund = world.refund(paid, amount)
        out.items += [_stripe(e) for e in refund.events.values()]
        data = {
            "order_id": oid,
            "refund_id": refund.refund["id"],
            "currency": "DKK",
            "amount": amount,
            "lines": [{"line_id": "ship", "quantity": 1}],
            "payment": stripe_ref(paid.id),
            "refunded_at": AT,
        }
        out.items.append(("shop", ("order.refunded", f"{oid}-refund", data)))
        out.refunds += 1
    out.items += _payout(world)
    out.payouts += 1
    return out


def _payout(world: StripeWorld) -> list[tuple[str, Any]]:
    return [_stripe(e) for e in world.payout().events.values()]


@dataclass
class Run:
    """One tenant of the bench: its mode, the demo's tenant, and what was seen."""

    mode: str
    tenant: DemoTenant
    setup_calls: int = 0  # the settings check at onboarding, before the first sale
    settled_at: float | None = None


# Marks the bookkeeper's calls in the sandbox's request log (Dinero ignores unknown parameters).
BOOKKEEPER = {"by": "bookkeeper"}
BOOKS_PER_ROUND = 2  # every 2 s: the reserved tenth of 100 calls per 10 s


def _book_drafts(tenant: DemoTenant, sandbox: SandboxHandle, http: httpx.Client) -> None:
    """The bookkeeper books drafts at a person's pace, within the share of the limit the
    poster leaves free: one list, then a few books a round."""
    token = sandbox.password_token(tenant.org_id, tenant.api_key)
    auth = {"Authorization": f"Bearer {token}"}
    budget = BOOKS_PER_ROUND
    for resource in ("invoices", "sales/creditnotes"):
        base = f"{sandbox.base_url}/v1/{tenant.org_id}/{resource}"
        budget -= 1
        found = http.get(
            base,
            headers=auth,
            params={"fields": "Guid,Status,TimeStamp", "pageSize": "1000", **BOOKKEEPER},
        )
        if found.status_code == 429:
            return
        found.raise_for_status()
        for draft in found.json()["Collection"]:
            if draft.get("Status") != "Draft":
                continue
            if budget <= 0:
                return
            budget -= 1
            answer = http.post(
                f"{base}/{draft['Guid']}/book",
                headers=auth,
                params=BOOKKEEPER,
                json={"Timestamp": draft["TimeStamp"]},
            )
            if answer.status_code == 429:
                return
            answer.raise_for_status()


def _settled(operator: Operator, tenant: DemoTenant) -> tuple[bool, Counter[str]]:
    rows = operator.postings(tenant.tenant_id)
    states = Counter(r["state"] for r in rows)
    invoices = sum(1 for r in rows if r["kind"] == "invoice" and r["state"] == "done")
    payouts = sum(
        1
        for r in rows
        if r["kind"] == "voucher" and r["state"] == "done" and "payout" in r["posting_key"]
    )
    return invoices >= ORDERS and payouts >= PAYOUTS and set(states) == {"done"}, states


def _calls(sandbox: SandboxHandle, run: Run) -> tuple[int, int, int, int]:
    """(the poster's calls, 429 answers among them, the bookkeeper's, its 429s)."""
    log = sandbox.requests(run.tenant.org_id)[run.setup_calls :]
    ours = [e for e in log if "by=bookkeeper" not in e["query"]]
    theirs = [e for e in log if "by=bookkeeper" in e["query"]]
    return (
        len(ours),
        sum(1 for e in ours if e["status"] == 429),
        len(theirs),
        sum(1 for e in theirs if e["status"] == 429),
    )


def run() -> list[Result]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-dinero-calls-"))
    with contextlib.ExitStack() as cleanup:
        infra = cleanup.enter_context(
            local_infra(workdir, ("--rate-limit", str(LIMIT), "--rate-window-seconds", str(WINDOW)))
        )
        sandbox, stripe_url = infra.sandbox, infra.stripe_url
        stack = infra.stack(
            workdir,
            dinero_rate_limit=LIMIT,
            dinero_rate_window_seconds=WINDOW,
            extra_env={
                # The production pace of the draft watch, scaled down with the window.
                "BOGFOER_POSTER_DRAFT_POLL_MIN_SECONDS": "2",
                "BOGFOER_POSTER_DRAFT_POLL_MAX_SECONDS": "10",
                # The summary tenant's day (20 November) is long over: it closes once quiet.
                "BOGFOER_POSTER_SUMMARY_QUIET_SECONDS": "5",
                "BOGFOER_POSTER_SUMMARY_CHECK_SECONDS": "1",
            },
        ).start()
        cleanup.callback(stack.stop)
        http = cleanup.enter_context(httpx.Client(timeout=60))
        operator = Operator(stack, http)
        stripe_double = StripeDoubleClient(stripe_url)
        cleanup.callback(stripe_double.close)

        runs = [
            Run(mode, DemoTenant(f"bench-{mode}", f"Bench {mode}", MODES[mode])) for mode in MODES
        ]
        mixes = {}
        for index, run_ in enumerate(runs):
            connect(run_.tenant, stack, operator, sandbox, http)
            world = StripeWorld(api_key=run_.tenant.stripe_key, seed=index)
            mixes[run_.mode] = mix(world, f"{index + 1}")
            stripe_double.load(world.objects())
            run_.setup_calls = len(sandbox.requests(run_.tenant.org_id))
        started = time.monotonic()
        # The shops sell at once, interleaved.
        for items in zip(*(mixes[r.mode].items for r in runs), strict=True):
            for run_, item in zip(runs, items, strict=True):
                send([item], run_.tenant, stack, http)
        deadline = started + SETTLE_TIMEOUT
        shown = ""
        while any(r.settled_at is None for r in runs):
            if time.monotonic() > deadline:
                raise RuntimeError(f"not settled within {SETTLE_TIMEOUT:.0f} s: {shown}")
            line = []
            for run_ in runs:
                if run_.settled_at is not None:
                    continue
                if run_.mode == "draft":
                    _book_drafts(run_.tenant, sandbox, http)
                done, states = _settled(operator, run_.tenant)
                if done:
                    run_.settled_at = time.monotonic() - started
                line.append(
                    f"{run_.mode}: {_calls(sandbox, run_)[0]} calls, "
                    + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
                )
            text = " | ".join(line)
            if text != shown:
                print(f"  [{time.monotonic() - started:5.0f} s] {text}", flush=True)
                shown = text
            time.sleep(2.0)
        return [_result(run_, mixes[run_.mode], sandbox) for run_ in runs]


def _result(run_: Run, mix_: Mix, sandbox: SandboxHandle) -> Result:
    calls, too_many, bookkeeper, refused = _calls(sandbox, run_)
    # A summary day is held against the per-order floor and bound: what it saves shows.
    floor = mix_.floor("draft" if run_.mode == "draft" else "booked")
    note = (
        f"{calls / ORDERS:.2f} calls per order (per-order floor {floor / ORDERS:.2f}, bound"
        f" {TARGETS[run_.mode]}); {ORDERS} orders settled in {run_.settled_at:.0f} s at"
        f" {LIMIT} calls per {WINDOW:.0f} s; {too_many} answered 429"
    )
    if run_.mode == "draft":
        note += f"; the bookkeeper's {bookkeeper} calls ({refused} answered 429) not counted"
    return Result(
        f"dinero_calls_{run_.mode}",
        "calls",
        floor,
        calls,
        cost_ratio(floor, calls),
        TARGETS[run_.mode] * ORDERS / floor,
        note,
    )
