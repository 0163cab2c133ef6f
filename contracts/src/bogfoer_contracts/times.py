"""Times and days as every contract takes them: RFC 3339 text within a sane window.

A date-time is a string with its UTC offset (`2026-11-20T10:00:00+01:00`); a number, or a
numeric string such as `"-1"` (which pydantic would read as seconds since 1970), is refused.
A day is `YYYY-MM-DD`. Both must fall in the years 2000–2099: wide enough for any real sale,
payout or backfill (Danish bookkeeping keeps five years; Dinero is younger than 2000), and
narrow enough that every value converts to Danish time and back (year 9999 overflowed there)
and means something to Dinero and PostgreSQL. The window is fixed, not relative to today, so
a record accepted once stays valid when it is replayed years later.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, WithJsonSchema
from pydantic_core import core_schema

FIRST_YEAR = 2000
LAST_YEAR = 2099
# One grammar for the check and the schemas (the schemas add the years 20xx): every value the
# validators take matches the schema's pattern. A few that match are no date (30 February).
# Not `format: date-time`: it admits years 1-9999 and, with a pattern, slows generation
# thirtyfold.
_MONTH_DAY = r"-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_TIME = (
    r"[Tt ]([01]\d|2[0-3]):[0-5]\d(:([0-5]\d|60)(\.\d{1,9})?)?([Zz]|[+-]([01]\d|2[0-3]):?[0-5]\d)$"
)
_RFC3339 = re.compile(r"^\d{4}" + _MONTH_DAY + _TIME)
_DAY = re.compile(r"^\d{4}" + _MONTH_DAY + "$")
_TIMESTAMP_PATTERN = r"^20\d{2}" + _MONTH_DAY + _TIME
_TIMESTAMP_SCHEMA = {
    "type": "string",
    "pattern": _TIMESTAMP_PATTERN,
    "description": f"RFC 3339 date-time with UTC offset, years {FIRST_YEAR}–{LAST_YEAR}",
    "examples": ["2026-11-20T10:00:00+01:00"],
}
_DAY_SCHEMA = {
    "type": "string",
    "pattern": r"^20\d{2}" + _MONTH_DAY + "$",
    "description": f"YYYY-MM-DD, years {FIRST_YEAR}–{LAST_YEAR}",
    "examples": ["2026-11-20"],
}


def _timestamp_text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _RFC3339.fullmatch(value):
        return value
    raise ValueError(
        "a date-time is RFC 3339 text with its UTC offset, e.g. 2026-11-20T10:00:00+01:00"
    )


def _day_text(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _DAY.fullmatch(value):
        return value
    raise ValueError("a day is YYYY-MM-DD text, e.g. 2026-11-20")


def _in_window(value: dt.date) -> Any:
    # The year as written (before any conversion), so no offset can push it out of range.
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must lie in the years {FIRST_YEAR}–{LAST_YEAR}")
    return value


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_timestamp_text),
    AfterValidator(_in_window),
    WithJsonSchema(_TIMESTAMP_SCHEMA),
]
Day = Annotated[
    dt.date,
    BeforeValidator(_day_text),
    AfterValidator(_in_window),
    WithJsonSchema(_DAY_SCHEMA),
]


# The schema's pattern with ASCII digits only (`\d` takes any script's): text it matches is
# text `_timestamp_text` takes, in the years `_in_window` takes.
_TIMESTAMP_TEXT = core_schema.str_schema(pattern=_TIMESTAMP_PATTERN.replace(r"\d", "[0-9]"))


def timestamp_text_schema(schema: dict[str, Any]) -> Any:
    """For `bogfoer_contracts.model.checked_text_validator`: where `schema` is a
    `Timestamp`'s (the text checked, then parsed, then its year), the same checks without
    calling back into Python — RFC 3339 text of the years 2000–2099, then parsed as it
    was. What this refuses, the full validation decides (with its own error); what it
    takes, the full validation takes as the same value. Else None."""
    if schema.get("type") != "function-after" or not _calls(schema, _in_window):
        return None
    text = schema["schema"]
    if text.get("type") != "function-before" or not _calls(text, _timestamp_text):
        return None
    return core_schema.chain_schema([_TIMESTAMP_TEXT, text["schema"]])


def _calls(schema: dict[str, Any], function: Any) -> bool:
    called = schema.get("function")
    return isinstance(called, dict) and called.get("function") is function
