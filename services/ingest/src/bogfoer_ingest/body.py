"""A request body as ingest's contract takes it (docs/ingest-api.md, "The body").

`Content-Type: application/json` (a `charset` other than UTF-8 is refused), UTF-8 without a
byte-order mark (`json.loads` on bytes would also take UTF-16 and UTF-32 and skip a BOM: the
signature is over bytes a different client library may never reproduce), at most
`max_body_bytes`, and nested at most `MAX_DEPTH` deep — measured before `json.loads`, whose
recursion a body of 1,000 `[` exhausts.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import Request

from bogfoer_kit.errors import ApiError

# Our events nest 5 deep, Stripe's events about 8; anything near 32 is not an event.
MAX_DEPTH = 32
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
# Every byte but a quote and the brackets, for bytes.translate to delete.
_NOT_SKELETON = bytes(b for b in range(256) if b not in b'"[]{}')
_STRING = re.compile(rb'"[^"]*"')
_LENGTH = re.compile(r"[0-9]{1,18}")
_UTF8_JSON = "the body must be JSON in UTF-8, without a byte-order mark"


async def read(request: Request, limit: int) -> bytes:
    """The raw bytes (what signatures cover), refusing more than `limit` while reading."""
    declared = request.headers.get("content-length")
    # A declared length is trusted only to refuse early; the stream is counted anyway.
    if declared and _LENGTH.fullmatch(declared) and int(declared) > limit:
        raise ApiError(413, "body_too_large", {"limit_bytes": limit})
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "body_too_large", {"limit_bytes": limit})
    return bytes(body)


def require_json(content_type: str | None) -> None:
    media, _, params = (content_type or "").partition(";")
    if media.strip().lower() != "application/json":
        raise ApiError(415, "unsupported_media_type", "send Content-Type: application/json")
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
            "utf-8",
            "utf8",
        ):
            raise ApiError(415, "unsupported_media_type", _UTF8_JSON)


def check_nesting(body: bytes, limit: int) -> None:
    """Refuse a body nested deeper than `limit`, without recursion: strings are cut out,
    then the innermost `[]`/`{}` pairs removed once per level, at most `limit` passes of
    C-speed `bytes.replace`. Brackets that do not pair up cannot be JSON (strings are gone)
    and are refused here too, so `json.loads` never meets an unbounded nesting.

    Strings are cut out of the body's skeleton, not the body: escapes (`\\"`, `\\\\`) are
    dropped first, then every byte but quotes and brackets (UTF-8 never hides either inside
    a character), so what is left is short and every string in it is `"…"` without escapes.
    Most strings hold no bracket and are left as `""`; when the quotes pair up (an even
    count), removing two adjacent quotes keeps the parity of the quotes before every other
    byte (whether it is inside a string), so `replace` takes those out, and the slower regex
    only sees strings holding brackets. A
    backslash outside a string (not JSON) may hide a bracket here, but `json.loads` stops
    at it."""
    unescaped = _ESCAPE.sub(b"", body) if b"\\" in body else body
    skeleton = unescaped.translate(None, _NOT_SKELETON)
    if skeleton.count(b'"') % 2 == 0:
        # Every quote closes the string the one before opened: adjacent pairs can go first.
        # With an odd count (not JSON) which quote is left stray depends on the pairing, so
        # the strings are cut out in order, as by the regex alone.
        skeleton = skeleton.replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = _STRING.sub(b"", skeleton).replace(b'"', b"")  # a stray quote: not JSON
    brackets = skeleton
    for _ in range(limit):
        if not brackets:
            return
        reduced = _innermost_removed(brackets)
        if reduced == brackets:
            raise ApiError(400, "malformed_json", "brackets do not pair up")
        brackets = reduced
    if brackets:
        raise ApiError(400, "nesting_too_deep", {"max_depth": limit})


def _innermost_removed(brackets: bytes) -> bytes:
    """`brackets` without every `[]` and `{}` it holds (one level): a pair that only forms
    once another is gone (`{[]}`) is kept for the next level, as `<` keeps them apart."""
    return brackets.replace(b"[]", b"<").replace(b"{}", b"<").replace(b"<", b"")


def parse(body: bytes, depth: int = MAX_DEPTH) -> Any:
    """The JSON value of a UTF-8 body nested at most `depth` deep; 400 for anything else."""
    return parsed(text_of(body, depth))


def text_of(body: bytes, depth: int = MAX_DEPTH) -> str:
    """The text of a body `parse` would parse: UTF-8 without a byte-order mark, nested at
    most `depth` deep; 400 for anything else (what `parse` checks before parsing)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        detail = f"{_UTF8_JSON}: {exc.reason} at byte {exc.start}"
        raise ApiError(400, "malformed_json", detail) from exc
    if text.startswith("\ufeff"):
        raise ApiError(400, "malformed_json", _UTF8_JSON)
    check_nesting(body, depth)
    return text


def parsed(text: str) -> Any:
    """The JSON value of `text` (from `text_of`); 400 when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "malformed_json", str(exc)) from exc
