"""Per-tenant workers: one tenant's outage or rate limit never stalls another tenant.

Commands are taken off Kafka into the `postings` table (the durable per-tenant queue) and
the offset committed at once; a supervisor runs one asyncio task per tenant with due
postings. A tenant's task holds the tenant's advisory lock (`locks.py`), so across
replicas each tenant is served by exactly one worker at a time, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import logging
import random
import uuid
from collections.abc import Callable
from typing import Literal, assert_never

import asyncpg
from opentelemetry import propagate, trace

from bogfoer_contracts.ops import OpsAction, RemapPosting, ResumeTenant, RetryPosting
from bogfoer_contracts.postings import POSTING_COMMAND, PostingError, PostingResult, amount_of
from bogfoer_contracts.topics import POSTINGS_COMMANDS, POSTINGS_RESULTS, dlq_topic
from bogfoer_dinero import (
    DineroClient,
    DineroRejected,
    NotFound,
    ReauthRequired,
    RetryLater,
    StaleTimestamp,
    TenantParked,
    UnknownOutcome,
)
from bogfoer_kit.db import Conn
from bogfoer_kit.deadletter import dlq_headers, is_transient
from bogfoer_kit.http import reason
from bogfoer_kit.outbox import OutboxRelay, enqueue
from bogfoer_poster import store
from bogfoer_poster.charts import Charts
from bogfoer_poster.drafts import DraftWatch
from bogfoer_poster.execute import Dependency, Executor, Outcome, blocker, remembered
from bogfoer_poster.locks import TenantLocks
from bogfoer_poster.metrics import ACTIONS, ATTEMPTS
from bogfoer_poster.settings import PosterSettings
from bogfoer_poster.store import Posting
from bogfoer_poster.summaries import Summaries

log = logging.getLogger(__name__)
Clock = Callable[[], dt.datetime]
ResultStatus = Literal["done", "waiting", "failed", "parked"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


MAX_UNEXPECTED_ATTEMPTS = 5


def _rejection(exc: DineroRejected) -> PostingError:
    """Dinero's refusal, with its own message, code and body, for the ledger and the DLQ."""
    return PostingError(
        category="not_found" if isinstance(exc, NotFound) else "validation",
        message=str(exc)[:2000],
        dinero_code=exc.code,
        raw=exc.raw_body,
    )


