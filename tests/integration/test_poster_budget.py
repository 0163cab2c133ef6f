"""Dinero's call budget with the poster's real parts: its workers and draft watch on a real
PostgreSQL, the real Dinero client and the PostgreSQL rate limiter, against the sandbox as
its own process with Dinero's limit (scaled down to LIMIT calls per WINDOW seconds, so that
300 postings settle in seconds). Commands go in as the Kafka handler puts them in
(`store.intake`); Kafka itself is not under test here.

- Draft mode never stalls (issue 11): 300 payments wait for 30 drafts in one organisation
  while a second organisation posts at full speed. The waiting payments cost nothing each
  — the first organisation sees only the draft watch's list calls — and once a bookkeeper
  books the drafts, every payment is made, with no look-up (a wait is no failed attempt).
- A restarted poster remembers the calls of the current window (they are in PostgreSQL):
  a poster stopped mid-window and started again at once draws no 429.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import secrets
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

import asyncpg
import httpx
import pytest
from opentelemetry import trace

from bogfoer_contracts.postings import (
    ContactSpec,
    CreateInvoice,
    EnsureContact,
    InvoiceLineSpec,
    PostingCommand,
    RegisterPayment,
)
from bogfoer_dinero import DineroClient, InMemoryCredentialStore
from bogfoer_dinero.ratelimit_postgres import PostgresRateLimiter
from bogfoer_kit.db import create_pool, migrate
from bogfoer_poster import store
from bogfoer_poster.settings import PosterSettings
from bogfoer_poster.workers import Supervisor
from dinero_sandbox.process import SandboxHandle
from tests.dinero_limit import busiest_window, limited_sandbox, organisation

from .conftest import eventually, new_tenant

LIMIT = 100
WINDOW = 5.0
RESERVED = 0.1
USABLE = LIMIT - int(LIMIT * RESERVED)  # what the poster may take of each window
DRAFTS = 30
PAYMENTS_PER_DRAFT = 10  # 300 postings waiting
BOOKED_ORDERS = 20
DAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)
# The draft watch's pace: looks after 2 s, then doubling up to 12 s.
POLL_MIN, POLL_MAX = 2.0, 12.0


class _Outbox:
    """The results stay in the outbox table: the ledger is not under test."""

    async def relay(self) -> int:
        return 0

    def soon(self) -> None:
        pass

    async def settle(self) -> None:
        pass


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxHandle]:
    with limited_sandbox(LIMIT, WINDOW, tmp_path_factory.mktemp("budget-sandbox")) as handle:
        yield handle


@pytest.fixture
async def pool(fresh_database: str) -> AsyncIterator[asyncpg.Pool]:
    created = await create_pool(fresh_database, "poster", max_size=10)
    await migrate(created, "bogfoer_poster")
    await PostgresRateLimiter.create_schema(created)
    try:
        yield created
    finally:
        await created.close()


def _settings(database_url: str, sandbox: SandboxHandle) -> PosterSettings:
    return PosterSettings.model_validate(
        {
            "DATABASE_URL": database_url,
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
            "admin_token": secrets.token_urlsafe(16),
            "credentials_key": secrets.token_urlsafe(32),
            "dinero_api_url": sandbox.api_base_url,
            "dinero_legacy_token_url": f"{sandbox.authz_base_url}/dineroapi/oauth/token",
            "dinero_legacy_client_id": sandbox.legacy.client_id,
            "dinero_legacy_client_secret": sandbox.legacy.client_secret,
            "dinero_rate_limit": LIMIT,
            "dinero_rate_window_seconds": WINDOW,
            "dinero_rate_reserved_share": RESERVED,
            "poll_interval_seconds": 0.1,
            "retry_base_seconds": 0.2,
            "retry_cap_seconds": 2,
            "draft_poll_min_seconds": POLL_MIN,
            "draft_poll_max_seconds": POLL_MAX,
            "graceful_timeout_seconds": 10,
            "claim_lease_seconds": 10,
        }
    )


@contextlib.asynccontextmanager
async def _poster(
    pool: asyncpg.Pool, settings: PosterSettings, api_keys: dict[str, str]
) -> AsyncIterator[Supervisor]:
    """One poster process's Dinero client, limiter and workers (as `app.py` wires them)."""
    limiter = PostgresRateLimiter(
        pool, LIMIT, WINDOW, holder="poster", reserved_share=settings.dinero_rate_reserved_share
    )
    async with DineroClient.open(
        settings.dinero_config(), InMemoryCredentialStore(), limiter=limiter
    ) as dinero:
        for tenant, key in api_keys.items():
            await dinero.auth.register_api_key(tenant, key)
        supervisor = Supervisor(
            pool,
            dinero,
            _Outbox(),  # type: ignore[arg-type]
            settings,
            trace.get_tracer("test"),
        )
        running = asyncio.create_task(supervisor.run())
        try:
            yield supervisor
        finally:
            await supervisor.stop()
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)


