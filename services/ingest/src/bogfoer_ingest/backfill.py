"""Backfill: a tenant's Stripe history of a date range, fetched through Stripe's list APIs
and booked through the normal pipeline.

A backfill lists, newest first and page by page, the charges captured in the range (each
with its balance transaction: the fee), the refunds made in it (each with its charge: the
order id), and the payouts that arrived in it (with their balance transactions, as for a
webhook). Each object becomes the canonical events a webhook about it would have given —
the same event ids, marked `backfill` — published to `sales.events.v1` like the Stripe
consumer's. So a backfill run twice, or a webhook and a backfill about the same charge,
book once: the mapper drops an event id it has seen, and the poster a posting key.

Jobs live in `stripe_backfills`. A runner in every ingest replica claims one (a lease,
`FOR UPDATE SKIP LOCKED`), and after each page has been published records the page's cursor,
counts and how far back it reached, renewing the lease; a replica that dies mid-page leaves
a lease that runs out, and whoever claims the job next continues after the last recorded
page (the page in hand is sent again, which the pipeline drops).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import os
import socket
import uuid
from dataclasses import dataclass
from typing import Any, get_args
from zoneinfo import ZoneInfo

import asyncpg

from bogfoer_contracts.admin import Backfill, BackfillRequest, BackfillState
from bogfoer_contracts.admin import BackfillCounts as Counts
from bogfoer_contracts.events import BalanceTransaction, InboundEvent
from bogfoer_ingest.stripe.api import (
    Listing,
    StripeApi,
    StripeBalance,
    StripePage,
    StripePermanent,
    StripeTransient,
    to_balance_transaction,
)
from bogfoer_ingest.stripe.normalise import StripeEventError, listed
from bogfoer_ingest.stripe_consumer import publish_canonical
from bogfoer_ingest.tenants import TenantDirectory
from bogfoer_kit.publish import Publisher

log = logging.getLogger(__name__)

PHASES: tuple[Listing, ...] = get_args(Listing)
DANISH = ZoneInfo("Europe/Copenhagen")
_SKIPPED_KEPT = 20  # the first unreadable objects, with why, for people to look at


def window(request: BackfillRequest, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """From midnight in Copenhagen of the first day, up to `until` or now."""
    return dt.datetime.combine(request.since, dt.time(), DANISH), request.until or now


def percent_done(
    state: str, phase: Listing, since: dt.datetime, until: dt.datetime, reached: dt.datetime | None
) -> int:
    """Each list is a third; within one, the share of the range its pages reached back to."""
    if state == "done":
        return 100
    span = (until - since).total_seconds()
    within = 0.0
    if reached is not None and span > 0:
        within = min(1.0, max(0.0, (until - reached).total_seconds() / span))
    return int(100 * (PHASES.index(phase) + within) / len(PHASES))


def _from_row(row: asyncpg.Record) -> Backfill:
    return Backfill(
        id=row["id"],
        tenant_id=row["tenant_id"],
        since=row["since"],
        until=row["until"],
        state=row["state"],
        phase=row["phase"],
        reached=row["reached"],
        percent=percent_done(
            row["state"], row["phase"], row["since"], row["until"], row["reached"]
        ),
        counts=Counts.model_validate(json.loads(row["counts"])),
        skipped=json.loads(row["skipped"]),
        problem=row["problem"],
        requested_by=row["requested_by"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        finished_at=row["finished_at"],
    )


# --- the table ----------------------------------------------------------------------------


async def create(
    pool: asyncpg.Pool, tenant_id: str, since: dt.datetime, until: dt.datetime, who: str
) -> Backfill:
    row = await pool.fetchrow(
        "INSERT INTO stripe_backfills (id, tenant_id, since, until, requested_by)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING *",
        uuid.uuid4().hex,
        tenant_id,
        since,
        until,
        who,
    )
    assert row is not None
    return _from_row(row)


async def find(pool: asyncpg.Pool, tenant_id: str, backfill_id: str) -> Backfill | None:
    row = await pool.fetchrow(
        "SELECT * FROM stripe_backfills WHERE tenant_id = $1 AND id = $2", tenant_id, backfill_id
    )
    return None if row is None else _from_row(row)


async def of_tenant(pool: asyncpg.Pool, tenant_id: str, limit: int = 50) -> list[Backfill]:
    rows = await pool.fetch(
        "SELECT * FROM stripe_backfills WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT $2",
        tenant_id,
        limit,
    )
    return [_from_row(r) for r in rows]


@dataclass
class _Claimed:
    id: str
    tenant_id: str
    since: dt.datetime
    until: dt.datetime
    phase: Listing
    cursor: str | None
    reached: dt.datetime | None
    counts: Counts
    skipped: list[str]
    retries: int  # Stripe's transient failures in a row, for the backoff


async def _claim(pool: asyncpg.Pool, owner: str, lease: dt.timedelta) -> _Claimed | None:
    row = await pool.fetchrow(
        "UPDATE stripe_backfills SET state = 'running', lease_owner = $1,"
        " lease_until = now() + $2::interval, updated_at = now()"
        " WHERE id = (SELECT id FROM stripe_backfills WHERE state IN ('queued', 'running')"
        " AND (lease_until IS NULL OR lease_until < now()) ORDER BY created_at LIMIT 1"
        " FOR UPDATE SKIP LOCKED) RETURNING *",
        owner,
        lease,
    )
    if row is None:
        return None
    return _Claimed(
        id=row["id"],
        tenant_id=row["tenant_id"],
        since=row["since"],
        until=row["until"],
        phase=row["phase"],
        cursor=row["cursor"],
        reached=row["reached"],
        counts=Counts.model_validate(json.loads(row["counts"])),
        skipped=json.loads(row["skipped"]),
        retries=row["retries"],
    )


async def _record(
    pool: asyncpg.Pool, job: _Claimed, owner: str, lease: dt.timedelta, problem: str | None
) -> bool:
    """Store the job's progress and renew its lease for `lease` (after a transient failure: the
    wait before anyone takes the job up again); False when the lease was lost."""
    done = await pool.fetchval(
        "UPDATE stripe_backfills SET phase = $3, cursor = $4, reached = $5, counts = $6::jsonb,"
        " skipped = $7::jsonb, problem = $8, lease_until = now() + $9::interval,"
        " retries = $10, updated_at = now() WHERE id = $1 AND lease_owner = $2"
        " AND state = 'running' RETURNING true",
        job.id,
        owner,
        job.phase,
        job.cursor,
        job.reached,
        job.counts.model_dump_json(),
        json.dumps(job.skipped),
        problem,
        lease,
        job.retries,
    )
    return bool(done)


async def _finish(
    pool: asyncpg.Pool, job_id: str, owner: str, state: BackfillState, problem: str | None
) -> None:
    await pool.execute(
        "UPDATE stripe_backfills SET state = $3, problem = $4, lease_owner = NULL,"
        " lease_until = NULL, updated_at = now(), finished_at = now()"
        " WHERE id = $1 AND lease_owner = $2",
        job_id,
        owner,
        state,
        problem,
    )


async def _release(pool: asyncpg.Pool, job_id: str, owner: str) -> None:
    await pool.execute(
        "UPDATE stripe_backfills SET lease_until = now(), updated_at = now()"
        " WHERE id = $1 AND lease_owner = $2 AND state = 'running'",
        job_id,
        owner,
    )


# --- the runner ---------------------------------------------------------------------------


class ExpandedBalance(StripeBalance):
    """Reads answered from what a list page carried expanded (a charge's balance
    transaction), and from Stripe's API for anything it did not."""

    def __init__(self, api: StripeApi, rows: list[dict[str, Any]]) -> None:
        self.api = api
        self.known: dict[str, BalanceTransaction] = {}
        for row in rows:
            txn = row.get("balance_transaction")
            if isinstance(txn, dict) and "id" in txn:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    # an expansion we cannot read is fetched by its id instead
                    self.known[txn["id"]] = to_balance_transaction(txn)

    async def balance_transaction(self, id: str) -> BalanceTransaction:
        return self.known.get(id) or await self.api.balance_transaction(id)

    async def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        return await self.api.payout_transactions(payout_id)

    async def charge(self, id: str) -> dict[str, Any]:
        return await self.api.charge(id)


