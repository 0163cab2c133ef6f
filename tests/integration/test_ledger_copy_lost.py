"""A copy whose connection is lost ends, as a transient fault (`store._copy`): asyncpg sends a
copy's rows as the socket takes them and, its connection lost while it waits for the socket,
waited for good — a ledger whose PostgreSQL restarted mid-copy hung its poll forever."""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from bogfoer_ledger import rules, store

from .conftest import assert_copy_ends_when_lost

pytestmark = pytest.mark.integration


def postings_copy(keys: list[str], document: str, at: dt.datetime) -> store.Copy:
    """The copy of new postings with these keys (`store._copy_commanded`), in order."""
    new = [
        rules.Posting(
            posting_key=key,
            tenant_id="lost",
            kind="payment",
            state="pending",
            new=True,
            amount_minor=1,
            currency="DKK",
            depends_on=[],
            command=document,
            created_at=at,
            updated_at=at,
        )
        for key in keys
    ]
    created = {
        p.posting_key: rules.Transition(
            p.posting_key, None, "pending", store.RecordRef("t", 0, n), at
        )
        for n, p in enumerate(new)
    }
    postings, _ = store._copy_commanded(new, created)
    assert isinstance(postings, store.Copy)
    return postings


async def test_a_copy_whose_backend_is_terminated_fails_as_transient(
    ledger_pool: asyncpg.Pool,
) -> None:
    at = dt.datetime.now(dt.UTC)
    document = '{"note": "' + "x" * 900 + '"}'
    # ~100 MB: the socket stops taking them long before the end.
    copy = postings_copy([f"lost-{n}" for n in range(100_000)], document, at)
    await assert_copy_ends_when_lost(ledger_pool, lambda conn: store._execute_all(conn, [copy]))
