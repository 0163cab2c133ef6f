"""The poster's tables. Every state change and its outbox rows commit together."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from bogfoer_contracts.postings import (
    POSTING_COMMAND,
    PostingCommand,
    PostingResult,
    amount_of,
    document_date,
    parse_command,
)
from bogfoer_contracts.topics import POSTINGS_RESULTS
from bogfoer_kit.db import Conn
from bogfoer_kit.outbox import enqueue

RUNNABLE = ("queued", "in_flight", "waiting")


@dataclass(frozen=True)
class Posting:
    posting_key: str
    tenant_id: str
    organization_id: int
    kind: str
    command: PostingCommand
    state: str
    step: str | None
    dinero_guid: str | None
    dinero_number: int | None
    dinero_timestamp: str | None
    attempts: int
    detail: str | None
    traceparent: str | None
    # The revision of the command the document in Dinero was written for (older: check it).
    dinero_revision: int = 0
    # A crash or a lost answer may have left Dinero changed without our record of it: the
    # attempt looks the ExternalReference up before writing (see `claim`).
    outcome_unknown: bool = False
    # A daily-summary member: the summary posting that books it (once its day closed).
    summary_key: str | None = None

    @classmethod
    def from_record(cls, r: asyncpg.Record) -> Posting:
        return cls(
            posting_key=r["posting_key"],
            tenant_id=r["tenant_id"],
            organization_id=r["organization_id"],
            kind=r["kind"],
            command=parse_command(r["command"]),
            state=r["state"],
            step=r["step"],
            dinero_guid=r["dinero_guid"],
            dinero_number=r["dinero_number"],
            dinero_timestamp=r["dinero_timestamp"],
            attempts=r["attempts"],
            detail=r["detail"],
            traceparent=r["traceparent"],
            dinero_revision=r["dinero_revision"],
            outcome_unknown=r["outcome_unknown"],
            summary_key=r["summary_key"],
        )


_NAMES = (
    "posting_key",
    "tenant_id",
    "organization_id",
    "kind",
    "command",
    "state",
    "step",
    "dinero_guid",
    "dinero_number",
    "dinero_timestamp",
    "attempts",
    "detail",
    "traceparent",
    "dinero_revision",
    "outcome_unknown",
    "summary_key",
)


def _columns(table: str = "") -> str:
    """A `Posting`'s columns, of `table` (an alias, where a statement names two)."""
    prefix = f"{table}." if table else ""
    return ", ".join(
        f"{prefix}command::text AS command" if name == "command" else f"{prefix}{name}"
        for name in _NAMES
    )


_COLUMNS = _columns()


def member_day(command: PostingCommand) -> dt.date | None:
    """The day a daily-summary member belongs to (None: not a member)."""
    return document_date(command) if command.summary else None


async def intake(conn: Conn, command: PostingCommand, traceparent: str | None) -> bool:
    """Record a command; False when its posting key is known and the command is no newer
    (a duplicate). A re-mapped command (higher revision) replaces the stored one.

    A daily-summary member is not posted on its own: it gathers (state `gathering`) until
    its day closes (`summaries.py`), and the ledger hears that it waits for that."""
    return (await intake_many(conn, [(command, traceparent)]))[0]


async def intake_many(
    conn: Conn, commands: Sequence[tuple[PostingCommand, str | None]]
) -> list[bool]:
    """`intake` for a tenant's commands of one poll (each with its traceparent), in order:
    the new ones in one statement, the others (duplicates, re-mapped) one by one."""
    days = [member_day(command) for command, _ in commands]
    async with conn.transaction():
        rows = await conn.fetch(
            "INSERT INTO postings (posting_key, tenant_id, organization_id, kind, command,"
            " depends_on, traceparent, revision, state, summary_day)"
            " SELECT key, tenant, org, kind, command::jsonb,"
            " ARRAY(SELECT jsonb_array_elements_text(depends::jsonb)), traceparent, revision,"
            " CASE WHEN day IS NULL THEN 'queued' ELSE 'gathering' END, day"
            " FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[],"
            " $6::text[], $7::text[], $8::int[], $9::date[]) WITH ORDINALITY"
            " AS c(key, tenant, org, kind, command, depends, traceparent, revision, day, n)"
            " ORDER BY n ON CONFLICT (posting_key) DO NOTHING RETURNING posting_key",
            [command.posting_key for command, _ in commands],
            [command.tenant_id for command, _ in commands],
            [command.organization_id for command, _ in commands],
            [command.kind for command, _ in commands],
            [POSTING_COMMAND.dump_json(command).decode() for command, _ in commands],
            [json.dumps(command.depends_on) for command, _ in commands],
            [traceparent for _, traceparent in commands],
            [command.revision for command, _ in commands],
            days,
        )
        inserted = {r["posting_key"] for r in rows}
        accepted = []
        for (command, _), day in zip(commands, days, strict=True):
            if command.posting_key in inserted:
                inserted.discard(command.posting_key)  # a second one in the poll is no news
                if day is not None:
                    await _gathering_result(conn, command, day)
                accepted.append(True)
            else:
                accepted.append(command.revision > 0 and await replace(conn, command))
        return accepted


