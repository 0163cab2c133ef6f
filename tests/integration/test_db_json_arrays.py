"""`bogfoer_kit.db.json_texts` / `json_documents` (the mapper's and the ledger's batch
columns) against real PostgreSQL: every string reads back as exactly itself, as a text[]
stored it; what a text[] could not store is refused the same way (a `DataError`), and the
connection goes on serving."""

from __future__ import annotations

import asyncpg
import pytest

from bogfoer_kit.db import json_documents, json_texts

STRINGS = [
    "",
    'a "quoted" \\ back\\slash /',
    "".join(map(chr, range(1, 32))) + "\x7f",  # every control character JSON escapes
    "Ærø ☕ 𝄞 \u2028\u2029 \ufeff \uffff",
    "x" * 1_000_000 + "æ",  # very long
    None,
]


async def test_strings_read_back_as_themselves(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            "SELECT s FROM json_array_elements_text($1::json) WITH ORDINALITY AS e(s, n)"
            " ORDER BY n",
            json_texts(STRINGS),
        )
        assert [r["s"] for r in rows] == STRINGS
        stored = await conn.fetchval("SELECT $1::text[]", STRINGS)
        assert stored == STRINGS  # what the text[] it replaced stores
        documents = ['{"a": "\\u00e6",  "b" : [1, 2.50]}', "null", '"x"', "[ ]"]
        rows = await conn.fetch(
            "SELECT d::text AS d FROM json_array_elements($1::json) WITH ORDINALITY"
            " AS e(d, n) ORDER BY n",
            json_documents(documents),
        )
        assert [r["d"] for r in rows] == documents  # byte for byte, not printed again
    finally:
        await conn.close()


@pytest.mark.parametrize("unstorable", ["a\x00b", "a\ud800b"], ids=["NUL", "lone surrogate"])
async def test_a_string_a_text_array_refuses_is_refused(database_url: str, unstorable: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            for statement, argument in (
                ("SELECT json_array_elements_text($1::json)", json_texts([unstorable])),
                ("SELECT unnest($1::text[])", [unstorable]),
            ):
                with pytest.raises(asyncpg.DataError):
                    async with conn.transaction():  # a savepoint, as the mapper's
                        await conn.fetch(statement, argument)
                assert await conn.fetchval("SELECT 1") == 1  # not left busy or aborted
    finally:
        await conn.close()
