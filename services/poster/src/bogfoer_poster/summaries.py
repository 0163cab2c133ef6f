"""Daily summaries: a summary tenant's day, closed and posted as a handful of documents.

Members (commands with `summary`: a summary tenant's invoices, credit notes and payments,
and every fee of a provider without a payout feed) gather in the poster's table
(`gathering`, with their day) instead of being posted. A day closes when it is over in
Denmark plus `summary_close_after_seconds`, and the tenant has sent no member for
`summary_quiet_seconds` (a backfill or a late sale still arriving). The close is one
transaction under the tenant's summary lock: `bogfoer_rules.summary.summarise` makes the
day's documents, each goes in as an ordinary posting (its key is deterministic, so a close
that runs again inserts nothing new) and its members wait for it (`gathered`). The summary
postings are carried out like any other — exactly once, look-up after a crash — and when
one is done, so is every member it books (`store.done`), each with its document.

A member of a day already closed (late) joins the next day closed. Days close in order.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

import asyncpg

from bogfoer_contracts.postings import CreateCreditNote, PostingCommand, RegisterPayment
from bogfoer_poster import store
from bogfoer_poster.metrics import SUMMARIES
from bogfoer_poster.settings import PosterSettings
from bogfoer_rules.summary import summarise

log = logging.getLogger(__name__)
DANISH_TIME = ZoneInfo("Europe/Copenhagen")


def _needs(command: PostingCommand) -> set[str]:
    keys = set(command.depends_on)
    if isinstance(command, RegisterPayment | CreateCreditNote):
        keys.add(command.invoice_key)
    return keys


class Summaries:
    def __init__(
        self,
        pool: asyncpg.Pool,
        settings: PosterSettings,
        clock: Callable[[], dt.datetime],
    ) -> None:
        self.pool = pool
        self.settings = settings
        self.clock = clock
        self._next_look = 0.0

    def over(self, day: dt.date, now: dt.datetime) -> bool:
        """Whether `day` is over in Denmark, plus the grace for late sales."""
        midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), DANISH_TIME)
        return now >= midnight + dt.timedelta(seconds=self.settings.summary_close_after_seconds)

    async def close_due(self) -> int:
        """Close every day that is due; the number of days closed."""
        if time.monotonic() < self._next_look:
            return 0
        self._next_look = time.monotonic() + self.settings.summary_check_seconds
        closed = 0
        now = self.clock()
        for tenant in await store.gathering(self.pool):
            quiet = now - tenant.last_arrival
            if quiet.total_seconds() < self.settings.summary_quiet_seconds:
                continue
            if not self.over(tenant.first_day, now):
                continue
            while await self.close(tenant.tenant_id, now):
                closed += 1
        return closed

    async def close(self, tenant: str, now: dt.datetime) -> bool:
        """Close the tenant's next day if it is over; False when none is."""
        async with self.pool.acquire() as conn, conn.transaction():
            await store.lock_summaries(conn, tenant)
            members = await store.gathering_members(conn, tenant)
            if not members:
                return False
            closed = await store.closed_through(conn, tenant)
            after = None if closed is None else closed + dt.timedelta(days=1)
            day = min(d if after is None else max(d, after) for _, d in members)
            if not self.over(day, now):
                return False
            take = [p for p, d in members if d <= day]
            later = [p.posting_key for p, d in members if d > day]
            needed = sorted(set().union(*(_needs(p.command) for p in take)))
            earlier = await store.summaries_of(conn, tenant, needed)
            orgs = sorted({p.organization_id for p in take})
            for org in orgs:
                summary = summarise(
                    tenant,
                    org,
                    day,
                    [p.command for p in take if p.organization_id == org],
                    earlier=earlier,
                    not_ready=later,
                    scope=(str(org),) if len(orgs) > 1 else (),
                )
                for document in summary.documents:
                    # A close that runs again (the same members) makes the same key: the
                    # summary posting exists, nothing is inserted twice.
                    await store.intake(conn, document.command, None)
                    await store.gather(conn, document.command.posting_key, list(document.members))
                    SUMMARIES.labels(document.command.kind).inc()
                    if document.residual_vat:
                        log.warning(
                            "%s: %d øre of the sales' VAT differ from Dinero's on the day's"
                            " lines (more per-line rounding than correction lines)",
                            document.command.posting_key,
                            document.residual_vat,
                        )
                if summary.deferred:
                    log.info(
                        "%s %s: %d member(s) wait for a later day (what they need is not"
                        " summarised yet)",
                        tenant,
                        day,
                        len(summary.deferred),
                    )
            await store.close_through(conn, tenant, day)
            log.info("%s: day %s closed (%d member(s))", tenant, day, len(take))
            return True
