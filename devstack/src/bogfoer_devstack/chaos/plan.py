"""What a chaos run does, drawn from its seed alone: the same seed gives the same shops,
the same days of sales, the same faults at the same moments (`make chaos SEED=…` replays a
run; what the processes make of the timing may still differ from one replay to the next)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Literal

from bogfoer_devstack.stack import SERVICES


@dataclass(frozen=True)
class Size:
    """How much a run does: `FULL` for `make chaos`, `SMOKE` for the smoke in `make test`
    (`make chaos SIZE=smoke RUNS=1`: one shop, two orders, every kind of fault)."""

    tenants: tuple[int, int]
    orders: tuple[int, int]  # per tenant
    kills: tuple[int, int]
    window_seconds: float  # the load is sent and the faults begin within it
    outage_seconds: tuple[float, float]  # how long the broker or the database stays down


FULL = Size(
    tenants=(2, 3), orders=(4, 7), kills=(2, 4), window_seconds=50.0, outage_seconds=(2, 10)
)
SMOKE = Size(
    tenants=(1, 1), orders=(2, 2), kills=(1, 1), window_seconds=10.0, outage_seconds=(1, 3)
)

# How a shop books: each is a real configuration (booked and e-mailed needs one contact,
# with its e-mail address, per customer).
BOOKINGS: tuple[dict[str, Any], ...] = (
    {"booking_mode": "booked", "trigger": "order_placed"},
    {"booking_mode": "booked", "trigger": "order_paid"},
    {"booking_mode": "booked", "trigger": "order_fulfilled"},
    {"booking_mode": "booked_and_emailed", "trigger": "order_paid"},
    {"booking_mode": "booked_and_emailed", "trigger": "order_fulfilled"},
)


@dataclass(frozen=True)
class ShopPlan:
    name: str
    settings: dict[str, Any]
    orders: int
    day_seed: int


@dataclass(frozen=True)
class Kill:
    """SIGKILL a service, then start it again (the only process the harness restarts)."""

    at: float
    service: str
    down_for: float

    def describe(self) -> str:
        return f"kill {self.service} @{self.at:.0f}s"


@dataclass(frozen=True)
class Restart:
    """Take the broker or PostgreSQL down under the running services and bring it back on
    the same data and port. Kafka: `stop` (controlled) or `kill`; PostgreSQL: `fast` or
    `immediate` (as after a crash)."""

    at: float
    what: Literal["kafka", "postgres"]
    how: str
    down_for: float

    def describe(self) -> str:
        return f"{self.what} {self.how} {self.down_for:.0f}s @{self.at:.0f}s"


Action = Kill | Restart


@dataclass(frozen=True)
class DineroFaults:
    """The sandbox's fault rules for the chaos run's organisations (rates per request)."""

    error_rate: float  # a 5xx
    error_status: int
    drop_rate: float  # the write is committed, then the connection is dropped
    hang_rate: float  # no answer (the poster's read timeout fires)
    latency_rate: float
    latency_ms: int

    def rules(self, org: int) -> list[dict[str, Any]]:
        # The first firing rule decides, latency adds up; hang longer than the poster's
        # read timeout (5 s in the stack).
        return [
            {"kind": "error", "org": org, "rate": self.error_rate, "status": self.error_status},
            {"kind": "drop_after_commit", "org": org, "method": "POST", "rate": self.drop_rate},
            {
                "kind": "drop_after_commit",
                "org": org,
                "method": "POST",
                "rate": round(self.drop_rate / 3, 3),
                "mode": "hang",
                "seconds": 8,
            },
            {"kind": "hang", "org": org, "rate": self.hang_rate, "seconds": 8},
            {
                "kind": "latency",
                "org": org,
                "rate": self.latency_rate,
                "delay_ms": self.latency_ms,
            },
        ]

    def describe(self) -> str:
        return (
            f"{self.error_status} {self.error_rate:.0%}, drop {self.drop_rate:.0%}, "
            f"hang {self.hang_rate:.0%}, +{self.latency_ms}ms {self.latency_rate:.0%}"
        )


@dataclass(frozen=True)
class RunPlan:
    seed: int
    shops: tuple[ShopPlan, ...]
    window_seconds: float
    actions: tuple[Action, ...]  # in time order
    dinero: DineroFaults

    @property
    def kills(self) -> tuple[Kill, ...]:
        return tuple(a for a in self.actions if isinstance(a, Kill))

    @property
    def restarts(self) -> tuple[Restart, ...]:
        return tuple(a for a in self.actions if isinstance(a, Restart))


def plan_run(seed: int, size: Size = FULL) -> RunPlan:
    rng = random.Random(seed)
    window = size.window_seconds
    shops = tuple(
        ShopPlan(
            name=f"shop{n + 1}",
            settings=dict(rng.choice(BOOKINGS)),
            orders=rng.randint(*size.orders),
            day_seed=rng.getrandbits(32),
        )
        for n in range(rng.randint(*size.tenants))
    )
    actions: list[Action] = [
        Kill(
            at=rng.uniform(0.05, 0.9) * window,
            service=rng.choice(SERVICES),
            down_for=rng.uniform(0.5, 4.0),
        )
        for _ in range(rng.randint(*size.kills))
    ]
    restarts: tuple[tuple[Literal["kafka", "postgres"], tuple[str, str]], ...] = (
        ("kafka", ("stop", "kill")),
        ("postgres", ("fast", "immediate")),
    )
    actions += [
        Restart(
            at=rng.uniform(0.1, 0.8) * window,
            what=what,
            how=rng.choice(ways),
            down_for=rng.uniform(*size.outage_seconds),
        )
        for what, ways in restarts
    ]
    dinero = DineroFaults(
        error_rate=round(rng.uniform(0.15, 0.30), 2),
        error_status=rng.choice((500, 502, 503)),
        drop_rate=round(rng.uniform(0.05, 0.15), 2),
        hang_rate=round(rng.uniform(0.01, 0.03), 2),
        latency_rate=round(rng.uniform(0.1, 0.3), 2),
        latency_ms=rng.randrange(100, 800, 50),
    )
    return RunPlan(
        seed=seed,
        shops=shops,
        window_seconds=window,
        actions=tuple(sorted(actions, key=lambda a: a.at)),
        dinero=dinero,
    )
