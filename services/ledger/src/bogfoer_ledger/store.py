"""Writes to the ledger's tables, each Kafka record exactly once.

Every apply_* runs in one transaction with the tracking rows of its Kafka records
(topic, partition, offset): a redelivered record finds its row and changes nothing. A
batch of commands or results is applied in a few statements: the postings it names are
loaded, the records folded into them in order (`rules.py`), and what changed written.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
from collections.abc import Iterable, Sequence
from typing import NamedTuple

import asyncpg

from bogfoer_contracts.ops import OpsAction, RemapPosting, ResumeTenant, RetryPosting
from bogfoer_contracts.postings import PostingCommand, PostingResult
from bogfoer_kit.db import Conn, json_documents, json_texts, until_lost
from bogfoer_ledger import copy_rows, rules
from bogfoer_ledger.rules import Change as Change
from bogfoer_ledger.rules import Command as Command
from bogfoer_ledger.rules import Posting, Transition
from bogfoer_ledger.rules import RecordRef as RecordRef


def _by_partition(refs: list[RecordRef]) -> dict[tuple[str, int], list[int]]:
    """The records' positions in `refs` per (topic, partition), in order. A tenant batch is
    one partition's (`bogfoer_kit.consumer`): its statements pass the topic and the
    partition once and only the offsets as an array (see `bogfoer_kit.db.json_texts`)."""
    out: dict[tuple[str, int], list[int]] = {}
    for n, ref in enumerate(refs):
        out.setdefault((ref.topic, ref.partition), []).append(n)
    return out


_CLAIM = (
    'INSERT INTO ledger_applied (topic, partition, "offset")'
    " SELECT $1::text, $2::int, o FROM unnest($3::bigint[]) AS o"
    ' ON CONFLICT DO NOTHING RETURNING "offset"'
)


async def claim(conn: Conn, refs: list[RecordRef]) -> set[RecordRef]:
    """Track the records; the ones new (not applied before). The ledger's commands are
    claimed before they are parsed: a record that then proves invalid stays tracked, and
    is dead-lettered whenever it comes."""
    fresh: set[RecordRef] = set()
    for (topic, partition), positions in _by_partition(refs).items():
        rows = await conn.fetch(
            _CLAIM,
            topic,
            partition,
            [refs[n].offset for n in positions],
        )
        if len(rows) == len(positions):  # all new: no redelivery among them
            fresh.update(refs[n] for n in positions)
        else:
            new = {r[0] for r in rows}
            fresh.update(refs[n] for n in positions if refs[n].offset in new)
    return fresh


# The partition's lock, shared (the rollout's check of an older ledger's claims takes it
# exclusive: migration 007), and the tenant's (`_lock_tenants`), taken before the runs are
# read: a statement sees what was committed when it started, so the lock is a statement of
# its own.
_LOCK_RUN = (
    "SELECT pg_advisory_xact_lock_shared(hashtext('ledger-applied:' || $1::text || ':'"
    " || $2::int)), pg_advisory_xact_lock(hashtext('ledger-tenant:' || $3::text))"
)

# The tenant's runs and the records tracked alone (before migration 007) within the batch's
# span; the batch tracked as one run when there are none (every batch but a redelivered one).
_CLAIM_RUN = (
    "WITH seen AS (SELECT first_offset, last_offset FROM ledger_applied_runs"
    " WHERE topic = $1::text AND partition = $2::int AND tenant = $3::text"
    " AND last_offset >= $4::bigint AND first_offset <= $5::bigint"
    ' UNION ALL SELECT "offset", "offset" FROM ledger_applied'
    ' WHERE topic = $1::text AND partition = $2::int AND "offset" BETWEEN $4 AND $5),'
    " tracked AS (INSERT INTO ledger_applied_runs (topic, partition, tenant, first_offset,"
    " last_offset) SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT FROM seen))"
    " SELECT first_offset, last_offset FROM seen"
)

_TRACK_RUNS = (
    "INSERT INTO ledger_applied_runs (topic, partition, tenant, first_offset, last_offset)"
    " SELECT $1::text, $2::int, $3::text, f, l FROM unnest($4::bigint[], $5::bigint[]) AS r(f, l)"
)


def _outside(spans: list[tuple[int, int]], ref: RecordRef) -> bool:
    """Whether the record is in none of these spans (first, last offset) tracked before."""
    return not any(first <= ref.offset <= last for first, last in spans)


async def claim_run(conn: Conn, tenant: str, refs: list[RecordRef]) -> set[RecordRef]:
    """`claim` for a tenant batch (`bogfoer_kit.consumer`): `refs` are `tenant`'s (the
    record key's) records of a partition in offset order with none of that tenant's left out
    between them, and they are tracked as one row, their run (migration 007), not a row
    each. A record in a run of the tenant's, or tracked alone (`claim`), was applied
    before. The fresh records of a redelivered batch are tracked as runs of their own, the
    records between them applied before left out (each record in one run). A record that
    failed alone and was dead-lettered is in no run: it is handled again when it comes
    again, as a record tracked a row each was (a watermark, the highest offset applied,
    would hold it as applied once a later record of the tenant's was). Takes the tenant's
    lock (`_lock_tenants`) first: a batch applied twice at once (a member that lost its
    partition still at work) waits for the other and finds its run."""
    fresh: set[RecordRef] = set()
    for (topic, partition), positions in _by_partition(refs).items():
        mine = sorted((refs[n] for n in positions), key=lambda ref: ref.offset)
        await conn.execute(_LOCK_RUN, topic, partition, tenant)
        first, last = mine[0].offset, mine[-1].offset
        seen = await conn.fetch(_CLAIM_RUN, topic, partition, tenant, first, last)
        if not seen:  # tracked as one run
            fresh.update(mine)
            continue
        new = functools.partial(_outside, [(r[0], r[1]) for r in seen])
        # Each stretch of consecutive new records, a run of its own.
        runs = [list(run) for is_new, run in itertools.groupby(mine, key=new) if is_new]
        if runs:
            await conn.execute(
                _TRACK_RUNS,
                topic,
                partition,
                tenant,
                [run[0].offset for run in runs],
                [run[-1].offset for run in runs],
            )
            fresh.update(ref for run in runs for ref in run)
    return fresh


_LOCK_TENANTS = (
    "SELECT pg_advisory_xact_lock(hashtext('ledger-tenant:' || tenant))"
    " FROM json_array_elements_text($1::json) AS tenant ORDER BY tenant"
)


async def _lock_tenants(conn: Conn, tenants: Iterable[str]) -> None:
    """A posting's command and its results arrive on two topics, applied by two consumers:
    after a restart both catch up at once, and without this both could find no row for a
    new posting and insert it (a unique violation, retried). One lock per tenant, not per
    posting: a batch is one tenant's (its record key), and a lock per posting was a
    thousand locks a batch — a fifth of the batch's round trips' time, PostgreSQL's lock
    table filling with them. Commands and results of one tenant wait for each other (a
    tenant batch's transaction is short); another tenant's do not. Held to the commit;
    taken in one order, so two batches never wait for each other in a circle. A posting
    named under another tenant's id (no producer does) races as before: its unique
    violation is retried."""
    await conn.execute(_LOCK_TENANTS, json_texts(set(tenants)))


_LOAD = (
    "SELECT posting_key, tenant_id, kind, state,"
    " coalesce((command ->> 'revision')::int, 0) AS revision, amount_minor, currency,"
    " trace_id, dinero_guid, dinero_number, attempts, last_error::text AS last_error,"
    " detail, updated_at, last_result_at"
    " FROM postings WHERE posting_key = ANY(ARRAY(SELECT json_array_elements_text($1::json)))"
    " ORDER BY posting_key FOR UPDATE"
)


async def _load(conn: Conn, keys: Iterable[str]) -> dict[str, Posting]:
    rows = await conn.fetch(_LOAD, json_texts(set(keys)))
    return {
        r["posting_key"]: Posting(
            posting_key=r["posting_key"],
            tenant_id=r["tenant_id"],
            kind=r["kind"],
            state=r["state"],
            revision=r["revision"],
            amount_minor=r["amount_minor"],
            currency=r["currency"],
            trace_id=r["trace_id"],
            dinero_guid=r["dinero_guid"],
            dinero_number=r["dinero_number"],
            attempts=r["attempts"],
            last_error=r["last_error"],
            detail=r["detail"],
            updated_at=r["updated_at"],
            last_result_at=r["last_result_at"],
        )
        for r in rows
    }


class Copy(NamedTuple):
    """Rows for a table, copied in (`COPY ... FROM STDIN`, binary), in order: `data` is
    the copy's rows in PostgreSQL's binary format (`copy_rows`)."""

    table: str
    columns: tuple[str, ...]
    data: bytes


# One statement and its arguments, or a copy, built before it is sent (see
# `apply_commands`).
Statement = tuple[str, tuple[object, ...]] | Copy


_TRANSITIONS = (
    "INSERT INTO posting_transitions (posting_key, from_state, to_state, detail, error,"
    ' topic, partition, "offset", at)'
    " SELECT key, from_state, to_state, detail, error::jsonb, topic, partition, o, at"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
    " $7::int[], $8::bigint[], $9::timestamptz[]) WITH ORDINALITY"
    " AS t(key, from_state, to_state, detail, error, topic, partition, o, at, n) ORDER BY n"
)


def _transitions_statement(lines: list[Transition]) -> list[Statement]:
    if not lines:
        return []
    args = (
        [t.posting_key for t in lines],
        [t.from_state for t in lines],
        [t.to_state for t in lines],
        [t.detail for t in lines],
        [t.error for t in lines],
        [t.ref.topic for t in lines],
        [t.ref.partition for t in lines],
        [t.ref.offset for t in lines],
        [t.at for t in lines],
    )
    return [(_TRANSITIONS, args)]


async def _execute_all(conn: Conn, statements: Sequence[Statement]) -> None:
    for statement in statements:
        if isinstance(statement, Copy):
            await _copy(conn, statement)
        else:
            sql, args = statement
            await conn.execute(sql, *args)


async def _copy(conn: Conn, copy: Copy) -> None:
    """The copy's rows (`copy_rows`' binary rows) sent, ending when the connection is lost
    (`bogfoer_kit.db.until_lost`)."""
    # A memoryview, which asyncpg sends as it is (an object with the buffer protocol, as its
    # documentation says; its type stub leaves that out): it takes `bytes` for a file's path
    # (`os.fspath`) and opens it.
    source = memoryview(copy.data)
    await until_lost(
        conn,
        copy.table,
        conn.copy_to_table(
            copy.table,
            source=source,  # type: ignore[arg-type]
            columns=copy.columns,
            format="binary",
        ),
    )


async def _write_transitions(conn: Conn, lines: list[Transition]) -> None:
    await _execute_all(conn, _transitions_statement(lines))


def _column(postings: list[Posting], name: str) -> list[object]:
    return [getattr(p, name) for p in postings]


_INSERT_COMMANDED = (
    "WITH p AS (SELECT c::jsonb AS c, tenant, kind, amount, currency, created, trace,"
    " o, n FROM ROWS FROM (json_array_elements($3::json),"
    " json_array_elements_text($4::json), json_array_elements_text($5::json),"
    " unnest($6::bigint[]), json_array_elements_text($7::json),"
    " unnest($8::timestamptz[]), json_array_elements_text($9::json),"
    " unnest($10::bigint[])) WITH ORDINALITY"
    " AS p(c, tenant, kind, amount, currency, created, trace, o, n)),"
    " posted AS (INSERT INTO postings (posting_key, tenant_id, kind, state,"
    " amount_minor, currency, depends_on, command, created_at, updated_at, trace_id)"
    " SELECT c ->> 'posting_key', tenant, kind, 'pending', amount, currency,"
    " ARRAY(SELECT jsonb_array_elements_text(c -> 'depends_on')), c, created, created,"
    " trace FROM p ORDER BY n)"
    " INSERT INTO posting_transitions (posting_key, from_state, to_state, topic,"
    ' partition, "offset", at)'
    " SELECT c ->> 'posting_key', NULL, 'pending', $1::text, $2::int, o, created"
    " FROM p ORDER BY n"
)


# New postings of a part from which they are copied in (`_copy_commanded`), not inserted.
COPY_FROM = 64


def _insert_commanded(new: list[Posting], created: dict[str, Transition]) -> list[Statement]:
    """The postings a batch of commands creates, each with its first history line, in one
    statement per partition. Only what the postings' commands do not say is passed as
    arrays (see `_by_partition`): PostgreSQL reads the key and the dependencies from the
    command it stores. A command creates its posting `pending` at the command's time, and
    the batch's later commands for it (`rules.apply_command`) keep it `pending`. From
    `COPY_FROM` postings on, the same rows copied in (`_copy_commanded`)."""
    groups: dict[tuple[str, int], list[Posting]] = {}
    for posting in new:
        ref = created[posting.posting_key].ref
        groups.setdefault((ref.topic, ref.partition), []).append(posting)
    if len(new) >= COPY_FROM:
        return _copy_commanded([p for postings in groups.values() for p in postings], created)
    return [
        (
            _INSERT_COMMANDED,
            (
                topic,
                partition,
                json_documents(p.command or "null" for p in postings),
                json_texts(p.tenant_id for p in postings),
                json_texts(p.kind for p in postings),
                _column(postings, "amount_minor"),
                json_texts(p.currency for p in postings),
                _column(postings, "created_at"),
                json_texts(p.trace_id for p in postings),
                [created[p.posting_key].ref.offset for p in postings],
            ),
        )
        for (topic, partition), postings in groups.items()
    ]


def _copy_commanded(new: list[Posting], created: dict[str, Transition]) -> list[Statement]:
    """`_insert_commanded`'s rows, copied in: the postings, then their first lines, in the
    same order. PostgreSQL's time a command recorded, back to back with the statement
    (load 3-4, a median of 7 batches of 20,000): 17.9 → 12.9 µs and 20.6 → 16.8 µs. A
    statement over arrays reads the arrays (the commands' JSON three times: the argument,
    its elements, each as `jsonb`) and runs its expressions for each row; a copy reads each
    row's fields as they come, the command's JSON once. For a few postings the statement:
    a copy is a round trip more, twice. The rows encoded by `copy_rows`, not by asyncpg's
    codec per value (`copy_records_to_table`): the process's instructions a command
    in-process 157 k -> 138 k (callgrind), PostgreSQL reading the same rows."""
    postings, lines = copy_rows.commanded(new, created)
    return [
        Copy("postings", copy_rows.POSTINGS_COLUMNS, postings),
        Copy("posting_transitions", copy_rows.LINES_COLUMNS, lines),
    ]


_UPDATE_COMMANDED = (
    "UPDATE postings SET amount_minor = p.amount, currency = p.currency,"
    " depends_on = ARRAY(SELECT jsonb_array_elements_text(p.depends::jsonb)),"
    " command = p.command::jsonb, trace_id = p.trace, state = p.state"
    " FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],"
    " $6::text[], $7::text[]) AS p(key, amount, currency, depends, command, trace, state)"
    " WHERE postings.posting_key = p.key"
)


def _update_commanded(old: list[Posting]) -> list[Statement]:
    """Postings stored before that commands changed."""
    if not old:
        return []
    args = (
        _column(old, "posting_key"),
        _column(old, "amount_minor"),
        _column(old, "currency"),
        [json.dumps(p.depends_on or []) for p in old],
        _column(old, "command"),
        _column(old, "trace_id"),
        _column(old, "state"),
    )
    return [(_UPDATE_COMMANDED, args)]


def _fold_commands(
    postings: dict[str, Posting],
    part: list[tuple[RecordRef, Command, str | None]],
    changes: list[tuple[Command, Change]],
) -> list[Statement]:
    """Fold a part of a batch's commands into `postings` (`rules.apply_command`), in order;
    the statements that write what it changed, their arguments taken now. The postings it
    creates count as stored from here on: a later part's command for one updates it."""
    changed: dict[str, Posting] = {}
    created: dict[str, Transition] = {}  # the line of each posting the part creates
    lines: list[Transition] = []  # the others, in order
    for ref, command, trace_id in part:
        found = postings.get(command.posting_key)
        posting, applied = rules.apply_command(found, command, ref, trace_id)
        postings[command.posting_key] = posting
        if applied.changed:
            changed[command.posting_key] = posting
        if applied.transition is not None and found is None:
            created[command.posting_key] = applied.transition
        elif applied.transition is not None:
            lines.append(applied.transition)
        if applied.change is not None:
            changes.append((command, applied.change))
    new = [p for p in changed.values() if p.new]
    old = [p for p in changed.values() if not p.new]
    statements = _insert_commanded(new, created)
    for posting in new:
        posting.new = False
    return statements + _update_commanded(old) + _transitions_statement(lines)


# Commands folded while PostgreSQL writes the part of the batch before them. Folding a
# command (the arguments built) and writing it take the process and PostgreSQL about as
# long each; one after the other, each waited for the other. A few parts a batch (a poll
# brings ~1,400 commands a partition): each part adds a round trip.
WRITE_PART = 500


async def apply_commands(
    conn: Conn,
    commands: Sequence[tuple[RecordRef, Command | PostingCommand, str | None]],
    part: int | None = None,
    *,
    claimed: set[RecordRef] | None = None,
) -> list[tuple[Command, Change]]:
    """Record commands (record, command, trace id), in order, in the caller's transaction;
    the state changes they made. A command is a `rules.Command` (`rules.parse` of a record)
    or a model (`rules.command_of`). A record applied before changes nothing. `claimed`: the
    records new, tracked already in this transaction (`claim`); else they are tracked here.
    Written `part` commands at a time, each part's statements in flight while the next part
    folds (`WRITE_PART` unless given, read when called): the rows are those of one part for
    the whole batch (a posting's history in its order)."""
    size = WRITE_PART if part is None else part
    if claimed is None:
        claimed = await claim(conn, [ref for ref, _, _ in commands])
    todo = [
        (ref, c if isinstance(c, Command) else rules.command_of(c), trace_id)
        for ref, c, trace_id in commands
        if ref in claimed
    ]
    if not todo:
        return []
    await _lock_tenants(conn, (c.tenant_id for _, c, _ in todo))
    postings = await _load(conn, (c.posting_key for _, c, _ in todo))
    changes: list[tuple[Command, Change]] = []
    writing: asyncio.Task[None] | None = None
    try:
        for start in range(0, len(todo), size):
            statements = _fold_commands(postings, todo[start : start + size], changes)
            if writing is not None:
                await writing
            writing = asyncio.ensure_future(_execute_all(conn, statements))
            await asyncio.sleep(0)  # its first statement sent before the next part folds
        if writing is not None:
            await writing
    except BaseException:
        # The connection must be free for the caller's rollback.
        if writing is not None:
            await asyncio.gather(writing, return_exceptions=True)
        # The failed part's task holds its exception, whose traceback holds this frame: let
        # go of it, or the batch's commands and postings wait for the collector (a cycle).
        writing = None
        raise
    return changes


# Each statement the command handler runs, with arguments that touch no row (`warm`).
# (A copy prepares nothing: its rows come encoded, `copy_rows`.)
_WARMING: tuple[tuple[str, tuple[object, ...]], ...] = (
    (_CLAIM, ("", 0, [])),
    (_LOCK_RUN, ("", 0, "")),
    (_CLAIM_RUN, ("", 0, "", 0, -1)),  # tracks nothing: the transaction is rolled back
    (_TRACK_RUNS, ("", 0, "", [], [])),
    (_LOCK_TENANTS, ("[]",)),
    (_LOAD, ("[]",)),
    (_INSERT_COMMANDED, ("", 0, "[]", "[]", "[]", [], "[]", [], "[]", [])),
    (_UPDATE_COMMANDED, ([], [], [], [], [], [], [])),
    (_TRANSITIONS, ([], [], [], [], [], [], [], [], [])),
)
WARMED = tuple(sql for sql, _ in _WARMING)


async def warm(pool: asyncpg.Pool, connections: int) -> None:
    """Open `connections` of the pool's connections (held at once: each is one of its own)
    and prepare on each the command handler's statements, in a transaction rolled back
    (nothing is written). asyncpg prepares a statement on a connection's first use of it
    and looks up the array types it binds that it does not know (`bigint[]`,
    `timestamptz[]`): done by the first polls, that was a connection opened, six
    statements prepared and two type lookups while the poll waited, on each connection (the
    first polls of a started ledger: twice the CPU of the others). Called before the
    consumers start, so the service is ready with its connections warm. A connection the
    pool opens later (more tenant batches at once than warmed, or after its idle lifetime)
    prepares them at its first use, as before."""
    held: list[asyncpg.pool.PoolConnectionProxy[asyncpg.Record]] = []
    try:
        # No more than the pool has: waiting for a connection nobody releases would hang
        # the start until its deadline, without saying why.
        for _ in range(min(connections, pool.get_max_size())):
            held.append(await pool.acquire())
        await asyncio.gather(*(_warm(conn) for conn in held))
    finally:
        for conn in held:
            await pool.release(conn)


async def _warm(conn: Conn) -> None:
    transaction = conn.transaction()
    await transaction.start()
    try:
        await _execute_all(conn, _WARMING)
    finally:
        await transaction.rollback()


async def apply_command(
    pool: asyncpg.Pool, ref: RecordRef, command: PostingCommand, trace_id: str | None = None
) -> Change | None:
    """Record one command in its own transaction (None: applied before, or no change)."""
    async with pool.acquire() as conn, conn.transaction():
        changes = await apply_commands(conn, [(ref, command, trace_id)])
    return changes[0][1] if changes else None


async def apply_results(
    conn: Conn, results: list[tuple[RecordRef, PostingResult]], *, tenant: str | None = None
) -> list[tuple[PostingResult, Change]]:
    """Record results, in order, in the caller's transaction; the state changes they made.
    A record applied before changes nothing. With `tenant`, the results are a tenant batch's
    (the record key's, `claim_run`), tracked as a run; else a row each (`claim`)."""
    refs = [ref for ref, _ in results]
    claimed = await (claim(conn, refs) if tenant is None else claim_run(conn, tenant, refs))
    todo = [r for r in results if r[0] in claimed]
    if not todo:
        return []
    await _lock_tenants(conn, (r.tenant_id for _, r in todo))
    postings = await _load(conn, (r.posting_key for _, r in todo))
    changed: dict[str, Posting] = {}
    lines: list[Transition] = []
    changes: list[tuple[PostingResult, Change]] = []
    followed: list[PostingResult] = []
    for ref, result in todo:
        posting, applied = rules.apply_result(postings.get(result.posting_key), result, ref)
        postings[result.posting_key] = posting
        if applied.changed:
            changed[result.posting_key] = posting
        if applied.transition is not None:
            lines.append(applied.transition)
        if applied.change is not None:
            changes.append((result, applied.change))
        if applied.follows_actions:
            followed.append(result)
    new = [p for p in changed.values() if p.new]
    old = [p for p in changed.values() if not p.new]
    if new:
        await conn.execute(
            "INSERT INTO postings (posting_key, tenant_id, kind, state, amount_minor,"
            " dinero_guid, dinero_number, attempts, last_error, detail, created_at, updated_at,"
            " last_result_at)"
            " SELECT key, tenant, kind, state, amount, guid, number, attempts, error::jsonb,"
            " detail, created, updated, last_result FROM unnest($1::text[], $2::text[],"
            " $3::text[], $4::text[], $5::bigint[], $6::text[], $7::bigint[], $8::int[],"
            " $9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[],"
            " $13::timestamptz[]) AS p(key, tenant, kind, state, amount, guid, number, attempts,"
            " error, detail, created, updated, last_result)",
            *(
                _column(new, name)
                for name in (
                    "posting_key",
                    "tenant_id",
                    "kind",
                    "state",
                    "amount_minor",
                    "dinero_guid",
                    "dinero_number",
                    "attempts",
                    "last_error",
                    "detail",
                    "created_at",
                    "updated_at",
                    "last_result_at",
                )
            ),
        )
    if old:
        await conn.execute(
            "UPDATE postings SET state = p.state, dinero_guid = p.guid, dinero_number = p.number,"
            " attempts = p.attempts, last_error = p.error::jsonb, detail = p.detail,"
            " updated_at = p.updated, last_result_at = p.last_result, amount_minor = p.amount"
            " FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::int[],"
            " $6::text[], $7::text[], $8::timestamptz[], $9::timestamptz[], $10::bigint[])"
            " AS p(key, state, guid, number, attempts, error, detail, updated, last_result,"
            " amount) WHERE postings.posting_key = p.key",
            *(
                _column(old, name)
                for name in (
                    "posting_key",
                    "state",
                    "dinero_guid",
                    "dinero_number",
                    "attempts",
                    "last_error",
                    "detail",
                    "updated_at",
                    "last_result_at",
                    "amount_minor",
                )
            ),
        )
    await _write_transitions(conn, lines)
    await _follow_all(conn, followed)
    return changes


async def apply_result(pool: asyncpg.Pool, ref: RecordRef, result: PostingResult) -> Change | None:
    """Record one result in its own transaction (None: applied before, or no change)."""
    async with pool.acquire() as conn, conn.transaction():
        changes = await apply_results(conn, [(ref, result)])
    return changes[0][1] if changes else None


_FINAL = ("done", "failed", "held", "parked")


async def _follow_all(conn: Conn, results: list[PostingResult]) -> None:
    """`_follow_actions` for the results whose posting or tenant has an action open (few:
    most postings never see an operator), in order."""
    if not results:
        return
    open_keys = {
        r["posting_key"]
        for r in await conn.fetch(
            "SELECT DISTINCT posting_key FROM ops_actions WHERE posting_key = ANY($1::text[])"
            " AND action IN ('retry_posting', 'remap_posting')"
            " AND (outcome IS NULL OR outcome <> ALL($2::text[]))",
            list({r.posting_key for r in results}),
            list(_FINAL),
        )
    }
    open_tenants = {
        r["tenant_id"]
        for r in await conn.fetch(
            "SELECT DISTINCT tenant_id FROM ops_actions WHERE tenant_id = ANY($1::text[])"
            " AND action = 'resume_tenant' AND outcome IS NULL",
            list({r.tenant_id for r in results}),
        )
    }
    for result in results:
        if result.posting_key in open_keys or result.tenant_id in open_tenants:
            await _follow_actions(conn, result)


async def _follow_actions(conn: Conn, result: PostingResult) -> None:
    """What came of the actions asked for this posting (or its parked tenant): the state it
    reached since, until a final one."""
    await conn.execute(
        "UPDATE ops_actions SET outcome = $2, outcome_detail = $3, outcome_at = $4"
        " WHERE posting_key = $1 AND action IN ('retry_posting', 'remap_posting')"
        " AND requested_at <= $4 AND (outcome IS NULL OR outcome <> ALL($5::text[]))",
        result.posting_key,
        result.status,
        result.detail,
        result.at,
        list(_FINAL),
    )
    await conn.execute(
        "UPDATE ops_actions SET outcome = $2, outcome_detail = $3, outcome_at = $4"
        " WHERE tenant_id = $1 AND action = 'resume_tenant' AND outcome IS NULL"
        " AND requested_at <= $4",
        result.tenant_id,
        "parked again" if result.status == "parked" else "resumed",
        f"{result.posting_key} is {result.status}",
        result.at,
    )


async def record_action(
    conn: Conn,
    action: OpsAction,
    *,
    outcome: str | None = None,
    outcome_detail: str | None = None,
) -> bool:
    """The action in the trail (False: it is there already, by its id)."""
    posting_key = action.posting_key if isinstance(action, RemapPosting | RetryPosting) else None
    assert posting_key is not None or isinstance(action, ResumeTenant)
    row = await conn.fetchrow(
        "INSERT INTO ops_actions (action_id, action, tenant_id, posting_key, requested_by,"
        " requested_at, note, outcome, outcome_detail, outcome_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, CASE WHEN $8::text IS NULL THEN NULL"
        " ELSE now() END) ON CONFLICT DO NOTHING RETURNING 1",
        action.action_id,
        action.action,
        action.tenant_id,
        posting_key,
        action.requested_by,
        action.requested_at,
        action.note,
        outcome,
        outcome_detail,
    )
    return row is not None


async def apply_action(conn: Conn, ref: RecordRef, action: OpsAction) -> bool:
    """An action seen on ops.actions.v1, in the trail exactly once (in the caller's
    transaction)."""
    if ref not in await claim(conn, [ref]):
        return False
    await record_action(conn, action)
    return True


async def record_dead_letter_redrive(
    conn: Conn,
    action_id: str,
    dead_letter_id: int,
    tenant_id: str | None,
    requested_by: str,
    note: str | None,
    topic: str,
) -> None:
    """A dead letter re-driven (by the ledger itself): in the trail with its outcome."""
    await conn.execute(
        "INSERT INTO ops_actions (action_id, action, tenant_id, dead_letter_id, requested_by,"
        " requested_at, note, outcome, outcome_detail, outcome_at)"
        " VALUES ($1, 'redrive_dead_letter', $2, $3, $4, now(), $5, 'republished', $6, now())"
        " ON CONFLICT DO NOTHING",
        action_id,
        tenant_id,
        dead_letter_id,
        requested_by,
        note,
        f"to {topic}",
    )
    await conn.execute("UPDATE dead_letters SET redriven_at = now() WHERE id = $1", dead_letter_id)


def _origin(headers: dict[str, str]) -> tuple[int | None, int | None]:
    """The partition and offset the dead letter's record was read at, when it says."""
    partition, offset = headers.get("x-original-partition"), headers.get("x-original-offset")
    if partition is None or offset is None:
        return None, None
    if not all(part.isascii() and part.isdigit() for part in (partition, offset)):
        return None, None
    return int(partition), int(offset)


async def apply_dead_letter(
    conn: Conn,
    ref: RecordRef,
    tenant_id: str | None,
    payload: bytes,
    headers: dict[str, str],
) -> bool:
    """A dead letter in the list exactly once (in the caller's transaction): once per
    dead-letter record, and once per record it was made of. A consumer's poll whose dead
    letter went out but whose commit did not (its outbox or another publish failed after
    it) comes again and dead-letters the same record again; that copy is not listed."""
    if ref not in await claim(conn, [ref]):
        return False
    await conn.execute(
        'INSERT INTO dead_letters (tenant_id, topic, partition, "offset", original_topic,'
        " original_partition, original_offset, reason, detail, payload, headers)"
        " SELECT $1::text, $2::text, $3::int, $4::bigint, $5::text, $6::int, $7::bigint,"
        " $8::text, $9::text, $10::bytea, $11::jsonb"
        " WHERE $7::bigint IS NULL OR NOT EXISTS (SELECT 1 FROM dead_letters"
        "  WHERE original_topic = $5 AND original_partition = $6 AND original_offset = $7)"
        " ON CONFLICT DO NOTHING",
        tenant_id,
        ref.topic,
        ref.partition,
        ref.offset,
        headers.get("x-original-topic"),
        *_origin(headers),
        headers.get("x-dlq-reason", "unknown"),
        headers.get("x-dlq-detail"),
        payload,
        json.dumps(headers),
    )
    return True
