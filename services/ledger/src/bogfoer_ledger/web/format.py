"""How the ops pages show numbers and times; pure, so a table of examples tests it.

Amounts are kroner with two decimals in the Danish way (`1.234,50 kr.`); JSON keeps integer
øre. Times are UTC (`2026-03-01 14:05 UTC`), ages the largest unit or two (`3 h 12 min`).
"""

from __future__ import annotations

import datetime as dt


def money(minor: int | None, currency: str | None = "DKK") -> str:
    """`1.234,50 kr.` for DKK (other currencies by code: `12,00 EUR`); `–` for none."""
    if minor is None:
        return "–"
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    grouped = f"{whole:,}".replace(",", ".")
    unit = "kr." if currency in (None, "DKK") else currency
    return f"{sign}{grouped},{cents:02d} {unit}"


def age(seconds: float | None) -> str:
    """`45 s`, `12 min`, `3 h 12 min`, `2 d 5 h`; `–` for none."""
    if seconds is None:
        return "–"
    total = max(0, int(seconds))
    if total < 60:
        return f"{total} s"
    minutes, _ = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def since(at: dt.datetime | None, now: dt.datetime) -> str:
    """How long ago, as `age`."""
    return "–" if at is None else age((now - at).total_seconds())


def when(at: dt.datetime | None) -> str:
    return "–" if at is None else at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
