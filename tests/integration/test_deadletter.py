"""A poison record goes to the dead-letter topic and the ledger's list; it blocks nothing."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest

from bogfoer_contracts.ids import posting_key
from bogfoer_contracts.postings import POSTING_COMMAND, ContactSpec, EnsureContact
from bogfoer_contracts.topics import POSTINGS_COMMANDS, dlq_topic, key_for
from bogfoer_contracts.topology import LEDGER
from bogfoer_devstack.offsets import end_offsets
from tests.integration.conftest import (
    eventually,
    idempotent_producer,
    make_stack,
    new_tenant,
    read_from,
    report,
    running,
    start_group_at_end,
)

pytestmark = pytest.mark.integration

POISON = b'{"kind": "contact", "posting_key": '  # cut off: not JSON


def poisoned_key(tenant: str) -> Any:
    def found(records: list[Any]) -> bool:
        return any(r.key == key_for(tenant) for r in records)

    return found


def contact(tenant: str, name: str) -> bytes:
    command = EnsureContact(
        posting_key=posting_key(tenant, "contact", name),
        tenant_id=tenant,
        organization_id=1,
        issued_at=dt.datetime.now(dt.UTC),
        contact=ContactSpec(name=name, country="DK"),
    )
    return POSTING_COMMAND.dump_json(command)


async def test_poison_command_is_dead_lettered_and_later_records_still_apply(
    topics: str, fresh_database: str, tmp_path: Path
) -> None:
    tenant = new_tenant()
    group = f"it-ledger-{uuid4().hex[:8]}"
    await start_group_at_end(topics, f"{group}.commands", POSTINGS_COMMANDS)
    for topic in LEDGER.subscription("dead-letters").topics:
        await start_group_at_end(topics, f"{group}.dead-letters", topic)
    dlq = dlq_topic(POSTINGS_COMMANDS)
    assert dlq == "postings.commands.dlq.v1"
    dlq_start = await end_offsets(topics, dlq)

    stack = make_stack(tmp_path, topics, fresh_database, BOGFOER_LEDGER_GROUP_ID=group)
    operator = {"Authorization": f"Bearer {stack.admin_token}"}
    async with running(stack, "ledger"), httpx.AsyncClient(timeout=10, headers=operator) as http:
        producer = await idempotent_producer(topics)
        try:
            before = await producer.send_and_wait(
                POSTINGS_COMMANDS, contact(tenant, "before"), key=key_for(tenant)
            )
            poison = await producer.send_and_wait(POSTINGS_COMMANDS, POISON, key=key_for(tenant))
            after = await producer.send_and_wait(
                POSTINGS_COMMANDS, contact(tenant, "after"), key=key_for(tenant)
            )
        finally:
            await producer.stop()
        assert before.partition == poison.partition == after.partition
        assert before.offset < poison.offset < after.offset

        base = stack.url("ledger")
        postings: list[dict[str, Any]] = []

        async def both_applied() -> bool:
            nonlocal postings
            postings = (await http.get(f"{base}/v1/tenants/{tenant}/postings")).json()
            return len(postings) == 2

        took = await eventually(both_applied, 30, "the good commands are applied")
        assert {p["posting_key"] for p in postings} == {
            posting_key(tenant, "contact", "before"),
            posting_key(tenant, "contact", "after"),
        }
        assert {p["state"] for p in postings} == {"pending"}

        letters: list[dict[str, Any]] = []

        async def listed() -> bool:
            nonlocal letters
            r = await http.get(f"{base}/v1/dead-letters", params={"tenant": tenant})
            letters = r.json()
            return len(letters) >= 1

        await eventually(listed, 30, "the dead letter is listed by the ledger")

        # Ops re-drive it to its original topic (here still poison: it comes back, marked).
        commands_start = await end_offsets(topics, POSTINGS_COMMANDS)
        redriven = await http.post(f"{base}/v1/dead-letters/{letters[0]['id']}/redrive")
        assert redriven.status_code == 202, redriven.text

        async def dead_again() -> bool:
            nonlocal letters
            letters = (await http.get(f"{base}/v1/dead-letters", params={"tenant": tenant})).json()
            return len(letters) == 2

        await eventually(dead_again, 30, "the re-driven poison is dead-lettered again")
        again = [
            r
            for r in await read_from(topics, commands_start, poisoned_key(tenant), 10)
            if r.key == key_for(tenant)
        ]
        assert [r.value for r in again] == [POISON]
        assert dict(again[0].headers)["x-redriven-from"].decode().startswith(dlq)
        first, second = sorted(letters, key=lambda d: d["id"])
        assert first["redriven_at"] is not None
        assert second["redriven_at"] is None
        assert second["headers"]["x-redriven-from"].startswith(dlq)
        letters = [first]

    def poisoned(records: list[Any]) -> bool:
        return any(r.key == key_for(tenant) for r in records)

    records = [r for r in await read_from(topics, dlq_start, poisoned, 10) if poisoned([r])]
    report(
        f"\n[dlq] good commands applied {took:.2f}s after produce; DLQ records {len(records)};"
        f" ledger dead letters {len(letters)}"
    )
    # The original dead letter and the re-driven copy that came back.
    assert len(records) == 2
    (record,) = [r for r in records if "x-redriven-from" not in dict(r.headers)]
    headers = {k: v.decode() for k, v in record.headers}
    assert record.value == POISON
    assert headers["x-dlq-reason"] == "invalid_command"
    assert headers["x-dlq-detail"]
    assert headers["x-original-topic"] == POSTINGS_COMMANDS
    assert headers["x-original-partition"] == str(poison.partition)
    assert headers["x-original-offset"] == str(poison.offset)

    assert len(letters) == 1
    (letter,) = letters
    assert letter["reason"] == "invalid_command"
    assert letter["original_topic"] == POSTINGS_COMMANDS
    assert letter["topic"] == dlq
    assert letter["tenant_id"] == tenant
    assert letter["headers"]["x-original-offset"] == str(poison.offset)
    assert json.dumps(letter)  # the ops API answers plain JSON
