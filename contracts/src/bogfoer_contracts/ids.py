"""Deterministic identifiers: event ids and posting keys.

The same input always gives the same id, so a redelivered webhook or a replayed event
produces the same id and every consumer can drop the duplicate. Different inputs never
give the same key: a key is one document in Dinero, and two orders sharing one would
book the second onto the first (docs/contracts.md, "Posting keys").
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from typing import Annotated

from pydantic import Field

TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
TenantId = Annotated[str, Field(pattern=TENANT_PATTERN, description="lower-case slug")]

# What any posting key looks like (both schemes, hashed or not, hold keys too): how the
# HTTP APIs take a key in a path, so a NUL or 10 kB of junk never reaches a query.
POSTING_KEY_PATTERN = r"^[A-Za-z0-9_.:~-]{1,128}$"
PostingKey = Annotated[str, Field(pattern=POSTING_KEY_PATTERN, description="bogfoer:<tenant>:…")]

_EVENT_NAMESPACE = uuid.UUID("6f1d8a3e-6a8c-4c69-9d2e-0b9f1c2a7e55")
# The hash of the namespace, copied for each id: a new SHA-1 object (OpenSSL looking the
# algorithm up) cost more than hashing an id's few bytes.
_EVENT_NAMESPACE_SHA1 = hashlib.sha1(_EVENT_NAMESPACE.bytes, usedforsecurity=False)
# Dinero's ExternalReference holds at most 128 characters.
EXTERNAL_REFERENCE_MAX = 128
# Characters a key part keeps as they are: the ones every id we know of uses, and all safe
# in a URL and inside Dinero's queryFilter quotes. Keys of ids made only of these are the
# same as before escaping existed, so documents already in Dinero keep their reference.
PLAIN = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
ESCAPE = "~"  # not plain, URL-safe (unreserved), no meaning in a queryFilter
SEPARATOR = ":"
_KIND = re.compile(r"^[a-z_]{1,20}$")
_TENANT = re.compile(TENANT_PATTERN)
_DIGEST_CHARS = 40  # 160 bits of SHA-256
_HASHED_TAIL = re.compile(rf"[0-9a-f]{{{_DIGEST_CHARS}}}")
# Text of `PLAIN` characters only (`escape_part` gives it back as it is); `\Z`: not `$`,
# which also matches before a final newline.
_ALL_PLAIN = re.compile(r"[A-Za-z0-9_.\-]*\Z").match


# The hex digit of the RFC 4122 variant (`10xx`) for each hex digit of the hash there.
_VARIANT_DIGIT = {digit: "89ab"[int(digit, 16) & 0b11] for digit in "0123456789abcdef"}


def event_id(tenant_id: str, source: str, source_event_id: str) -> str:
    """The id of a canonical event, derived from its source and the source's own id: the
    name-based UUID (version 5, RFC 4122) of `tenant/source/source_event_id`, as
    `uuid.uuid5` makes it, written out directly from the hash's hex digits (ingest makes
    one per event; the `UUID` object in between cost as much as the hash, setting the
    version and variant bits in the bytes half as much again)."""
    sha1 = _EVENT_NAMESPACE_SHA1.copy()
    sha1.update(f"{tenant_id}/{source}/{source_event_id}".encode())
    h = sha1.hexdigest()
    # Digit 12 is the version (5); digit 16 keeps its low two bits under the variant.
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


def escape_part(value: str, keep: frozenset[str] = PLAIN) -> str:
    """`value` with every character outside `keep` written as `~XX` per UTF-8 byte.

    Injective: `~` itself is never kept, so every `~` in the result starts an escape of
    exactly two upper-case hex digits, and the original is read back unambiguously. Lone
    surrogates are encoded too (surrogatepass), so no Python string is left out.
    """
    if keep.issuperset(value):  # one C call; a generator over the characters cost ~5 µs a key
        return value
    if value.isascii():  # e.g. an e-mail address: one C call, where the loop took ~2-5 µs
        return value.translate(_ascii_escapes(keep))
    out: list[str] = []
    for c in value:
        if c in keep and c != ESCAPE:
            out.append(c)
        else:
            out.extend(f"{ESCAPE}{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
    return "".join(out)


@functools.lru_cache(maxsize=8)
def _ascii_escapes(keep: frozenset[str]) -> dict[int, str]:
    """`escape_part`'s answer for each ASCII character, as a `str.translate` table."""
    return {
        code: chr(code) if chr(code) in keep and chr(code) != ESCAPE else f"{ESCAPE}{code:02X}"
        for code in range(128)
    }


