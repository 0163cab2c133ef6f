"""Every decision and every stored state exactly as the rules made them before they were sped up.

`decide` and `OrderState` were made faster (issue 9) on the promise that not a single
decision changes and that states stored by the code before load and decide the same. The
fixture `golden_decisions.json` holds a SHA-256 over everything `decide` returned — each
command's and hold's JSON, the reason an event was ignored, and the state's
`model_dump_json()` after every event — computed by the rules as they were before that work
(`python rules/tests/test_rules_golden.py --write` on that code wrote it). Streams:

- `bench`: the `mapper_decide` benchmark's 3,256 events of 600 orders, two tenants, six VAT
  zones, payments, fees, refunds and payouts, in arrival order, each state carried in memory
  (as the benchmark and the reconciler's replay do);
- `bench_stored`: the same, each state dumped to JSON and loaded back with `OrderState.load`
  between events (as the mapper stores it in PostgreSQL), so a state stored by the earlier
  code is read by this one and every dump is byte for byte what that code wrote;
- `shuffled`: the first 120 orders' events in a seeded random order with some delivered
  twice, under three other tenant settings (daily summaries with a contact per e-mail;
  a VAT-exempt seller, which holds the VAT-bearing orders; no deposit accounts) and a clock
  past the wait limit: waiting, holds and duplicates;
- `cases`: the rules' own factories: cancellations before and after invoicing, a bank
  payment, amount-only, unknown-line and excessive refunds, a MobilePay fee, a payment
  naming no order, payouts with unknown and unreconciled transactions, a legacy key scheme.

A change that alters any decision or any byte of a stored state fails here, naming the
stream.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rules_factories import (
    cancelled,
    captured,
    config,
    fee,
    line,
    order,
    paid,
    payment_refunded,
    payout,
    placed,
    refunded,
)

from bench import mapper_decide
from bogfoer_contracts.events import SalesEvent, parse_event
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_rules.policy import Decision, OrderState, decide, state_key

FIXTURE = Path(__file__).with_name("golden_decisions.json")
Stream = tuple[list[SalesEvent], Callable[[SalesEvent], TenantConfig], dt.datetime]


def _bench() -> Stream:
    cfg = mapper_decide.configs()
    events = [parse_event(raw) for raw in mapper_decide.canonical_events(mapper_decide.ORDERS)]
    return events, lambda e: cfg[e.tenant_id], mapper_decide.NOW


def _shuffled() -> Stream:
    rng = random.Random(9)
    events = [parse_event(raw) for raw in mapper_decide.canonical_events(120)]
    events += rng.sample(events, 40)  # delivered twice
    rng.shuffle(events)
    base = mapper_decide.configs()
    variants: dict[str, dict[str, Any]] = {
        "nordlys-keramik": {
            "posting_mode": "daily_summary",
            "customer_handling": "contact_per_email",
            "trigger": "order_placed",
        },
        "fjord-cykler": {"vat_exempt_seller": True, "trigger": "order_paid"},
    }
    cfg = {
        tenant: TenantConfig.model_validate(c.model_dump() | variants[tenant])
        for tenant, c in base.items()
    }
    no_deposits = {
        tenant: TenantConfig.model_validate(c.model_dump() | {"deposit_accounts": {}})
        for tenant, c in base.items()
    }

    def config_of(event: SalesEvent) -> TenantConfig:
        # Every third order's states see a tenant without deposit accounts.
        by = no_deposits if hash_of(state_key(event)) % 3 == 0 else cfg
        return by[event.tenant_id]

    return events, config_of, mapper_decide.NOW + dt.timedelta(days=10)


def _cases() -> Stream:
    at = dt.datetime(2025, 3, 14, 10, 0, tzinfo=dt.UTC)
    cfg = config(
        trigger="order_paid",
        customer_handling="contact_per_email",
        deposit_accounts={"stripe": 55010, "bank": 55000},
    )
    events: list[SalesEvent] = []
    # Cancelled after invoicing, then refunded by the provider.
    events += [placed(order("c1")), paid("c1"), captured("pi_c1", order_id="c1")]
    events += [refunded("r-c1", order_id="c1"), cancelled("c1")]
    events += [payment_refunded("re_c1", payment_id="pi_c1", order_id="c1")]
    # Cancelled before invoicing, then paid and refunded.
    events += [placed(order("c2")), cancelled("c2"), paid("c2"), refunded("r-c2", order_id="c2")]
    events += [captured("pi_c2", order_id="c2")]
    # A bank payment and the shop's own refunds: by amount only, an unknown line, too much.
    bank = {"provider": "bank", "reference": "ref-c3", "method": "bank"}
    events += [placed(order("c3", payments=[bank]))]
    events += [paid("c3", provider="bank", reference="ref-c3")]
    events += [refunded("r-c3a", 5000, [], order_id="c3", payment=bank)]
    events += [refunded("r-c3b", 5000, [{"line_id": "nope", "quantity": 1}], order_id="c3")]
    events += [refunded("r-c3c", 99999, [{"line_id": "l1", "quantity": 5}], order_id="c3")]
    events += [cancelled("c3")]
    # Mixed VAT rates refunded by amount; a totals mismatch; a foreign currency.
    mixed = [line("l1", "goods", 12500), line("l2", "gift_card", 5000, vat_rate=0)]
    events += [placed(order("c4", lines=mixed, total=17500, vat_total=2500)), paid("c4", 17500)]
    events += [refunded("r-c4", 3000, [], order_id="c4")]
    events += [placed(order("c5", total=30003)), paid("c5")]
    events += [placed(order("c6", currency="EUR")), paid("c6")]
    # A fee of a provider without a feed and no deposit account; a payment naming no order.
    events += [fee("mp_1", provider="mobilepay", balance_transaction_id="bt_mp")]
    events += [fee("pi_c1", balance_transaction_id="txn_c1")]
    events += [captured("pi_lost", order_id=None), payment_refunded("re_lost", order_id=None)]
    # Payouts: unknown transaction types; transactions not summing to the amount.
    txns = [
        {"id": "txn_c1", "reporting_category": "charge", "amount": 30000, "fee": 465,
         "net": 29535, "source": "pi_c1"},
        {"id": "txn_d", "reporting_category": "dispute", "amount": -30000, "fee": 1500,
         "net": -31500, "source": "dp_1"},
        {"id": "txn_f", "reporting_category": "fee", "amount": -200, "fee": 0, "net": -200,
         "source": None},
    ]  # fmt: skip
    events += [payout("po_c1", -2165, balance_transactions=txns)]
    events += [payout("po_c2", 100, balance_transactions=txns[:1])]
    # Backfilled events of an order before the cutover; an order placed late (order_missing).
    early = at.replace(year=2024)
    events += [placed(order("c7", placed_at=early)), paid("c7")]
    events += [placed(order("c7", placed_at=early), backfill=True), paid("c7", backfill=True)]
    events += [paid("c8"), captured("pi_c8", order_id="c8")]
    return events, lambda e: cfg, at + dt.timedelta(days=5)


def hash_of(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def _decision_text(decision: Decision) -> bytes:
    return json.dumps(
        [
            decision.ignored,
            [c.model_dump_json() for c in decision.commands],
            [h.model_dump_json() for h in decision.holds],
            decision.state.model_dump_json(),
        ]
    ).encode()


def decided(stream: Stream) -> Iterator[Decision]:
    """Each event of the stream decided on its order's state as the event before left it."""
    events, config_of, now = stream
    states: dict[str, OrderState] = {}
    for event in events:
        key = f"{event.tenant_id}/{state_key(event)}"
        decision = decide(event, config_of(event), states.get(key), now)
        states[key] = decision.state
        yield decision


