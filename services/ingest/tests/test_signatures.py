"""`verify` reads the header as signers write it (`t=…,v1=…`) in one match; every header,
usual or not, gets the answer the general parse gives it (the only parse before)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bogfoer_ingest import signatures
from bogfoer_ingest.signatures import SignatureError, sign, verify

SECRET = "s3cret"
BODY = b'{"type": "order.placed"}'
NOW = 1_800_000_000
MAC = sign(SECRET, BODY, NOW).partition("v1=")[2]
NEVER = re.compile(r"(?!)")  # matches nothing: every header takes the general parse

HEADERS = [
    f"t={NOW},v1={MAC}",  # as `sign` writes it
    f"t={NOW - 299},v1={sign(SECRET, BODY, NOW - 299).partition('v1=')[2]}",
    f"t={NOW - 301},v1={sign(SECRET, BODY, NOW - 301).partition('v1=')[2]}",  # expired
    f"t={NOW + 400},v1={MAC}",  # from the future
    f"t={NOW},v1={'0' * 64}",  # wrong signature
    f"t={NOW},v1={MAC.upper()}",  # upper-case hex: never compared
    f"t={NOW},v1={MAC[:-1]}",  # 63 digits
    f"t={NOW},v1={MAC}0",  # 65 digits
    f"t={NOW}, v1={MAC}",  # spaces around the parts
    f" t = {NOW} ,v1={MAC} ",
    f"v1={MAC},t={NOW}",  # the other order
    f"t={NOW},v1={'0' * 64},v1={MAC}",  # rotating secrets: two signatures
    f"t={NOW},t={NOW},v1={MAC}",  # two timestamps
    f"t={NOW}0000000,v1={MAC}",  # 17 digits
    f"t=１８,v1={MAC}",  # not ASCII digits
    f"t=-{NOW},v1={MAC}",
    f"t={NOW},v1={MAC},v0=abc",
    f"t={NOW}",
    f"v1={MAC}",
    "t=,v1=",
    "",
    "garbage",
    f"t={NOW},v1={MAC}\n",  # a line break after it
]


def _answer(header: str, body: bytes = BODY) -> tuple[str, object] | None:
    try:
        verify(header, body, SECRET, 300, NOW)
    except SignatureError as exc:
        return exc.reason, exc.detail
    return None


def _answers(monkeypatch: pytest.MonkeyPatch, header: str, body: bytes = BODY) -> list[object]:
    """The answer with the usual form matched at once, then with the general parse alone."""
    first = _answer(header, body)
    with monkeypatch.context() as patched:
        patched.setattr(signatures, "_USUAL", NEVER)
        return [first, _answer(header, body)]


@pytest.mark.parametrize("header", HEADERS)
def test_every_header_gets_the_general_parses_answer(
    monkeypatch: pytest.MonkeyPatch, header: str
) -> None:
    usual, general = _answers(monkeypatch, header)
    assert usual == general


def test_the_usual_header_is_accepted_and_a_tampered_body_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _answers(monkeypatch, f"t={NOW},v1={MAC}") == [None, None]
    refused = ("bad_signature", "no v1 matches the body")
    assert _answers(monkeypatch, f"t={NOW},v1={MAC}", BODY + b" ") == [refused, refused]


@pytest.mark.parametrize(
    ("offset", "answer"),
    [
        (-301, ("signature_expired", {"tolerance_seconds": 300})),
        (-300, None),
        (-299, None),
        (299, None),
        (300, None),
        (301, ("signature_expired", {"tolerance_seconds": 300})),
    ],
)
def test_the_window_is_300_seconds_on_either_side_of_now(
    monkeypatch: pytest.MonkeyPatch, offset: int, answer: object
) -> None:
    """The boundary at the second, with a fixed clock (the integration test of the doors stays
    well clear of it: its requests take time)."""
    header = sign(SECRET, BODY, NOW + offset)
    assert _answers(monkeypatch, header) == [answer, answer]


@given(
    st.lists(
        st.sampled_from(["t=", "v1=", str(NOW), MAC, MAC[:10], ",", " ", "=", "x", "0" * 64]),
        max_size=8,
    ).map("".join)
)
def test_any_header_of_the_usual_parts_gets_the_general_parses_answer(header: str) -> None:
    with pytest.MonkeyPatch.context() as patched:
        usual = _answer(header)
        patched.setattr(signatures, "_USUAL", NEVER)
        assert usual == _answer(header)
