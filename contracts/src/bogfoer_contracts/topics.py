"""Topic names, their settings and the key rule, in one place.

The key of every record is the tenant id: Dinero's rate limit is per organisation, so a
tenant's records belong on one partition, in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INGEST_RAW = "ingest.raw.v1"
# For shop platforms that produce straight to Kafka: InboundEvent records, key = tenant id.
INGEST_INBOUND = "ingest.inbound.v1"
SALES_EVENTS = "sales.events.v1"
TENANTS_CONFIG = "tenants.config.v1"
POSTINGS_COMMANDS = "postings.commands.v1"
POSTINGS_RESULTS = "postings.results.v1"
# What operators and the reconciler ask for (contracts/ops.py), key = tenant id.
OPS_ACTIONS = "ops.actions.v1"


def dlq_topic(topic: str) -> str:
    return topic.removesuffix(".v1") + ".dlq.v1"


def key_for(tenant_id: str) -> bytes:
    return tenant_id.encode()


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int = 6
    config: dict[str, str] = field(default_factory=dict)


_MAIN = (
    INGEST_INBOUND,
    INGEST_RAW,
    SALES_EVENTS,
    POSTINGS_COMMANDS,
    POSTINGS_RESULTS,
    OPS_ACTIONS,
)
TOPICS: tuple[TopicSpec, ...] = (
    *(TopicSpec(name) for name in _MAIN),
    TopicSpec(TENANTS_CONFIG, partitions=1, config={"cleanup.policy": "compact"}),
    # Every topic that is consumed has its dead-letter topic.
    *(TopicSpec(dlq_topic(name)) for name in (*_MAIN, TENANTS_CONFIG)),
)
DLQ_TOPICS: tuple[str, ...] = tuple(spec.name for spec in TOPICS if spec.name.endswith(".dlq.v1"))
