"""One chaos run against real processes: the fault-free day, then its twin under faults,
then the independent check.

The harness behaves as the world around Bogfør would: shops and Stripe keep resending what
was not answered with a 2xx (the same event again, which Bogfør deduplicates); a service it
killed is started again (as Kubernetes would); nothing else is restarted, so every service
must come back from the broker's and the database's restarts by itself.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bogfoer_devstack.chaos.check import Books, Comparison, DineroReader, compare
from bogfoer_devstack.chaos.plan import Action, Kill, RunPlan, ShopPlan
from bogfoer_devstack.day_of_sales import Item, random_day
from bogfoer_devstack.demo import DemoTenant, connect, deliver
from bogfoer_devstack.infra import Infra
from bogfoer_devstack.shop import Operator
from bogfoer_devstack.stack import ServiceProcess, Stack
from bogfoer_devstack.stripe_double import StripeDoubleClient, StripeWorld

Say = Callable[[str], None]
SETTLED = ("done", "failed", "held", "parked")


@dataclass
class ShopResult:
    shop: ShopPlan
    tenant: str
    postings: int  # of the fault-free twin
    ledger: Counter[str]  # the twin's postings per state, as the ledger shows them
    comparison: Comparison
    # What the ledger lists as dead-lettered for the shop or its fault-free twin: every
    # input of a run is valid, so each one is a good record left to ops' re-drive.
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.comparison.ok
            and self.ledger == Counter({"done": self.postings})
            and not self.dead_letters
        )


@dataclass
class RunResult:
    plan: RunPlan
    workdir: Path
    shops: list[ShopResult] = field(default_factory=list)
    faults_done: list[str] = field(default_factory=list)
    dinero_faults: Counter[str] = field(default_factory=Counter)
    refused: list[str] = field(default_factory=list)  # items ingest answered with a 4xx
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return (
            self.error is None
            and not self.refused
            and bool(self.shops)
            and all(s.ok for s in self.shops)
        )


@dataclass
class _Shop:
    plan: ShopPlan
    tenant: DemoTenant
    items: list[Item]
    postings: int


def run(
    plan: RunPlan,
    infra: Infra,
    database_url: str,
    workdir: Path,
    say: Say,
    dinero_rate_limit: int = 100,
) -> RunResult:
    """`database_url`: an empty database for this run's services; the broker may hold
    other runs' records (every run's shops are its own)."""
    result = RunResult(plan, workdir)
    started = time.monotonic()
    stack = infra.stack(workdir, database_url, dinero_rate_limit=dinero_rate_limit)
    try:
        say(f"  starting the services (logs in {workdir})")
        stack.start()
        with httpx.Client(timeout=10) as http:
            _run(plan, infra, stack, http, result, say)
    except Exception as exc:  # the run is reported as failed with its reason
        result.error = f"{type(exc).__name__}: {exc}"
        say(f"  ERROR {result.error}")
    finally:
        infra.sandbox.clear_faults()
        stack.stop()
        result.seconds = time.monotonic() - started
    return result


def _run(
    plan: RunPlan, infra: Infra, stack: Stack, http: httpx.Client, result: RunResult, say: Say
) -> None:
    operator = Operator(stack, http)
    stripe = StripeDoubleClient(infra.stripe_url)

    def shop(shop: ShopPlan, role: str) -> _Shop:
        """A shop connected end to end, with its day of sales (twins get the same day)."""
        tenant = DemoTenant(
            f"c{plan.seed}-{shop.name}-{role}",
            f"{shop.name} ({role}, seed {plan.seed})",
            shop.settings,
        )
        connect(tenant, stack, operator, infra.sandbox, http)
        world = StripeWorld(api_key=tenant.stripe_key, seed=shop.day_seed)
        day = random_day(random.Random(shop.day_seed), world, shop.name, shop.orders)
        stripe.load(world.objects())
        return _Shop(shop, tenant, day.items, day.postings)

    try:
        reference = [shop(s, "ref") for s in plan.shops]
        twins = [shop(s, "x") for s in plan.shops]
    finally:
        stripe.close()

    say(f"  fault-free: {sum(len(s.items) for s in reference)} events and webhooks")
    _send(reference, stack, http, spread=0.0, result=result)
    _settle(operator, [(s.tenant.tenant_id, s.postings) for s in reference], 180, say)

    say(f"  under faults: Dinero {plan.dinero.describe()}")
    rules = [rule for twin in twins for rule in plan.dinero.rules(twin.tenant.org_id)]
    infra.sandbox.set_faults(rules, seed=plan.seed)
    window_start = time.monotonic()
    injector = threading.Thread(
        target=_inject, args=(plan.actions, window_start, infra, stack, result, say)
    )
    injector.start()
    try:
        _send(twins, stack, http, spread=plan.window_seconds * 0.8, result=result)
    finally:
        injector.join()  # never leave the broker or the database down
    # Dinero stays faulty until the twins' postings settle; the check reads it without.
    expected = [
        (twin.tenant.tenant_id, len(operator.postings(ref.tenant.tenant_id)))
        for ref, twin in zip(reference, twins, strict=True)
    ]
    _settle(operator, expected, 300, say, quiet_fail=True)
    infra.sandbox.clear_faults()
    for twin in twins:
        fired = infra.sandbox.requests(twin.tenant.org_id)
        result.dinero_faults.update(e["fault"] for e in fired if e.get("fault"))

    reader = DineroReader(infra.sandbox, http)
    for ref, twin in zip(reference, twins, strict=True):
        ref_books: Books = reader.books(ref.tenant.org_id, ref.tenant.api_key)
        twin_books = reader.books(twin.tenant.org_id, twin.tenant.api_key)
        ledger = Counter(r["state"] for r in operator.postings(twin.tenant.tenant_id))
        result.shops.append(
            ShopResult(
                twin.plan,
                twin.tenant.tenant_id,
                len(operator.postings(ref.tenant.tenant_id)),
                ledger,
                compare(ref_books, ref.tenant.tenant_id, twin_books, twin.tenant.tenant_id),
                operator.dead_letters(ref.tenant.tenant_id)
                + operator.dead_letters(twin.tenant.tenant_id),
            )
        )


def _send(
    shops: list[_Shop], stack: Stack, http: httpx.Client, spread: float, result: RunResult
) -> None:
    """Every shop's items, shops interleaved, each shop's in order, spread over `spread`
    seconds; what is not answered with a 2xx is sent again, as a sender would."""
    interleaved = [
        (shop, item)
        for batch in itertools.zip_longest(*(s.items for s in shops))
        for shop, item in zip(shops, batch, strict=True)
        if item is not None
    ]
    started = time.monotonic()
    pace = spread / max(1, len(interleaved))
    for n, (shop, item) in enumerate(interleaved):
        time.sleep(max(0.0, started + n * pace - time.monotonic()))
        _deliver(shop, item, stack, http, result)


def _deliver(shop: _Shop, item: Item, stack: Stack, http: httpx.Client, result: RunResult) -> None:
    deadline = time.monotonic() + 180
    for attempt in itertools.count():
        try:
            response = deliver(item, shop.tenant, stack, http)
            if response.is_success:
                return
            if response.status_code < 500 and response.status_code not in (408, 429):
                result.refused.append(f"{shop.tenant.tenant_id}: {response.status_code}")
                return
        except httpx.HTTPError:
            pass  # not answered (ingest killed, or waiting on the broker): send it again
        if time.monotonic() > deadline:
            raise RuntimeError(f"ingest did not accept an event of {shop.tenant.tenant_id}")
        time.sleep(min(2.0, 0.1 * 2**attempt))


def _inject(
    actions: tuple[Action, ...],
    window_start: float,
    infra: Infra,
    stack: Stack,
    result: RunResult,
    say: Say,
) -> None:
    """The plan's faults at their moments, overlapping as they fall; faults on the same
    process one after the other."""
    locks: dict[str, threading.Lock] = defaultdict(threading.Lock)

    def fault(action: Action) -> None:
        time.sleep(max(0.0, window_start + action.at - time.monotonic()))
        target = action.service if isinstance(action, Kill) else action.what
        with locks[target]:
            began = time.monotonic()
            try:
                note = _fault(action, infra, stack)
            except Exception as exc:
                result.error = f"{action.describe()} failed: {type(exc).__name__}: {exc}"
                say(f"  ERROR {result.error}")
                return
            took = time.monotonic() - began
            say(f"  {began - window_start:5.1f}s {action.describe()}: back after {took:.1f}s{note}")
            result.faults_done.append(action.describe())

    threads = [threading.Thread(target=fault, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _fault(action: Action, infra: Infra, stack: Stack) -> str:
    if isinstance(action, Kill):
        service = stack.services[action.service]
        service.kill()
        time.sleep(action.down_for)
        return _bring_back(service)
    if action.what == "kafka":
        if action.how == "kill":
            infra.broker.kill()
        else:
            infra.broker.stop()
        time.sleep(action.down_for)
        infra.broker.start()
    else:
        infra.postgres.stop("immediate" if action.how == "immediate" else "fast")
        time.sleep(action.down_for)
        infra.postgres.start()
    return ""


def _bring_back(service: ServiceProcess, within: float = 180.0) -> str:
    """Start a killed service again and wait until it is ready; if it exits meanwhile (it
    cannot start while its database or broker is down), start it again, as Kubernetes
    would."""
    deadline = time.monotonic() + within
    exits = 0
    service.start()
    while not service.ready():
        if service.process is not None and service.process.poll() is not None:
            exits += 1
            time.sleep(1.0)
            service.start()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{service.name} not ready after {within:.0f}s")
        time.sleep(0.3)
    return f" (it exited {exits} times while starting)" if exits else ""


def _settle(
    operator: Operator,
    expected: list[tuple[str, int]],
    timeout: float,
    say: Say,
    quiet_fail: bool = False,
) -> None:
    """Wait until the ledger shows each tenant's postings, none of them still moving."""
    deadline = time.monotonic() + timeout
    shown = ""
    while True:
        states = {t: Counter(r["state"] for r in operator.postings(t)) for t, _ in expected}
        settled = all(
            sum(states[t].values()) >= n and set(states[t]) <= set(SETTLED) for t, n in expected
        )
        line = " | ".join(
            f"{sum(states[t].values())}/{n}: "
            + ", ".join(f"{c} {s}" for s, c in sorted(states[t].items()))
            for t, n in expected
        )
        if line != shown:
            say(f"    ledger: {line}")
            shown = line
        if settled:
            return
        if time.monotonic() > deadline:
            if quiet_fail:
                say(f"    not settled after {timeout:.0f}s")
                return
            raise TimeoutError(f"not settled after {timeout:.0f}s: {line}")
        time.sleep(1.0)
