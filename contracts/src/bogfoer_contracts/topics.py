"""Topic names, their settings and the key rule, in one place.

The key of every record is the tenant id: Dinero's rate limit is per organisation, so a
tenant's records belong on one partition, in order.

`TOPICS` is the one declaration of every topic with its partitions, retention and
compaction. The services create them from it in development (`bogfoer_kit.kafka`, with
`DEVELOPMENT` durability), and `deploy/` renders it as Strimzi `KafkaTopic` resources with
`PRODUCTION` durability, so both environments hold the same topics with the same settings.
"""

from __future__ import annotations

from dataclasses import dataclass

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
class Durability:
    """How many brokers hold each partition (`replicas`), and how many of them must have a
    record before an `acks=all` producer hears "stored" (`min_insync_replicas`)."""

    replicas: int
    min_insync_replicas: int


# The devstack's single broker (tests, `make demo`, the dev overlay on kind).
DEVELOPMENT = Durability(replicas=1, min_insync_replicas=1)
# Three brokers: one may be down (a rolling upgrade, a lost node) and every accepted record is
# still on two disks before ingest answers 202; with two down, producers stop rather than
# accept what one disk alone would hold.
PRODUCTION = Durability(replicas=3, min_insync_replicas=2)

DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    # How long a record stays; None: kept until compaction replaces it (compacted topics).
    retention_days: int | None
    partitions: int = 6
    # Compacted: the newest record of each key is kept for ever, older ones go.
    compacted: bool = False

    def config(self, durability: Durability) -> dict[str, str]:
        """The topic's Kafka configuration, the same in `create_topics` and `KafkaTopic`."""
        config = {"min.insync.replicas": str(durability.min_insync_replicas)}
        if self.compacted:
            config["cleanup.policy"] = "compact"
        else:
            config["cleanup.policy"] = "delete"
        if self.retention_days is not None:
            config["retention.ms"] = str(self.retention_days * DAY_MS)
        return config


# What was received, and the canonical sales derived from it, are the audit trail and the
# source of every replay: kept six years (bogføringsloven keeps accounting material five
# years from the end of the financial year it belongs to).
AUDIT_RETENTION_DAYS = 6 * 366
# Derived records (commands, results, operator actions, dead letters) can be derived again or
# are recorded by the ledger; they stay long enough to rebuild a service's state after any
# outage we plan for.
WORKING_RETENTION_DAYS = 90

_AUDIT = (INGEST_INBOUND, INGEST_RAW, SALES_EVENTS)
_WORKING = (POSTINGS_COMMANDS, POSTINGS_RESULTS, OPS_ACTIONS)
TOPICS: tuple[TopicSpec, ...] = (
    *(TopicSpec(name, AUDIT_RETENTION_DAYS) for name in _AUDIT),
    *(TopicSpec(name, WORKING_RETENTION_DAYS) for name in _WORKING),
    TopicSpec(TENANTS_CONFIG, retention_days=None, partitions=1, compacted=True),
    # Every topic that is consumed has its dead-letter topic.
    *(
        TopicSpec(dlq_topic(name), WORKING_RETENTION_DAYS)
        for name in (*_AUDIT, *_WORKING, TENANTS_CONFIG)
    ),
)
DLQ_TOPICS: tuple[str, ...] = tuple(spec.name for spec in TOPICS if spec.name.endswith(".dlq.v1"))
# The topics a dead letter can be re-driven to: those that have a dead-letter topic.
REDRIVABLE_TOPICS: tuple[str, ...] = tuple(
    spec.name for spec in TOPICS if dlq_topic(spec.name) in DLQ_TOPICS
)