def posting_key(tenant_id: str, kind: str, *parts: str) -> str:
    """The key of one Dinero document, used as its ExternalReference (≤ 128 characters).

    Readable when it fits: `bogfoer:<tenant>:<kind>:<part>:<part>…`, each part escaped
    (`escape_part`), so `C/1` gives `C~2F1` and never meets `C_1`, and a `:` inside a part
    (`~3A`) never passes for a separator. Otherwise `bogfoer:<tenant>:<kind>:<digest>`, the
    digest being the first 160 bits of SHA-256 over the readable form. A readable key never
    ends in a 40-hex-digit part (such a key is hashed as well), so a readable key and a
    hashed one cannot meet; two hashed keys meet only if SHA-256 collides.
    """
    head = _head(tenant_id, kind)
    # A part of plain characters only (most: ids, sources) is its own escape: one regex
    # match at C speed, where `escape_part`'s call and set test cost three times that — and
    # when all of them are (every key of the bench stream but the contacts' e-mails), one
    # match over the parts run together says so for each of them, without a list of them
    # (the keys of every order are new: a few a decision the mapper meets).
    if _ALL_PLAIN("".join(parts)):
        escaped: tuple[str, ...] | list[str] = parts
    else:
        escaped = [part if _ALL_PLAIN(part) else escape_part(part) for part in parts]
    key = SEPARATOR.join([head, *escaped])
    tail = escaped[-1] if escaped else ""  # an escaped part holds no separator
    if len(key) <= EXTERNAL_REFERENCE_MAX and (
        len(tail) != _DIGEST_CHARS or _HASHED_TAIL.fullmatch(tail) is None
    ):
        return key
    digest = hashlib.sha256(key.encode("ascii")).hexdigest()[:_DIGEST_CHARS]
    return f"{head}{SEPARATOR}{digest}"


@functools.lru_cache(maxsize=4096)
def _head(tenant_id: str, kind: str) -> str:
    """`bogfoer:<tenant>:<kind>`, both checked: remembered, as a process keys documents of
    a few tenants and five kinds over and over (the checks and the join were a third of
    a key; a refused pair raises each time, as an exception is not remembered)."""
    if _TENANT.fullmatch(tenant_id) is None:
        raise ValueError(f"not a tenant id: {tenant_id!r}")
    if _KIND.fullmatch(kind) is None:
        raise ValueError(f"not a posting kind: {kind!r}")
    return SEPARATOR.join(["bogfoer", tenant_id, kind])


_LEGACY_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def legacy_posting_key(tenant_id: str, kind: str, *parts: str) -> str:
    """The key before escaping (key scheme 1): NOT injective (`C/1` and `C_1` meet).

    Kept only so an order whose state was stored under scheme 1 goes on with the keys it
    already emitted (see `bogfoer_rules.policy.OrderState.key_scheme`); never for new ones.
    """
    clean = [_LEGACY_UNSAFE.sub("_", p) for p in parts]
    key = ":".join(["bogfoer", tenant_id, kind, *clean])
    if len(key) <= EXTERNAL_REFERENCE_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    head = ":".join(["bogfoer", tenant_id, kind])[: EXTERNAL_REFERENCE_MAX - 42]
    return f"{head}:{digest}"
