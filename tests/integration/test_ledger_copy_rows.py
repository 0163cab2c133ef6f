"""The rows `copy_rows` encodes for PostgreSQL's binary COPY are the rows the statement
over arrays writes (`store._insert_commanded`): times at any offset the same instant, text
beyond ASCII, dependencies, absent amounts, currencies and trace ids."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg
import pytest

from bogfoer_contracts.postings import POSTING_COMMAND
from bogfoer_kit.db import Conn
from bogfoer_ledger import rules, store
from tests.integration.test_ledger_order import COMMANDS, contact, payment, voucher

pytestmark = pytest.mark.integration

TENANT = "copy-rows"


def _postings() -> tuple[list[rules.Posting], dict[str, rules.Transition]]:
    # A time at +01:00 as the parse makes it (pydantic's own tzinfo), and one in UTC.
    command = rules.parse(
        POSTING_COMMAND.dump_json(payment(TENANT, 1, depends_on=["a", 'ø\\"{},']))
    )
    at = command.issued_at.astimezone(dt.timezone(dt.timedelta(hours=1)))
    commands = [
        command,
        rules.parse(POSTING_COMMAND.dump_json(contact(TENANT))),
        rules.parse(POSTING_COMMAND.dump_json(voucher(TENANT))),
        rules.parse(POSTING_COMMAND.dump_json(payment(TENANT, 2, issued_at=at))),
    ]
    new: list[rules.Posting] = []
    created: dict[str, rules.Transition] = {}
    for n, c in enumerate(commands):
        trace = "é" * 32 if n % 2 else None
        posting, applied = rules.apply_command(None, c, store.RecordRef(COMMANDS, 5, 70 + n), trace)
        assert applied.transition is not None
        new.append(posting)
        created[c.posting_key] = applied.transition
    return new, created


async def _rows(conn: Conn) -> list[Any]:
    postings = await conn.fetch(
        "SELECT posting_key, tenant_id, kind, state, amount_minor, currency, depends_on,"
        " command::text, created_at, updated_at, trace_id FROM postings ORDER BY posting_key"
    )
    lines = await conn.fetch(
        'SELECT posting_key, from_state, to_state, detail, error, topic, partition, "offset",'
        " at FROM posting_transitions ORDER BY id"
    )
    return [tuple(r) for r in postings] + [tuple(r) for r in lines]


async def test_copied_rows_are_the_statements_rows(ledger_pool: asyncpg.Pool) -> None:
    written = []
    for copy_from in (10_000, 1):  # the statement, then the copy
        new, created = _postings()
        statements = store._insert_commanded(new, created) if copy_from > 1 else []
        if copy_from == 1:
            statements = store._copy_commanded(new, created)
            assert all(isinstance(s, store.Copy) for s in statements)
        else:
            assert not any(isinstance(s, store.Copy) for s in statements)
        async with ledger_pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            try:
                await store._execute_all(conn, statements)
                written.append(await _rows(conn))
            finally:
                await transaction.rollback()
    assert written[0] == written[1]
    assert len(written[0]) == 8