async def _gathering_result(conn: Conn, command: PostingCommand, day: dt.date) -> None:
    result = PostingResult(
        posting_key=command.posting_key,
        tenant_id=command.tenant_id,
        kind=command.kind,
        status="waiting",
        amount=amount_of(command),
        attempts=0,
        detail=f"in the daily summary of {day.isoformat()}: booked when the day is closed",
        at=dt.datetime.now(dt.UTC),
    )
    await enqueue(conn, command.tenant_id, POSTINGS_RESULTS, result.model_dump_json())


async def replace(conn: Conn, command: PostingCommand) -> bool:
    """Put a re-mapped command in place of an older revision and queue it again.

    Whatever its state (a failed, waiting or done posting), it runs again with a look-up
    first (`attempts` > 0 makes the executor search the ExternalReference) and checks the
    document Dinero holds against the new revision: a draft is rewritten, a booked document
    is never touched, a deleted draft is created again — never a second document. While an
    attempt holds the posting's lease the command waits in `next_command` (see `release`).
    A daily-summary member is replaced while it gathers; once in a summary it is booked with
    that summary, and a re-mapped command is not taken.
    """
    payload = POSTING_COMMAND.dump_json(command).decode()
    row = await conn.fetchrow(
        "UPDATE postings SET command = $2::jsonb, revision = $3, depends_on = $4,"
        " next_command = NULL, state = CASE WHEN $5::date IS NOT NULL THEN 'gathering'"
        " WHEN attempts > 0 THEN 'in_flight' ELSE 'queued' END, summary_day = $5,"
        " outcome_unknown = outcome_unknown OR attempts > 0,"
        " next_attempt_at = now(), last_error = NULL, unexpected_failures = 0,"
        " watch_invoice = NULL, detail = 're-mapped (revision ' || $3 || ')', updated_at = now()"
        " WHERE posting_key = $1 AND revision < $3 AND summary_key IS NULL"
        " AND (lease_owner IS NULL OR lease_until < now()) RETURNING 1",
        command.posting_key,
        payload,
        command.revision,
        command.depends_on,
        member_day(command),
    )
    if row is not None:
        return True
    row = await conn.fetchrow(
        "UPDATE postings SET next_command = $2::jsonb WHERE posting_key = $1 AND revision < $3"
        " AND summary_key IS NULL"
        " AND (next_command IS NULL OR (next_command ->> 'revision')::int < $3) RETURNING 1",
        command.posting_key,
        payload,
        command.revision,
    )
    return row is not None


async def due_tenants(pool: asyncpg.Pool, limit: int = 1000) -> list[str]:
    rows = await pool.fetch(
        "SELECT DISTINCT p.tenant_id FROM postings p LEFT JOIN tenants t USING (tenant_id)"
        " WHERE p.state = ANY($1::text[]) AND p.next_attempt_at <= now()"
        " AND t.parked_reason IS NULL LIMIT $2",
        list(RUNNABLE),
        limit,
    )
    return [r["tenant_id"] for r in rows]


async def next_due(conn: Conn, tenant_id: str) -> Posting | None:
    """The tenant's next posting due now; None when there is none, or the tenant is parked."""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM postings"  # noqa: S608 - fixed column list
        " WHERE tenant_id = $1 AND state = ANY($2::text[]) AND next_attempt_at <= now()"
        " AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.tenant_id = $1"
        " AND t.parked_reason IS NOT NULL)"
        " ORDER BY seq LIMIT 1",
        tenant_id,
        list(RUNNABLE),
    )
    return None if row is None else Posting.from_record(row)


async def get(conn: Conn, posting_key: str) -> Posting | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM postings WHERE posting_key = $1",  # noqa: S608
        posting_key,
    )
    return None if row is None else Posting.from_record(row)