def _sales(
    tenant: str, org: int, orders: int, payments: int, booking: Literal["draft", "booked"]
) -> list[PostingCommand]:
    """A contact, `orders` invoices of 100 DKK (80 + 20 VAT) and `payments` payments each."""
    common: dict[str, Any] = {"tenant_id": tenant, "organization_id": org, "issued_at": NOW}
    contact = f"{tenant}:contact:1"
    commands: list[PostingCommand] = [
        EnsureContact(
            posting_key=contact,
            contact=ContactSpec(name="Kunde", country="DK", email="kunde@example.dk"),
            **common,
        )
    ]
    for n in range(orders):
        invoice = f"{tenant}:invoice:{n}"
        commands.append(
            CreateInvoice(
                posting_key=invoice,
                depends_on=[contact],
                contact_key=contact,
                date=DAY,
                currency="DKK",
                description=f"Ordre {n}",
                lines=[
                    InvoiceLineSpec(
                        description="Vare",
                        quantity=1,
                        unit_price=10000,
                        account_number=1000,
                        vat_rate=2500,
                    )
                ],
                expected_total=10000,
                expected_vat=2000,
                booking=booking,
                **common,
            )
        )
        commands += [
            RegisterPayment(
                posting_key=f"{tenant}:payment:{n}:{p}",
                depends_on=[invoice],
                invoice_key=invoice,
                amount=10000 // payments,
                currency="DKK",
                deposit_account=55010,
                payment_date=DAY,
                description=f"Betaling {p} af ordre {n}",
                **common,
            )
            for p in range(payments)
        ]
    return commands


async def _intake(pool: asyncpg.Pool, commands: list[PostingCommand]) -> None:
    async with pool.acquire() as conn:
        for command in commands:
            assert await store.intake(conn, command, None)


async def _states(pool: asyncpg.Pool, tenant: str) -> dict[tuple[str, str], int]:
    rows = await pool.fetch(
        "SELECT kind, state, count(*) AS n FROM postings WHERE tenant_id = $1 GROUP BY 1, 2",
        tenant,
    )
    return {(r["kind"], r["state"]): r["n"] for r in rows}


def _calls(sandbox: SandboxHandle, org: int, after: int = 0) -> list[dict[str, Any]]:
    return [e for e in sandbox.requests(org) if e["seq"] > after]


def _book_drafts(sandbox: SandboxHandle, org: int, api_key: str) -> int:
    """The bookkeeper books every draft invoice in Dinero: one list, one book each."""
    token = sandbox.password_token(org, api_key)
    auth = {"Authorization": f"Bearer {token}"}
    base = f"{sandbox.base_url}/v1/{org}/invoices"
    with httpx.Client(headers=auth, timeout=30) as http:
        found = http.get(base, params={"fields": "Guid,Status,TimeStamp", "pageSize": "1000"})
        found.raise_for_status()
        drafts = [d for d in found.json()["Collection"] if d["Status"] == "Draft"]
        for draft in drafts:
            booked = http.post(
                f"{base}/{draft['Guid']}/book", json={"Timestamp": draft["TimeStamp"]}
            )
            assert booked.status_code == 200, booked.text
    return len(drafts)


