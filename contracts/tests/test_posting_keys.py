"""Posting keys are injective: two different ids never share a Dinero document (issue 12).

A readable key is decoded back to its parts here, independently of the code, so the
property "different parts, different keys" is checked directly; hashed keys are checked
to be distinct from every readable key and from each other.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bogfoer_contracts.ids import (
    EXTERNAL_REFERENCE_MAX,
    PLAIN,
    escape_part,
    legacy_posting_key,
    posting_key,
)

TENANT = "shop-a"
PLAIN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"
# Dinero keeps the reference verbatim and we search it inside queryFilter quotes: only
# URL-unreserved characters, and none with a meaning in a filter (`'`, `;`, `+`, space).
DINERO_SAFE = set(PLAIN_CHARS) | {":", "~"}
HASHED = re.compile(r"^bogfoer:[a-z0-9-]+:[a-z_]+:[0-9a-f]{40}$")

# Characters that collided or were ambiguous before: "_" and what became "_", the
# separator, the escape itself, hex digits (escapes look like them), NUL, a lone
# surrogate, a non-ASCII letter.
_TRICKY = ["a", "C", "1", "F", "_", "/", "+", "@", ":", "~", "7E", "~3A", "\x00", "\ud800", "é"]
tricky_part = st.lists(st.sampled_from(_TRICKY), max_size=6).map("".join)
tricky_parts = st.lists(tricky_part, max_size=4)


def _unescape(part: str) -> str:
    out = bytearray()
    i = 0
    while i < len(part):
        if part[i] == "~":
            assert re.fullmatch(r"[0-9A-F]{2}", part[i + 1 : i + 3]), part
            out.append(int(part[i + 1 : i + 3], 16))
            i += 3
        else:
            out += part[i].encode()
            i += 1
    return out.decode("utf-8", "surrogatepass")


def _decode(key: str) -> tuple[str, str, list[str]]:
    prefix, tenant, kind, *parts = key.split(":")
    assert prefix == "bogfoer"
    return tenant, kind, [_unescape(p) for p in parts]


def test_the_legacy_keys_are_those_in_dinero_today() -> None:
    """`legacy_posting_key` is the function before issue 12, unchanged: keys it made, fixed
    here, are the ExternalReferences of documents already booked."""
    assert legacy_posting_key(TENANT, "invoice", "shopify", "C/1") == (
        "bogfoer:shop-a:invoice:shopify:C_1"
    )
    assert legacy_posting_key(TENANT, "contact", "jens+shop@example.dk") == (
        "bogfoer:shop-a:contact:jens_shop_example.dk"
    )
    assert legacy_posting_key(TENANT, "invoice", "x" * 200) == (
        "bogfoer:shop-a:invoice:"
        + hashlib.sha256(("bogfoer:shop-a:invoice:" + "x" * 200).encode()).hexdigest()[:40]
    )


def test_order_ids_that_differ_only_in_an_unsafe_character_get_different_keys() -> None:
    assert posting_key(TENANT, "invoice", "shopify", "C/1") != posting_key(
        TENANT, "invoice", "shopify", "C_1"
    )


def test_two_e_mail_addresses_never_share_a_contact_key() -> None:
    assert posting_key(TENANT, "contact", "jens+shop@example.dk") != posting_key(
        TENANT, "contact", "jens_shop@example.dk"
    )


def test_a_separator_inside_a_part_is_not_a_separator() -> None:
    assert posting_key(TENANT, "fee", "a:b", "c") != posting_key(TENANT, "fee", "a", "b:c")
    assert posting_key(TENANT, "fee", "a:b") != posting_key(TENANT, "fee", "a", "b")


def test_a_readable_key_never_looks_like_a_hashed_one() -> None:
    long_email = "x" * 120 + "@example.dk"
    hashed = posting_key(TENANT, "contact", long_email)
    assert HASHED.fullmatch(hashed)
    # The digest sent as an id of its own must not give the long address's key.
    digest = hashed.rsplit(":", 1)[1]
    assert posting_key(TENANT, "contact", digest) != hashed


@given(tricky_parts)
@example(["C/1"])
@example(["a:b", "c"])
@example(["~3A"])
def test_a_readable_key_decodes_to_exactly_its_parts(parts: list[str]) -> None:
    key = posting_key(TENANT, "invoice", *parts)
    assert len(key) <= EXTERNAL_REFERENCE_MAX
    assert set(key) <= DINERO_SAFE
    if HASHED.fullmatch(key) is None:
        assert _decode(key) == (TENANT, "invoice", parts)


@given(tricky_parts, tricky_parts)
@example(["C/1"], ["C_1"])
@example(["jens+shop@example.dk"], ["jens_shop@example.dk"])
@example(["a:b"], ["a", "b"])
@example([], [""])
def test_different_parts_give_different_keys(a: list[str], b: list[str]) -> None:
    if a != b:
        assert posting_key(TENANT, "payment", *a) != posting_key(TENANT, "payment", *b)


@given(st.text(min_size=100, max_size=300), st.text(min_size=100, max_size=300))
@example("x" * 200, "x" * 199 + "y")
@example("x" * 199 + "/", "x" * 199 + "_")
def test_long_keys_are_hashed_within_the_limit_and_stay_distinct(a: str, b: str) -> None:
    ka = posting_key(TENANT, "invoice", "shopify", a)
    kb = posting_key(TENANT, "invoice", "shopify", b)
    assert HASHED.fullmatch(ka)
    assert len(ka) <= EXTERNAL_REFERENCE_MAX
    assert (ka == kb) == (a == b)


@given(st.lists(st.text(alphabet=PLAIN_CHARS, max_size=150), max_size=3))
@example(["shopify", "1042"])
@example(["stripe", "pi_3PabcDEF"])
@example(["x" * 200])
def test_keys_of_plain_ids_are_what_dinero_already_holds(parts: list[str]) -> None:
    """Documents already booked keep their ExternalReference: for ids of plain characters
    the key is unchanged, unless it ended in 40 hex digits (only then was it ambiguous)."""
    old = legacy_posting_key(TENANT, "invoice", *parts)
    was_hashed = len(":".join(["bogfoer", TENANT, "invoice", *parts])) > EXTERNAL_REFERENCE_MAX
    if was_hashed or re.fullmatch(r"[0-9a-f]{40}", old.rsplit(":", 1)[1]) is None:
        assert posting_key(TENANT, "invoice", *parts) == old


@pytest.mark.parametrize(("tenant", "kind"), [("Shop-A", "invoice"), ("shop-a", "in:voice")])
def test_tenant_and_kind_must_be_what_the_contracts_allow(tenant: str, kind: str) -> None:
    with pytest.raises(ValueError, match="not a"):
        posting_key(tenant, kind, "1")


def _key_as_first_written(tenant_id: str, kind: str, *parts: str) -> str:
    """`posting_key` as issue 12 wrote it (before its speed-up): the keys it made are the
    ExternalReferences of documents already booked."""
    head = ":".join(["bogfoer", tenant_id, kind])
    key = ":".join([head, *(escape_part(p) for p in parts)])
    tail = key.rsplit(":", 1)[1] if parts else ""
    if len(key) <= EXTERNAL_REFERENCE_MAX and re.fullmatch(r"[0-9a-f]{40}", tail) is None:
        return key
    return f"{head}:{hashlib.sha256(key.encode('ascii')).hexdigest()[:40]}"


_HEX_TAIL = st.text(alphabet="0123456789abcdefA", min_size=39, max_size=41)


@given(st.lists(tricky_part | _HEX_TAIL | st.text(max_size=130), max_size=4))
@example([])
@example([""])
@example(["a" * 40])
@example(["stripe", "0123456789abcdef0123456789abcdef01234567"])
@example(["x" * 101])
def test_keys_are_those_the_first_written_function_made(parts: list[str]) -> None:
    assert posting_key(TENANT, "payment", *parts) == _key_as_first_written(
        TENANT, "payment", *parts
    )


def _escaped_as_first_written(value: str, keep: frozenset[str]) -> str:
    """`escape_part` as issue 12 wrote it, character by character."""
    out: list[str] = []
    for c in value:
        if c in keep and c != "~":
            out.append(c)
        else:
            out.extend(f"~{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
    return "".join(out)


@given(tricky_part | st.text(max_size=40) | st.text(alphabet=st.characters(max_codepoint=127)))
@example("jens+shop@example.dk")
@example("a:b~c\x00\x7f")
def test_a_part_is_escaped_as_the_first_written_function_escaped_it(value: str) -> None:
    state_part_keeps = frozenset(chr(c) for c in range(0x20, 0x7F)) - {":", "~"}
    for keep in (PLAIN, state_part_keeps):
        assert escape_part(value, keep) == _escaped_as_first_written(value, keep)
