"""The mapper's metrics: events by type and what became of them, commands by kind, holds by
reason. Counted as the transaction that decides them runs; a transaction retried after a
transient fault counts again (rare, and the ledger's counts are the exact ones)."""

from __future__ import annotations

from prometheus_client import Counter

EVENTS = Counter(
    "bogfoer_mapper_events_total",
    "Sales events received, by type and outcome (mapped, duplicate, waiting_for_settings,"
    " dead_lettered)",
    ["type", "outcome"],
)
COMMANDS = Counter("bogfoer_mapper_commands_total", "Posting commands decided, by kind", ["kind"])
HOLDS = Counter(
    "bogfoer_mapper_holds_total",
    "Postings held back for a person, by tenant and reason",
    ["tenant", "reason"],
)
