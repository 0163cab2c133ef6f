"""Dinero's call budget end to end (issue 11): ingest, mapper, poster and ledger as processes
on a Kafka broker and a database of their own, against a sandbox process whose limit is
Dinero's 100 calls with the minute shortened to WINDOW seconds. The poster is told the same
limit and window; everything timed in production minutes is scaled by SCALE (a production
minute is WINDOW seconds here), so "calls a minute" below means calls per WINDOW seconds.

- Draft mode never stalls: 300 payments wait for 30 drafts in one organisation while a
  second organisation posts a backlog. The second keeps at least 90 % of its limit (all but
  the share reserved for the bookkeeper), the first's draft watch costs at most 5 calls a
  minute, and once the bookkeeper books the drafts every waiting payment is made.
- A poster killed (SIGKILL) mid-window and started again finds the window's calls in
  PostgreSQL and draws no 429; two poster replicas serving four shops on one organisation
  stay within its limit together.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bogfoer_devstack.kafka import KafkaBroker
from bogfoer_devstack.ports import free_port
from bogfoer_devstack.sales import AT, captured, goods, order, stripe_ref
from bogfoer_devstack.shop import Operator, Shop
from bogfoer_devstack.stack import ServiceProcess, Stack
from dinero_sandbox.process import SandboxHandle
from tests.dinero_limit import arrived, busiest_window, limited_sandbox, organisation, refused
from tests.e2e.conftest import Tenant
from tests.integration.conftest import create_database, drop_database

LIMIT = 100  # Dinero's calls per organisation per (shortened) minute
WINDOW = 10.0  # the shortened minute, in seconds
SCALE = WINDOW / 60.0
RESERVED = 0.1  # the poster's default share of the limit left to the bookkeeper
USABLE = LIMIT - int(LIMIT * RESERVED)
# The draft watch's production pace (30 s, doubling while nothing is booked), scaled; its
# longest wait is capped at a shortened minute so the test does not wait long for a look.
DRAFT_POLL_MIN = 30 * SCALE
DRAFT_POLL_MAX = WINDOW
WATCH_CALLS_A_MINUTE = 5  # the bound on the first organisation's polling
DRAFTS = 30
PAYMENTS_PER_DRAFT = 10  # 300 payments waiting
BUSY_ORDERS = 60  # the other organisation: an invoice and its book each, 120 calls

pytestmark = pytest.mark.timeout(240)  # the stack's start and a few windows on a busy machine


@pytest.fixture(scope="module")
def budget_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with limited_sandbox(LIMIT, WINDOW, tmp_path_factory.mktemp("budget-sandbox")) as handle:
        yield handle


@pytest.fixture(scope="module")
def budget_stack(
    restartable_kafka: KafkaBroker,
    database_url: str,
    budget_sandbox: SandboxHandle,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The pipeline against the shortened window, on the devstack's second broker (the
    package's stack reads the shared one: its consumers must not see these shops) and a
    database of its own."""
    database = asyncio.run(create_database(database_url))
    running = Stack(
        workdir=tmp_path_factory.mktemp("budget-stack"),
        kafka_bootstrap=restartable_kafka.bootstrap_servers,
        database_url=database,
        dinero_url=budget_sandbox.base_url,
        dinero_legacy_client_id=budget_sandbox.legacy.client_id,
        dinero_legacy_client_secret=budget_sandbox.legacy.client_secret,
        dinero_rate_limit=LIMIT,
        dinero_rate_window_seconds=WINDOW,
        extra_env={
            "BOGFOER_POSTER_DINERO_RATE_RESERVED_SHARE": str(RESERVED),
            "BOGFOER_POSTER_DRAFT_POLL_MIN_SECONDS": str(DRAFT_POLL_MIN),
            "BOGFOER_POSTER_DRAFT_POLL_MAX_SECONDS": str(DRAFT_POLL_MAX),
            # A killed poster's claim on the posting in hand runs out quickly, so the
            # restarted one goes on within the window it was killed in.
            "BOGFOER_POSTER_CLAIM_LEASE_SECONDS": "2",
        },
    )
    try:
        yield running.start(("ingest", "mapper", "poster", "ledger"))
    finally:
        running.stop()
        asyncio.run(drop_database(database_url, database))


