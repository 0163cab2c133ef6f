"""The pure core without HTTP: rounding, VAT per line, queryFilter parsing, ledger balance."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dinero_sandbox.documents import totals
from dinero_sandbox.errors import DineroError
from dinero_sandbox.jsonio import dumps, loads
from dinero_sandbox.ledger import trial_balance
from dinero_sandbox.listing import Clause, parse_query_filter
from dinero_sandbox.money import round_to_ore, vat_from_gross, vat_from_net
from dinero_sandbox.seed import ORG_MAIN, seeded_state
from dinero_sandbox.state import Document, Line, Payment


@pytest.mark.parametrize(
    ("kroner", "ore"),
    [("0.005", 1), ("-0.005", -1), ("0.004", 0), ("89.991", 8999), ("22.4975", 2250)],
)
def test_round_half_away_from_zero(kroner: str, ore: int) -> None:
    assert round_to_ore(Decimal(kroner)) == ore


@pytest.mark.parametrize(
    ("gross", "vat"), [(25000, 5000), (5000, 1000), (1, 0), (3, 1), (12345, 2469)]
)
def test_vat_from_gross_at_25_percent(gross: int, vat: int) -> None:
    assert vat_from_gross(gross, Decimal("0.25")) == vat


def test_vat_from_net() -> None:
    assert vat_from_net(8999, Decimal("0.25")) == 2250


@pytest.mark.parametrize(
    ("text", "clauses"),
    [
        ("Name eq 'a'", [Clause("Name", "eq", "a")]),
        ("Name+eq+'O''Brien'", [Clause("Name", "eq", "O'Brien")]),
        (
            "Email eq 'x;y';Name contains 'z'",
            [Clause("Email", "eq", "x;y"), Clause("Name", "contains", "z")],
        ),
        ("Name EQ ''", [Clause("Name", "eq", "")]),
    ],
)
def test_query_filter_parser(text: str, clauses: list[Clause]) -> None:
    assert parse_query_filter(text) == clauses


@pytest.mark.parametrize("text", ["Name = 'a'", "Name eq a", "Name eq 'a' Email eq 'b'", "eq 'a'"])
def test_query_filter_parser_rejects_garbage(text: str) -> None:
    with pytest.raises(DineroError) as caught:
        parse_query_filter(text)
    assert caught.value.code == 42


def test_json_round_trip_keeps_decimals_exact() -> None:
    parsed = loads('{"a": 0.1, "b": 3}')
    assert parsed == {"a": Decimal("0.1"), "b": 3}
    assert (
        dumps({"x": Decimal("300.00"), "d": date(2025, 3, 14)}) == '{"x":300.00,"d":"2025-03-14"}'
    )


amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("99999"), places=2)


@given(
    lines=st.lists(
        st.tuples(st.sampled_from([1000, 1050, 1100, 1350]), st.integers(1, 5), amounts),
        min_size=1,
        max_size=6,
    ),
    incl_vat=st.booleans(),
    paid_fraction=st.integers(0, 100),
)
def test_booked_documents_always_balance(
    lines: list[tuple[int, int, Decimal]], incl_vat: bool, paid_fraction: int
) -> None:
    """Whatever is booked, debits equal credits and 53000 equals what is still owed."""
    state = seeded_state()
    org = state.orgs[ORG_MAIN]
    now = datetime.now(UTC)
    doc = Document(
        kind="invoice",
        guid="g",
        seq=1,
        timestamp="0",
        status="Booked",
        number=1,
        date=date(2025, 3, 14),
        show_lines_incl_vat=incl_vat,
        created_at=now,
        updated_at=now,
        lines=[
            Line(description="x", quantity=Decimal(q), account_number=a, base_amount=p)
            for a, q, p in lines
        ],
    )
    gross = totals(doc, org).gross_ore
    paid = gross * paid_fraction // 100
    if paid:
        doc.payments.append(
            Payment(
                guid="p",
                deposit_account=55000,
                amount_ore=paid,
                payment_date=date(2025, 3, 15),
                created_at=now,
            )
        )
    org.documents[doc.guid] = doc
    balances = trial_balance(org)
    assert sum(balances.values()) == 0
    assert balances[53000] == gross - paid
    assert totals(doc, org).net_ore + totals(doc, org).vat_ore == gross
