"""normalise(): every mapped Stripe event type, the ignored ones, and idempotent ids."""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any

import pytest

from bogfoer_contracts.events import (
    BalanceTransaction,
    InboundEvent,
    PaymentCaptured,
    PaymentFee,
    PaymentRefunded,
    PayoutPaid,
    stamp,
)
from bogfoer_devstack.stripe_double import StripeWorld
from bogfoer_ingest.stripe import StripeEventError, StripePermanent, listed, normalise
from bogfoer_ingest.stripe.api import to_balance_transaction


class WorldBalance:
    """StripeBalance over a StripeWorld's objects, in memory, counting reads."""

    def __init__(self, world: StripeWorld) -> None:
        self.objects = world.objects()
        self.reads: list[str] = []

    def _find(self, kind: str, id_: str) -> dict[str, Any]:
        self.reads.append(id_)
        for obj in self.objects[kind]:
            if obj["id"] == id_:
                return copy.deepcopy(obj)
        raise StripePermanent(f"no such {kind}: {id_}")

    async def balance_transaction(self, id: str) -> BalanceTransaction:
        return to_balance_transaction(self._find("balance_transactions", id))

    async def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        self.reads.append(payout_id)
        ids = self.objects["payout_contents"][payout_id]
        txns = {t["id"]: t for t in self.objects["balance_transactions"]}
        return [to_balance_transaction(txns[i]) for i in ids]

    async def charge(self, id: str) -> dict[str, Any]:
        charge = self._find("charges", id)
        refunds = [r for r in self.objects["refunds"] if r["charge"] == id]
        charge["refunds"] = {"object": "list", "data": refunds, "has_more": False}
        return charge


RECEIVED = 1_767_225_600  # 2026-01-01: received times lie in the contracts' window


