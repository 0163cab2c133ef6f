"""Who reads and writes which topic: each service's consumer groups and what it produces.

One list, read by everything that must agree on it:
- each service's handlers subscribe through its `Subscription`s (topics and group), via
  the kit's consumer loops (`bogfoer_kit.consumer.Consumers`);
- each service's broker refuses to publish to a topic its `writes_to` does not list
  (`bogfoer_kit.kafka`), so a new publish path fails in the tests, not in production;
- `deploy/` renders the Strimzi `KafkaUser` ACLs (read on exactly these topics and groups,
  write on exactly these topics) and the KEDA triggers (lag of these groups) from it.

A consumer group is `<group prefix>.<subscription name>`; the prefix is the service's
`group_id` setting (`bogfoer-<service>` unless a test isolates itself with another one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from bogfoer_contracts.topics import (
    DLQ_TOPICS,
    INGEST_INBOUND,
    INGEST_RAW,
    OPS_ACTIONS,
    POSTINGS_COMMANDS,
    POSTINGS_RESULTS,
    REDRIVABLE_TOPICS,
    SALES_EVENTS,
    TENANTS_CONFIG,
    dlq_topic,
)


@dataclass(frozen=True)
class Subscription:
    """One consumer group of a service and the topics it reads."""

    name: str
    topics: tuple[str, ...]

    def group(self, prefix: str) -> str:
        return f"{prefix}.{self.name}"


@dataclass(frozen=True)
class Acl:
    """One allow rule of a Kafka user: operations (Kafka's names) on a literal resource."""

    resource: Literal["topic", "group"]
    name: str
    operations: tuple[str, ...]


@dataclass(frozen=True)
class ServiceKafka:
    """What one service does on Kafka."""

    service: str
    subscriptions: tuple[Subscription, ...]
    # What the service publishes itself; the dead letters of what it reads come on top.
    produces: tuple[str, ...]
    # Services whose consumer-group lag this one measures (it may describe their groups).
    measures_lag_of: tuple[ServiceKafka, ...] = ()
    # Topics it reads with partitions assigned by hand and no consumer group (the
    # reconciler's replay): Read on the topic, no group, no offsets of anyone's.
    replays: tuple[str, ...] = ()

    @property
    def principal(self) -> str:
        """Its Kafka user (a Strimzi KafkaUser) and its default consumer-group prefix."""
        return f"bogfoer-{self.service}"

    def subscription(self, name: str) -> Subscription:
        for subscription in self.subscriptions:
            if subscription.name == name:
                return subscription
        raise KeyError(f"{self.service} has no subscription {name!r}")

    def groups(self, prefix: str | None = None) -> tuple[str, ...]:
        return tuple(s.group(prefix or self.principal) for s in self.subscriptions)

    @property
    def reads(self) -> tuple[str, ...]:
        return _unique(t for s in self.subscriptions for t in s.topics)

    @property
    def reads_any_way(self) -> tuple[str, ...]:
        return _unique((*self.reads, *self.replays))

    @property
    def writes_to(self) -> tuple[str, ...]:
        """Everything it may publish to: what it produces, and the dead-letter topic of
        each topic it reads (`bogfoer_kit.deadletter`)."""
        dead_letters = (dlq_topic(t) for t in self.reads if dlq_topic(t) in DLQ_TOPICS)
        return _unique((*self.produces, *dead_letters))

    def acls(self) -> tuple[Acl, ...]:
        """Exactly what it needs: Read on the topics and groups it consumes, Write on the
        topics it may publish to (Describe, for metadata, with each), Describe on the groups
        and topics whose lag it measures. Nothing on the cluster: idempotent producers need
        only Write (KIP-679), and topics are created by the Topic Operator."""
        wanted: dict[tuple[Literal["topic", "group"], str], list[str]] = {}
        for topic in self.reads_any_way:
            wanted.setdefault(("topic", topic), []).extend(("Describe", "Read"))
        for topic in self.writes_to:
            wanted.setdefault(("topic", topic), []).extend(("Describe", "Write"))
        for group in self.groups():
            wanted.setdefault(("group", group), []).append("Read")
        for watched in (*self.measures_lag_of, self) if self.measures_lag_of else ():
            for acl in watched.lag_acls():
                wanted.setdefault((acl.resource, acl.name), []).extend(acl.operations)
        order = ("Describe", "Read", "Write")
        return tuple(
            Acl(resource, name, tuple(op for op in order if op in ops))
            for (resource, name), ops in wanted.items()
        )

    def lag_acls(self) -> tuple[Acl, ...]:
        """What an autoscaler needs to read this service's lag: Describe on its groups and
        the topics they read; it can neither consume nor produce."""
        return (
            *(Acl("topic", t, ("Describe",)) for t in self.reads),
            *(Acl("group", g, ("Describe",)) for g in self.groups()),
        )


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


INGEST = ServiceKafka(
    "ingest",
    subscriptions=(
        Subscription("stripe", (INGEST_RAW,)),  # raw Stripe events -> canonical
        Subscription("inbound", (INGEST_INBOUND,)),  # shop events produced straight to Kafka
    ),
    produces=(INGEST_RAW, SALES_EVENTS),
)
MAPPER = ServiceKafka(
    "mapper",
    subscriptions=(
        Subscription("events", (SALES_EVENTS,)),
        Subscription("config", (TENANTS_CONFIG,)),
        Subscription("actions", (OPS_ACTIONS,)),  # remap_posting
    ),
    produces=(POSTINGS_COMMANDS, POSTINGS_RESULTS),  # results: the holds
)
POSTER = ServiceKafka(
    "poster",
    subscriptions=(
        Subscription("commands", (POSTINGS_COMMANDS,)),
        Subscription("actions", (OPS_ACTIONS,)),  # retry_posting, resume_tenant
    ),
    # config: the tenant admin API; actions: the admin API's re-drive and unpark
    produces=(POSTINGS_RESULTS, TENANTS_CONFIG, OPS_ACTIONS),
)
LEDGER = ServiceKafka(
    "ledger",
    subscriptions=(
        Subscription("commands", (POSTINGS_COMMANDS,)),
        Subscription("results", (POSTINGS_RESULTS,)),
        Subscription("actions", (OPS_ACTIONS,)),  # the record of every operator action
        Subscription("dead-letters", DLQ_TOPICS),
    ),
    # `POST /v1/dead-letters/{id}/redrive` publishes a record to its original topic again;
    # the ops pages publish operators' actions.
    produces=(*REDRIVABLE_TOPICS, OPS_ACTIONS),
    # bogfoer_ledger.lag: every service's consumer lag, measured in one place.
    measures_lag_of=(INGEST, MAPPER, POSTER),
)
SERVICES: tuple[ServiceKafka, ...] = (INGEST, MAPPER, POSTER, LEDGER)
# `bogfoer reconcile` (the nightly CronJob, or an operator): replays the sales and the
# settings without a group, and publishes its repairs as operator actions.
RECONCILE = ServiceKafka(
    "reconcile",
    subscriptions=(),
    produces=(OPS_ACTIONS,),
    replays=(SALES_EVENTS, TENANTS_CONFIG),
)
# Programs that are not services (no Deployment, no subscriptions) but have a Kafka user.
TOOLS: tuple[ServiceKafka, ...] = (RECONCILE,)
