"""One reconcile run: replay, read the ledger and Dinero, classify, report, repair.

The order matters: the ledger is read first, so the replay knows which postings were
re-mapped, failed or held and derives those with the current settings as well; Dinero is
read last, with a progress bar per tenant, through the rate limit shared with the poster.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bogfoer_cli.reconcile.books import Books, read_books, read_payments
from bogfoer_cli.reconcile.expectation import Expected
from bogfoer_cli.reconcile.findings import (
    DOCUMENT_KINDS,
    Evidence,
    classify,
    payments_to_read,
    trial_balance,
)
from bogfoer_cli.reconcile.ledger import LedgerPosting, ledger_postings
from bogfoer_cli.reconcile.repair import plan, publish
from bogfoer_cli.reconcile.replay import Replayed, expected_postings, replay_topics
from bogfoer_cli.reconcile.report import Report, TenantReport
from bogfoer_cli.reconcile.spool import Spool
from bogfoer_cli.settings import ReconcileSettings
from bogfoer_dinero import DineroClient, DineroError
from bogfoer_dinero.ratelimit_postgres import PostgresRateLimiter
from bogfoer_dinero.sealing import SecretSealer
from bogfoer_dinero.store_postgres import PostgresCredentialStore


@dataclass(frozen=True)
class Request:
    tenants: list[str] | None  # None: every tenant with settings
    first: dt.date
    last: dt.date
    repair: bool


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<34}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _updater(progress: Progress, description: str) -> Callable[[int, int], None]:
    task = progress.add_task(description, total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    return update


async def _pool(settings: ReconcileSettings, schema: str) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=1,
        max_size=4,
        server_settings={"search_path": schema},
        ssl=settings.database_ssl(),
    )
    assert pool is not None
    return pool


def _revisit(ledger: dict[str, LedgerPosting]) -> dict[str, int]:
    return {
        key: posting.revision + 1
        for key, posting in ledger.items()
        if posting.revision > 0 or posting.state in ("failed", "held")
    }


class _CallCounter:
    """Counts the API calls (not the token requests) the reconciler makes to Dinero."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, request: httpx.Request) -> None:
        if "token" not in request.url.path:
            self.calls += 1


async def run(
    settings: ReconcileSettings, request: Request, console: Console, now: dt.datetime
) -> Report:
    report = Report(request.first, request.last)
    ledger_pool = await _pool(settings, settings.ledger_schema)
    poster_pool = await _pool(settings, settings.poster_schema)
    try:
        with _progress(console) as progress:
            spool = Spool(settings.spool_buckets)
            with spool:
                start = dt.datetime.combine(
                    request.first - dt.timedelta(days=settings.lookback_days),
                    dt.time(),
                    dt.UTC,
                )
                replayed = await replay_topics(
                    settings.kafka_bootstrap_servers,
                    set(request.tenants) if request.tenants is not None else None,
                    start,
                    now,
                    spool,
                    options=settings.kafka_options(),
                    on_settings=_updater(progress, "Kafka tenants.config.v1"),
                    on_events=_updater(progress, "Kafka sales.events.v1"),
                )
                tenants = request.tenants or sorted(replayed.settings)
                ledger_bar = _updater(progress, "ledger")
                ledgers: dict[str, dict[str, LedgerPosting]] = {}
                for done, tenant in enumerate(tenants, start=1):
                    ledgers[tenant] = await ledger_postings(
                        ledger_pool, tenant, request.first, request.last
                    )
                    ledger_bar(done, len(tenants))
                revisit = {tenant: _revisit(ledgers[tenant]) for tenant in tenants}
                expected: dict[str, dict[str, Expected]] = {t: {} for t in tenants}
                for tenant, entry in expected_postings(
                    spool,
                    replayed,
                    now,
                    lambda t: revisit.get(t, {}),
                    on_bucket=_updater(progress, "rules (replay, by bucket)"),
                    ledger_keys=lambda t: ledgers.get(t, {}),
                ):
                    if tenant in expected:
                        expected[tenant][entry.key] = entry
            report.unreadable_events = replayed.unreadable
            await _dinero(
                settings, request, replayed, ledgers, expected, poster_pool, progress, report, now
            )
        if request.repair:
            for tenant_report in report.tenants:
                actions = plan(tenant_report.tenant, tenant_report.findings, now)
                await publish(settings.kafka_bootstrap_servers, actions, settings.kafka_options())
                tenant_report.repairs = [
                    {
                        "action": a.action,
                        "action_id": a.action_id,
                        "posting_key": getattr(a, "posting_key", None),
                    }
                    for a in actions
                ]
    finally:
        await ledger_pool.close()
        await poster_pool.close()
    return report


async def _dinero(
    settings: ReconcileSettings,
    request: Request,
    replayed: Replayed,
    ledgers: dict[str, dict[str, LedgerPosting]],
    expected: dict[str, dict[str, Expected]],
    poster_pool: asyncpg.Pool,
    progress: Progress,
    report: Report,
    now: dt.datetime,
) -> None:
    store = PostgresCredentialStore(poster_pool, SecretSealer(settings.credentials_key))
    limiter = PostgresRateLimiter(
        poster_pool,
        settings.dinero_rate_limit,
        settings.dinero_rate_window_seconds,
        holder="reconcile",
        share=settings.dinero_share,
        reserved_share=settings.dinero_rate_reserved_share,
    )
    config = settings.dinero_config()
    counter = _CallCounter()
    timeout = httpx.Timeout(config.read_timeout_seconds, connect=config.connect_timeout_seconds)
    async with httpx.AsyncClient(timeout=timeout, event_hooks={"request": [counter]}) as http:
        dinero = DineroClient(http, config, store, limiter=limiter)
        for tenant in sorted(ledgers):
            configs = replayed.configs(tenant)
            current = configs[-1] if configs else None
            tenant_report = TenantReport(
                tenant, current.dinero_organization_id if current else None
            )
            report.tenants.append(tenant_report)
            wanted = expected[tenant]
            tenant_report.expected = sum(
                1
                for e in wanted.values()
                if e.kind != "contact" and e.date and request.first <= e.date <= request.last
            )
            tenant_report.ledger = sum(1 for p in ledgers[tenant].values() if p.kind != "contact")
            tenant_report.events = replayed.events.get(tenant, 0)
            if current is None:
                tenant_report.note = "no settings for this tenant on tenants.config.v1"
                continue
            before = counter.calls
            bar = _updater(progress, f"Dinero {tenant}")
            org = dinero.organisation(tenant, current.dinero_organization_id)
            try:
                books = await read_books(org, tenant, request.first, request.last)
                bar(1, 2)
                evidence = Evidence(
                    tenant=tenant,
                    first=request.first,
                    last=request.last,
                    expected=wanted,
                    ledger=ledgers[tenant],
                    books=books,
                    now=now,
                    stuck_after=dt.timedelta(hours=settings.stuck_after_hours),
                    debtor_account=current.debtor_account,
                )
                await read_payments(org, books, payments_to_read(evidence))
                bar(2, 2)
            except DineroError as exc:
                tenant_report.note = f"Dinero could not be read: {type(exc).__name__}: {exc}"
                tenant_report.dinero_calls = counter.calls - before
                continue
            tenant_report.dinero_calls = counter.calls - before
            tenant_report.documents = _documents(books)
            tenant_report.findings = classify(evidence)
            tenant_report.trial_balance = trial_balance(evidence)


def _documents(books: Books) -> int:
    return sum(
        len(found)
        for found in books.documents.values()
        if found and found[0].kind in DOCUMENT_KINDS | {"payment"}
    )
