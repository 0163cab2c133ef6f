"""Builders of valid contract objects for the contract tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest


def order_data(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_id": "1042",
        "order_number": "#1042",
        "placed_at": "2026-11-20T10:00:00+01:00",
        "currency": "DKK",
        "customer": {
            "email": "kunde@example.dk",
            "name": "Mette Hansen",
            "billing_address": {"country": "DK", "postcode": "8000", "city": "Aarhus C"},
        },
        "lines": [
            {
                "line_id": "1",
                "kind": "goods",
                "description": "T-shirt",
                "quantity": 2,
                "unit_price": 12500,
                "vat_rate": 2500,
            },
            {
                "line_id": "2",
                "kind": "shipping",
                "description": "GLS",
                "quantity": 1,
                "unit_price": 5000,
                "vat_rate": 2500,
            },
        ],
        "total": 30000,
        "vat_total": 6000,
        "payments": [{"provider": "stripe", "reference": "pi_123"}],
    }
    data.update(overrides)
    return data


@pytest.fixture
def placed_event() -> dict[str, Any]:
    return {
        "id": "0b0c5d2e-1111-5222-8333-444455556666",
        "type": "order.placed",
        "source": "shopify",
        "source_event_id": "order-1042-created",
        "tenant_id": "shop-a",
        "occurred_at": "2026-11-20T10:00:00+01:00",
        "received_at": "2026-11-20T10:00:01+01:00",
        "schema_version": 1,
        "data": order_data(),
    }


Change = tuple[tuple[str | int, ...], Any]  # where in a JSON-like value, what to put there


def _changed(raw: dict[str, Any], change: Change | None) -> Any:
    """A deep copy of `raw` with `change` made (a field set, added or replaced)."""
    copied = copy.deepcopy(raw)
    if change is not None:
        (*path, last), value = change
        target: Any = copied
        for step in path:
            target = target[step]
        target[last] = value
    return copied


@pytest.fixture
def changed() -> Callable[[dict[str, Any], Change | None], Any]:
    """How the checked-text tests make each variant of a valid record."""
    return _changed
