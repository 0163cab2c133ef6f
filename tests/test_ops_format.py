"""How the ops pages show amounts and ages (bogfoer_ledger.web.format)."""

from __future__ import annotations

import pytest

from bogfoer_ledger.handlers import trace_id_of
from bogfoer_ledger.web.format import age, money


@pytest.mark.parametrize(
    ("minor", "currency", "shown"),
    [
        (0, "DKK", "0,00 kr."),
        (5, "DKK", "0,05 kr."),
        (123450, "DKK", "1.234,50 kr."),
        (-19900, "DKK", "-199,00 kr."),
        (123456789, None, "1.234.567,89 kr."),
        (1200, "EUR", "12,00 EUR"),
        (None, "DKK", "–"),
    ],
)
def test_money_is_kroner_with_two_decimals_the_danish_way(
    minor: int | None, currency: str | None, shown: str
) -> None:
    assert money(minor, currency) == shown


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0 s"), (59.9, "59 s"), (60, "1 min"), (3600, "1 h"), (3720, "1 h 2 min"),
     (86400, "1 d"), (90000, "1 d 1 h"), (-5, "0 s"), (None, "–")],
)  # fmt: skip
def test_ages_show_the_largest_units(seconds: float | None, shown: str) -> None:
    assert age(seconds) == shown


def test_the_trace_id_is_read_from_a_w3c_traceparent() -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert trace_id_of(f"00-{trace}-00f067aa0ba902b7-01") == trace
    assert trace_id_of(f"00-{trace}-00f067aa0ba902b7-01".encode()) == trace
    assert trace_id_of("garbage") is None
    assert trace_id_of(None) is None
