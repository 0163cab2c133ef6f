"""poster_share: under a backlog for ORGANISATIONS organisations at once, the share of each
organisation's Dinero limit the poster uses, from the sandbox's request log (issue 9).

Setup (all on loopback, in a temporary folder, stopped afterwards): Apache Kafka, PostgreSQL,
the Dinero sandbox with Dinero's limit shortened to LIMIT calls per WINDOW seconds per
organisation (the poster is told the same), the Stripe double, and the four services as
processes. ORGANISATIONS tenants are onboarded, each with its own organisation (booked
invoices on `order_placed`). The poster is then stopped, each tenant's ORDERS orders (a new
customer each: a contact, an invoice and its booking, three calls an order) are sent in one
batch request per tenant, and once the ledger shows every one of their postings waiting,
the poster is started again on the whole backlog.

Measured, per organisation, from the sandbox's request log: the poster's calls in the
MEASURED_WINDOWS whole windows from its first call to that organisation, over what it may
make in them (`MEASURED_WINDOWS` x the usable limit: LIMIT less the share reserved for the
bookkeeper's own calls, `…_DINERO_RATE_RESERVED_SHARE`, 10 %). Any 429 Dinero answers the
poster fails the run outright (it caused it itself: nobody else calls these organisations).
The row's figure is the lowest organisation's share; it passes at TARGET (95 %) or more.
The backlog is sized to outlast the measured windows at the full rate; an organisation
whose backlog ran out before them is an error of the bench, not a pass.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import Result
from bogfoer_devstack.demo import DemoTenant, connect
from bogfoer_devstack.infra import local_infra
from bogfoer_devstack.sales import AT, goods, order, shipping
from bogfoer_devstack.shop import Operator

ORGANISATIONS = 50
LIMIT = 20  # calls per organisation per WINDOW seconds, Dinero's 100 a minute shortened
WINDOW = 10.0
RESERVED_SHARE = 0.1  # the poster's default: room left for the bookkeeper
USABLE = LIMIT - math.ceil(LIMIT * RESERVED_SHARE)
MEASURED_WINDOWS = 3
CALLS_PER_ORDER = 3  # a new customer's contact, the invoice, its booking
# Enough to keep every organisation busy past the measured windows at the full rate.
ORDERS = math.ceil(USABLE * (MEASURED_WINDOWS + 2) / CALLS_PER_ORDER)
TARGET = 0.95
BACKLOG_TIMEOUT = 300.0
SETTINGS = {"booking_mode": "booked", "trigger": "order_placed"}


def _orders(prefix: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    return [
        (
            "order.placed",
            f"{prefix}-{n}-placed",
            AT,
            order(f"{prefix}-{n}", lines=[goods("1", 19900), shipping(4900)]),
        )
        for n in range(ORDERS)
    ]


def _waiting(operator: Operator, tenants: list[DemoTenant]) -> int:
    """How many tenants' postings the ledger shows, all of them, still to do."""
    ready = 0
    for tenant in tenants:
        rows = operator.postings(tenant.tenant_id)
        invoices = sum(1 for r in rows if r["kind"] == "invoice")
        ready += invoices >= ORDERS
    return ready


def _at(entry: dict[str, Any]) -> float:
    return dt.datetime.fromisoformat(entry["at"]).timestamp()


def share_of(log: list[dict[str, Any]], after: float) -> tuple[float, int, float]:
    """(share of the usable limit, 429s, seconds busy) of one organisation's log entries
    made by the poster after `after` (epoch seconds)."""
    calls = sorted(_at(e) for e in log if _at(e) >= after)
    too_many = sum(1 for e in log if _at(e) >= after and e["status"] == 429)
    if not calls:
        return 0.0, too_many, 0.0
    start = calls[0]
    end = start + MEASURED_WINDOWS * WINDOW
    busy = calls[-1] - start
    if busy < MEASURED_WINDOWS * WINDOW:
        raise RuntimeError(
            f"the backlog ran out after {busy:.1f} s, before the {MEASURED_WINDOWS} measured"
            f" windows ({MEASURED_WINDOWS * WINDOW:.0f} s): raise ORDERS"
        )
    made = sum(1 for at in calls if at < end)
    return made / (MEASURED_WINDOWS * USABLE), too_many, busy


def run() -> list[Result]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-poster-share-"))
    with contextlib.ExitStack() as cleanup:
        infra = cleanup.enter_context(
            local_infra(workdir, ("--rate-limit", str(LIMIT), "--rate-window-seconds", str(WINDOW)))
        )
        sandbox = infra.sandbox
        stack = infra.stack(
            workdir, dinero_rate_limit=LIMIT, dinero_rate_window_seconds=WINDOW
        ).start()
        cleanup.callback(stack.stop)
        http = cleanup.enter_context(httpx.Client(timeout=60))
        operator = Operator(stack, http)
        tenants = [
            DemoTenant(f"share-{n:02d}", f"Share {n:02d}", dict(SETTINGS))
            for n in range(ORGANISATIONS)
        ]
        for tenant in tenants:
            connect(tenant, stack, operator, sandbox, http)
        print(f"  {ORGANISATIONS} organisations onboarded; the poster stops", flush=True)
        poster = stack.services["poster"]
        poster.stop()
        for n, tenant in enumerate(tenants):
            assert tenant.shop is not None
            answer = tenant.shop.send_batch(_orders(f"{n:02d}"))
            answer.raise_for_status()
            assert answer.json()["accepted"] == ORDERS, answer.text
        deadline = time.monotonic() + BACKLOG_TIMEOUT
        while (ready := _waiting(operator, tenants)) < ORGANISATIONS:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {ready} tenants' backlogs reached the ledger")
            time.sleep(1.0)
        print(
            f"  backlog: {ORDERS} orders (~{ORDERS * CALLS_PER_ORDER} calls) for each; the"
            f" poster starts, {LIMIT} calls per {WINDOW:.0f} s per organisation",
            flush=True,
        )
        started_at = time.time()
        poster.start()
        poster.wait_ready()
        time.sleep(WINDOW * (MEASURED_WINDOWS + 1) + 5)
        shares: dict[str, float] = {}
        refused = 0
        for tenant in tenants:
            share, too_many, _ = share_of(sandbox.requests(tenant.org_id), started_at)
            shares[tenant.tenant_id] = share
            refused += too_many
    lowest = min(shares, key=lambda t: shares[t])
    print(
        f"  share of the usable limit: lowest {shares[lowest]:.1%} ({lowest}), median"
        f" {statistics.median(shares.values()):.1%}, highest {max(shares.values()):.1%};"
        f" {refused} answered 429",
        flush=True,
    )
    if refused:
        raise RuntimeError(f"Dinero answered the poster 429 {refused} times")
    return [
        Result(
            "poster_share",
            "%",
            TARGET * 100,
            shares[lowest] * 100,
            shares[lowest],
            TARGET,
            f"lowest of {ORGANISATIONS} organisations' calls in {MEASURED_WINDOWS} windows over"
            f" the usable limit ({USABLE} of {LIMIT} per {WINDOW:.0f} s, a tenth reserved);"
            f" median {statistics.median(shares.values()):.1%}; no 429",
            at_least=True,
        )
    ]
