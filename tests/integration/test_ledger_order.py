"""The ledger keeps a posting's newest state: done is final, and a result older than the
applied one (two poster replicas' outboxes may overtake each other) changes nothing. A
batch of commands writes, row for row, what applying them one at a time wrote: the store
writes a batch's new postings and their first lines in one statement, reading the key and
the dependencies from the stored command; the command handler writes, row for row, the rows
it wrote at 058d6c1 (a pin for changes to how a batch is parsed and written)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bogfoer_contracts.postings import (
    POSTING_COMMAND,
    ContactSpec,
    CreateVoucher,
    EnsureContact,
    PostingCommand,
    PostingResult,
    RegisterPayment,
    VoucherLineSpec,
)
from bogfoer_kit.consumer import Handler, Record, TenantBatch
from bogfoer_ledger import handlers, queries, store
from tests.integration.conftest import new_tenant

pytestmark = pytest.mark.integration
T0 = dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC)


@pytest.fixture
def pool(ledger_pool: asyncpg.Pool) -> asyncpg.Pool:
    return ledger_pool


def result(tenant: str, status: str, minutes: int) -> PostingResult:
    return PostingResult.model_validate(
        {
            "posting_key": f"bogfoer:{tenant}:invoice:shopify:1",
            "tenant_id": tenant,
            "kind": "invoice",
            "status": status,
            "at": T0 + dt.timedelta(minutes=minutes),
        }
    )


async def test_done_is_final_and_stale_results_only_join_the_history(pool: asyncpg.Pool) -> None:
    tenant = new_tenant()
    ref = iter(range(100))

    async def apply(status: str, minutes: int) -> None:
        await store.apply_result(
            pool,
            store.RecordRef("postings.results.v1", 0, next(ref)),
            result(tenant, status, minutes),
        )

    await apply("waiting", 1)
    await apply("done", 3)
    await apply("waiting", 2)  # an older result arriving late
    await apply("failed", 4)  # nothing moves a posting out of done
    (posting,) = await queries.postings(pool, tenant, queries.PostingFilter(), 10)
    assert posting["state"] == "done"
    detail = await queries.posting(pool, tenant, posting["posting_key"])
    assert detail is not None
    assert [h["to_state"] for h in detail["history"]] == ["waiting", "done", "done", "done"]
    assert [h["detail"] for h in detail["history"]][2:] == [
        "stale waiting result ignored",
        "stale failed result ignored",
    ]


async def test_a_command_and_its_result_applied_at_the_same_moment_both_apply(
    pool: asyncpg.Pool,
) -> None:
    # After a restart the ledger's command and result consumers catch up at once, so a
    # posting's command and its result can be applied concurrently, neither finding a row.
    tenant = new_tenant()
    commands = [
        RegisterPayment(
            posting_key=f"bogfoer:{tenant}:payment:pi_{n}",
            tenant_id=tenant,
            organization_id=1,
            issued_at=T0,
            invoice_key=f"bogfoer:{tenant}:invoice:shopify:{n}",
            amount=10000 + n,
            currency="DKK",
            deposit_account=55010,
            payment_date=T0.date(),
            description="Betaling",
        )
        for n in range(40)
    ]

    async def both(n: int, command: RegisterPayment) -> None:
        done = result(tenant, "done", 5).model_copy(
            update={"posting_key": command.posting_key, "kind": "payment"}
        )
        await asyncio.gather(
            store.apply_command(pool, store.RecordRef("postings.commands.v1", 0, n), command),
            store.apply_result(pool, store.RecordRef("postings.results.v1", 0, n), done),
        )

    await asyncio.gather(*(both(n, c) for n, c in enumerate(commands)))
    rows = await queries.postings(pool, tenant, queries.PostingFilter(), 100)
    assert len(rows) == len(commands)
    assert {r["state"] for r in rows} == {"done"}
    assert sorted(r["amount_minor"] for r in rows) == [10000 + n for n in range(40)]


async def test_a_record_dead_lettered_twice_is_listed_once(pool: asyncpg.Pool) -> None:
    # A consumer whose poll's dead letter went out but whose commit did not (its outbox
    # failed next) reads the poll again and dead-letters the same record again.
    tenant = new_tenant()

    def letter(original_offset: int) -> dict[str, str]:
        return {
            "x-dlq-reason": "invalid_event",
            "x-dlq-detail": "not JSON",
            "x-original-topic": "sales.events.v1",
            "x-original-partition": "2",
            "x-original-offset": str(original_offset),
        }

    dlq = "sales.events.dlq.v1"
    async with pool.acquire() as conn, conn.transaction():
        assert await store.apply_dead_letter(
            conn, store.RecordRef(dlq, 0, 10), tenant, b"{", letter(41)
        )
    async with pool.acquire() as conn, conn.transaction():
        await store.apply_dead_letter(conn, store.RecordRef(dlq, 0, 11), tenant, b"{", letter(41))
        # Another record of the same partition is another dead letter.
        await store.apply_dead_letter(conn, store.RecordRef(dlq, 0, 12), tenant, b"[", letter(42))
        # A dead letter that does not say where it was read (the poster's failed postings)
        # is listed as it comes.
        await store.apply_dead_letter(
            conn, store.RecordRef(dlq, 0, 13), tenant, b"!", {"x-dlq-reason": "internal"}
        )
    rows = await queries.dead_letters(pool, tenant, 10)
    assert sorted(r["offset"] for r in rows) == [10, 12, 13]


COMMANDS = "postings.commands.v1"


def payment(tenant: str, n: int, **update: Any) -> RegisterPayment:
    return RegisterPayment(
        posting_key=f"bogfoer:{tenant}:payment:pi_{n}",
        tenant_id=tenant,
        organization_id=1,
        issued_at=T0 + dt.timedelta(minutes=n),
        invoice_key=f"bogfoer:{tenant}:invoice:shopify:{n}",
        depends_on=[f"bogfoer:{tenant}:invoice:shopify:{n}"],
        amount=10000 + n,
        currency="EUR",
        deposit_account=55010,
        payment_date=T0.date(),
        description='Betaling æøå "citat" \\ ✓',
    ).model_copy(update=update)


def voucher(tenant: str) -> CreateVoucher:
    line = VoucherLineSpec(
        description="Stripe fee", account_number=7220, balancing_account_number=55010, amount=0
    )
    return CreateVoucher(
        posting_key=f"bogfoer:{tenant}:voucher:fee:txn_1",
        tenant_id=tenant,
        organization_id=1,
        issued_at=T0 + dt.timedelta(hours=1),
        purpose="fee",
        date=T0.date(),
        lines=[line.model_copy(update={"amount": 125}), line.model_copy(update={"amount": 75})],
    )


def contact(tenant: str) -> EnsureContact:
    return EnsureContact(
        posting_key=f"bogfoer:{tenant}:contact:c_1",
        tenant_id=tenant,
        organization_id=1,
        issued_at=T0 + dt.timedelta(hours=2),
        contact=ContactSpec(name="Jensen", country="DK"),
    )


async def _rows(pool: asyncpg.Pool, tenant: str) -> tuple[list[Any], list[Any], list[Any]]:
    postings = await pool.fetch(
        "SELECT posting_key, tenant_id, kind, state, amount_minor, currency, dinero_guid,"
        " dinero_number, attempts, last_error, detail, depends_on, command::text AS command,"
        " created_at, updated_at, last_result_at, trace_id FROM postings WHERE tenant_id = $1"
        " ORDER BY posting_key",
        tenant,
    )
    history = await pool.fetch(
        'SELECT posting_key, from_state, to_state, detail, error, topic, partition, "offset",'
        " at FROM posting_transitions WHERE posting_key LIKE $1 ORDER BY posting_key, id",
        f"bogfoer:{tenant}:%",
    )
    applied = await pool.fetch(
        'SELECT topic, partition, "offset" FROM ledger_applied ORDER BY 1, 2, 3'
    )
    return (
        [{**dict(r), "command": json.loads(r["command"])} for r in postings],
        [tuple(r) for r in history],
        [tuple(r) for r in applied],
    )


# Written in one part, and in parts of two and one: a posting created in one part and
# re-mapped in a later one is updated there (`store.apply_commands` writes a part while it
# folds the next), to the same rows and history.
# New postings inserted by a statement, and copied in (`store.COPY_FROM`: from one on).
@pytest.mark.parametrize("copy_from", [store.COPY_FROM, 1])
@pytest.mark.parametrize("part", [store.WRITE_PART, 2, 1])
async def test_a_batch_of_commands_writes_the_rows_it_always_wrote(
    pool: asyncpg.Pool, part: int, copy_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "COPY_FROM", copy_from)
    tenant = new_tenant()
    held_first = payment(tenant, 3)
    # A result overtook its command (the posting is known, held), so the command that
    # follows it resumes it rather than creating it.
    await store.apply_result(
        pool,
        store.RecordRef("postings.results.v1", 0, 1),
        PostingResult(
            posting_key=held_first.posting_key,
            tenant_id=tenant,
            kind="payment",
            status="held",
            detail="waits for its invoice",
            at=T0,
        ),
    )
    first = payment(tenant, 1)
    remapped = payment(tenant, 1, revision=1, amount=20001, issued_at=T0 + dt.timedelta(hours=5))
    batch: list[tuple[store.RecordRef, PostingCommand, str | None]] = [
        (store.RecordRef(COMMANDS, 2, 40), first, "a" * 32),
        (store.RecordRef(COMMANDS, 2, 41), payment(tenant, 2, depends_on=[]), None),
        (store.RecordRef(COMMANDS, 2, 43), voucher(tenant), "b" * 32),
        (store.RecordRef(COMMANDS, 2, 44), contact(tenant), None),
        (store.RecordRef(COMMANDS, 2, 45), held_first, "c" * 32),
        # Re-mapped in the same batch: created from the first, stored as the second.
        (store.RecordRef(COMMANDS, 2, 46), remapped, None),
        (store.RecordRef(COMMANDS, 2, 47), first, None),  # an older revision, late
    ]
    async with pool.acquire() as conn, conn.transaction():
        changes = await store.apply_commands(conn, batch, part)
    async with pool.acquire() as conn, conn.transaction():
        assert await store.apply_commands(conn, batch, part) == []  # redelivered: nothing

    assert [change for _, change in changes] == [
        (None, "pending"),
        (None, "pending"),
        (None, "pending"),
        (None, "pending"),
        ("held", "pending"),
        ("pending", "pending"),
    ]
    postings, history, applied = await _rows(pool, tenant)
    key = f"bogfoer:{tenant}"

    def row(command: PostingCommand, **columns: Any) -> dict[str, Any]:
        return {
            "posting_key": command.posting_key,
            "tenant_id": tenant,
            "kind": command.kind,
            "state": "pending",
            "dinero_guid": None,
            "dinero_number": None,
            "attempts": 0,
            "last_error": None,
            "detail": None,
            "depends_on": command.depends_on,
            "command": json.loads(command.model_dump_json()),
            "created_at": command.issued_at,
            "updated_at": command.issued_at,
            "last_result_at": None,
            "trace_id": None,
            **columns,
        }

    assert postings == [
        row(contact(tenant), amount_minor=None, currency=None),
        row(
            remapped,
            amount_minor=20001,
            currency="EUR",
            trace_id="a" * 32,
            created_at=first.issued_at,
            updated_at=first.issued_at,
        ),
        row(payment(tenant, 2, depends_on=[]), amount_minor=10002, currency="EUR"),
        row(held_first, amount_minor=10003, currency="EUR", trace_id="c" * 32)
        | {
            "attempts": 1,
            "detail": "waits for its invoice",
            "created_at": T0,
            "updated_at": T0,
            "last_result_at": T0,
        },
        row(voucher(tenant), amount_minor=200, currency="DKK", trace_id="b" * 32),
    ]

    def at(**delta: int) -> dt.datetime:
        return T0 + dt.timedelta(**delta)

    assert history == [
        (f"{key}:contact:c_1", None, "pending", None, None, COMMANDS, 2, 44, at(hours=2)),
        (f"{key}:payment:pi_1", None, "pending", None, None, COMMANDS, 2, 40, at(minutes=1)),
        (
            f"{key}:payment:pi_1",
            "pending",
            "pending",
            "re-mapped (revision 1)",
            None,
            COMMANDS,
            2,
            46,
            at(hours=5),
        ),
        (f"{key}:payment:pi_2", None, "pending", None, None, COMMANDS, 2, 41, at(minutes=2)),
        (
            f"{key}:payment:pi_3",
            None,
            "held",
            "waits for its invoice",
            None,
            "postings.results.v1",
            0,
            1,
            T0,
        ),
        (
            f"{key}:payment:pi_3",
            "held",
            "pending",
            None,
            None,
            COMMANDS,
            2,
            45,
            at(minutes=3),
        ),
        (
            f"{key}:voucher:fee:txn_1",
            None,
            "pending",
            None,
            None,
            COMMANDS,
            2,
            43,
            at(hours=1),
        ),
    ]
    assert applied == sorted(
        [(COMMANDS, 2, offset) for offset in (40, 41, 43, 44, 45, 46, 47)]
        + [("postings.results.v1", 0, 1)]
    )


# The command handler writes the postings, history lines and tracking rows it wrote at
# 058d6c1 (`ledger_command_rows.json`, written by that commit's code), whatever the size of
# the parts it writes a batch in: a mixed stream — new postings, dependent ones, a posting a
# result made first, re-mapped ones in the batch and in a later one, a late older revision,
# a repeated command, a record that is not JSON and one the contract refuses — then
# redelivered. Any change to how the ledger parses, folds or writes commands must keep it.
GOLDEN = Path(__file__).with_name("ledger_command_rows.json")
TENANT = "rows-tenant"  # each test has a database of its own
TRACEPARENT = ("traceparent", f"00-{'a' * 32}-{'b' * 16}-01".encode())


class _Subscriptions:
    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}

    def subscribe(self, name: str, handler: Handler, **_: Any) -> None:
        self.handlers[name] = handler


def _records(first: int, values: list[PostingCommand | bytes]) -> list[Record]:
    return [
        Record(
            COMMANDS,
            3,
            first + n,
            TENANT.encode(),
            value if isinstance(value, bytes) else POSTING_COMMAND.dump_json(value),
            (TRACEPARENT,) if n % 2 else (),
        )
        for n, value in enumerate(values)
    ]


def _batches() -> list[list[Record]]:
    refused = json.loads(POSTING_COMMAND.dump_json(payment(TENANT, 9)))
    refused["amount_in_kroner"] = 1  # an unknown field: refused by the contract
    first = _records(
        100,
        [
            contact(TENANT),
            payment(TENANT, 1),  # depends on its invoice
            b"{not json",
            payment(TENANT, 2, depends_on=[]),
            voucher(TENANT),
            payment(TENANT, 3),  # its result came first: held, resumed
            payment(TENANT, 1, revision=1, amount=20001, issued_at=T0 + dt.timedelta(hours=5)),
            json.dumps(refused).encode(),
            payment(TENANT, 1),  # an older revision, late
            contact(TENANT),  # the same command again, at another offset
            payment(TENANT, 4, depends_on=[payment(TENANT, 1).posting_key, 'x\\y"z,{}']),
        ],
    )
    later = _records(
        200,
        [
            payment(TENANT, 2, revision=1, amount=333, issued_at=T0 + dt.timedelta(hours=6)),
            payment(TENANT, 5),
            contact(TENANT),
        ],
    )
    return [first, later]


async def _snapshot(pool: asyncpg.Pool) -> dict[str, Any]:
    """Every row the handler wrote, but the columns PostgreSQL stamps (ids, now()); a
    posting's history in its order (ids order the lines of a posting, as its readers ask,
    not the lines of different postings)."""

    def plain(row: asyncpg.Record) -> list[Any]:
        out: list[Any] = []
        for value in row.values():
            if isinstance(value, dt.datetime):
                value = value.isoformat()
            out.append(json.loads(value) if isinstance(value, str) and value[:1] == "{" else value)
        return out

    postings = await pool.fetch(
        "SELECT posting_key, tenant_id, kind, state, amount_minor, currency, dinero_guid,"
        " dinero_number, attempts, last_error::text, detail, depends_on, command::text,"
        " created_at, updated_at, last_result_at, trace_id FROM postings ORDER BY posting_key"
    )
    history = await pool.fetch(
        "SELECT posting_key, from_state, to_state, detail, error::text, topic, partition,"
        ' "offset", at FROM posting_transitions ORDER BY posting_key, id'
    )
    # The records tracked: a row each, or a tenant batch's run (`store.claim_run`; the test's
    # records are one tenant's, so a run's span is its records).
    applied = await pool.fetch(
        'SELECT topic, partition, "offset" FROM ledger_applied UNION ALL'
        " SELECT topic, partition, generate_series(first_offset, last_offset)"
        " FROM ledger_applied_runs ORDER BY 1, 2, 3"
    )
    return {
        "postings": [plain(r) for r in postings],
        "history": [plain(r) for r in history],
        "applied": [plain(r) for r in applied],
    }


# New postings inserted by a statement, and copied in (`store.COPY_FROM`: from one on).
@pytest.mark.parametrize("copy_from", [store.COPY_FROM, 1])
@pytest.mark.parametrize("part", [store.WRITE_PART, 3, 1])
async def test_the_command_handler_writes_the_rows_it_always_wrote(
    pool: asyncpg.Pool, part: int, copy_from: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "WRITE_PART", part)
    monkeypatch.setattr(store, "COPY_FROM", copy_from)
    subscriptions = _Subscriptions()
    handlers.register(subscriptions, pool)  # type: ignore[arg-type]
    on_commands = subscriptions.handlers["commands"]
    await store.apply_result(
        pool,
        store.RecordRef("postings.results.v1", 0, 7),
        PostingResult(
            posting_key=payment(TENANT, 3).posting_key,
            tenant_id=TENANT,
            kind="payment",
            status="held",
            detail="waits for its invoice",
            at=T0,
        ),
    )
    dead: list[int] = []
    for records in _batches() + _batches():  # the second time: redelivered, nothing new
        batch = TenantBatch(TENANT, records)
        await on_commands(batch)
        dead += [offset for _, _, offset in batch.dead]
    assert dead == [102, 107, 102, 107]  # dead-lettered whenever they come
    assert await _snapshot(pool) == json.loads(GOLDEN.read_text())
