"""Drafts a bookkeeper books in Dinero, noticed with one call per organisation.

In draft mode the poster creates invoices as drafts and a person books them in Dinero; the
payments and credit notes that need a booked invoice wait for that. A waiting posting costs
nothing (`execute.blocker` puts it to wait from our own records, without a call or an
attempt): per tenant one `changesSince` list of the organisation's booked invoices finds the
drafts booked since the last look, records their Number and TimeStamp on their postings
(so the payment needs no read) and wakes exactly the postings waiting for them. The look
backs off (doubling up to `draft_poll_max_seconds`) while nothing is booked.

The looks cover time without a gap (`store.watched_drafts`): a draft made before the covered
window is looked for from when it was made, once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable

import asyncpg

from bogfoer_dinero import (
    DineroClient,
    DineroRejected,
    ReauthRequired,
    RetryLater,
    TenantParked,
    UnknownOutcome,
)
from bogfoer_kit.db import Conn
from bogfoer_poster import store
from bogfoer_poster.settings import PosterSettings
from bogfoer_poster.store import Posting

log = logging.getLogger(__name__)
# Dinero's clock and ours may differ a little; a look starts this much before the last.
CLOCK_SKEW = dt.timedelta(seconds=5)
BOOKED = ["Booked", "Paid", "OverPaid", "Overdue"]
Announce = Callable[[Conn, Posting], Awaitable[None]]


class DraftWatch:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dinero: DineroClient,
        settings: PosterSettings,
        clock: Callable[[], dt.datetime],
        announce: Announce,
    ) -> None:
        self.pool = pool
        self.dinero = dinero
        self.settings = settings
        self.clock = clock
        self.announce = announce  # tells the ledger an invoice posting is booked now
        # Per tenant: the current interval between looks, and when the next is due.
        self._due: dict[str, tuple[float, dt.datetime]] = {}
        self._started = False

    def watching(self, tenant: str) -> None:
        """A posting of `tenant` waits for a draft now: look (soon) if nobody does yet."""
        self._due.setdefault(tenant, (self.settings.draft_poll_min_seconds, self.clock()))

    async def poll(self) -> bool:
        """Look for each tenant whose look is due; True when a draft was booked."""
        if not self._started:
            # After a restart: the tenants whose postings were left waiting for drafts.
            for tenant in await store.tenants_watching(self.pool):
                self.watching(tenant)
            self._started = True
        released = False
        for tenant, (interval, due) in list(self._due.items()):
            if self.clock() >= due:
                released |= await self._look(tenant, interval)
        return released

    async def _look(self, tenant: str, interval: float) -> bool:
        async with self.pool.acquire() as conn:
            watched = await store.watched_drafts(conn, tenant)
        if watched is None:
            del self._due[tenant]
            return False
        started = self.clock()
        org = self.dinero.organisation(tenant, watched.organization_id)
        try:
            booked = [
                (invoice.guid, invoice.number, invoice.timestamp)
                async for invoice in org.iter_invoices(
                    changes_since=watched.since - CLOCK_SKEW,
                    status_filter=BOOKED,
                    fields="Guid,Number,Status,TimeStamp",
                    page_size=1000,
                )
                if invoice.number is not None
            ]
        except (RetryLater, UnknownOutcome, TenantParked, ReauthRequired, DineroRejected) as exc:
            log.warning("looking for booked drafts of %s: %s", tenant, exc)
            self._due[tenant] = (interval, started + dt.timedelta(seconds=interval))
            return False
        async with self.pool.acquire() as conn, conn.transaction():
            await store.drafts_polled(conn, tenant, watched.covered_from, started)
            newly = await store.booked_drafts(conn, tenant, booked) if booked else []
            for posting in newly:
                await self.announce(conn, posting)
        if newly:
            log.info("%d draft invoice(s) of %s booked in Dinero", len(newly), tenant)
            interval = self.settings.draft_poll_min_seconds
        else:
            interval = min(self.settings.draft_poll_max_seconds, interval * 2)
        self._due[tenant] = (interval, started + dt.timedelta(seconds=interval))
        return bool(newly)