@pytest.fixture(scope="module")
def budget_operator(budget_stack: Stack, http: httpx.Client) -> Operator:
    return Operator(budget_stack, http)


def _send(tenant: Tenant, events: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Events as a shop sends them, a few at a time (each must be accepted)."""

    def one(event: tuple[str, str, dict[str, Any]]) -> None:
        response = tenant.shop.send(event[0], event[1], AT, event[2])
        assert response.status_code == 202, response.text

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, events))


def _connect(
    stack: Stack,
    operator: Operator,
    http: httpx.Client,
    sandbox: SandboxHandle,
    org: tuple[int, str],
    booking_mode: str,
) -> Tenant:
    """A shop of the budget stack booking into `org` (invoiced when the order is placed)."""
    tenant = f"budget-{secrets.token_hex(4)}"
    secret = secrets.token_urlsafe(24)
    settings = {
        "dinero_organization_id": org[0],
        "cutover": "2026-01-01",
        "booking_mode": booking_mode,
        "trigger": "order_placed",
    }
    config = operator.onboard(tenant, hmac_secret=secret, dinero_api_key=org[1], settings=settings)
    shop = Shop(stack, http, tenant, secret)
    return Tenant(tenant, org[0], shop, sandbox, config, org[1], "", "")


def _orders(prefix: str, count: int, payments: int = 0) -> list[tuple[str, str, dict[str, Any]]]:
    """`count` orders of 100 DKK by one returning customer, each paid in `payments` Stripe
    captures of equal parts (none: the orders are only invoiced)."""
    events = []
    for n in range(count):
        oid = f"{prefix}{n}"
        refs = [f"pi_{oid}_{p}" for p in range(payments)]
        placed = order(
            oid,
            lines=[goods("1", 10000)],
            email=f"kunde-{prefix}@example.dk",
            payments=[stripe_ref(ref) for ref in refs],
        )
        events.append(("order.placed", f"{oid}-placed", placed))
        events += [
            ("payment.captured", ref, captured(ref, oid, 10000 // payments, f"txn_{ref}"))
            for ref in refs
        ]
    return events


def _kinds(operator: Operator, tenant: str) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for row in operator.postings(tenant):
        counts[row["kind"], row["state"]] = counts.get((row["kind"], row["state"]), 0) + 1
    return counts


def _wait(check: Callable[[], bool], within: float, what: str, interval: float = 0.5) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {within:.0f} s: {what}")
        time.sleep(interval)


def _calls(sandbox: SandboxHandle, org: int, after: int = 0) -> list[dict[str, Any]]:
    """The organisation's calls after sequence number `after`, the bookkeeper's left out."""
    return [
        e for e in sandbox.requests(org) if e["seq"] > after and "by=bookkeeper" not in e["query"]
    ]


def _last_seq(sandbox: SandboxHandle) -> int:
    return max((e["seq"] for e in sandbox.requests()), default=0)


def _book_drafts(sandbox: SandboxHandle, http: httpx.Client, shop: Tenant) -> list[int]:
    """The bookkeeper books every draft invoice in Dinero (one list, one book each, marked
    in the request log); returns the status of each of its calls."""
    token = sandbox.password_token(shop.org_id, shop.api_key)
    auth = {"Authorization": f"Bearer {token}"}
    base = f"{sandbox.base_url}/v1/{shop.org_id}/invoices"
    mark = {"by": "bookkeeper"}
    found = http.get(
        base,
        headers=auth,
        params={**mark, "fields": "Guid,Status,TimeStamp", "pageSize": "1000"},
    )
    found.raise_for_status()
    statuses = [found.status_code]
    for draft in found.json()["Collection"]:
        if draft["Status"] == "Draft":
            booked = http.post(
                f"{base}/{draft['Guid']}/book",
                headers=auth,
                params=mark,
                json={"Timestamp": draft["TimeStamp"]},
            )
            statuses.append(booked.status_code)
    return statuses


def test_drafts_waiting_in_one_organisation_cost_a_few_calls_a_minute_and_stall_no_other(
    budget_stack: Stack,
    budget_operator: Operator,
    budget_sandbox: SandboxHandle,
    http: httpx.Client,
) -> None:
    operator, sandbox = budget_operator, budget_sandbox
    drafts_org, busy_org = organisation(sandbox, "drafts"), organisation(sandbox, "busy")
    drafts = _connect(budget_stack, operator, http, sandbox, drafts_org, "draft")
    busy = _connect(budget_stack, operator, http, sandbox, busy_org, "booked")
    waiting = DRAFTS * PAYMENTS_PER_DRAFT

    _send(drafts, _orders("D", DRAFTS, PAYMENTS_PER_DRAFT))

    def all_waiting() -> bool:
        kinds = _kinds(operator, drafts.tenant_id)
        return (
            kinds.get(("invoice", "done")) == DRAFTS
            and kinds.get(("payment", "waiting")) == waiting
        )

    _wait(all_waiting, 90, f"{waiting} payments waiting for {DRAFTS} drafts")
    mark = _last_seq(sandbox)
    waiting_since = time.time()

    # The other shop's sales arrive while the 300 wait: a backlog of more than a window.
    _send(busy, _orders("B", BUSY_ORDERS))

    def busy_done() -> bool:
        return _kinds(operator, busy.tenant_id) == {
            ("contact", "done"): 1,
            ("invoice", "done"): BUSY_ORDERS,
        }

    _wait(busy_done, 90, "the other organisation's sales booked")
    # The draft watch has looked (at its pace) a few times while they waited.
    _wait(
        lambda: len(_calls(sandbox, drafts.org_id, after=mark)) >= 2,
        3 * DRAFT_POLL_MAX,
        "two looks for booked drafts",
    )
    looks = _calls(sandbox, drafts.org_id, after=mark)
    busy_calls = _calls(sandbox, busy.org_id, after=mark)
    statuses = _book_drafts(sandbox, http, drafts)
    booked_at = _last_seq(sandbox)

    # The waiting payments cost nothing each: only the draft watch's list calls...
    assert looks, "the draft watch never looked"
    assert {(e["method"], e["path"]) for e in looks} == {("GET", f"/v1/{drafts.org_id}/invoices")}
    assert all("changesSince" in e["query"] for e in looks)
    # ...at most 5 in any minute (WINDOW seconds here), however many postings wait.
    assert busiest_window(looks, WINDOW) <= WATCH_CALLS_A_MINUTE, [e["at"] for e in looks]
    minutes = (arrived(looks[-1]) - waiting_since) / WINDOW
    assert len(looks) <= WATCH_CALLS_A_MINUTE * max(1.0, minutes), (len(looks), minutes)
    # The other organisation kept its limit: all but the bookkeeper's share in its busiest
    # minute, never more, no 429; an invoice and its book per order, nothing read back.
    assert busiest_window(busy_calls, WINDOW) >= 0.9 * LIMIT, _per_window(busy_calls)
    assert busiest_window(busy_calls, WINDOW) <= USABLE
    assert not refused(busy_calls + looks)
    writes = [e for e in busy_calls if e["method"] != "GET"]
    assert len(writes) == 1 + 2 * BUSY_ORDERS, [(e["method"], e["path"]) for e in writes]
    # The bookkeeper found room beside the watch.
    assert set(statuses) == {200}, statuses
    assert len(statuses) == 1 + DRAFTS

    # Booked in Dinero: the watch sees it in one look and every waiting payment goes.
    def all_paid() -> bool:
        return _kinds(operator, drafts.tenant_id).get(("payment", "done")) == waiting

    _wait(all_paid, 120, f"{waiting} payments made", interval=1.0)
    after = _calls(sandbox, drafts.org_id, after=booked_at)
    made = [e for e in after if e["method"] == "POST" and e["path"].endswith("/payments")]
    assert len([e for e in made if e["status"] == 201]) == waiting
    balance = {k: v for k, v in sandbox.trial_balance(drafts.org_id).items() if v}
    assert balance == {1000: -DRAFTS * 8000, 64000: -DRAFTS * 2000, 55010: DRAFTS * 10000}


def _per_window(calls: list[dict[str, Any]]) -> list[int]:
    """Calls per consecutive window from the first (what a failing assertion shows)."""
    if not calls:
        return []
    start = arrived(calls[0])
    counts: dict[int, int] = {}
    for e in calls:
        n = int((arrived(e) - start) // WINDOW)
        counts[n] = counts.get(n, 0) + 1
    return [counts.get(n, 0) for n in range(max(counts) + 1)]


def _tenant_calls(poster: ServiceProcess, viewer: dict[str, str], tenants: set[str]) -> int:
    """The Dinero calls a poster process made for these tenants (its /metrics)."""
    text = httpx.get(f"{poster.url}/metrics", headers=viewer, timeout=10).text
    total = 0.0
    for tenant, value in re.findall(
        r'^bogfoer_dinero_tenant_calls_total\{[^}]*tenant="([^"]+)"[^}]*\} (\S+)$', text, re.M
    ):
        if tenant in tenants:
            total += float(value)
    return int(total)


def test_two_poster_replicas_on_one_organisation_stay_within_its_limit_when_one_is_killed(
    budget_stack: Stack,
    budget_operator: Operator,
    budget_sandbox: SandboxHandle,
    http: httpx.Client,
    tmp_path: Path,
) -> None:
    """Four shops booking into one organisation through two poster replicas: mid-window the
    replica that made more of the calls is killed (SIGKILL: its calls in flight are never
    answered to it), the other takes its shops over in the same window, and the killed one
    is started again. Between them they stay within the limit and draw no 429."""
    operator, sandbox = budget_operator, budget_sandbox
    replicas = [budget_stack.services["poster"]]
    port = free_port()
    # The same settings (the same sealing key for the credentials), its own port.
    env = {**replicas[0].env, "BOGFOER_POSTER_HTTP_PORT": str(port)}
    replicas.append(ServiceProcess("poster", port, env, tmp_path / "poster-2.log").start())
    try:
        replicas[1].wait_ready()
        org = organisation(sandbox, "replicas")
        shops = [_connect(budget_stack, operator, http, sandbox, org, "booked") for _ in range(4)]
        tenants = {s.tenant_id for s in shops}
        before = [_tenant_calls(p, operator.viewer, tenants) for p in replicas]
        mark = _last_seq(sandbox)
        orders = 25  # 4 shops: 204 calls on one organisation, more than two windows'
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda s: _send(s[1], _orders(f"R{s[0]}-", orders)), enumerate(shops)))
        _wait(
            lambda: len(_calls(sandbox, org[0], after=mark)) >= 0.8 * USABLE,
            60,
            "most of a window's calls",
            interval=0.1,
        )
        made = [
            _tenant_calls(p, operator.viewer, tenants) - n
            for p, n in zip(replicas, before, strict=True)
        ]
        victim = 0 if made[0] >= made[1] else 1
        killed, survivor = replicas[victim], replicas[1 - victim]
        killed.kill()
        killed.start()
        killed.wait_ready()

        def done() -> bool:
            return all(
                _kinds(operator, s.tenant_id)
                == {("contact", "done"): 1, ("invoice", "done"): orders}
                for s in shops
            )

        _wait(done, 120, "every shop's sales booked")
        survived = _tenant_calls(survivor, operator.viewer, tenants) - before[1 - victim]
    finally:
        replicas[1].stop()
    calls = _calls(sandbox, org[0], after=mark)
    assert not refused(calls), _per_window(calls)
    assert busiest_window(calls, WINDOW) <= USABLE, _per_window(calls)
    # Both replicas called the organisation: the killed one before, the other after.
    assert max(made) > 0, made
    assert survived > 0, survived
