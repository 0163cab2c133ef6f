"""The mapper's outbox payloads are written by `command_json`: the bytes the union's
serializer (`POSTING_COMMAND.dump_json`) wrote, for every kind of command the rules make of
the bench stream — six VAT zones, payments, fees, refunds, payouts."""

from __future__ import annotations

from bench.kafka_paths import settings_of, stream
from bench.mapper_decide import NOW
from bench.replay import canonical
from bogfoer_contracts.events import parse_event
from bogfoer_contracts.postings import POSTING_COMMAND, PostingCommand, command_json
from bogfoer_rules.policy import OrderState, decide, state_key


def _commands() -> list[PostingCommand]:
    settings = {c.tenant_id: c for c in settings_of("checked")}
    states: dict[str, OrderState] = {}
    commands: list[PostingCommand] = []
    for tenant, body in stream("checked", 3000):
        event = parse_event(canonical(tenant, body))
        key = f"{tenant}/{state_key(event)}"
        decision = decide(event, settings[tenant], states.get(key), NOW)
        states[key] = decision.state
        commands += decision.commands
    return commands


def test_each_command_is_written_as_the_union_wrote_it() -> None:
    commands = _commands()
    assert {c.kind for c in commands} == {"contact", "invoice", "payment", "credit_note", "voucher"}
    assert [command_json(c) for c in commands] == [POSTING_COMMAND.dump_json(c) for c in commands]