def _at(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


async def test_payment_intent_succeeded_gives_capture_and_fee() -> None:
    world = StripeWorld()
    pay = world.payment(12_500, order_id="1042", fee=368)
    out = await normalise(pay.events["payment_intent.succeeded"], WorldBalance(world))

    assert [e.type for e in out] == ["payment.captured", "payment.fee"]
    captured = PaymentCaptured.model_validate(out[0].data)
    assert captured == PaymentCaptured(
        payment_id=pay.id,
        order_id="1042",
        amount=12_500,
        currency="DKK",
        method="card",
        balance_transaction_id=pay.balance_transaction["id"],
        fee=368,
        captured_at=_at(pay.charge["created"]),
    )
    fee = PaymentFee.model_validate(out[1].data)
    assert (fee.payment_id, fee.amount, fee.currency) == (pay.id, 368, "DKK")
    assert fee.balance_transaction_id == pay.balance_transaction["id"]
    assert {e.source for e in out} == {"stripe"}
    assert out[0].source_event_id == f"captured:{pay.id}"
    assert out[1].source_event_id == f"fee:{pay.id}"
    assert out[0].occurred_at == _at(pay.charge["created"])


async def test_charge_succeeded_equals_payment_intent_succeeded() -> None:
    """Both Stripe events for one payment give identical inbound events, so identical ids."""
    world = StripeWorld()
    pay = world.payment(9_900, order_id="A-7", method="mobilepay")
    balance = WorldBalance(world)
    via_pi = await normalise(pay.events["payment_intent.succeeded"], balance)
    via_charge = await normalise(pay.events["charge.succeeded"], balance)

    assert via_pi == via_charge
    stamped_pi = [stamp(e, "shop-a", _at(RECEIVED)).id for e in via_pi]
    stamped_charge = [stamp(e, "shop-a", _at(RECEIVED + 1)).id for e in via_charge]
    assert stamped_pi == stamped_charge
    assert PaymentCaptured.model_validate(via_pi[0].data).method == "mobilepay"


async def test_redelivered_event_gives_the_same_events() -> None:
    world = StripeWorld()
    pay = world.payment(5_000, order_id="1")
    event = pay.events["charge.succeeded"]
    first = await normalise(event, WorldBalance(world))
    again = await normalise(copy.deepcopy(event), WorldBalance(world))
    assert first == again


async def test_charge_without_payment_intent_uses_charge_id() -> None:
    world = StripeWorld()
    pay = world.payment(2_000, with_payment_intent=False)
    out = await normalise(pay.events["charge.succeeded"], WorldBalance(world))
    captured = PaymentCaptured.model_validate(out[0].data)
    assert captured.payment_id == pay.charge["id"]
    assert captured.order_id is None
    assert out[0].source_event_id == f"captured:{pay.charge['id']}"


async def test_zero_fee_gives_no_fee_event() -> None:
    world = StripeWorld()
    pay = world.payment(1_000, fee=0)
    out = await normalise(pay.events["payment_intent.succeeded"], WorldBalance(world))
    assert [e.type for e in out] == ["payment.captured"]
    assert PaymentCaptured.model_validate(out[0].data).fee == 0


async def test_zero_decimal_currency_keeps_stripes_minor_units() -> None:
    world = StripeWorld(currency="jpy")
    pay = world.payment(1_500, fee=54)
    out = await normalise(pay.events["charge.succeeded"], WorldBalance(world))
    captured = PaymentCaptured.model_validate(out[0].data)
    assert (captured.amount, captured.currency, captured.fee) == (1_500, "JPY", 54)


async def test_converted_payment_leaves_fee_to_the_payout() -> None:
    """A EUR payment settled in DKK: the fee is in DKK, which the capture cannot say."""
    world = StripeWorld(currency="dkk")
    pay = world.payment(10_000, currency="eur", settled_amount=74_500, fee=1_300)
    out = await normalise(pay.events["payment_intent.succeeded"], WorldBalance(world))
    assert [e.type for e in out] == ["payment.captured"]
    captured = PaymentCaptured.model_validate(out[0].data)
    assert (captured.amount, captured.currency, captured.fee) == (10_000, "EUR", None)
    assert captured.balance_transaction_id == pay.balance_transaction["id"]


async def test_authorisation_only_is_not_a_capture() -> None:
    world = StripeWorld()
    pay = world.payment(3_000)
    event = copy.deepcopy(pay.events["charge.succeeded"])
    event["data"]["object"] |= {"captured": False, "amount_captured": 0}
    assert await normalise(event, WorldBalance(world)) == []


@pytest.mark.parametrize("kind", ["refund.created", "charge.refunded"])
async def test_refund_events_give_one_payment_refunded(kind: str) -> None:
    world = StripeWorld()
    pay = world.payment(20_000, order_id="1042")
    ref = world.refund(pay, 5_000)
    out = await normalise(ref.events[kind], WorldBalance(world))

    assert [e.type for e in out] == ["payment.refunded"]
    assert out[0].source_event_id == f"refund:{ref.refund['id']}"
    assert PaymentRefunded.model_validate(out[0].data) == PaymentRefunded(
        refund_id=ref.refund["id"],
        payment_id=pay.id,
        order_id="1042",
        amount=5_000,
        currency="DKK",
        balance_transaction_id=ref.balance_transaction["id"] if ref.balance_transaction else "",
        refunded_at=_at(ref.refund["created"]),
    )


async def test_refund_paths_agree_and_updated_dedups() -> None:
    world = StripeWorld()
    pay = world.payment(20_000, order_id="9")
    ref = world.refund(pay)
    balance = WorldBalance(world)
    created = await normalise(ref.events["refund.created"], balance)
    updated_event = copy.deepcopy(ref.events["refund.created"]) | {"type": "refund.updated"}
    updated = await normalise(updated_event, balance)
    via_charge = await normalise(ref.events["charge.refunded"], balance)
    assert created == updated == via_charge


async def test_charge_refunded_lists_every_succeeded_refund_of_the_charge() -> None:
    world = StripeWorld()
    pay = world.payment(30_000)
    first = world.refund(pay, 10_000)
    world.refund(pay, 1_000, status="pending")
    second = world.refund(pay, 5_000)
    out = await normalise(second.events["charge.refunded"], WorldBalance(world))
    assert [e.source_event_id for e in out] == [
        f"refund:{first.refund['id']}",
        f"refund:{second.refund['id']}",
    ]


@pytest.mark.parametrize("status", ["pending", "failed", "canceled", "requires_action"])
async def test_refund_not_succeeded_is_ignored(status: str) -> None:
    world = StripeWorld()
    pay = world.payment(20_000)
    ref = world.refund(pay, status=status)
    balance = WorldBalance(world)
    assert await normalise(ref.events["refund.created"], balance) == []
    assert balance.reads == []


async def test_payout_paid_carries_its_balance_transactions() -> None:
    world = StripeWorld()
    pay_a = world.payment(10_000, fee=330)
    pay_b = world.payment(20_000, fee=480)
    ref = world.refund(pay_a, 2_000)
    po = world.payout()
    out = await normalise(po.events["payout.paid"], WorldBalance(world))

    assert [e.type for e in out] == ["payout.paid"]
    assert out[0].source_event_id == f"payout:{po.payout['id']}"
    paid = PayoutPaid.model_validate(out[0].data)
    assert paid.amount == (10_000 - 330) + (20_000 - 480) - 2_000 == po.payout["amount"]
    assert paid.currency == "DKK"
    assert paid.arrival_date == _at(po.payout["arrival_date"]).date()
    by_category = {t.reporting_category: t for t in paid.balance_transactions}
    assert set(by_category) == {"charge", "refund", "payout"}
    assert {t.source for t in paid.balance_transactions} == {
        pay_a.charge["id"],
        pay_b.charge["id"],
        ref.refund["id"],
        po.payout["id"],
    }
    assert sum(t.net for t in paid.balance_transactions if t.reporting_category != "payout") == (
        paid.amount
    )


@pytest.mark.parametrize(
    "kind",
    [
        "payment_intent.created",
        "payment_intent.payment_failed",
        "charge.failed",
        "charge.dispute.created",
        "customer.created",
        "payout.created",
        "payout.failed",
        "refund.failed",
    ],
)
async def test_other_types_are_acknowledged_and_ignored(kind: str) -> None:
    world = StripeWorld()
    pay = world.payment(1_000)
    event = copy.deepcopy(pay.events["charge.succeeded"]) | {"type": kind}
    balance = WorldBalance(world)
    assert await normalise(event, balance) == []
    assert balance.reads == []


async def test_missing_object_is_a_stripe_event_error() -> None:
    event = {"id": "evt_1", "type": "charge.succeeded", "data": {}}
    with pytest.raises(StripeEventError):
        await normalise(event, WorldBalance(StripeWorld()))


async def test_float_amount_is_refused_not_rounded() -> None:
    world = StripeWorld()
    pay = world.payment(1_000, fee=0)
    event = copy.deepcopy(pay.events["charge.succeeded"])
    event["data"]["object"]["amount_captured"] = 10.0
    with pytest.raises(StripeEventError):
        await normalise(event, WorldBalance(world))


async def test_results_are_valid_inbound_events_for_stamp() -> None:
    world = StripeWorld()
    pay = world.payment(10_000, order_id="x")
    world.refund(pay, 1_000)
    world.payout()
    balance = WorldBalance(world)
    produced: list[InboundEvent] = []
    for event in world.events:
        produced += await normalise(event, balance)
    stamped = {stamp(e, "shop-a", _at(RECEIVED)).id for e in produced}
    # capture, fee, one refund, one payout — duplicates across event types collapse.
    assert len(stamped) == 4


# --- a backfill's listed objects ---------------------------------------------------------


def _listed_as_stripe_lists_them(world: StripeWorld) -> dict[str, list[dict[str, Any]]]:
    """Charges with their balance transaction expanded, refunds with their charge."""
    objects = world.objects()
    txns = {t["id"]: t for t in objects["balance_transactions"]}
    charges = {c["id"]: c for c in objects["charges"]}
    return {
        "charges": [
            {**c, "balance_transaction": txns[c["balance_transaction"]]} for c in charges.values()
        ],
        "refunds": [{**r, "charge": charges[r["charge"]]} for r in objects["refunds"]],
        "payouts": objects["payouts"],
    }


async def test_listed_objects_give_the_webhooks_events_marked_backfill() -> None:
    """The same facts through a backfill's lists and through webhooks: the same event ids
    (so the pipeline books them once), the same data, only `backfill` set."""
    world = StripeWorld()
    paid = world.payment(30_000, order_id="S1", fee=465)
    world.refund(paid, 12_500)
    world.refund(world.payment(5_000, order_id="S2"), status="pending")
    world.payout()
    balance = WorldBalance(world)

    from_webhooks: dict[str, InboundEvent] = {}
    for event in world.events:
        for item in await normalise(event, balance):
            from_webhooks[item.source_event_id] = item
    from_lists: dict[str, InboundEvent] = {}
    for listing, rows in _listed_as_stripe_lists_them(world).items():
        for row in rows:
            for item in await listed(listing, row, balance):
                assert item.backfill
                from_lists[item.source_event_id] = item
    assert set(from_lists) == set(from_webhooks)
    for key, item in from_lists.items():
        webhook = from_webhooks[key]
        assert item.data == webhook.data, key
        received = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
        assert stamp(item, "shop", received).id == stamp(webhook, "shop", received).id


async def test_a_listed_refund_without_its_charge_is_unreadable() -> None:
    world = StripeWorld()
    world.refund(world.payment(1_000, order_id="S1"))
    refund = world.objects()["refunds"][0]
    with pytest.raises(StripeEventError, match="without its charge"):
        await listed("refunds", refund, WorldBalance(world))