async def claim(conn: Conn, posting_key: str, owner: str, lease_seconds: float) -> bool | None:
    """Mark that a call to Dinero may be about to happen (committed before the call).

    None when another replica's lease on the posting is still running: its attempt may be
    in flight, so this replica must not touch the posting (it is deferred to the lease end).
    Otherwise whether the outcome of an earlier attempt is unknown (a crash or a lost answer:
    look the reference up before writing). From here until the attempt ends with every
    answer recorded (`finish`, `requeue` with `unknown=False`; a refused attempt keeps what
    it started with, having perhaps not looked yet) it counts as unknown, so a
    crash now is one too.
    """
    claimed = await take(conn, posting_key, owner, lease_seconds)
    return None if claimed is None else claimed[1]


async def take(
    conn: Conn, posting_key: str, owner: str, lease_seconds: float
) -> tuple[Posting, bool] | None:
    """`claim`, and the posting as the claim left it (one statement for both)."""
    row = await conn.fetchrow(
        "UPDATE postings p SET state = 'in_flight', attempts = p.attempts + 1,"  # noqa: S608
        " updated_at = now(), lease_owner = $2, lease_until = now() + make_interval(secs => $3),"
        " outcome_unknown = true"
        " FROM (SELECT posting_key, outcome_unknown FROM postings WHERE posting_key = $1"
        " FOR UPDATE) AS before"
        " WHERE p.posting_key = before.posting_key"
        " AND (p.lease_owner IS NULL OR p.lease_owner = $2 OR p.lease_until < now())"
        f" RETURNING before.outcome_unknown AS was_unknown, {_columns('p')}",
        posting_key,
        owner,
        lease_seconds,
    )
    if row is None:
        await conn.execute(
            "UPDATE postings SET next_attempt_at = GREATEST(next_attempt_at, lease_until)"
            " WHERE posting_key = $1",
            posting_key,
        )
        return None
    return Posting.from_record(row), bool(row["was_unknown"])


async def release(conn: Conn, posting_key: str, owner: str) -> None:
    """The attempt is over (recorded, retried later, failed or parked); a re-mapped command
    that arrived during it takes its place now."""
    waiting: str | None = await conn.fetchval(
        "UPDATE postings SET lease_owner = NULL, lease_until = NULL"
        " WHERE posting_key = $1 AND lease_owner = $2 RETURNING next_command::text",
        posting_key,
        owner,
    )
    if waiting is not None:
        await replace(conn, parse_command(waiting))


async def count_unexpected_failure(conn: Conn, posting_key: str) -> int:
    failures: int = await conn.fetchval(
        "UPDATE postings SET unexpected_failures = unexpected_failures + 1"
        " WHERE posting_key = $1 RETURNING unexpected_failures",
        posting_key,
    )
    return failures


async def progress(
    conn: Conn,
    posting_key: str,
    step: str,
    guid: str | None,
    timestamp: str | None,
    number: int | None = None,
    *,
    lease: tuple[str, float] | None = None,
) -> None:
    """What Dinero now holds, persisted before the next call so a crash resumes, not repeats.
    With `lease` (owner, seconds), the owner's lease on the posting is renewed with it."""
    owner, seconds = lease if lease is not None else (None, 0.0)
    await conn.execute(
        "UPDATE postings SET step = $2, dinero_guid = COALESCE($3, dinero_guid),"
        " dinero_revision = revision,"
        " dinero_timestamp = COALESCE($4, dinero_timestamp),"
        " dinero_number = COALESCE($5, dinero_number), updated_at = now(),"
        " lease_until = CASE WHEN lease_owner = $6 THEN now() + make_interval(secs => $7)"
        " ELSE lease_until END"
        " WHERE posting_key = $1",
        posting_key,
        step,
        guid,
        timestamp,
        number,
        owner,
        seconds,
    )