def _decisions(stream: Stream, stored: bool, legacy: bool = False) -> Iterator[bytes]:
    events, config_of, now = stream
    states: dict[str, OrderState] = {}
    for event in events:
        key = f"{event.tenant_id}/{state_key(event)}"
        state = states.get(key)
        if stored and state is not None:
            state = OrderState.load(state.model_dump_json())
        if legacy and state is None:
            state = OrderState(key=state_key(event), key_scheme=1)
        decision = decide(event, config_of(event), state, now)
        states[key] = decision.state
        yield _decision_text(decision)


def digests() -> dict[str, dict[str, Any]]:
    bench = _bench()
    runs = {
        "bench": _decisions(bench, stored=False),
        "bench_stored": _decisions(bench, stored=True),
        "shuffled": _decisions(_shuffled(), stored=True),
        "cases": _decisions(_cases(), stored=True),
        "cases_legacy_keys": _decisions(_cases(), stored=False, legacy=True),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, decisions in runs.items():
        digest = hashlib.sha256()
        count = 0
        for text in decisions:
            digest.update(text)
            count += 1
        out[name] = {"events": count, "sha256": digest.hexdigest()}
    return out


def test_every_decision_and_stored_state_is_what_the_rules_made_before() -> None:
    expected = json.loads(FIXTURE.read_text())
    assert digests() == expected


if __name__ == "__main__":
    if "--write" in sys.argv:
        FIXTURE.write_text(json.dumps(digests(), indent=2) + "\n")
    sys.stdout.write(FIXTURE.read_text())
