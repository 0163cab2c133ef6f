"""Typed reads of request fields (keys already lower-cased), raising Dinero's code 42."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from dinero_sandbox.errors import validation
from dinero_sandbox.money import exact_ore

MAX_REFERENCE_LENGTH = 128


def text(
    body: dict[str, Any], name: str, *, required: bool = False, max_length: int | None = None
) -> str | None:
    value = body.get(name.lower())
    if value is None or (required and value == ""):
        if required:
            raise validation(name, f"{name} is required.")
        return None
    if not isinstance(value, str):
        raise validation(name, f"{name} must be a string.")
    if max_length is not None and len(value) > max_length:
        raise validation(name, f"{name} must be at most {max_length} characters.")
    return value


def required_text(body: dict[str, Any], name: str, max_length: int | None = None) -> str:
    value = text(body, name, required=True, max_length=max_length)
    assert value is not None  # text(required=True) raised otherwise
    return value


def integer(body: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    value = body.get(name.lower())
    if value is None:
        if required:
            raise validation(name, f"{name} is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise validation(name, f"{name} must be a whole number.")
    if isinstance(value, Decimal) and value != value.to_integral_value():
        raise validation(name, f"{name} must be a whole number.")
    return int(value)


def decimal(body: dict[str, Any], name: str, *, required: bool = False) -> Decimal | None:
    value = body.get(name.lower())
    if value is None:
        if required:
            raise validation(name, f"{name} is required.")
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise validation(name, f"{name} must be a number.")
    return Decimal(value)


def amount_ore(body: dict[str, Any], name: str, *, required: bool = False) -> int | None:
    """A money amount in kroner with at most two decimals, as øre."""
    value = decimal(body, name, required=required)
    if value is None:
        return None
    ore = exact_ore(value)
    if ore is None:
        raise validation(name, f"{name} may have at most two decimals.")
    return ore


def boolean(body: dict[str, Any], name: str, *, required: bool = False) -> bool | None:
    value = body.get(name.lower())
    if value is None:
        if required:
            raise validation(name, f"{name} is required.")
        return None
    if not isinstance(value, bool):
        raise validation(name, f"{name} must be true or false.")
    return value


def day(body: dict[str, Any], name: str, *, required: bool = False) -> date | None:
    value = text(body, name, required=required)
    if value is None:
        return None
    try:
        return date.fromisoformat(value[:10]) if len(value) >= 10 else date.fromisoformat(value)
    except ValueError:
        raise validation(name, f"{name} must be a date, YYYY-MM-DD.") from None


def timestamp(body: dict[str, Any], *, required: bool = True) -> str | None:
    """Request bodies spell it `Timestamp`; keys are case-insensitive, so `TimeStamp` works too."""
    return text(body, "Timestamp", required=required)


def required_integer(body: dict[str, Any], name: str) -> int:
    value = integer(body, name, required=True)
    assert value is not None  # integer(required=True) raised otherwise
    return value


def required_decimal(body: dict[str, Any], name: str) -> Decimal:
    value = decimal(body, name, required=True)
    assert value is not None  # decimal(required=True) raised otherwise
    return value


def required_amount_ore(body: dict[str, Any], name: str) -> int:
    value = amount_ore(body, name, required=True)
    assert value is not None  # amount_ore(required=True) raised otherwise
    return value