async def done(
    conn: Conn,
    posting_key: str,
    guid: str | None,
    timestamp: str | None,
    number: int | None,
    detail: str | None,
) -> list[Posting]:
    """The posting is done with what Dinero holds (one statement: its row, and the postings
    that waited for it due now). A summary posting books its members: they are done with
    it, and what waited for them is due; returns those members."""
    rows = await conn.fetch(
        "WITH me AS (UPDATE postings SET step = 'done', dinero_guid = COALESCE($2, dinero_guid),"
        " dinero_revision = revision, dinero_timestamp = COALESCE($3, dinero_timestamp),"
        " dinero_number = COALESCE($4, dinero_number), state = 'done', detail = $5,"
        " last_error = NULL, outcome_unknown = false, updated_at = now()"
        " WHERE posting_key = $1 RETURNING posting_key),"
        " woken AS (UPDATE postings SET next_attempt_at = now() WHERE $1 = ANY(depends_on)"
        " AND state = ANY($6::text[]) AND EXISTS (SELECT 1 FROM me))"
        " UPDATE postings SET state = 'done', dinero_guid = $2, dinero_number = $4,"
        " dinero_timestamp = $3, step = 'done', updated_at = now()"
        " WHERE summary_key = $1 AND state = 'gathered' RETURNING posting_key",
        posting_key,
        guid,
        timestamp,
        number,
        detail,
        list(RUNNABLE),
    )
    if not rows:
        return []
    keys = [r["posting_key"] for r in rows]
    await conn.execute(
        "UPDATE postings SET next_attempt_at = now() WHERE depends_on && $1::text[]"
        " AND state = ANY($2::text[])",
        keys,
        list(RUNNABLE),
    )
    found = [await get(conn, key) for key in keys]
    return [p for p in found if p is not None]


async def finish(
    conn: Conn,
    posting_key: str,
    state: str,
    *,
    detail: str | None = None,
    error: dict[str, object] | None = None,
    retry_at: dt.datetime | None = None,
    unknown: bool = False,
) -> None:
    """The attempt is over (`unknown`: it may have left a write whose answer we lack)."""
    await conn.execute(
        "UPDATE postings SET state = $2, detail = $3, last_error = $4::jsonb,"
        " next_attempt_at = COALESCE($5, next_attempt_at), updated_at = now(),"
        " outcome_unknown = $6 WHERE posting_key = $1",
        posting_key,
        state,
        detail,
        None if error is None else json.dumps(error),
        retry_at,
        unknown,
    )
    if state == "done":
        # Wake what waited for this posting.
        await conn.execute(
            "UPDATE postings SET next_attempt_at = now() WHERE $1 = ANY(depends_on)"
            " AND state = ANY($2::text[])",
            posting_key,
            list(RUNNABLE),
        )


async def requeue(
    conn: Conn, posting_key: str, retry_at: dt.datetime, detail: str, *, unknown: bool
) -> None:
    """Try again at `retry_at`; `unknown`: this attempt's last write may have happened."""
    await conn.execute(
        "UPDATE postings SET next_attempt_at = $2, detail = $3, updated_at = now(),"
        " outcome_unknown = $4 WHERE posting_key = $1",
        posting_key,
        retry_at,
        detail,
        unknown,
    )


async def wait(
    conn: Conn,
    posting_key: str,
    detail: str,
    watch_invoice: str | None,
    retry_at: dt.datetime,
) -> None:
    """A posting that cannot be tried yet (what it needs is not done, or is a draft): it
    waits without an attempt, and nothing about its last attempt changes."""
    await conn.execute(
        "UPDATE postings SET state = 'waiting', detail = $2, watch_invoice = $3,"
        " next_attempt_at = $4, updated_at = now() WHERE posting_key = $1",
        posting_key,
        detail,
        watch_invoice,
        retry_at,
    )


async def note_timestamp(conn: Conn, posting_key: str, timestamp: str | None) -> None:
    """A document's newest TimeStamp, from an answer about it (a payment changes its
    invoice's): the next call on it needs no read."""
    if timestamp is not None:
        await conn.execute(
            "UPDATE postings SET dinero_timestamp = $2 WHERE posting_key = $1",
            posting_key,
            timestamp,
        )


async def park_tenant(conn: Conn, tenant_id: str, reason: str) -> None:
    await conn.execute(
        "INSERT INTO tenants (tenant_id, parked_reason, parked_at) VALUES ($1, $2, now())"
        " ON CONFLICT (tenant_id) DO UPDATE SET parked_reason = $2, parked_at = now()",
        tenant_id,
        reason,
    )


async def unpark_tenant(conn: Conn, tenant_id: str) -> None:
    await conn.execute(
        "UPDATE tenants SET parked_reason = NULL, parked_at = NULL WHERE tenant_id = $1",
        tenant_id,
    )
    await conn.execute(
        "UPDATE postings SET next_attempt_at = now() WHERE tenant_id = $1"
        " AND state = ANY($2::text[])",
        tenant_id,
        list(RUNNABLE),
    )


