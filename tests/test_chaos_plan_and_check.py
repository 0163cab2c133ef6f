"""`make chaos`'s pure parts: a seed gives one plan, and the comparison of a twin's books
with the fault-free shop's counts what it says it counts."""

from __future__ import annotations

from collections import Counter

from bogfoer_devstack.chaos.check import Books, compare
from bogfoer_devstack.chaos.plan import FULL, SMOKE, plan_run
from bogfoer_devstack.chaos.report import table
from bogfoer_devstack.stack import SERVICES


def test_a_seed_gives_the_same_plan_and_another_seed_another() -> None:
    assert plan_run(4242, FULL) == plan_run(4242, FULL)
    assert plan_run(4242, FULL) != plan_run(4243, FULL)


def test_every_plan_restarts_the_broker_and_the_database_once_and_kills_services() -> None:
    for seed in range(200):
        for size in (FULL, SMOKE):
            plan = plan_run(seed, size)
            assert sorted(r.what for r in plan.restarts) == ["kafka", "postgres"]
            assert size.kills[0] <= len(plan.kills) <= size.kills[1]
            assert {k.service for k in plan.kills} <= set(SERVICES)
            assert [a.at for a in plan.actions] == sorted(a.at for a in plan.actions)
            assert all(0 <= a.at <= size.window_seconds for a in plan.actions)
            assert size.tenants[0] <= len(plan.shops) <= size.tenants[1]


def test_the_plans_kill_every_service_over_a_handful_of_seeds() -> None:
    killed = {k.service for seed in range(20) for k in plan_run(seed, FULL).kills}
    assert killed == set(SERVICES)


def _books(*refs: tuple[str, str], balance: dict[int, int] | None = None, emails: int = 0) -> Books:
    return Books(Counter(refs), balance or {1000: -100, 55000: 100}, emails)


def test_the_twin_is_compared_reference_by_reference_with_the_tenant_swapped() -> None:
    reference = _books(
        ("invoice", "bogfoer:t-ref:invoice:shopify:1"),
        ("payment", "bogfoer:t-ref:payment:pi_1"),
        ("contact", "bogfoer:t-ref:contact:a"),
        emails=1,
    )
    twin = _books(
        ("invoice", "bogfoer:t-x:invoice:shopify:1"),
        ("invoice", "bogfoer:t-x:invoice:shopify:1"),  # booked twice
        ("payment", "bogfoer:t-x:payment:pi_1"),
        ("voucher", "bogfoer:t-x:voucher:fee"),  # the fault-free shop has no such thing
        emails=1,
    )  # and the contact is missing
    result = compare(reference, "t-ref", twin, "t-x")
    assert (result.documents, result.duplicates, result.missing, result.unexpected) == (4, 1, 1, 1)
    assert result.balance_equal
    assert not result.ok


def test_equal_books_pass_and_a_different_balance_or_mail_count_fails() -> None:
    reference = _books(("invoice", "bogfoer:t-ref:invoice:1"), emails=1)
    twin = _books(("invoice", "bogfoer:t-x:invoice:1"), emails=1)
    assert compare(reference, "t-ref", twin, "t-x").ok
    other_balance = _books(("invoice", "bogfoer:t-x:invoice:1"), balance={1000: -200}, emails=1)
    assert not compare(reference, "t-ref", other_balance, "t-x").balance_equal
    mailed_twice = _books(("invoice", "bogfoer:t-x:invoice:1"), emails=2)
    assert not compare(reference, "t-ref", mailed_twice, "t-x").ok


def test_tables_align_numbers_right_and_text_left() -> None:
    assert table(["run", "result"], [[1, "OK"], [12, "FAILED"]]) == [
        "run  result",
        "---  ------",
        "  1  OK",
        " 12  FAILED",
    ]
