"""List mechanics shared by every collection: queryFilter, fields, changesSince, paging."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from dinero_sandbox.errors import OUT_OF_RANGE, DineroError, validation

MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100


@dataclass(frozen=True)
class Clause:
    field: str
    operator: Literal["eq", "contains"]
    value: str


def parse_query_filter(text: str) -> list[Clause]:
    """Parse `Prop eq 'v';Prop contains 'w'` — quotes doubled inside values, `;` joins (AND)."""
    clauses: list[Clause] = []
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " ;":
            i += 1
        if i >= n:
            break
        start = i
        while i < n and text[i] not in " +":
            i += 1
        field = text[start:i]
        while i < n and text[i] in " +":
            i += 1
        start = i
        while i < n and text[i] not in " +'":
            i += 1
        operator = text[start:i].lower()
        while i < n and text[i] in " +":
            i += 1
        if not field or operator not in ("eq", "contains") or i >= n or text[i] != "'":
            raise validation("queryFilter", f"Cannot parse queryFilter near position {start}.")
        i += 1
        value: list[str] = []
        while True:
            if i >= n:
                raise validation("queryFilter", "Unterminated string in queryFilter.")
            if text[i] == "'":
                if i + 1 < n and text[i + 1] == "'":
                    value.append("'")
                    i += 2
                    continue
                i += 1
                break
            value.append(text[i])
            i += 1
        clauses.append(Clause(field, "eq" if operator == "eq" else "contains", "".join(value)))
        while i < n and text[i] in " +":
            i += 1
        if i < n and text[i] != ";":
            raise validation("queryFilter", "Clauses must be joined by ';'.")
    return clauses


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def make_filter(text: str | None, allowed: Sequence[str]) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate over a row's PascalCase fields. Matches are exact and case-sensitive — the
    conservative reading of "exact string matches"; only documented fields may be filtered."""
    if not text:
        return lambda _row: True
    by_lower = {name.lower(): name for name in allowed}
    clauses = parse_query_filter(text)
    resolved: list[tuple[str, Clause]] = []
    for clause in clauses:
        name = by_lower.get(clause.field.lower())
        if name is None:
            raise validation(
                "queryFilter",
                f"'{clause.field}' cannot be filtered here; allowed: {', '.join(allowed)}.",
            )
        resolved.append((name, clause))

    def matches(row: Mapping[str, Any]) -> bool:
        for name, clause in resolved:
            actual = _as_text(row.get(name))
            if clause.operator == "eq" and actual != clause.value:
                return False
            if clause.operator == "contains" and clause.value not in actual:
                return False
        return True

    return matches


def parse_changes_since(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise validation("changesSince", "Use UTC in the format YYYY-MM-DDTHH:mm:ssZ.") from None
    return parsed


def project(row: Mapping[str, Any], fields: str | None, default: str) -> dict[str, Any]:
    """Keep the asked fields (case-insensitive), echoing the caller's casing; unknown skipped."""
    by_lower = {key.lower(): key for key in row}
    out: dict[str, Any] = {}
    for asked in (fields or default).split(","):
        asked = asked.strip()
        key = by_lower.get(asked.lower())
        if asked and key is not None:
            out[asked] = row[key]
    return out


def parse_int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise validation(name, f"'{raw}' is not a whole number.") from None


def paginate(
    rows: list[dict[str, Any]],
    total_without_filter: int,
    params: Mapping[str, str],
) -> dict[str, Any]:
    """Dinero's {Collection, Pagination}: 0-based page; pageSize above 1000 is refused
    (conservative: the docs only say 1000 is the maximum)."""
    page = parse_int(params, "page", 0)
    size = parse_int(params, "pageSize", DEFAULT_PAGE_SIZE)
    if page < 0:
        raise DineroError(400, OUT_OF_RANGE, "Value out of range", {"page": "Must be 0 or more."})
    if size < 1 or size > MAX_PAGE_SIZE:
        raise DineroError(
            400,
            OUT_OF_RANGE,
            "Value out of range",
            {"pageSize": f"Must be between 1 and {MAX_PAGE_SIZE}."},
        )
    chunk = rows[page * size : (page + 1) * size]
    return {
        "Collection": chunk,
        "Pagination": {
            "MaxPageSizeAllowed": MAX_PAGE_SIZE,
            "PageSize": size,
            "Result": len(chunk),
            "ResultWithoutFilter": total_without_filter,
            "Page": page,
        },
    }
