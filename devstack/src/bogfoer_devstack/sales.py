"""Realistic canonical shop events, for the end-to-end tests and `make demo`."""

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
    placed_at: str = "2026-11-20T10:00:00+01:00",
) -> dict[str, Any]:
    total = sum(line["quantity"] * line["unit_price"] for line in lines)
    vat = sum(
        line["quantity"] * line["unit_price"] * line["vat_rate"] // (10_000 + line["vat_rate"])
        for line in lines
    )
    return {
        "order_id": order_id,
        "order_number": f"#{order_id}",
        "placed_at": placed_at,
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


def discount(amount: int, vat_rate: int = 2500) -> dict[str, Any]:
    """A discount line: negative, on the goods it discounts."""
    return {
        "line_id": "disc",
        "kind": "discount",
        "description": "Rabat",
        "quantity": 1,
        "unit_price": -amount,
        "vat_rate": vat_rate,
    }


def stripe_ref(payment_id: str) -> dict[str, Any]:
    return {"provider": "stripe", "reference": payment_id, "method": "card"}


AT = "2026-11-20T10:00:00+01:00"


def captured(payment_id: str, order_id: str | None, amount: int, txn: str) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "order_id": order_id,
        "amount": amount,
        "currency": "DKK",
        "method": "card",
        "provider": "stripe",
        "balance_transaction_id": txn,
        "captured_at": AT,
    }


def fee(payment_id: str, amount: int, txn: str) -> dict[str, Any]:
    return {
        "payment_id": payment_id,
        "amount": amount,
        "currency": "DKK",
        "provider": "stripe",
        "balance_transaction_id": txn,
        "charged_at": AT,
    }


def payout(payout_id: str, transactions: list[dict[str, Any]]) -> dict[str, Any]:
    net = sum(t["net"] for t in transactions)
    return {
        "payout_id": payout_id,
        "amount": net,
        "currency": "DKK",
        "provider": "stripe",
        "arrival_date": "2026-11-23",
        "balance_transactions": transactions,
    }


def charge_txn(txn: str, amount: int, fee_amount: int, source: str) -> dict[str, Any]:
    return {
        "id": txn,
        "reporting_category": "charge",
        "amount": amount,
        "fee": fee_amount,
        "net": amount - fee_amount,
        "source": source,
    }


def refund_txn(txn: str, amount: int, source: str) -> dict[str, Any]:
    return {
        "id": txn,
        "reporting_category": "refund",
        "amount": -amount,
        "fee": 0,
        "net": -amount,
        "source": source,
    }
