"""The Kafka broker every service uses, with the safe settings (not aiokafka's defaults).

aiokafka defaults to acks=1 without idempotence and FastStream to at-most-once
consumption; we turn on the idempotent producer (acks=all) and consume through our own
batched loops (`bogfoer_kit.consumer`), which commit only after the work is durable. The
connection is TLS (+ SCRAM or PLAIN) when the settings say so. Each broker publishes only
to the topics its service's `ServiceKafka` lists, the same list its production ACLs are
rendered from. Topics are declared by `ensure_topics`, never by accident.

aiokafka's idempotent producer can lose its place for good after an outage: a batch that
expires (40 s) while its partition has no leader (the broker is coming back) takes
sequence numbers the broker never sees, and from then on every batch to that partition is
refused with OutOfOrderSequenceNumber (aio-libs/aiokafka#1017) until the process restarts.
`ProducerRenewal` replaces such a producer with a new one (a new producer id, sequences
from zero). The record that was refused failed for its sender, who sends it again, as after
any failed publish; every consumer drops what it has seen (docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import OutOfOrderSequenceNumber, TopicAlreadyExistsError
from faststream import BaseMiddleware
from faststream._internal.context.repository import ContextRepo
from faststream.kafka import KafkaBroker
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.kafka.publisher.producer import AioKafkaFastProducerImpl
from faststream.kafka.security import parse_security
from faststream.response import PublishCommand
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram512
from opentelemetry.trace import TracerProvider
from prometheus_client import REGISTRY

from bogfoer_contracts.topics import DEVELOPMENT, TOPICS, TopicSpec
from bogfoer_contracts.topology import ServiceKafka
from bogfoer_kit.settings import ServiceSettings
from bogfoer_kit.tls import client_context

log = logging.getLogger(__name__)
# Each broker's ProducerRenewal, for the batch publishes that pass its middlewares by.
_RENEWALS: weakref.WeakKeyDictionary[KafkaBroker, ProducerRenewal] = weakref.WeakKeyDictionary()


class UndeclaredTopic(Exception):
    """A service published to a topic its `ServiceKafka.writes_to` does not list: in
    production its Kafka user would be refused. A bug, never retried as transient."""


class UndeclaredSubscription(Exception):
    """A service's consumers differ from its `ServiceKafka.subscriptions`: its production
    ACLs and autoscaling, rendered from that list, would not match what it consumes."""


class MissingTopics(RuntimeError):
    """`kafka_topics=verify` and a topic the code needs does not exist (yet)."""


def security(settings: ServiceSettings) -> BaseSecurity | None:
    """How the service authenticates to Kafka and checks the brokers, from its settings."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    context = client_context(settings.kafka_ca_file)
    if settings.kafka_security_protocol == "SSL":
        return BaseSecurity(ssl_context=context)
    username = settings.kafka_username or ""
    password = settings.kafka_password.get_secret_value() if settings.kafka_password else ""
    if settings.kafka_sasl_mechanism == "PLAIN":
        return SASLPlaintext(username, password, ssl_context=context)
    return SASLScram512(username, password, ssl_context=context)


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """The same connection for plain aiokafka clients (the admin client, tools)."""
    return {"bootstrap_servers": settings.kafka_bootstrap_servers} | parse_security(
        security(settings)
    )


class _PublishGuard(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: ContextRepo, kafka: ServiceKafka) -> None:
        super().__init__(msg, context=context)
        self.kafka = kafka

    async def publish_scope(
        self, call_next: Callable[[PublishCommand], Awaitable[Any]], cmd: PublishCommand
    ) -> Any:
        if cmd.destination not in self.kafka.writes_to:
            raise UndeclaredTopic(
                f"{self.kafka.principal} publishes to {cmd.destination!r}, which "
                f"bogfoer_contracts.topology does not list for it; add it there (its "
                f"production ACLs are rendered from that list)"
            )
        return await call_next(cmd)


class PublishOnlyDeclared:
    """Middleware factory: refuse to publish to a topic the service's topology omits."""

    def __init__(self, kafka: ServiceKafka) -> None:
        self.kafka = kafka

    def __call__(self, msg: Any, /, *, context: ContextRepo) -> BaseMiddleware:
        return _PublishGuard(msg, context=context, kafka=self.kafka)


PRODUCER_BATCH_BYTES = 1_000_000


def make_broker(
    settings: ServiceSettings, tracer_provider: TracerProvider, kafka: ServiceKafka
) -> KafkaBroker:
    renewal = ProducerRenewal()
    broker = KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=kafka.principal,
        security=security(settings),
        enable_idempotence=True,  # implies acks=all: a 202 means the record is replicated
        allow_auto_create_topics=False,
        graceful_timeout=settings.graceful_timeout_seconds,
        middlewares=[
            PublishOnlyDeclared(kafka),
            KafkaTelemetryMiddleware(tracer_provider=tracer_provider),
            # faststream_received_* and faststream_published_* by handler and topic
            KafkaPrometheusMiddleware(registry=REGISTRY, app_name=kafka.principal),
            renewal.watch,
        ],
        linger_ms=5,
        # aiokafka fills one batch per partition at a time and makes every further send to
        # that partition wait until the batch has gone; at its 16 KiB a poll's or a batch
        # request's records of one tenant went out ~20 records a round trip (~1,000 events/s
        # through ingest's batch route). Kept under the broker's message.max.bytes (1 MiB).
        max_batch_size=PRODUCER_BATCH_BYTES,
    )
    renewal.broker = broker
    _RENEWALS[broker] = renewal
    return broker


