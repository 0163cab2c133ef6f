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
MEASURED_WINDOWS whole windows after the first (from its first call to that organisation;
the first window is its budget's burst while the restarted poster takes in the backlog from
Kafka), over what it may make in them (`MEASURED_WINDOWS` x the usable limit: LIMIT less
the share reserved for the bookkeeper's own calls, `…_DINERO_RATE_RESERVED_SHARE`, 10 %).
Any 429 Dinero answers the poster fails the run outright (it caused it itself: nobody else
calls these organisations).
The row's figure is the lowest organisation's share; it passes at TARGET (95 %) or more.
The backlog is sized to outlast the measured windows at the full rate; an organisation
whose backlog was done before they ended is an error of the bench, not a pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import math
import os
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

from bench.common import Result
from bogfoer_contracts.topics import POSTINGS_COMMANDS
from bogfoer_contracts.topology import POSTER
from bogfoer_devstack.demo import DemoTenant, connect
from bogfoer_devstack.infra import local_infra
from bogfoer_devstack.offsets import end_offsets
from bogfoer_devstack.sales import AT, goods, order, shipping
from bogfoer_devstack.shop import Operator
from bogfoer_devstack.stack import Stack
from dinero_sandbox.process import SandboxHandle

ORGANISATIONS = 50
LIMIT = 20  # calls per organisation per WINDOW s: Dinero's rate (100 a minute), window 5x shorter
WINDOW = 12.0
RESERVED_SHARE = 0.1  # the poster's default: room left for the bookkeeper
USABLE = LIMIT - math.ceil(LIMIT * RESERVED_SHARE)
MEASURED_WINDOWS = 3
CALLS_PER_ORDER = 3  # a new customer's contact, the invoice, its booking
# Enough to keep every organisation busy past the measured windows at the full rate.
ORDERS = math.ceil(USABLE * (MEASURED_WINDOWS + 3) / CALLS_PER_ORDER)
TARGET = 0.95
BACKLOG_TIMEOUT = 300.0
OBSERVE_TIMEOUT = 300.0
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


def _connect(
    tenant: DemoTenant, stack: Stack, operator: Operator, sandbox: SandboxHandle, http: httpx.Client
) -> None:
    """Onboard as the demo does; the settings check takes only the admin's share of this
    small limit, so a refusal for a busy limit (503 `dinero_busy`) is tried again, as a
    person would, a window later."""
    for _ in range(3):
        try:
            connect(tenant, stack, operator, sandbox, http)
            return
        except RuntimeError as exc:
            if "dinero_busy" not in str(exc):
                raise
            time.sleep(WINDOW)
    connect(tenant, stack, operator, sandbox, http)


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


@dataclass
class Seen:
    """One organisation's calls by the poster, from the sandbox's log."""

    share: float  # of the usable limit, over the measured windows
    windows: list[int]  # calls in each window from the first call on (the first: ramp-up)
    statuses: Counter[int]

    @property
    def too_many(self) -> int:
        return self.statuses[429]


def _observe(sandbox: SandboxHandle, tenants: list[DemoTenant], after: float) -> dict[str, Seen]:
    """Each organisation's calls, once every one of them has had its measured windows
    (counted from its own first call), or at OBSERVE_TIMEOUT."""
    deadline = time.monotonic() + OBSERVE_TIMEOUT
    while True:
        logs = {t.tenant_id: sandbox.requests(t.org_id) for t in tenants}
        firsts = [
            min((_at(e) for e in log if _at(e) >= after), default=None) for log in logs.values()
        ]
        started = [first for first in firsts if first is not None]
        span = (MEASURED_WINDOWS + 1) * WINDOW
        if len(started) == len(tenants) and time.time() >= max(started) + span:
            return {tenant_id: seen(log, after) for tenant_id, log in logs.items()}
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{len(tenants) - len(started)} organisations had no call, or not for"
                f" {span:.0f} s, within {OBSERVE_TIMEOUT:.0f} s"
            )
        time.sleep(1.0)