@pytest.mark.timeout(240)  # 300 payments through the workers, on a shared 2-core machine
async def test_waiting_for_drafts_costs_no_call_per_posting_and_never_stalls_another_organisation(
    pool: asyncpg.Pool, fresh_database: str, sandbox: SandboxHandle
) -> None:
    drafts_tenant, busy_tenant = new_tenant(), new_tenant()
    drafts_org, drafts_key = organisation(sandbox, drafts_tenant)
    busy_org, busy_key = organisation(sandbox, busy_tenant)
    settings = _settings(fresh_database, sandbox)
    keys = {drafts_tenant: drafts_key, busy_tenant: busy_key}
    waiting = DRAFTS * PAYMENTS_PER_DRAFT

    async with _poster(pool, settings, keys) as poster:
        await _intake(pool, _sales(drafts_tenant, drafts_org, DRAFTS, PAYMENTS_PER_DRAFT, "draft"))
        poster.wake.set()

        async def all_waiting() -> bool:
            states = await _states(pool, drafts_tenant)
            return states.get(("invoice", "done")) == DRAFTS and (
                states.get(("payment", "waiting")) == waiting
            )

        await eventually(all_waiting, within=60, what=f"{waiting} payments waiting for drafts")
        mark = max((e["seq"] for e in _calls(sandbox, drafts_org)), default=0)
        # The other organisation's sales arrive while the 300 wait.
        await _intake(pool, _sales(busy_tenant, busy_org, BOOKED_ORDERS, 1, "booked"))
        poster.wake.set()

        async def busy_done() -> bool:
            states = await _states(pool, busy_tenant)
            return set(states) <= {(k, "done") for k in ("contact", "invoice", "payment")} and (
                sum(states.values()) == 1 + 2 * BOOKED_ORDERS
            )

        await eventually(busy_done, within=60, what="the other organisation's sales booked")

        # Some more of the draft watch's pace (two looks at least), then the calls of the
        # waiting time.
        async def looked_twice() -> bool:
            looks = _calls(sandbox, drafts_org, after=mark)
            return sum("changesSince" in e["query"] for e in looks) >= 2

        await eventually(
            looked_twice, within=6 * POLL_MAX, what="the draft watch's looks", interval=0.5
        )
        looks = _calls(sandbox, drafts_org, after=mark)

    # Only the draft watch's list calls: no posting read its invoice while it waited.
    assert {(e["method"], e["path"]) for e in looks} == {("GET", f"/v1/{drafts_org}/invoices")}
    assert all("changesSince" in e["query"] for e in looks)
    seconds = (
        dt.datetime.fromisoformat(looks[-1]["at"]) - dt.datetime.fromisoformat(looks[0]["at"])
    ).total_seconds()
    # Doubling from POLL_MIN: at most a few looks, however many postings wait.
    assert len(looks) <= 2 + seconds / POLL_MIN / 2, (len(looks), seconds)
    busy_calls = _calls(sandbox, busy_org)
    writes = Counter(
        e["path"].rsplit("/", 1)[-1] if e["method"] == "POST" else e["method"] for e in busy_calls
    )
    # Per order an invoice, its book and its payment; no read of what an answer told.
    assert (writes["invoices"], writes["book"], writes["payments"]) == (BOOKED_ORDERS,) * 3
    assert writes["GET"] <= 4, busy_calls  # the contact's look-up by e-mail, the chart
    assert not [e for e in busy_calls + looks if e["status"] == 429]

    # The bookkeeper books the drafts; the watch sees them in one look and every payment goes.
    assert await asyncio.to_thread(_book_drafts, sandbox, drafts_org, drafts_key) == DRAFTS
    mark = max(e["seq"] for e in _calls(sandbox, drafts_org))
    async with _poster(pool, settings, keys) as poster:
        poster.wake.set()

        async def all_paid() -> bool:
            states = await _states(pool, drafts_tenant)
            return states.get(("payment", "done")) == waiting

        await eventually(all_paid, within=90, what=f"{waiting} payments made", interval=0.5)
    after = _calls(sandbox, drafts_org, after=mark)
    payments = [e for e in after if e["method"] == "POST" and e["path"].endswith("/payments")]
    assert len([e for e in payments if e["status"] == 201]) == waiting, [
        (e["method"], e["path"], e["query"]) for e in after if e["method"] == "GET"
    ]
    # A wait was no failed attempt: no payment looked up an earlier attempt or read its
    # invoice — but one whose answer was lost (a timeout on this busy machine) rightly would.
    reads = [e for e in after if e["method"] == "GET" and "changesSince" not in e["query"]]
    rows = await pool.fetch(
        "SELECT attempts, outcome_unknown FROM postings WHERE tenant_id = $1 AND kind = 'payment'",
        drafts_tenant,
    )
    assert len(reads) <= sum(1 for r in rows if r["attempts"] > 1), reads
    assert {r["outcome_unknown"] for r in rows} == {False}
    balance = {k: v for k, v in sandbox.trial_balance(drafts_org).items() if v}
    assert balance == {1000: -DRAFTS * 8000, 64000: -DRAFTS * 2000, 55010: DRAFTS * 10000}


