"""The mapper and the tenant's settings over time (real PostgreSQL, the Kafka side recorded):
events that arrive while a tenant is inactive are booked on activation; a hold the settings
fix is booked when the fixed settings arrive; `remap_posting` derives a posting again with
the current settings under a higher revision."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from bogfoer_contracts.events import SALES_EVENT, InboundEvent, stamp
from bogfoer_contracts.ids import posting_key
from bogfoer_contracts.ops import RemapPosting
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_devstack.sales import AT, captured
from bogfoer_mapper import handlers
from tests.integration.conftest import new_tenant
from tests.integration.test_mapper_isolation import RecordingPublisher, placed, pool

pytestmark = pytest.mark.integration
__all__ = ["pool"]  # the fixture, shared with the isolation tests


def settings(tenant: str, version: int, **choices: Any) -> bytes:
    config = TenantConfig.model_validate(
        {
            "tenant_id": tenant,
            "version": version,
            "updated_at": AT,
            "dinero_organization_id": 1,
            "cutover": "2026-01-01",
            "trigger": "order_placed",
            **choices,
        }
    )
    return config.model_dump_json().encode()


def stripe_capture(tenant: str, order_id: str) -> bytes:
    inbound = InboundEvent.model_validate(
        {
            "type": "payment.captured",
            "source": "stripe",
            "source_event_id": f"pi_{order_id}",
            "occurred_at": AT,
            "data": captured(f"pi_{order_id}", order_id, 10000, f"txn_{order_id}"),
        }
    )
    return SALES_EVENT.dump_json(stamp(inbound, tenant, dt.datetime.now(dt.UTC)))


def published(broker: RecordingPublisher, topic: str) -> list[dict[str, Any]]:
    return [json.loads(body) for t, _, body in broker.published if t == topic]


@dataclass
class Mapping:
    """A tenant of its own, the mapper under test and what it published."""

    tenant: str
    broker: RecordingPublisher
    mapper: handlers.Mapper

    def commands(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = published(self.broker, "postings.commands.v1")
        return [c for c in found if kind is None or c["kind"] == kind]


@pytest.fixture
def mapping(pool: asyncpg.Pool) -> Mapping:
    broker = RecordingPublisher()
    return Mapping(new_tenant(), broker, handlers.Mapper(broker, pool))  # type: ignore[arg-type]


def remap_action(tenant: str, key: str) -> bytes:
    action = RemapPosting(
        action_id=uuid.uuid4().hex,
        tenant_id=tenant,
        requested_by="test",
        requested_at=dt.datetime.now(dt.UTC),
        posting_key=key,
    )
    return action.model_dump_json().encode()


async def test_events_of_an_inactive_tenant_are_booked_when_it_is_activated(
    mapping: Mapping,
) -> None:
    tenant, broker, mapper = mapping.tenant, mapping.broker, mapping.mapper
    await mapper.on_config(settings(tenant, 1, active=False))
    event = placed(tenant, "A1")
    await mapper.on_event(event)
    await mapper.on_event(event)  # the shop sends it again while the tenant is inactive
    assert published(broker, "postings.commands.v1") == []

    await mapper.on_config(settings(tenant, 2, active=True))
    kinds = [c["kind"] for c in published(broker, "postings.commands.v1")]
    assert kinds == ["contact", "invoice"]


async def test_the_cutover_still_applies_to_events_kept_while_inactive(mapping: Mapping) -> None:
    tenant, broker, mapper = mapping.tenant, mapping.broker, mapping.mapper
    await mapper.on_config(settings(tenant, 1, active=False))
    await mapper.on_event(placed(tenant, "OLD"))  # placed 2026-11-20
    await mapper.on_config(settings(tenant, 2, active=True, cutover="2026-12-01"))
    assert published(broker, "postings.commands.v1") == []


async def test_a_payment_held_for_its_method_is_booked_when_the_method_is_mapped(
    mapping: Mapping,
) -> None:
    tenant, broker, mapper = mapping.tenant, mapping.broker, mapping.mapper
    await mapper.on_config(settings(tenant, 1, deposit_accounts={}))
    await mapper.on_event(placed(tenant, "P1"))
    await mapper.on_event(stripe_capture(tenant, "P1"))
    holds = published(broker, "postings.results.v1")
    assert [h["error"]["message"].split(":")[0] for h in holds] == ["unmapped_deposit_account"]
    assert [c["kind"] for c in published(broker, "postings.commands.v1")] == ["contact", "invoice"]

    await mapper.on_config(settings(tenant, 2, deposit_accounts={"stripe": 55010}))
    payments = mapping.commands("payment")
    assert [(p["posting_key"], p["deposit_account"]) for p in payments] == [
        (posting_key(tenant, "payment", "stripe", "pi_P1"), 55010)
    ]
    # Settings arriving again change nothing: the hold is resolved, the payment emitted once.
    await mapper.on_config(settings(tenant, 3, deposit_accounts={"stripe": 55010}))
    again = mapping.commands("payment")
    assert len(again) == 1


async def test_remap_posting_derives_the_invoice_again_with_the_current_accounts(
    mapping: Mapping,
) -> None:
    tenant, mapper = mapping.tenant, mapping.mapper
    await mapper.on_config(settings(tenant, 1, accounts={"goods_domestic": 1100}))
    await mapper.on_event(placed(tenant, "R1"))
    key = posting_key(tenant, "invoice", "shopify", "R1")
    (first,) = mapping.commands("invoice")
    assert (first["revision"], first["lines"][0]["account_number"]) == (0, 1100)

    await mapper.on_config(settings(tenant, 2))  # the tenant fixes the goods account
    action = remap_action(tenant, key)
    await mapper.on_action(action)
    await mapper.on_action(action)  # redelivered: carried out once
    invoices = mapping.commands("invoice")
    assert [(c["revision"], c["lines"][0]["account_number"]) for c in invoices] == [
        (0, 1100),
        (1, 1000),
    ]
    await mapper.on_action(remap_action(tenant, key))  # a second request: a new revision
    invoices = mapping.commands("invoice")
    assert [c["revision"] for c in invoices] == [0, 1, 2]


async def test_remap_of_a_key_the_mapper_never_saw_publishes_nothing(mapping: Mapping) -> None:
    tenant, broker, mapper = mapping.tenant, mapping.broker, mapping.mapper
    await mapper.on_config(settings(tenant, 1))
    await mapper.on_action(remap_action(tenant, posting_key(tenant, "invoice", "x", "nope")))
    assert broker.published == []
