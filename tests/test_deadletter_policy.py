"""The consumer policy of `bogfoer_kit.deadletter.reliably` (in memory; the real broker
path is in tests/integration/test_deadletter.py): outages retry forever, a poison record
is dead-lettered at once, a bug meeting one record dead-letters it after a few tries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from bogfoer_kit import deadletter
from bogfoer_kit.deadletter import MAX_UNEXPECTED_ATTEMPTS, PoisonMessage, TransientFailure


@dataclass
class Record:
    topic: str = "sales.events.v1"
    partition: int = 0
    offset: int = 7
    key: bytes = b"shop-a"
    value: bytes = b"{}"


@dataclass
class Message:
    raw_message: Record = field(default_factory=Record)
    headers: dict[str, str] = field(default_factory=dict)
    acks: int = 0
    nacks: int = 0

    async def ack(self) -> None:
        self.acks += 1

    async def nack(self) -> None:
        self.nacks += 1


@dataclass
class Broker:
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def publish(
        self, value: bytes, *, topic: str, key: bytes, headers: dict[str, str]
    ) -> None:
        self.published.append((topic, headers))


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(_: float) -> None:
        return None

    monkeypatch.setattr("bogfoer_kit.deadletter.asyncio.sleep", instant)


async def deliver(failure: Exception | None, times: int) -> tuple[Message, Broker]:
    broker, msg = Broker(), Message()

    async def handler(_: Any) -> None:
        if failure is not None:
            raise failure

    wrapped = deadletter.reliably(broker)(handler)  # type: ignore[arg-type]
    for _ in range(times):
        await wrapped(msg)  # type: ignore[arg-type]
    return msg, broker


async def test_success_commits() -> None:
    msg, broker = await deliver(None, 1)
    assert (msg.acks, msg.nacks, broker.published) == (1, 0, [])


async def test_a_poison_record_is_dead_lettered_at_once_with_its_reason() -> None:
    msg, broker = await deliver(PoisonMessage("invalid_event", "bad amount"), 1)
    assert msg.acks == 1
    ((topic, headers),) = broker.published
    assert topic == "sales.events.dlq.v1"
    assert headers["x-dlq-reason"] == "invalid_event"
    assert headers["x-original-offset"] == "7"


@pytest.mark.parametrize("outage", [TransientFailure("Stripe down"), ConnectionRefusedError()])
async def test_an_outage_is_retried_in_place_and_never_dead_lettered(outage: Exception) -> None:
    msg, broker = await deliver(outage, 3 * MAX_UNEXPECTED_ATTEMPTS)
    assert (msg.acks, msg.nacks, broker.published) == (0, 3 * MAX_UNEXPECTED_ATTEMPTS, [])


async def test_a_bug_meeting_one_record_dead_letters_it_after_a_few_attempts() -> None:
    msg, broker = await deliver(KeyError("surprise"), MAX_UNEXPECTED_ATTEMPTS)
    assert msg.nacks == MAX_UNEXPECTED_ATTEMPTS - 1
    assert msg.acks == 1
    ((_, headers),) = broker.published
    assert headers["x-dlq-reason"] == "processing_error"
    assert "surprise" in headers["x-dlq-detail"]
