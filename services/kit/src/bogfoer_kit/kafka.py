"""The Kafka broker every service uses, with the safe settings (not aiokafka's defaults).

aiokafka defaults to acks=1 without idempotence and FastStream to at-most-once
consumption; we turn on the idempotent producer (acks=all) and let each subscriber
choose an explicit ack policy. Topics are declared by `ensure_topics`, never by accident.
"""

from __future__ import annotations

import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from opentelemetry.trace import TracerProvider
from prometheus_client import REGISTRY

from bogfoer_contracts.topics import TOPICS, TopicSpec
from bogfoer_kit.settings import ServiceSettings

log = logging.getLogger(__name__)


def make_broker(
    settings: ServiceSettings, tracer_provider: TracerProvider, client_id: str
) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,  # implies acks=all: a 202 means the record is replicated
        allow_auto_create_topics=False,
        graceful_timeout=settings.graceful_timeout_seconds,
        middlewares=[
            KafkaTelemetryMiddleware(tracer_provider=tracer_provider),
            # faststream_received_* and faststream_published_* by handler and topic
            KafkaPrometheusMiddleware(registry=REGISTRY, app_name=client_id),
        ],
        linger_ms=5,
    )


async def ensure_topics(bootstrap: str, topics: tuple[TopicSpec, ...] = TOPICS) -> None:
    """Create the topics we own with their partitions and settings; existing ones stay."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(spec.name, spec.partitions, 1, topic_configs=dict(spec.config))
            for spec in topics
            if spec.name not in existing
        ]
        if missing:
            # Another replica may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            log.info("created topics %s", [t.name for t in missing])
    finally:
        await admin.close()
