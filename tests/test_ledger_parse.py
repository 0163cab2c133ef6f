"""The ledger's command parse (`rules.parse`) keeps what the models' way kept: over the bench
stream (the rules' own commands) and over text that is not a command's dump (defaults left
out, other key order, other forms of a time), the same fields, the same money, and a
document of the same JSON value as the command's dump, which PostgreSQL stores as `jsonb`;
a record the contract refuses is refused with the very error."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from bench.kafka_paths import command_records
from bogfoer_contracts.postings import POSTING_COMMAND, canonical_command, parse_command
from bogfoer_ledger import rules


def _by_models(raw: bytes) -> rules.Command:
    return rules.command_of(parse_command(raw))


def test_the_rules_commands_parse_as_by_the_models_with_their_own_text() -> None:
    records = [value for _, value in command_records("parse", 2_000)]
    assert {json.loads(value)["kind"] for value in records} == {
        "contact",
        "invoice",
        "payment",
        "credit_note",
        "voucher",
    }
    for value in records:
        assert canonical_command(value) is not None  # the text is the dump: no model made
        assert rules.parse(value) == _by_models(value)  # the document byte for byte too


def _variants(value: bytes) -> list[bytes]:
    document = json.loads(value)
    out = [json.dumps(document, sort_keys=True, indent=1).encode()]
    out.append(json.dumps(document | {"issued_at": "2026-11-20T09:00:00.000+00:00"}).encode())
    out.append(json.dumps({k: v for k, v in document.items() if k != "revision"}).encode())
    if "currency" in document:
        out.append(json.dumps(document | {"currency": "EUR"}).encode())
    if "lines" in document:
        lines = [{k: v for k, v in line.items() if k != "unit"} for line in document["lines"]]
        out.append(json.dumps(document | {"lines": lines}).encode())
    return out


def test_other_text_parses_to_the_same_fields_and_a_document_of_the_same_value() -> None:
    for _, value in command_records("variants", 300):
        for raw in _variants(value):
            fast, full = rules.parse(raw), _by_models(raw)
            assert fast._replace(document="") == full._replace(document="")
            assert json.loads(fast.document) == json.loads(full.document)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"[]",
        json.dumps(
            json.loads(command_records("refused", 50)[0][1]) | {"amount_in_kroner": 1}
        ).encode(),
    ],
)
def test_a_refused_record_is_refused_with_the_models_error(raw: bytes) -> None:
    with pytest.raises(ValidationError) as fast:
        rules.parse(raw)
    with pytest.raises(ValidationError) as full:
        POSTING_COMMAND.validate_json(raw)
    assert str(fast.value) == str(full.value)
