"""Fault injection: rules matched on method, path pattern and organisation, fired by rate
(seeded, so reproducible) and/or for the next N matching requests."""

from __future__ import annotations

import fnmatch
import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field, TypeAdapter

FaultKind = Literal["error", "brownout", "latency", "hang", "drop_after_commit"]


class FaultRule(BaseModel):
    """One rule. `error` answers a 5xx, `brownout` answers 480, `latency` delays then serves,
    `hang` never answers (until the client gives up or `seconds` pass), `drop_after_commit`
    applies the request and then aborts the connection (`mode="abort"`) or never answers
    (`mode="hang"`)."""

    kind: FaultKind
    method: str | None = None  # e.g. "POST"; None matches any
    path: str | None = None  # fnmatch pattern over the path, e.g. "/v1/*/invoices/*/book"
    org: int | None = None  # None: every organisation (a global rule)
    rate: float = Field(default=1.0, ge=0.0, le=1.0)
    count: int | None = Field(default=None, ge=1)  # fire for the next N matches, then retire
    status: int = Field(default=500, ge=500, le=599)  # for kind="error"
    delay_ms: int = Field(default=1000, ge=0)  # for kind="latency"
    seconds: float = Field(default=120.0, ge=0)  # how long hang / drop-then-hang lasts at most
    mode: Literal["abort", "hang"] = "abort"  # for kind="drop_after_commit"

    def matches(self, method: str, path: str, org: int | None) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self.path is not None and not fnmatch.fnmatchcase(path, self.path):
            return False
        return self.org is None or self.org == org


class FaultConfig(BaseModel):
    seed: int = 0
    rules: list[FaultRule] = Field(default_factory=list)


_CONFIG_ADAPTER: TypeAdapter[FaultConfig | list[FaultRule]] = TypeAdapter(
    FaultConfig | list[FaultRule]
)


def parse_fault_config(raw: str | bytes) -> FaultConfig:
    """Accept `{"seed": 1, "rules": [...]}` or a bare list of rules."""
    parsed = _CONFIG_ADAPTER.validate_json(raw)
    return parsed if isinstance(parsed, FaultConfig) else FaultConfig(rules=parsed)


@dataclass(frozen=True)
class Decision:
    delay_seconds: float
    action: FaultRule | None  # a non-latency rule that fired, or None to serve normally


class Faults:
    def __init__(self, config: FaultConfig | None = None) -> None:
        self.replace(config or FaultConfig())

    def replace(self, config: FaultConfig) -> None:
        self.seed = config.seed
        self.rules = list(config.rules)
        self._random = random.Random(config.seed)

    def add(self, rule: FaultRule) -> None:
        self.rules.append(rule)

    def snapshot(self) -> FaultConfig:
        return FaultConfig(seed=self.seed, rules=list(self.rules))

    def _fires(self, rule: FaultRule) -> bool:
        if rule.rate < 1.0 and self._random.random() >= rule.rate:
            return False
        if rule.count is not None:
            rule.count -= 1
            if rule.count == 0:
                self.rules.remove(rule)
        return True

    def decide(self, method: str, path: str, org: int | None) -> Decision:
        """All firing latency rules add up; the first other firing rule decides the outcome."""
        delay = 0.0
        action: FaultRule | None = None
        for rule in list(self.rules):
            if not rule.matches(method, path, org):
                continue
            if rule.kind == "latency":
                if self._fires(rule):
                    delay += rule.delay_ms / 1000
            elif action is None and self._fires(rule):
                action = rule
        return Decision(delay, action)
