"""The consumers' fast path through a posting command (issue 9) decides and builds exactly what
the full validation did: `parse_command` (the validator without the models' walks for
unstorable text where the JSON text proved storable) accepts and refuses the same records
with the same errors, and gives the very command, down to its bytes. `canonical_command`
takes a command's text only where it is the command's dump as a JSON value (the ledger
stores that text instead of the dump)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from bogfoer_contracts.model import storable_json
from bogfoer_contracts.postings import (
    POSTING_COMMAND,
    canonical_command,
    command_json,
    parse_command,
)

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


def _same_as_its_dump(record: bytes | str) -> None:
    """`canonical_command(record)` takes only a command whose dump is `record` as a JSON
    value, and gives the command's fields as the models' plain dump does."""
    document = canonical_command(record)
    if document is None:
        return
    command = parse_command(record)  # accepted by the full validation too
    assert json.loads(record) == json.loads(command_json(command))
    assert document == POSTING_COMMAND.dump_python(command)


@pytest.mark.parametrize(("kind", "change"), VALID + REFUSED)
def test_canonical_command_takes_only_text_that_is_its_dump(
    changed: Changed, kind: str, change: Change | None
) -> None:
    raw = changed(COMMANDS[kind], change)
    verbatim = json.dumps(raw, ensure_ascii=False).encode("utf-8", "surrogatepass")
    for record in (json.dumps(raw), verbatim):
        _same_as_its_dump(record)
        if (kind, change) in REFUSED:
            assert canonical_command(record) is None
    if (kind, change) not in REFUSED:  # the same command as its dump: taken
        dump = command_json(POSTING_COMMAND.validate_python(raw))
        rewritten = json.dumps(json.loads(dump), indent=2, sort_keys=True, ensure_ascii=True)
        for record in (dump, dump.decode(), rewritten):
            # Taken, but where a surrogate's or a NUL's escape asks for the walk.
            assert (canonical_command(record) is not None) == storable_json(record)
            _same_as_its_dump(record)


def test_canonical_command_leaves_defaults_to_the_models() -> None:
    # As written, the test's commands leave fields to their defaults (a revision, a line's
    # unit): their dumps write them, so their text is not their dump.
    for kind, raw in COMMANDS.items():
        assert canonical_command(json.dumps(raw)) is None, kind
        dump = json.loads(command_json(POSTING_COMMAND.validate_python(raw)))
        for field in [name for name in dump if name != "kind"]:
            short = {name: value for name, value in dump.items() if name != field}
            assert canonical_command(json.dumps(short)) is None
    assert canonical_command(b"{not json") is None


_TIMES = [
    f"2026-11-20{t}10:00{s}{f}{z}"
    for t in ("T", "t", " ")
    for s in (":00", ":59", "")
    for f in ("", ".5", ".000000", ".000001", ".123456", ".1234567", ".100000", ",123456")
    for z in ("Z", "z", "+00:00", "-00:00", "+01:00", "-01:30", "+0100", "+00:01", "+23:59", "")
] + ["2026-11-20T24:00:00Z", "2026-06-30T23:59:60Z", "2026-02-30T10:00:00Z", "0001-01-01T00:00:00Z"]
_DAYS = ["2026-11-20", "2026-11-20T00:00:00", "2026-11-20T00:00:00Z", "20261120", "2026-02-30",
         "0001-01-01", "2026-1-2", "٢٠٢٦-11-20"]  # fmt: skip


@pytest.mark.parametrize("text", _TIMES)
def test_canonical_command_takes_a_date_time_only_as_its_dump_writes_it(text: str) -> None:
    dump = json.loads(command_json(POSTING_COMMAND.validate_python(COMMANDS["invoice"])))
    record = json.dumps(dump | {"issued_at": text})
    _same_as_its_dump(record)
    try:
        written = POSTING_COMMAND.validate_json(record).issued_at
    except ValidationError:
        return
    as_dumped = json.loads(command_json(POSTING_COMMAND.validate_json(record)))["issued_at"]
    assert (canonical_command(record) is not None) == (as_dumped == text), written


@pytest.mark.parametrize("text", _DAYS)
def test_canonical_command_takes_a_day_only_as_its_dump_writes_it(text: str) -> None:
    dump = json.loads(command_json(POSTING_COMMAND.validate_python(COMMANDS["payment"])))
    record = json.dumps(dump | {"payment_date": text})
    _same_as_its_dump(record)
    try:
        POSTING_COMMAND.validate_json(record)
    except ValidationError:
        assert canonical_command(record) is None
        return
    as_dumped = json.loads(command_json(POSTING_COMMAND.validate_json(record)))["payment_date"]
    assert (canonical_command(record) is not None) == (as_dumped == text)
