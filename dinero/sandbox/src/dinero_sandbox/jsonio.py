"""JSON without floats: numbers parse to Decimal/int, Decimals serialise as JSON numbers."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from starlette.responses import Response


def loads(raw: bytes | str) -> Any:
    """Parse JSON, reading every non-integer number as a Decimal."""
    return json.loads(raw, parse_float=Decimal)


def lower_keys(value: Any) -> Any:
    """Dinero matches request keys case-insensitively; lower-case them once at the edge."""
    if isinstance(value, Mapping):
        return {str(k).lower(): lower_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [lower_keys(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Serialise, writing Decimals as plain JSON numbers (never through float)."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, datetime):
        return json.dumps(value.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    if isinstance(value, Mapping):
        items = (f"{json.dumps(str(k), ensure_ascii=False)}:{dumps(v)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    raise TypeError(f"cannot serialise {type(value).__name__}")


class DecimalJSONResponse(Response):
    """A JSON response that keeps Decimal amounts exact."""

    media_type = "application/json; charset=utf-8"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode("utf-8")
