"""The services subscribe and publish exactly as `bogfoer_contracts.topology` says.

That list is what the production Kafka ACLs and the KEDA triggers are rendered from
(`tests/test_deploy_render.py`), so a handler that joined another group or published to
another topic would work in the tests and be refused (or never scaled) in production. Each
service's handlers are registered on a broker built like the service's own, and
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
from bogfoer_kit.kafka import UndeclaredSubscription, UndeclaredTopic, check_subscriptions
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


def ingest() -> tuple[KafkaBroker, str]:
    settings = IngestSettings.model_validate(REQUIRED)
    broker = make_broker(settings, INGEST)
    stripe_consumer.register(broker, settings, UNUSED)
    kafka_inbound.register(broker, settings, UNUSED)
    return broker, settings.group_id


def mapper() -> tuple[KafkaBroker, str]:
    settings = MapperSettings.model_validate(REQUIRED)
    broker = make_broker(settings, MAPPER)
    mapper_handlers.register(broker, settings, UNUSED)
    return broker, settings.group_id


def poster() -> tuple[KafkaBroker, str]:
    settings = PosterSettings.model_validate(REQUIRED)
    broker = make_broker(settings, POSTER)
    poster_handlers.register(broker, settings, UNUSED, UNUSED)
    return broker, settings.group_id


def ledger() -> tuple[KafkaBroker, str]:
    settings = LedgerSettings.model_validate(REQUIRED)
    broker = make_broker(settings, LEDGER)
    ledger_handlers.register(broker, settings, UNUSED)
    return broker, settings.group_id


WIRED = {INGEST: ingest, MAPPER: mapper, POSTER: poster, LEDGER: ledger}


@pytest.mark.parametrize("kafka", WIRED, ids=lambda k: k.service)
def test_handlers_subscribe_exactly_the_declared_groups(kafka: ServiceKafka) -> None:
    broker, prefix = WIRED[kafka]()
    assert prefix == kafka.principal  # what the manifests run with
    check_subscriptions(broker, kafka, prefix)
    groups = {cast(Any, s).group_id for s in broker.subscribers}
    assert groups == set(kafka.groups())


def test_a_subscriber_outside_the_topology_stops_the_service() -> None:
    broker, prefix = mapper()
    broker.subscriber(POSTINGS_COMMANDS, group_id=f"{prefix}.sneaky")(_ignore)
    with pytest.raises(UndeclaredSubscription, match="sneaky"):
        check_subscriptions(broker, MAPPER, prefix)


def test_a_declared_subscription_without_handler_stops_the_service() -> None:
    settings = MapperSettings.model_validate(REQUIRED)
    broker = make_broker(settings, MAPPER)  # nothing registered
    with pytest.raises(UndeclaredSubscription):
        check_subscriptions(broker, MAPPER, settings.group_id)


async def test_publishing_to_an_undeclared_topic_is_refused() -> None:
    broker, _ = mapper()
    async with TestKafkaBroker(broker):
        await broker.publish(b"{}", topic=POSTINGS_COMMANDS)  # declared: fine
        with pytest.raises(UndeclaredTopic, match=r"bogfoer-mapper publishes to 'ops\.actions"):
            await broker.publish(b"{}", topic=OPS_ACTIONS)
        # The dead letters of what it reads are its to write.
        await broker.publish(b"{}", topic="sales.events.dlq.v1")
    assert SALES_EVENTS in MAPPER.reads


async def _ignore(msg: bytes) -> None:
    del msg