async def parked_reason(conn: Conn, tenant_id: str) -> str | None:
    reason: str | None = await conn.fetchval(
        "SELECT parked_reason FROM tenants WHERE tenant_id = $1", tenant_id
    )
    return reason


async def redrive(conn: Conn, tenant_id: str, posting_key: str, detail: str = "re-driven") -> bool:
    """Put a failed posting back in the queue (after the tenant fixed the cause); its next
    attempt looks the ExternalReference up before any write."""
    row = await conn.fetchrow(
        "UPDATE postings SET state = 'in_flight', next_attempt_at = now(), last_error = NULL,"
        " unexpected_failures = 0, detail = $3, updated_at = now(), outcome_unknown = true"
        " WHERE tenant_id = $1 AND posting_key = $2 AND state = 'failed' RETURNING 1",
        tenant_id,
        posting_key,
        detail,
    )
    return row is not None


async def state_of(conn: Conn, tenant_id: str, posting_key: str) -> str | None:
    """The posting's state, locked until the transaction ends (None: no such posting)."""
    state: str | None = await conn.fetchval(
        "SELECT state FROM postings WHERE tenant_id = $1 AND posting_key = $2 FOR UPDATE",
        tenant_id,
        posting_key,
    )
    return state


async def try_now(conn: Conn, posting_key: str, detail: str | None) -> None:
    """A queued or waiting posting is due at once (its detail, when given, says who asked)."""
    await conn.execute(
        "UPDATE postings SET next_attempt_at = now(), detail = COALESCE($2, detail),"
        " updated_at = now() WHERE posting_key = $1 AND state = ANY($3::text[])",
        posting_key,
        detail,
        list(RUNNABLE),
    )


async def handle_action(conn: Conn, action_id: str, action: str, outcome: str) -> bool:
    """Record an operator action as carried out; False when it was before (a redelivery)."""
    row = await conn.fetchrow(
        "INSERT INTO handled_actions (action_id, action, outcome) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        action_id,
        action,
        outcome,
    )
    return row is not None


@dataclass(frozen=True)
class Watched:
    """The drafts a tenant's waiting postings watch, and where changesSince must start."""

    organization_id: int
    since: dt.datetime
    covered_from: dt.datetime


async def watched_drafts(conn: Conn, tenant_id: str) -> Watched | None:
    """None when nothing waits for a draft. `since` is the last poll — or earlier, when a
    watched draft was made before the window the polls have covered without a gap (its
    booking may lie before that window)."""
    row = await conn.fetchrow(
        "SELECT min(w.organization_id) AS org, min(i.created_at) AS made"
        " FROM postings w JOIN postings i ON i.tenant_id = w.tenant_id"
        " AND i.dinero_guid = w.watch_invoice AND i.kind = 'invoice'"
        " WHERE w.tenant_id = $1 AND w.state = 'waiting' AND w.watch_invoice IS NOT NULL",
        tenant_id,
    )
    if row is None or row["org"] is None:
        return None
    window = await conn.fetchrow(
        "SELECT drafts_polled_at, drafts_covered_from FROM tenants WHERE tenant_id = $1",
        tenant_id,
    )
    made: dt.datetime = row["made"]
    polled: dt.datetime | None = None if window is None else window["drafts_polled_at"]
    covered: dt.datetime | None = None if window is None else window["drafts_covered_from"]
    if polled is None or covered is None or made < covered:
        since = made if polled is None else min(made, polled)
        return Watched(row["org"], since, since)
    return Watched(row["org"], polled, covered)


async def drafts_polled(
    conn: Conn, tenant_id: str, covered_from: dt.datetime, at: dt.datetime
) -> None:
    await conn.execute(
        "INSERT INTO tenants (tenant_id, drafts_covered_from, drafts_polled_at)"
        " VALUES ($1, $2, $3) ON CONFLICT (tenant_id) DO UPDATE SET"
        " drafts_covered_from = $2, drafts_polled_at = $3",
        tenant_id,
        covered_from,
        at,
    )


