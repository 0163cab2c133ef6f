"""The models the rules build without validating them (`bogfoer_rules.checked`) are valid.

The rules build their commands, lines and contacts directly from parts validated already,
so nothing at run time checks them again; these tests do. Every command of every golden
stream (`test_rules_golden`) must be what validating its own dump gives — equal, and the
same JSON byte for byte — and so must every invoiced line a state keeps. A rule that builds
an invalid model (a missing line, a negative quantity, an amount out of bounds, a field of
the wrong type) fails here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from pydantic import BaseModel, Field, ValidationError
from test_rules_golden import Stream, _bench, _cases, _shuffled, decided

from bogfoer_contracts import postings
from bogfoer_contracts.events import RefundLine
from bogfoer_contracts.postings import POSTING_COMMAND, PostingCommand, command_json
from bogfoer_rules import checked
from bogfoer_rules.documents import ROUNDING_LINE_ID, CreditDraft, InvoicedLine, credit_lines
from bogfoer_rules.policy import OrderState


def _built(stream: Stream) -> Iterator[tuple[list[PostingCommand], OrderState]]:
    for decision in decided(stream):
        yield decision.commands, decision.state


def _revalidated(command: PostingCommand) -> PostingCommand:
    again: PostingCommand = POSTING_COMMAND.validate_python(command.model_dump())
    return again


def _assert_valid(command: PostingCommand) -> None:
    again = _revalidated(command)
    assert again == command
    assert type(again) is type(command)
    assert POSTING_COMMAND.dump_json(again) == command_json(command)


@pytest.mark.parametrize("stream", [_bench, _shuffled, _cases])
def test_every_command_the_rules_build_is_what_validating_it_gives(stream: object) -> None:
    assert callable(stream)
    commands = 0
    lines: dict[int, InvoicedLine] = {}
    for made, state in _built(stream()):
        for command in made:
            _assert_valid(command)
            commands += 1
        for line in state.invoice_lines:
            lines[id(line)] = line
    assert commands > 10
    assert lines
    for line in lines.values():
        assert InvoicedLine.model_validate(line.model_dump()) == line


def test_the_check_catches_a_command_validation_would_refuse() -> None:
    """The property above can fail: a rule building an invoice without lines, or a
    negative quantity, is refused by it."""
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    common = {
        "posting_key": "bogfoer:t1:invoice:x",
        "tenant_id": "t1",
        "organization_id": 1,
        "issued_at": at,
        "contact_key": "bogfoer:t1:contact:x",
        "date": at.date(),
        "currency": "DKK",
        "description": "x",
        "expected_total": 100,
        "expected_vat": 20,
        "booking": "draft",
    }
    no_lines = checked.CreateInvoice(lines=[], **common)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        _assert_valid(no_lines)
    negative = checked.InvoiceLineSpec(
        description="x", quantity=-1, unit_price=100, account_number=1000
    )
    with pytest.raises(ValidationError):
        _assert_valid(checked.CreateInvoice(lines=[negative], **common))  # type: ignore[arg-type]


def _same(direct: BaseModel, validated: BaseModel) -> None:
    assert direct == validated
    assert direct.model_fields_set == validated.model_fields_set
    assert list(direct.__dict__) == list(validated.__dict__)
    assert direct.model_dump_json() == validated.model_dump_json()


def test_a_model_built_directly_is_the_validated_one_defaults_and_fields_set_alike() -> None:
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    line = {"description": "Gebyr", "account_number": 7220, "balancing_account_number": 55010}
    voucher = {
        "posting_key": "bogfoer:t1:fee:x",
        "tenant_id": "t1",
        "organization_id": 1,
        "issued_at": at,
        "purpose": "fee",
        "date": at.date(),
    }
    direct_line = checked.VoucherLineSpec(amount=250, **line)  # type: ignore[arg-type]
    validated_line = checked.without_text_walk(postings.VoucherLineSpec)(amount=250, **line)  # type: ignore[arg-type]
    _same(direct_line, validated_line)
    direct = checked.CreateVoucher(lines=[direct_line], **voucher)  # type: ignore[arg-type]
    validated = checked.without_text_walk(postings.CreateVoucher)(lines=[validated_line], **voucher)  # type: ignore[arg-type]
    _same(direct, validated)
    # Each a default factory's own list, as validation gives.
    other = checked.CreateVoucher(lines=[direct_line], **voucher)  # type: ignore[arg-type]
    assert direct.depends_on is not other.depends_on


def test_a_field_the_model_does_not_have_or_a_missing_one_is_refused() -> None:
    with pytest.raises(TypeError, match="no field"):
        checked.ContactSpec(name="x", country="DK", colour="red")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"needs \['country'\]"):
        checked.ContactSpec(name="x")  # type: ignore[call-arg]


@pytest.mark.parametrize("incl_vat", [True, False])
def test_a_credit_notes_rounding_line_is_what_validating_it_gives(incl_vat: bool) -> None:
    """The rounding line of a refund by lines (`credit_lines`, the refunded amount a little
    off the lines' total) is built without validation too, and no stream above reaches it."""
    invoiced = [
        InvoicedLine(
            line_id="l1",
            kind="goods",
            spec=postings.InvoiceLineSpec(
                description="Vare", quantity=2, unit_price=10_000, account_number=1000
            ),
            vat_rate=2500,
        )
    ]
    lines_total = 10_000 if incl_vat else 12_500  # one unit, incl. VAT
    for off in (-5, 5):  # a rounding line of 5 øre incl. VAT: 4 and 1 of VAT without
        draft = credit_lines(
            invoiced,
            {},
            [RefundLine(line_id="l1", quantity=1)],
            lines_total + off,
            incl_vat=incl_vat,
            tolerance=5,
        )
        assert isinstance(draft, CreditDraft), draft
        assert [line.line_id for line in draft.lines] == ["l1", ROUNDING_LINE_ID]
        for line in draft.lines:
            again = InvoicedLine.model_validate(line.model_dump())
            assert again == line
            assert again.model_dump_json() == line.model_dump_json()


def test_a_field_cannot_shadow_the_builders_own_names() -> None:
    class Named(BaseModel):
        fields_set: list[str] = Field(default_factory=list)
        unknown: str = "u"
        args: str = "a"
        set: int = 0

    built = checked.constructed(Named)(fields_set=["x"], args="b")
    assert built == Named(fields_set=["x"], args="b")
    assert built.model_fields_set == {"fields_set", "args"}
    assert checked.constructed(Named)() == Named()


def test_a_mutable_default_is_refused() -> None:
    class Shared(BaseModel):
        items: list[str] = []

    with pytest.raises(TypeError, match="mutable default"):
        checked.constructed(Shared)
