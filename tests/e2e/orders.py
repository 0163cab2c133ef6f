"""Realistic canonical shop events for the end-to-end tests and the demo's checks."""

from __future__ import annotations

from typing import Any


def address(country: str, postcode: str = "1000") -> dict[str, Any]:
    return {"country": country, "postcode": postcode, "city": "By"}


def order(
    order_id: str,
    *,
    lines: list[dict[str, Any]],
    country: str = "DK",
    postcode: str = "8000",
    kind: str = "person",
    vat_number: str | None = None,
    email: str | None = None,
    payments: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    total = sum(line["quantity"] * line["unit_price"] for line in lines)
    vat = sum(
        line["quantity"] * line["unit_price"] * line["vat_rate"] // (10_000 + line["vat_rate"])
        for line in lines
    )
    return {
        "order_id": order_id,
        "order_number": f"#{order_id}",
        "placed_at": "2026-11-20T10:00:00+01:00",
        "currency": "DKK",
        "customer": {
            "email": email or f"kunde-{order_id}@example.dk",
            "name": f"Kunde {order_id}",
            "kind": kind,
            "vat_number": vat_number,
            "billing_address": address(country, postcode),
        },
        "lines": lines,
        "total": total,
        "vat_total": vat,
        "payments": payments or [],
    }


def goods(line_id: str, unit_price: int, quantity: int = 1, vat_rate: int = 2500) -> dict[str, Any]:
    return {
        "line_id": line_id,
        "kind": "goods",
        "description": f"Vare {line_id}",
        "quantity": quantity,
        "unit_price": unit_price,
        "vat_rate": vat_rate,
    }


def shipping(unit_price: int, vat_rate: int = 2500) -> dict[str, Any]:
    return {
        "line_id": "ship",
        "kind": "shipping",
        "description": "Fragt",
        "quantity": 1,
        "unit_price": unit_price,
        "vat_rate": vat_rate,
    }
