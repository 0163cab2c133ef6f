"""The batch route's pure part: the envelope, and each event sorted out on its own."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from bogfoer_contracts.events import event_json
from bogfoer_contracts.ids import event_id
from bogfoer_contracts.model import checked_json
from bogfoer_devstack import sales
from bogfoer_ingest.batch import MAX_EVENTS, Sorted, events_of, sort_out, typed_at_once
from bogfoer_ingest.shop_events import stamped
from bogfoer_kit.errors import ApiError

TENANT = "batch-shop"
AT = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)


def fulfilled(source_event_id: str, **data: Any) -> dict[str, Any]:
    return {
        "type": "order.fulfilled",
        "source": "shopify",
        "source_event_id": source_event_id,
        "occurred_at": "2026-11-20T10:00:00+01:00",
        "data": {"order_id": "1", "fulfilled_at": "2026-11-20T12:00:00+01:00", **data},
    }


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        ([], 422, "invalid_batch"),
        ({"events": {}}, 422, "invalid_batch"),
        ({}, 422, "invalid_batch"),
        ({"events": []}, 422, "invalid_batch"),
        ({"events": [{}], "tenant": "x"}, 422, "invalid_batch"),
        ({"events": [{}] * (MAX_EVENTS + 1)}, 413, "too_many_events"),
    ],
)
def test_an_envelope_outside_the_contract_is_refused_whole(
    body: Any, status: int, reason: str
) -> None:
    with pytest.raises(ApiError) as refused:
        events_of(body)
    assert (refused.value.status, refused.value.reason) == (status, reason)


def test_up_to_the_limit_is_taken() -> None:
    assert len(events_of({"events": [{}] * MAX_EVENTS})) == MAX_EVENTS


def test_each_event_is_answered_in_order_and_a_repeat_is_published_once() -> None:
    broken = fulfilled("b", colour="red")
    sorted_out = sort_out([fulfilled("a"), broken, fulfilled("c"), fulfilled("a"), 7], TENANT, AT)

    ids = [event_id(TENANT, "shopify", sid) for sid in ("a", "c")]
    assert [e.id for e in sorted_out.accepted] == ids
    assert all(e.tenant_id == TENANT and e.received_at == AT for e in sorted_out.accepted)
    answer = sorted_out.answer()
    assert (answer["accepted"], answer["duplicate"], answer["rejected"]) == (2, 1, 2)
    results = answer["results"]
    assert results[0] == {"status": "accepted", "event_id": ids[0], "type": "order.fulfilled"}
    assert results[2] == {"status": "accepted", "event_id": ids[1], "type": "order.fulfilled"}
    assert results[3] == {
        "status": "duplicate",
        "event_id": ids[0],
        "type": "order.fulfilled",
        "duplicate_of": 0,
    }
    # Refused with what the single route answers for the same event.
    for index, alone in ((1, broken), (4, 7)):
        with pytest.raises(ApiError) as single:
            stamped(alone, TENANT, AT)
        error = {"reason": single.value.reason, "detail": single.value.detail}
        assert results[index] == {"status": "rejected", "error": error}
    assert results[1]["error"]["reason"] == "invalid_event"


def test_a_repeat_that_is_itself_invalid_is_rejected_not_a_duplicate() -> None:
    sorted_out = sort_out([fulfilled("a"), fulfilled("a", colour="red")], TENANT, AT)
    assert [r["status"] for r in sorted_out.results] == ["accepted", "rejected"]


@pytest.mark.parametrize(
    "events",
    [
        [fulfilled("a"), fulfilled("c"), fulfilled("a")],  # typed in one call
        [fulfilled("a"), fulfilled("b", colour="red"), fulfilled("c"), 7],  # each alone
        [fulfilled("a"), {**fulfilled("d"), "occurred_at": "2100-01-01T00:00:00Z"}],
    ],
)
def test_a_batch_as_the_route_sorts_it_out_is_answered_as_each_event_alone(
    events: list[Any],
) -> None:
    """The route types a batch's events together where its text proved storable
    (`checked_json` around the whole body); each answer is the one the event gets alone."""
    body = json.dumps({"events": events}).encode()
    with checked_json(body):
        together = sort_out(json.loads(body)["events"], TENANT, AT)
    alone = sort_out(events, TENANT, AT)
    assert together.answer() == alone.answer()
    assert together.accepted == alone.accepted


def stream() -> list[dict[str, Any]]:
    """A shop's and Stripe's events of every kind, each a few times (repeats included)."""
    refund = {"order_id": "7", "refund_id": "re_7", "currency": "DKK", "amount": 100}
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("order.placed", sales.order("7", lines=[sales.goods("1", 24900), sales.shipping(4900)])),
        (
            "order.paid",
            {
                "order_id": "7",
                "amount": 29800,
                "currency": "DKK",
                "payment": sales.stripe_ref("pi_7"),
                "paid_at": "2026-11-20T10:01:00Z",
            },
        ),
        ("order.fulfilled", {"order_id": "7", "fulfilled_at": "2026-11-20T12:00:00+01:00"}),
        ("order.cancelled", {"order_id": "8", "reason": "Ærligt talt 🚲"}),
        ("order.refunded", {**refund, "refunded_at": "2026-11-21T09:00:00.5+01:00"}),
        ("payment.captured", sales.captured("pi_7", "7", 29800, "txn_7")),
        (
            "payment.refunded",
            {
                "refund_id": "re_7",
                "payment_id": "pi_7",
                "amount": 100,
                "currency": "DKK",
                "refunded_at": "2026-11-21T09:00:00Z",
            },
        ),
        ("payment.fee", sales.fee("pi_7", 175, "txn_7")),
        ("payout.paid", sales.payout("po_7", [sales.charge_txn("txn_7", 29800, 175, "ch_7")])),
    ]
    return [
        {
            "type": kind,
            "source": "shopify",
            "source_event_id": f"{kind}-{n % 7}",
            "occurred_at": "2026-11-20T10:00:00+01:00",
            "backfill": n % 2 == 0,
            "data": data,
        }
        for n in range(30)
        for kind, data in kinds
    ]


def test_a_batch_typed_from_its_text_is_answered_and_published_as_when_parsed() -> None:
    """The route types a batch straight from its text (`typed_at_once`) where it can: the
    answer and every canonical record, byte for byte, as when it parsed the body and sorted
    out its events (`events_of`, `take_all`)."""
    body = json.dumps({"events": stream()}, ensure_ascii=False).encode()
    with checked_json(body):
        typed = typed_at_once(body)
        assert typed is not None
        from_text = Sorted(TENANT, AT)
        from_text.take_typed(typed)
        parsed = Sorted(TENANT, AT)
        parsed.take_all(events_of(json.loads(body)))
    assert json.dumps(from_text.answer()) == json.dumps(parsed.answer())
    assert from_text.answer()["duplicate"] > 0
    assert [event_json(e) for e in from_text.accepted] == [event_json(e) for e in parsed.accepted]


def test_the_answer_is_written_as_json_dumps_wrote_it() -> None:
    """The route writes its answer out itself (`answer_json`): byte for byte what
    `json.dumps` made of it, for accepted, duplicate and rejected events (whose details
    quote text JSON escapes: quotes, non-ASCII, a lone surrogate, a NUL)."""
    odd = {**fulfilled('ø"\\'), "source": "shop\u0000ify", "extra": "\udfff 🚲"}
    events: list[Any] = [
        *stream(),
        fulfilled("a"),
        fulfilled("b", colour='"red"'),
        odd,
        7,
        "\udfff",
        None,
        fulfilled("a"),
    ]
    sorted_out = sort_out(events, TENANT, AT)
    answer = sorted_out.answer()
    assert min(answer["accepted"], answer["duplicate"], answer["rejected"]) > 0
    assert sorted_out.answer_json() == json.dumps(answer)
    assert sort_out([7], TENANT, AT).answer_json() == json.dumps(sort_out([7], TENANT, AT).answer())