async def _taken_in(bootstrap: str, since: float) -> float:
    """Seconds from `since` until the poster's group has committed every command."""
    ends = await end_offsets(bootstrap, POSTINGS_COMMANDS)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"{POSTER.principal}.commands",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        while True:
            committed = {tp: await consumer.committed(tp) or 0 for tp in ends}
            if all(committed[tp] >= end for tp, end in ends.items()):
                return time.time() - since
            if time.time() - since > BACKLOG_TIMEOUT:
                raise RuntimeError(f"the poster took in {committed} of {ends}")
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()


def _cpu_seconds(pid: int) -> float:
    """CPU time (user + system) the process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _calls_between(sandbox: SandboxHandle, tenants: list[DemoTenant], t0: float, t1: float) -> int:
    return sum(1 for t in tenants for e in sandbox.requests(t.org_id) if t0 <= _at(e) < t1)


def _finished(operator: Operator, tenant: DemoTenant) -> bool:
    """Whether the tenant's whole backlog is done: it ran out (the bench's error)."""
    return all(r["state"] == "done" for r in operator.postings(tenant.tenant_id))


def seen(log: list[dict[str, Any]], after: float) -> Seen:
    """What the poster did to one organisation after `after` (epoch seconds). The first
    window (the budget's burst, the poster taking in its backlog from Kafka) is left out:
    the measured windows are the ones after it."""
    mine = [e for e in log if _at(e) >= after]
    calls = sorted(_at(e) for e in mine)
    statuses = Counter(int(e["status"] or 0) for e in mine)
    if not calls:
        return Seen(0.0, [0] * (MEASURED_WINDOWS + 1), statuses)
    start = calls[0]
    windows = [
        sum(1 for at in calls if start + n * WINDOW <= at < start + (n + 1) * WINDOW)
        for n in range(MEASURED_WINDOWS + 1)
    ]
    share = sum(windows[1:]) / (MEASURED_WINDOWS * USABLE)
    return Seen(share, windows, statuses)


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
            _connect(tenant, stack, operator, sandbox, http)
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
        assert poster.process is not None
        # The poster's CPU per Dinero call, from its readiness on: a figure of the poster's
        # own cost that the machine's other load changes little (unlike the shares).
        cpu_from, cpu_at = _cpu_seconds(poster.process.pid), time.time()
        took = asyncio.run(_taken_in(infra.broker.bootstrap_servers, started_at))
        print(f"  the poster took the backlog's commands in within {took:.1f} s", flush=True)
        try:
            found = _observe(sandbox, tenants, started_at)
        finally:  # also when some organisation never had its windows: how busy was it?
            cpu = _cpu_seconds(poster.process.pid) - cpu_from
            cpu_until = time.time()
            calls = _calls_between(sandbox, tenants, cpu_at, cpu_until)
            load = os.getloadavg()
            print(
                f"  the poster: {cpu:.1f} s CPU for {calls} Dinero calls in"
                f" {cpu_until - cpu_at:.0f} s ({cpu / max(calls, 1) * 1000:.1f} ms a call,"
                f" {calls / (cpu_until - cpu_at):.1f} calls/s); load average"
                f" {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}",
                flush=True,
            )
        finished = [t.tenant_id for t in tenants if _finished(operator, t)]
    for tenant_id, one in found.items():
        print(
            f"    {tenant_id}: {one.share:.0%}, calls a window {one.windows} (the first"
            f" left out), answers {dict(sorted(one.statuses.items()))}",
            flush=True,
        )
    shares = {tenant_id: one.share for tenant_id, one in found.items()}
    lowest = min(shares, key=lambda t: shares[t])
    refused = sum(one.too_many for one in found.values())
    print(
        f"  share of the usable limit: lowest {shares[lowest]:.1%} ({lowest}), median"
        f" {statistics.median(shares.values()):.1%}, highest {max(shares.values()):.1%};"
        f" {refused} answered 429",
        flush=True,
    )
    if refused:
        raise RuntimeError(f"Dinero answered the poster 429 {refused} times")
    if finished:
        raise RuntimeError(
            f"{len(finished)} organisations' backlogs ran out before the measured windows"
            f" ended (e.g. {finished[0]}): raise ORDERS"
        )
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