class Supervisor:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dinero: DineroClient,
        outbox: OutboxRelay,
        settings: PosterSettings,
        tracer: trace.Tracer,
        clock: Clock = _utcnow,
        locks: TenantLocks | None = None,
    ) -> None:
        self.tracer = tracer
        # Who holds a posting's claim lease: this process (a restart is a new replica).
        self.replica_id = f"poster-{uuid.uuid4().hex[:12]}"
        self.pool = pool
        self.dinero = dinero
        self.outbox = outbox
        self.settings = settings
        self.clock = clock
        self.wake = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._stopping = False
        # Each organisation's chart, to know a document's totals before writing it.
        self.charts = Charts(dinero, settings.chart_max_age_seconds)
        # Drafts a bookkeeper books: one look per tenant, releasing what waits for them.
        self.drafts = DraftWatch(pool, dinero, settings, clock, self._announce_booked)
        # Summary tenants' days, closed into a few documents.
        self.summaries = Summaries(pool, settings, clock)
        self.locks = locks or TenantLocks(lambda: asyncpg.connect(settings.database_url))
        self._running: asyncio.Task[None] | None = None
        # What readiness reports: the last round's failure, and per tenant with due
        # postings the failure its last worker ended in.
        self._round_failure: str | None = None
        self._crashed: dict[str, str] = {}

    def start(self) -> None:
        self._running = asyncio.create_task(self.run(), name="poster-supervisor")

    async def run(self) -> None:
        while not self._stopping:
            try:
                await self._round()
                self._round_failure = None
            except Exception as exc:
                # The database, the broker or Dinero failed under us: this loop is the only
                # thing that starts workers, so it must outlive any failure and look again.
                log.exception("a round of the supervisor failed; looking again")
                self._round_failure = reason(exc)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.poll_interval_seconds)

    async def _round(self) -> None:
        """Start a worker for each tenant with due postings, look for drafts a bookkeeper
        booked, and publish what is left in the outbox: a worker whose publish failed (the
        broker was down) left its results there, and its tenant may have nothing more to do."""
        due = await store.due_tenants(self.pool)
        self._crashed = {t: why for t, why in self._crashed.items() if t in due}
        for tenant in due:
            task = self._workers.get(tenant)
            if not self._stopping and (task is None or task.done()):
                self._workers[tenant] = asyncio.create_task(
                    self._serve(tenant), name=f"poster-{tenant}"
                )
        await self._poll_drafts()
        await self._close_summaries()
        await self.outbox.relay()

    async def stop(self) -> None:
        """Let each worker finish the posting in hand (its Dinero call), then return with
        every tenant's lock released and no connection of the pool held."""
        self._stopping = True
        self.wake.set()
        if self._running is not None:
            # Its round in progress may still start workers; they are waited for below.
            await asyncio.wait([self._running], timeout=self.settings.graceful_timeout_seconds)
            self._running.cancel()
            await asyncio.gather(self._running, return_exceptions=True)
        workers = [t for t in self._workers.values() if not t.done()]
        if workers:
            await asyncio.wait(workers, timeout=self.settings.graceful_timeout_seconds)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await self.outbox.settle()
        await self.locks.close()

    async def failing(self) -> str | None:
        """Why the workers cannot make progress (None: they can), for readiness."""
        if self._running is None or self._running.done():
            return "the supervisor is not running"
        if self._round_failure is not None:
            return f"the supervisor's rounds fail: {self._round_failure}"
        if self._crashed:
            tenant, why = next(iter(self._crashed.items()))
            return f"{len(self._crashed)} tenant worker(s) crashing, e.g. {tenant}: {why}"
        return None

    async def carry_out(self, action: OpsAction) -> str:
        """An operator's action from ops.actions.v1, once; returns what came of it."""
        match action:
            case RetryPosting():
                outcome = await self._retry_posting(action)
            case ResumeTenant():
                outcome = await self._resume_tenant(action)
            case RemapPosting():
                return "not_ours"  # the mapper re-derives the posting and sends its command
            case _:
                assert_never(action)
        ACTIONS.labels(action.action, outcome).inc()
        if outcome in ("retrying", "resumed"):
            await self.outbox.relay()
            self.wake.set()
        return outcome

    async def _retry_posting(self, action: RetryPosting) -> str:
        """Try a failed, waiting or queued posting now; every retry after the first attempt
        starts with a look-up of its ExternalReference, so nothing is written twice."""
        detail = f"retry requested by {action.requested_by}"[:500]
        async with self.pool.acquire() as conn, conn.transaction():
            state = await store.state_of(conn, action.tenant_id, action.posting_key)
            outcome = (
                "retrying" if state == "failed" or state in store.RUNNABLE else "nothing_to_retry"
            )
            if not await store.handle_action(conn, action.action_id, action.action, outcome):
                return "duplicate"
            if state == "failed":
                await store.redrive(conn, action.tenant_id, action.posting_key, detail)
            elif state in store.RUNNABLE:
                await store.try_now(
                    conn, action.posting_key, detail if state == "waiting" else None
                )
            if state in ("failed", "waiting"):
                posting = await store.get(conn, action.posting_key)
                assert posting is not None
                await self._publish_result(
                    conn, posting, "waiting", posting.attempts, detail=detail
                )
        return outcome

    async def _resume_tenant(self, action: ResumeTenant) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            parked = await store.parked_reason(conn, action.tenant_id)
            outcome = "resumed" if parked else "not_parked"
            if not await store.handle_action(conn, action.action_id, action.action, outcome):
                return "duplicate"
            await store.unpark_tenant(conn, action.tenant_id)
        log.info("tenant %s resumed by %s", action.tenant_id, action.requested_by)
        return outcome

    async def _serve(self, tenant: str) -> None:
        generation: int | None = None
        try:
            generation = await self.locks.take(tenant)
            if generation is None:
                return  # another replica serves this tenant now
            while not self._stopping and self.locks.holds(generation):
                async with self.pool.acquire() as conn:
                    posting = await store.next_due(conn, tenant)  # None when parked
                if posting is None:
                    break
                await self._post(posting)
                # Its result is in the outbox: published by one relay for all tenants' workers,
                # instead of each worker waiting its turn at the relay after every posting.
                self.outbox.soon()
            self._crashed.pop(tenant, None)
        except Exception as exc:
            log.exception("worker for tenant %s stopped; the supervisor restarts it", tenant)
            self._crashed[tenant] = reason(exc)
            await asyncio.sleep(1)
        finally:
            if generation is not None:
                with contextlib.suppress(Exception):  # its connection is gone: so is the lock
                    await self.locks.release(tenant, generation)

    async def _post(self, posting: Posting) -> None:
        """One attempt at one posting, as a span in the trace its command arrived in.

        A posting that cannot be tried yet (what it needs is not done, or a draft) waits
        without an attempt and without a call."""
        # Each posting it depends on is read once for the attempt, not by each step asking.
        dependency = remembered(self._dependency)
        blocked = await blocker(posting, dependency)
        if blocked is not None:
            await self._wait(posting, blocked)
            return
        parent = propagate.extract({"traceparent": posting.traceparent or ""})
        with self.tracer.start_as_current_span(
            f"post {posting.kind}",
            context=parent,
            kind=trace.SpanKind.CLIENT,
            attributes={
                "bogfoer.tenant_id": posting.tenant_id,
                "bogfoer.posting_key": posting.posting_key,
                "bogfoer.attempt": posting.attempts + 1,
            },
        ):
            await self._attempt(posting, dependency)

    async def _attempt(self, posting: Posting, dependency: Dependency) -> None:
        lease = self.settings.claim_lease_seconds
        async with self.pool.acquire() as conn:
            claimed = await store.take(conn, posting.posting_key, self.replica_id, lease)
        if claimed is None:
            log.warning("%s is leased by another replica; deferred", posting.posting_key)
            return
        try:
            await self._carry_out(posting, *claimed, dependency)
        finally:
            async with self.pool.acquire() as conn:
                await store.release(conn, posting.posting_key, self.replica_id)

    async def _carry_out(
        self, before: Posting, claimed: Posting, unknown: bool, dependency: Dependency
    ) -> None:
        """`before`: the posting as the last attempt left it (its state and detail);
        `claimed`: as this attempt's claim left it; `unknown`: an earlier attempt may have
        changed Dinero without our record of it."""
        attempts = before.attempts + 1
        posting = dataclasses.replace(claimed, outcome_unknown=unknown)
        org = self.dinero.organisation(posting.tenant_id, posting.organization_id)
        executor = Executor(dependency, self._note_timestamp, self.charts)
        lease = (self.replica_id, self.settings.claim_lease_seconds)

        async def progress(
            step: str, guid: str | None, timestamp: str | None, number: int | None = None
        ) -> None:
            async with self.pool.acquire() as conn:
                await store.progress(
                    conn, posting.posting_key, step, guid, timestamp, number, lease=lease
                )

        try:
            outcome = await executor.run(posting, org, progress)
        except (RetryLater, StaleTimestamp) as exc:
            # Refused: this attempt wrote nothing it did not record. What an earlier attempt
            # left unknown stays unknown, though: this one may have been refused the very
            # look-up that was to settle it (a 5xx on the search), and the next attempt
            # must look again before it writes.
            await self._retry(posting, attempts, exc, unknown=unknown)
            return
        except UnknownOutcome as exc:
            await self._retry(posting, attempts, exc, unknown=True)
            return
        except (TenantParked, ReauthRequired) as exc:
            await self._park(posting, exc)
            return
        except DineroRejected as exc:
            await self._fail(posting, attempts, _rejection(exc))
            return
        except Exception as exc:
            if is_transient(exc):
                # PostgreSQL (or the network) went away under the attempt: an outage, not a
                # fault of this posting, so it does not count towards failing it however
                # often the database restarts. Whether Dinero was written is unknown.
                await self._retry(posting, attempts, exc, unknown=True)
                return
            # A bug meeting this posting, or a dependency failing in a way we did not name:
            # retried with backoff, then failed (and dead-lettered) so it cannot spin.
            async with self.pool.acquire() as conn:
                failures = await store.count_unexpected_failure(conn, posting.posting_key)
            log.exception("%s: unexpected failure %d", posting.posting_key, failures)
            if failures >= MAX_UNEXPECTED_ATTEMPTS:
                error = PostingError(category="internal", message=f"{exc!r}"[:2000])
                await self._fail(posting, attempts, error)
            else:
                await self._retry(posting, attempts, exc, unknown=True)
            return
        await self._record(posting, attempts, outcome, before)

    async def _dependency(self, key: str) -> Posting | None:
        async with self.pool.acquire() as conn:
            return await store.get(conn, key)

    async def _note_timestamp(self, key: str, timestamp: str | None) -> None:
        async with self.pool.acquire() as conn:
            await store.note_timestamp(conn, key, timestamp)

    async def _wait(self, posting: Posting, outcome: Outcome) -> None:
        """`posting` cannot be tried yet: it waits, told again only when what it waits for
        changes; a draft's waiters are woken by the draft watch, the others by the posting
        they wait for being done (or, should that never come, after an hour's backstop)."""
        backstop = (
            self.settings.draft_poll_max_seconds
            if outcome.watch_invoice
            else max(60.0, self.settings.retry_cap_seconds)
        )
        async with self.pool.acquire() as conn, conn.transaction():
            await store.wait(
                conn,
                posting.posting_key,
                outcome.detail or "waiting",
                outcome.watch_invoice,
                self.clock() + dt.timedelta(seconds=backstop),
            )
            if posting.state != "waiting" or posting.detail != outcome.detail:
                await self._publish_result(
                    conn, posting, "waiting", posting.attempts, detail=outcome.detail
                )
        if outcome.watch_invoice:
            self.drafts.watching(posting.tenant_id)

    async def _announce_booked(self, conn: Conn, posting: Posting) -> None:
        """A draft invoice a person booked: the ledger hears its Number."""
        await self._publish_result(
            conn,
            posting,
            "done",
            posting.attempts,
            guid=posting.dinero_guid,
            number=posting.dinero_number,
            timestamp=posting.dinero_timestamp,
            detail="booked in Dinero by a person",
        )

    async def _record(
        self, posting: Posting, attempts: int, outcome: Outcome, before: Posting
    ) -> None:
        ATTEMPTS.labels(posting.kind, outcome.state).inc()
        async with self.pool.acquire() as conn, conn.transaction():
            if outcome.state == "done":
                # A summary posting books its members: they are done with it.
                for member in await store.done(
                    conn,
                    posting.posting_key,
                    outcome.guid,
                    outcome.timestamp,
                    outcome.number,
                    outcome.detail,
                ):
                    await self._publish_result(
                        conn,
                        member,
                        "done",
                        member.attempts,
                        guid=outcome.guid,
                        number=outcome.number,
                        timestamp=outcome.timestamp,
                        detail=f"booked in summary {posting.posting_key}",
                    )
            else:
                retry_at = self.clock() + dt.timedelta(
                    seconds=self.settings.draft_poll_max_seconds
                    if outcome.watch_invoice
                    else max(60.0, self.settings.retry_cap_seconds)
                )
                await store.finish(
                    conn, posting.posting_key, "waiting", detail=outcome.detail, retry_at=retry_at
                )
                await store.watch(conn, posting.posting_key, outcome.watch_invoice)
                if outcome.watch_invoice:
                    self.drafts.watching(posting.tenant_id)
                if before.state == "waiting" and before.detail == outcome.detail:
                    return  # still waiting for the same thing: nothing new to tell
            await self._publish_result(
                conn,
                posting,
                outcome.state,
                attempts,
                guid=outcome.guid,
                number=outcome.number,
                timestamp=outcome.timestamp,
                detail=outcome.detail,
            )

    async def _publish_result(
        self,
        conn: Conn,
        posting: Posting,
        status: ResultStatus,
        attempts: int,
        *,
        guid: str | None = None,
        number: int | None = None,
        timestamp: str | None = None,
        detail: str | None = None,
        error: PostingError | None = None,
    ) -> None:
        payload = PostingResult(
            posting_key=posting.posting_key,
            tenant_id=posting.tenant_id,
            kind=posting.command.kind,
            status=status,
            dinero_guid=guid,
            dinero_number=number,
            dinero_timestamp=timestamp,
            amount=amount_of(posting.command),
            attempts=attempts,
            detail=detail,
            error=error,
            at=self.clock(),
        ).model_dump_json()
        await enqueue(conn, posting.tenant_id, POSTINGS_RESULTS, payload)

    async def _retry(
        self, posting: Posting, attempts: int, exc: Exception, *, unknown: bool
    ) -> None:
        ATTEMPTS.labels(posting.kind, "retry").inc()
        delay = min(
            self.settings.retry_cap_seconds,
            self.settings.retry_base_seconds * 2 ** min(attempts, 16),
        )
        delay = random.uniform(delay / 2, delay)
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, int | float):
            delay = max(delay, float(retry_after))
        if isinstance(exc, StaleTimestamp):
            delay = 0.0
        log.warning("%s: %s; retry in %.1fs", posting.posting_key, type(exc).__name__, delay)
        detail = f"retrying after {type(exc).__name__}: {exc}"[:500]
        async with self.pool.acquire() as conn, conn.transaction():
            await store.requeue(
                conn,
                posting.posting_key,
                self.clock() + dt.timedelta(seconds=delay),
                detail,
                unknown=unknown,
            )
            if attempts == 1 and not isinstance(exc, StaleTimestamp):
                # Ops see on the first failure that it is retrying, and why; not on each retry.
                await self._publish_result(conn, posting, "waiting", attempts, detail=detail)

    async def _park(self, posting: Posting, exc: Exception) -> None:
        ATTEMPTS.labels(posting.kind, "parked").inc()
        reason = f"{type(exc).__name__}: {exc}"[:500]
        log.error("parking tenant %s: %s", posting.tenant_id, reason)
        async with self.pool.acquire() as conn, conn.transaction():
            await store.park_tenant(conn, posting.tenant_id, reason)
            await self._publish_result(
                conn,
                posting,
                "parked",
                posting.attempts + 1,
                detail=reason,
                error=PostingError(category="parked", message=reason),
            )

    async def _fail(self, posting: Posting, attempts: int, error: PostingError) -> None:
        ATTEMPTS.labels(posting.kind, "failed").inc()
        message = error.message
        log.error("%s failed: %s", posting.posting_key, message)
        async with self.pool.acquire() as conn, conn.transaction():
            await store.finish(
                conn,
                posting.posting_key,
                "failed",
                detail=message,
                error=error.model_dump(),
                # A bug may have struck between a write and its record: look up first.
                unknown=error.category == "internal",
            )
            await self._publish_result(
                conn, posting, "failed", attempts, detail=message, error=error
            )
            await enqueue(
                conn,
                posting.tenant_id,
                dlq_topic(POSTINGS_COMMANDS),
                POSTING_COMMAND.dump_json(posting.command).decode(),
                dlq_headers(
                    error.category,
                    message,
                    POSTINGS_COMMANDS,
                    **{"x-posting-key": posting.posting_key},
                ),
            )

    async def _poll_drafts(self) -> None:
        """Notice drafts a bookkeeper booked (one changesSince list per tenant, `drafts.py`)."""
        if await self.drafts.poll():
            self.wake.set()

    async def _close_summaries(self) -> None:
        """Close the summary tenants' days that are over (`summaries.py`)."""
        if await self.summaries.close_due():
            self.wake.set()