def _time_of(listing: Listing, row: dict[str, Any]) -> dt.datetime | None:
    stamp = row.get("arrival_date" if listing == "payouts" else "created")
    return dt.datetime.fromtimestamp(stamp, dt.UTC) if isinstance(stamp, int) else None


class BackfillRunner:
    """Claims backfills and carries them out, one at a time per replica."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        tenants: TenantDirectory,
        api: StripeApi,
        publisher: Publisher,
        *,
        poll_seconds: float = 5.0,
        lease_seconds: float = 300.0,
        retry_cap_seconds: float = 60.0,
    ) -> None:
        self.pool = pool
        self.tenants = tenants
        self.api = api
        self.publisher = publisher
        self.poll_seconds = poll_seconds
        self.lease = dt.timedelta(seconds=lease_seconds)
        self.retry_cap_seconds = retry_cap_seconds
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """A backfill was just asked for: look now rather than at the next poll."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()  # before looking: a wake during the look is not lost
            try:
                job = await _claim(self.pool, self.owner, self.lease)
                if job is not None:
                    await self.carry_out(job)
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away: look again after the poll
                log.exception("backfill runner: claiming or running a job failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def carry_out(self, job: _Claimed) -> None:
        try:
            await self._carry_out(job)
        except asyncio.CancelledError:
            # Shutting down between pages: give the job back at once rather than let its
            # lease run out (it goes on after the last page recorded).
            await asyncio.shield(_release(self.pool, job.id, self.owner))
            raise

    async def _carry_out(self, job: _Claimed) -> None:
        tenant = await self.tenants.get(job.tenant_id)
        if tenant is None or tenant.stripe_api_key is None:
            await _finish(self.pool, job.id, self.owner, "failed", "the tenant has no Stripe key")
            return
        api = self.api.for_tenant(tenant.stripe_api_key)
        since, until = int(job.since.timestamp()), int(job.until.timestamp())
        while True:
            try:
                page = await api.list_page(job.phase, since, until, job.cursor)
                events = await self._events(api, job, page)
            except StripeTransient as exc:
                # Not here and now: the job waits (its lease is its backoff) while this
                # replica goes on with other tenants' backfills, and is taken up again later.
                job.retries += 1
                delay = dt.timedelta(seconds=min(self.retry_cap_seconds, 2.0**job.retries))
                log.warning("backfill %s: %s; again in %s", job.id, exc, delay)
                await _record(self.pool, job, self.owner, delay, str(exc)[:500])
                return
            except StripePermanent as exc:
                log.error("backfill %s failed: %s", job.id, exc)
                await _finish(self.pool, job.id, self.owner, "failed", str(exc)[:500])
                return
            job.retries = 0
            now = dt.datetime.now(dt.UTC)
            await publish_canonical(self.publisher, job.tenant_id, events, now, "stripe_backfill")
            job.counts.events += len(events)
            setattr(job.counts, job.phase, getattr(job.counts, job.phase) + len(page.rows))
            if page.has_more and page.last_id is not None:
                job.cursor = page.last_id
                times = [t for t in (_time_of(job.phase, r) for r in page.rows) if t is not None]
                job.reached = min(times, default=job.reached)
            elif job.phase != PHASES[-1]:
                job.phase, job.cursor, job.reached = PHASES[PHASES.index(job.phase) + 1], None, None
            else:
                await _record(self.pool, job, self.owner, self.lease, None)
                await _finish(self.pool, job.id, self.owner, "done", None)
                log.info("backfill %s of %s done: %s", job.id, job.tenant_id, job.counts)
                return
            if not await _record(self.pool, job, self.owner, self.lease, None):
                log.warning("backfill %s: lease lost; another replica carries on", job.id)
                return

    async def _events(self, api: StripeApi, job: _Claimed, page: StripePage) -> list[InboundEvent]:
        balance = ExpandedBalance(api, page.rows)
        events: list[InboundEvent] = []
        for row in page.rows:
            try:
                events += await listed(job.phase, row, balance)
            except StripeEventError as exc:
                job.counts.skipped += 1
                if len(job.skipped) < _SKIPPED_KEPT:
                    job.skipped.append(str(exc)[:300])
        return events