async def booked_drafts(
    conn: Conn, tenant_id: str, booked: list[tuple[str, int, str | None]]
) -> list[Posting]:
    """Our invoices a person booked: (guid, number, timestamp) as Dinero listed them. Their
    postings (and the summary members they carry) learn the number; the postings watching
    them are due now. Returns the invoice postings that were drafts until now."""
    rows = await conn.fetch(
        "UPDATE postings p SET dinero_number = b.number, dinero_timestamp = b.stamp,"
        " updated_at = now() FROM unnest($2::text[], $3::bigint[], $4::text[])"
        " AS b(guid, number, stamp)"
        " WHERE p.tenant_id = $1 AND p.dinero_guid = b.guid AND p.dinero_number IS NULL"
        " AND p.kind = 'invoice' AND p.state IN ('done', 'gathered')"
        " RETURNING p.posting_key",
        tenant_id,
        [b[0] for b in booked],
        [b[1] for b in booked],
        [b[2] for b in booked],
    )
    await conn.execute(
        "UPDATE postings SET next_attempt_at = now() WHERE tenant_id = $1"
        " AND state = 'waiting' AND watch_invoice = ANY($2::text[])",
        tenant_id,
        [b[0] for b in booked],
    )
    found = [await get(conn, r["posting_key"]) for r in rows]
    return [p for p in found if p is not None]


async def next_config_version(conn: Conn, tenant_id: str, config_json: str) -> int:
    version: int = await conn.fetchval(
        "INSERT INTO tenants (tenant_id, config_version, config) VALUES ($1, 1, $2::jsonb)"
        " ON CONFLICT (tenant_id) DO UPDATE SET config_version = tenants.config_version + 1,"
        " config = $2::jsonb RETURNING config_version",
        tenant_id,
        config_json,
    )
    return version


async def watch(conn: Conn, posting_key: str, invoice_guid: str | None) -> None:
    await conn.execute(
        "UPDATE postings SET watch_invoice = $2 WHERE posting_key = $1", posting_key, invoice_guid
    )


# --- daily summaries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Gathering:
    """A tenant's members waiting for their day to close."""

    tenant_id: str
    first_day: dt.date
    last_arrival: dt.datetime


async def gathering(pool: asyncpg.Pool) -> list[Gathering]:
    rows = await pool.fetch(
        "SELECT tenant_id, min(summary_day) AS first_day, max(created_at) AS last_arrival"
        " FROM postings WHERE state = 'gathering' GROUP BY tenant_id"
    )
    return [Gathering(r["tenant_id"], r["first_day"], r["last_arrival"]) for r in rows]


async def lock_summaries(conn: Conn, tenant_id: str) -> None:
    """One close of a tenant's day at a time, across replicas (for the transaction)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('summary:' || $1))", tenant_id)


async def gathering_members(conn: Conn, tenant_id: str) -> list[tuple[Posting, dt.date]]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, summary_day FROM postings"  # noqa: S608 - fixed column list
        " WHERE tenant_id = $1 AND state = 'gathering' ORDER BY seq",
        tenant_id,
    )
    return [(Posting.from_record(r), r["summary_day"]) for r in rows]


async def closed_through(conn: Conn, tenant_id: str) -> dt.date | None:
    day: dt.date | None = await conn.fetchval(
        "SELECT summary_closed_through FROM tenants WHERE tenant_id = $1", tenant_id
    )
    return day


async def close_through(conn: Conn, tenant_id: str, day: dt.date) -> None:
    await conn.execute(
        "INSERT INTO tenants (tenant_id, summary_closed_through) VALUES ($1, $2)"
        " ON CONFLICT (tenant_id) DO UPDATE SET summary_closed_through ="
        " GREATEST(tenants.summary_closed_through, $2)",
        tenant_id,
        day,
    )


async def summaries_of(conn: Conn, tenant_id: str, keys: list[str]) -> dict[str, str]:
    """Members among `keys` already in a summary: member key -> summary key."""
    rows = await conn.fetch(
        "SELECT posting_key, summary_key FROM postings WHERE tenant_id = $1"
        " AND posting_key = ANY($2::text[]) AND summary_key IS NOT NULL",
        tenant_id,
        keys,
    )
    return {r["posting_key"]: r["summary_key"] for r in rows}


async def gather(conn: Conn, summary_key: str, members: list[str]) -> None:
    """The members are booked by `summary_key` now (state `gathered`)."""
    await conn.execute(
        "UPDATE postings SET state = 'gathered', summary_key = $1, updated_at = now(),"
        " detail = 'in summary ' || $1 WHERE posting_key = ANY($2::text[])"
        " AND state = 'gathering'",
        summary_key,
        members,
    )


async def tenants_watching(pool: asyncpg.Pool) -> list[str]:
    """Tenants with postings waiting for a draft invoice to be booked."""
    rows = await pool.fetch(
        "SELECT DISTINCT tenant_id FROM postings WHERE state = 'waiting'"
        " AND watch_invoice IS NOT NULL"
    )
    return [r["tenant_id"] for r in rows]
