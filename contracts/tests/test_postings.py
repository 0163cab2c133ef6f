"""Posting commands and tenant config: discriminated by kind, strict about money."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from bogfoer_contracts import model as model_module
from bogfoer_contracts.events import PaymentRef
from bogfoer_contracts.model import model_json
from bogfoer_contracts.postings import POSTING_COMMAND, CreateInvoice, CreateVoucher
from bogfoer_contracts.tenants import TenantConfig, TenantSettings


def _invoice(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "invoice",
        "posting_key": "bogfoer:shop-a:invoice:shopify:1042",
        "tenant_id": "shop-a",
        "organization_id": 100001,
        "issued_at": "2026-11-20T10:00:00Z",
        "contact_key": "bogfoer:shop-a:contact:kunde@example.dk",
        "date": "2026-11-20",
        "currency": "DKK",
        "description": "Ordre #1042",
        "lines": [
            {"description": "T-shirt", "quantity": 2, "unit_price": 12500, "account_number": 1000}
        ],
        "expected_total": 25000,
        "expected_vat": 5000,
        "booking": "booked",
    }
    data.update(overrides)
    return data


def test_commands_round_trip_and_dispatch_on_kind() -> None:
    command = POSTING_COMMAND.validate_python(_invoice())
    assert isinstance(command, CreateInvoice)
    assert POSTING_COMMAND.validate_json(POSTING_COMMAND.dump_json(command)) == command
    voucher = POSTING_COMMAND.validate_python(
        {
            "kind": "voucher",
            "purpose": "fee",
            "posting_key": "k",
            "tenant_id": "shop-a",
            "organization_id": 1,
            "issued_at": "2026-11-20T10:00:00Z",
            "date": "2026-11-20",
            "lines": [
                {
                    "description": "fee",
                    "account_number": 7220,
                    "balancing_account_number": 55010,
                    "amount": 465,
                }
            ],
        }
    )
    assert isinstance(voucher, CreateVoucher)


def test_posting_keys_longer_than_dinero_allows_are_refused() -> None:
    with pytest.raises(ValidationError):
        POSTING_COMMAND.validate_python(_invoice(posting_key="k" * 129))


def test_tenant_config_defaults_follow_dinero_default_chart() -> None:
    config = TenantConfig.model_validate(
        {
            "tenant_id": "shop-a",
            "version": 1,
            "updated_at": "2026-11-20T10:00:00Z",
            "dinero_organization_id": 100001,
            "cutover": "2026-01-01",
        }
    )
    assert config.accounts.goods_domestic == 1000
    assert config.accounts.shipping_domestic == 1350
    assert config.deposit_accounts == {"stripe": 55010}
    with pytest.raises(ValidationError):
        TenantConfig.model_validate(config.model_dump() | {"booking_mode": "maybe"})


def test_deposit_accounts_are_keyed_by_provider_and_unknown_keys_are_refused() -> None:
    settings = {"dinero_organization_id": 100001, "cutover": "2026-01-01"}
    with pytest.raises(ValidationError) as refused:
        TenantSettings.model_validate(settings | {"deposit_accounts": {"card": 55010}})
    message = str(refused.value)
    assert "deposit_accounts.card" in message
    for provider in ("stripe", "mobilepay", "bank", "cash", "other"):
        assert f"'{provider}'" in message  # the valid keys are listed


def test_settings_published_with_the_old_card_key_are_read_as_stripe() -> None:
    published = {
        "tenant_id": "shop-a",
        "version": 3,
        "updated_at": "2026-11-20T10:00:00Z",
        "dinero_organization_id": 100001,
        "cutover": "2026-01-01",
        "deposit_accounts": {"card": 55011, "bank": 55000},
    }
    config = TenantConfig.model_validate(published)
    assert config.deposit_accounts == {"stripe": 55011, "bank": 55000}


def test_every_consumed_topic_has_a_declared_dead_letter_topic() -> None:
    from bogfoer_contracts.topics import DLQ_TOPICS, TOPICS, dlq_topic

    consumed = {spec.name for spec in TOPICS if spec.name not in DLQ_TOPICS}
    assert {dlq_topic(name) for name in consumed} == set(DLQ_TOPICS)


def test_a_models_json_is_remembered_for_that_instance_only() -> None:
    """`model_json`: an instance's own serializer's text, the same text object the second
    time, and never another instance's (an equal one, or one at a forgotten id)."""
    first = PaymentRef(provider="stripe", reference="pi_1")
    text = model_json(first)
    assert text == first.__pydantic_serializer__.to_json(first)
    assert model_json(first) is text
    other = PaymentRef(provider="stripe", reference="pi_2")
    assert model_json(other) == other.__pydantic_serializer__.to_json(other)
    for n in range(model_module._JSON_KEPT + 1):  # past the bound: forgotten, not wrong
        model_json(PaymentRef(provider="stripe", reference=f"pi_x{n}"))
    assert model_json(first) == text
    assert model_json(other) == other.__pydantic_serializer__.to_json(other)


def test_a_models_json_is_remembered_for_at_least_the_bound_of_later_ones() -> None:
    """`model_json` keeps two generations: a text written just before the newer one filled
    up is still the same text object `_JSON_KEPT` texts later (an invoice's, written when it
    is published and again in its state's dump at the end of a poll)."""
    model_module._JSON_BEFORE.clear()
    model_module._JSON.clear()
    for n in range(model_module._JSON_KEPT - 1):
        model_json(PaymentRef(provider="stripe", reference=f"pi_y{n}"))
    last = PaymentRef(provider="stripe", reference="pi_last")
    text = model_json(last)  # the newer generation is full now
    others = [PaymentRef(provider="stripe", reference=f"pi_z{n}") for n in range(10)]
    for other in others:  # the first of them starts a new one
        model_json(other)
    assert model_json(last) is text
