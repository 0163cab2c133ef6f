"""The consumers' fast path through a posting command (issue 9) decides and builds exactly what
the full validation did: `parse_command` (the validator without the models' walks for
unstorable text where the JSON text proved storable) accepts and refuses the same records
with the same errors, and gives the very command, down to its bytes."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from bogfoer_contracts.postings import POSTING_COMMAND, parse_command

_COMMON: dict[str, Any] = {
    "posting_key": "bogfoer:shop-a:x:1042",
    "tenant_id": "shop-a",
    "organization_id": 100001,
    "issued_at": "2026-11-20T10:00:00+01:00",
    "source_event_ids": ["3d2d45ef-76ca-5b20-8e4d-8470fc0c3aa2"],
}
_LINE = {"description": "T-shirt", "quantity": 2, "unit_price": 12500, "account_number": 1000}
COMMANDS: dict[str, dict[str, Any]] = {
    "contact": _COMMON
    | {"kind": "contact", "contact": {"name": "Mette Hansen", "country": "DK", "email": None}},
    "invoice": _COMMON
    | {
        "kind": "invoice",
        "contact_key": "bogfoer:shop-a:contact:kunde@example.dk",
        "date": "2026-11-20",
        "currency": "DKK",
        "description": "Ordre #1042",
        "lines": [_LINE, _LINE | {"vat_rate": 2500, "unit": "stk"}],
        "expected_total": 25000,
        "expected_vat": 5000,
        "booking": "booked",
        "depends_on": ["bogfoer:shop-a:contact:kunde@example.dk"],
    },
    "payment": _COMMON
    | {
        "kind": "payment",
        "invoice_key": "bogfoer:shop-a:invoice:1042",
        "amount": 25000,
        "currency": "DKK",
        "deposit_account": 55010,
        "payment_date": "2026-11-21",
        "description": "Stripe pi_123",
        "revision": 2,
    },
    "credit_note": _COMMON
    | {
        "kind": "credit_note",
        "invoice_key": "bogfoer:shop-a:invoice:1042",
        "contact_key": "bogfoer:shop-a:contact:kunde@example.dk",
        "date": "2026-11-22",
        "currency": "EUR",
        "description": "Refusion",
        "lines": [_LINE],
        "expected_total": -25000,
        "booking": "draft",
    },
    "voucher": _COMMON
    | {
        "kind": "voucher",
        "purpose": "fee",
        "date": "2026-11-20",
        "summary": True,
        "lines": [
            {
                "description": "Stripe-gebyr",
                "account_number": 7220,
                "balancing_account_number": 55010,
                "amount": 465,
                "supersedes": "bogfoer:shop-a:fee:txn_1",
            }
        ],
    },
}
Change = tuple[tuple[str | int, ...], Any]  # where, what (the `changed` fixture makes it)
Changed = Callable[[dict[str, Any], Change | None], Any]
VALID: list[tuple[str, Change | None]] = [
    *((kind, None) for kind in COMMANDS),
    ("contact", (("contact", "name"), "Søren Ærø 🚲")),
    ("invoice", (("description",), "Ordre \\u0000 (the text, not a NUL)")),
    ("invoice", (("issued_at",), "2026-11-20T10:00:00.123456Z")),
    ("invoice", (("issued_at",), "1999-12-31T23:59:59-01:30")),
    ("voucher", (("lines", 0, "amount"), -(10**15))),
    ("invoice", (("issued_at",), 1763630000)),  # commands are the mapper's: no events' window
]
REFUSED: list[tuple[str, Change | None]] = [
    ("contact", (("contact", "name"), "Mette\x00Hansen")),
    ("contact", (("contact", "country"), "\ud800")),
    ("invoice", (("description",), "Ordre \udfff")),
    ("invoice", (("lines", 1, "description"), "\x00")),
    ("invoice", (("source_event_ids", 0), "evt\x00")),
    ("voucher", (("lines", 0, "supersedes"), "\udbff\udfff\ud800")),
    ("invoice", (("expected_total",), 12.5)),
    ("invoice", (("expected_total",), 10**15 + 1)),
    ("invoice", (("expected_total",), "25000")),
    ("payment", (("amount",), True)),
    ("invoice", (("lines", 0, "quantity"), 0)),
    ("invoice", (("lines", 0, "unitprice"), 1)),
    ("invoice", (("lines",), [])),
    ("invoice", (("issued_at",), "2026-11-20T10:00:00")),
    ("invoice", (("issued_at",), "2026-02-30T10:00:00Z")),
    ("invoice", (("date",), "2026-11-20T10:00:00Z")),
    ("payment", (("revision",), -1)),
    ("payment", (("kind",), "refund")),
    ("voucher", (("posting_key",), "k" * 129)),
    ("voucher", (("tenant_id",), "Shop A")),
]


def outcome(record: bytes | str, parse: Any) -> Any:
    """The command, or the errors as a dead letter carries them (`str` of the error) and as
    an API would answer them."""
    try:
        return parse(record)
    except ValidationError as exc:
        return str(exc), json.dumps(exc.errors(include_url=False), default=repr)


@pytest.mark.parametrize(("kind", "change"), VALID + REFUSED)
def test_parse_command_accepts_and_refuses_as_the_full_validation(
    changed: Changed, kind: str, change: Change | None
) -> None:
    raw = changed(COMMANDS[kind], change)
    escaped = json.dumps(raw)  # NUL and surrogates as escapes
    verbatim = json.dumps(raw, ensure_ascii=False)
    records: list[bytes | str] = [
        escaped.encode(),
        verbatim.encode("utf-8", "surrogatepass"),
        escaped,
        verbatim,
    ]
    for record in records:
        fast, full = outcome(record, parse_command), outcome(record, POSTING_COMMAND.validate_json)
        assert fast == full
        if not isinstance(full, tuple):  # the very command, built the same way
            assert type(fast) is type(full)
            assert fast.model_fields_set == full.model_fields_set
            assert POSTING_COMMAND.dump_json(fast) == POSTING_COMMAND.dump_json(full)
    assert isinstance(fast, tuple) == ((kind, change) in REFUSED)


@pytest.mark.parametrize(
    "record",
    [b"", b"{", b"[]", b"null", b'{"kind": "contact"}', b"\xff\xfe", b'{"kind": "\xed\xa0\x80"}'],
)
def test_parse_command_refuses_what_is_no_command_as_the_full_validation(record: bytes) -> None:
    assert outcome(record, parse_command) == outcome(record, POSTING_COMMAND.validate_json)


def test_a_published_command_parses_back_to_itself() -> None:
    for kind in COMMANDS:
        command = POSTING_COMMAND.validate_python(COMMANDS[kind])
        assert parse_command(POSTING_COMMAND.dump_json(command)) == command