async def test_a_poster_restarted_mid_window_remembers_its_calls_and_draws_no_429(
    pool: asyncpg.Pool, fresh_database: str, sandbox: SandboxHandle
) -> None:
    tenant = new_tenant()
    org, key = organisation(sandbox, tenant)
    settings = _settings(fresh_database, sandbox)
    await _intake(pool, _sales(tenant, org, 60, 1, "booked"))
    async with _poster(pool, settings, {tenant: key}) as poster:
        poster.wake.set()

        async def most_of_a_window() -> bool:
            return len(_calls(sandbox, org)) >= USABLE * 0.8

        await eventually(most_of_a_window, within=30, what="most of a window's calls")
    # A new poster (a new limiter, a new client) right away, in the same window.
    async with _poster(pool, settings, {tenant: key}) as poster:
        poster.wake.set()

        async def done() -> bool:
            return await _states(pool, tenant) == {
                ("contact", "done"): 1,
                ("invoice", "done"): 60,
                ("payment", "done"): 60,
            }

        await eventually(done, within=60, what="every sale booked", interval=0.5)
    calls = _calls(sandbox, org)
    assert not [e for e in calls if e["status"] == 429]
    assert busiest_window(calls, WINDOW) <= USABLE


async def test_a_lost_answer_stays_unknown_until_an_attempt_has_looked_it_up(
    pool: asyncpg.Pool, fresh_database: str, sandbox: SandboxHandle
) -> None:
    # The create of an invoice is applied and its answer lost; the next attempt's look-up
    # is refused (a 5xx on every try the client makes): the attempt after that must still
    # look the reference up first, or it creates the invoice a second time (seen in
    # `make chaos`, seed 4009, with a credit note).
    tenant = new_tenant()
    org, key = organisation(sandbox, tenant)
    settings = _settings(fresh_database, sandbox)
    sandbox.add_fault(kind="drop_after_commit", method="POST", path=f"/v1/{org}/invoices", count=1)
    tries = settings.dinero_config().max_attempts  # the client's, for a refused read
    sandbox.add_fault(kind="error", method="GET", path=f"/v1/{org}/invoices", count=tries)
    await _intake(pool, _sales(tenant, org, 1, 0, "booked"))
    async with _poster(pool, settings, {tenant: key}) as poster:
        poster.wake.set()

        async def done() -> bool:
            return await _states(pool, tenant) == {("contact", "done"): 1, ("invoice", "done"): 1}

        await eventually(done, within=60, what="the sale booked", interval=0.2)
    token = sandbox.password_token(org, key)
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        found = await http.get(
            f"{sandbox.base_url}/v1/{org}/invoices",
            params={"fields": "Guid,ExternalReference,Status", "pageSize": "1000"},
        )
    invoices = found.json()["Collection"]
    assert [(i["ExternalReference"], i["Status"]) for i in invoices] == [
        (f"{tenant}:invoice:0", "Booked")
    ]
    # The faults fired as planned: the lost answer, then every try of one look-up refused.
    fired = [(e["method"], e["fault"]) for e in _calls(sandbox, org) if e.get("fault")]
    assert fired == [("POST", "drop_after_commit")] + [("GET", "error")] * tries
