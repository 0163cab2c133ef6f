"""The services subscribe and publish exactly as `bogfoer_contracts.topology` says.

That list is what the production Kafka ACLs and the KEDA triggers are rendered from
(`tests/test_deploy_render.py`), so a handler that joined another group or published to
another topic would work in the tests and be refused (or never scaled) in production. Each
service's handlers are registered on consumer loops built like the service's own, and
`check_subscriptions` (which every service also runs before it starts consuming) compares.
"""

from __future__ import annotations

from typing import Any, cast

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from opentelemetry.sdk.trace import TracerProvider

from bogfoer_contracts.topics import OPS_ACTIONS, POSTINGS_COMMANDS, SALES_EVENTS
from bogfoer_contracts.topology import INGEST, LEDGER, MAPPER, POSTER, ServiceKafka
from bogfoer_ingest import kafka_inbound, stripe_consumer
from bogfoer_ingest.settings import IngestSettings
from bogfoer_kit.consumer import Consumers, TenantBatch, check_subscriptions, make_consumers
from bogfoer_kit.kafka import UndeclaredSubscription, UndeclaredTopic
from bogfoer_kit.kafka import make_broker as kit_make_broker
from bogfoer_kit.settings import ServiceSettings
from bogfoer_ledger import handlers as ledger_handlers
from bogfoer_ledger.settings import LedgerSettings
from bogfoer_mapper import handlers as mapper_handlers
from bogfoer_mapper.settings import MapperSettings
from bogfoer_poster import handlers as poster_handlers
from bogfoer_poster.settings import PosterSettings

REQUIRED = {
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
    "admin_token": "t",
    "secrets_key": "k",
    "credentials_key": "k",
}
UNUSED: Any = None  # collaborators the handlers only capture, never call while registering


def make_broker(settings: ServiceSettings, kafka: ServiceKafka) -> KafkaBroker:
    return kit_make_broker(settings, TracerProvider(), kafka)


Wired = tuple[KafkaBroker, Consumers, str]


def wire(settings: ServiceSettings, kafka: ServiceKafka, group_prefix: str) -> Wired:
    broker = make_broker(settings, kafka)
    return broker, make_consumers(settings, broker, kafka, group_prefix), group_prefix


def ingest() -> Wired:
    settings = IngestSettings.model_validate(REQUIRED)
    broker, consumers, prefix = wire(settings, INGEST, settings.group_id)
    stripe_consumer.register(consumers, cast(Any, _Stand()))
    kafka_inbound.register(consumers, UNUSED)
    return broker, consumers, prefix


def mapper() -> Wired:
    settings = MapperSettings.model_validate(REQUIRED)
    broker, consumers, prefix = wire(settings, MAPPER, settings.group_id)
    mapper_handlers.register(consumers, cast(Any, _Stand()))
    return broker, consumers, prefix


def poster() -> Wired:
    settings = PosterSettings.model_validate(REQUIRED)
    broker, consumers, prefix = wire(settings, POSTER, settings.group_id)
    poster_handlers.register(consumers, UNUSED, UNUSED)
    return broker, consumers, prefix


def ledger() -> Wired:
    settings = LedgerSettings.model_validate(REQUIRED)
    broker, consumers, prefix = wire(settings, LEDGER, settings.group_id)
    ledger_handlers.register(consumers, UNUSED)
    return broker, consumers, prefix


class _Stand:
    """Stands in for a handler's owner (the mapper, the Stripe normaliser): its methods are
    only captured here."""

    def __getattr__(self, name: str) -> Any:
        return self


WIRED = {INGEST: ingest, MAPPER: mapper, POSTER: poster, LEDGER: ledger}


@pytest.mark.parametrize("kafka", WIRED, ids=lambda k: k.service)
def test_handlers_subscribe_exactly_the_declared_groups(kafka: ServiceKafka) -> None:
    broker, consumers, prefix = WIRED[kafka]()
    assert prefix == kafka.principal  # what the manifests run with
    check_subscriptions(broker, consumers)
    groups = {loop.group_id for loop in consumers.loops.values()}
    assert groups == set(kafka.groups())
    assert {tuple(loop.subscription.topics) for loop in consumers.loops.values()} == {
        s.topics for s in kafka.subscriptions
    }


def test_a_subscriber_outside_the_topology_stops_the_service() -> None:
    broker, consumers, prefix = mapper()
    broker.subscriber(POSTINGS_COMMANDS, group_id=f"{prefix}.sneaky")(_ignore)
    with pytest.raises(UndeclaredSubscription, match="sneaky"):
        check_subscriptions(broker, consumers)


def test_a_subscription_the_topology_lacks_cannot_be_consumed() -> None:
    _, consumers, _ = mapper()
    with pytest.raises(KeyError, match="sneaky"):
        consumers.subscribe("sneaky", _ignore_batch)


def test_a_declared_subscription_without_handler_stops_the_service() -> None:
    settings = MapperSettings.model_validate(REQUIRED)
    broker, consumers, _ = wire(settings, MAPPER, settings.group_id)  # nothing registered
    with pytest.raises(UndeclaredSubscription):
        check_subscriptions(broker, consumers)


async def test_publishing_to_an_undeclared_topic_is_refused() -> None:
    broker, _, _ = mapper()
    async with TestKafkaBroker(broker):
        await broker.publish(b"{}", topic=POSTINGS_COMMANDS)  # declared: fine
        with pytest.raises(UndeclaredTopic, match=r"bogfoer-mapper publishes to 'ops\.actions"):
            await broker.publish(b"{}", topic=OPS_ACTIONS)
        # The dead letters of what it reads are its to write.
        await broker.publish(b"{}", topic="sales.events.dlq.v1")
    assert SALES_EVENTS in MAPPER.reads


async def _ignore(msg: bytes) -> None:
    del msg


async def _ignore_batch(batch: TenantBatch) -> None:
    del batch