def notice_publish_failure(broker: KafkaBroker, exc: BaseException | None) -> None:
    """A batch publish (`bogfoer_kit.publish`, past FastStream's middlewares) failed with
    `exc`: the broker's `ProducerRenewal` replaces the producer if it is out of sequence."""
    renewal = _RENEWALS.get(broker)
    if renewal is not None:
        renewal.noticed(exc)


class ProducerRenewal:
    """Watches every publish of a broker; a producer refused for being out of sequence is
    replaced, once, by a new one."""

    def __init__(self) -> None:
        self.broker: KafkaBroker | None = None
        self.renewals = 0
        self._renewing: asyncio.Task[None] | None = None

    def watch(self, msg: Any, /, *, context: Any) -> BaseMiddleware:
        """The middleware factory FastStream calls for each publish (and each message)."""
        return _Watch(msg, context=context, renewal=self)

    def noticed(self, exc: BaseException | None) -> None:
        if not isinstance(exc, OutOfOrderSequenceNumber):
            return
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._renew(), name="kafka-producer-renewal")

    async def _renew(self) -> None:
        assert self.broker is not None
        fast = cast(AioKafkaFastProducerImpl, self.broker.config.producer)
        log.warning("the Kafka producer is out of sequence with the broker; replacing it")
        with contextlib.suppress(Exception):  # its batches fail as they are refused
            await asyncio.wait_for(fast.disconnect(), 10)
        # The broker's own producer settings (bootstrap, idempotence, client id, linger).
        settings = self.broker._connection_kwargs
        await fast.connect(
            AIOKafkaProducer(**settings),
            serializer=fast.serializer,
            codec=fast.codec,
        )
        self.renewals += 1
        log.warning("the Kafka producer was replaced (%d so far)", self.renewals)


class _Watch(BaseMiddleware):
    def __init__(self, msg: Any, /, *, context: Any, renewal: ProducerRenewal) -> None:
        super().__init__(msg, context=context)
        self.renewal = renewal

    async def publish_scope(self, call_next: Callable[[Any], Awaitable[Any]], cmd: Any) -> Any:
        try:
            sent = await call_next(cmd)
        except OutOfOrderSequenceNumber as exc:
            self.renewal.noticed(exc)
            raise
        if isinstance(sent, asyncio.Future):  # published without waiting for the ack
            sent.add_done_callback(
                lambda ack: None if ack.cancelled() else self.renewal.noticed(ack.exception())
            )
        return sent


def producer_of(broker: KafkaBroker) -> Any:
    """The broker's aiokafka producer (the idempotent one, acks=all), asked anew each time
    (it may be replaced): to publish many records without FastStream's per-record work
    (`bogfoer_kit.publish`). FastStream has no public handle for it; the path is that of
    the pinned FastStream, and every publishing test covers it."""
    return cast(Any, broker.config.producer)._producer.producer


def producer_client(broker: KafkaBroker) -> Any:
    """The aiokafka client under the broker's producer, to ask whether a broker can be
    reached before handing it records (`tests/integration/test_kafka_outage.py`)."""
    return producer_of(broker).client


async def ensure_topics(settings: ServiceSettings, kafka: ServiceKafka | None = None) -> None:
    """Development: create every missing topic of `TOPICS` with its settings (existing ones
    stay). Production (`kafka_topics=verify`): Strimzi's Topic Operator owns them; check
    that the ones this service uses exist (its user may see no others)."""
    admin = AIOKafkaAdminClient(**client_options(settings))
    try:
        # Inside the try: a start refused (a wrong password, an unknown CA) must still close
        # the connections it opened.
        await admin.start()
        existing = set(await admin.list_topics())
        if settings.kafka_topics == "verify":
            used = TOPICS if kafka is None else _used_by(kafka)
            if absent := [spec.name for spec in used if spec.name not in existing]:
                raise MissingTopics(f"topics {absent} do not exist; apply the KafkaTopic resources")
            return
        missing = [
            NewTopic(
                spec.name,
                spec.partitions,
                DEVELOPMENT.replicas,
                topic_configs=spec.config(DEVELOPMENT),
            )
            for spec in TOPICS
            if spec.name not in existing
        ]
        if missing:
            # Another replica may have created them first.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(missing)
            log.info("created topics %s", [t.name for t in missing])
    finally:
        await admin.close()


def _used_by(kafka: ServiceKafka) -> tuple[TopicSpec, ...]:
    names = {*kafka.reads, *kafka.writes_to}
    return tuple(spec for spec in TOPICS if spec.name in names)
