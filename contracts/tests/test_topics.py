"""The topic declarations and the topology every service, ACL and autoscaler reads."""

from __future__ import annotations

import pytest

from bogfoer_contracts.topics import (
    DEVELOPMENT,
    DLQ_TOPICS,
    INGEST_RAW,
    PRODUCTION,
    TENANTS_CONFIG,
    TOPICS,
    dlq_topic,
)
from bogfoer_contracts.topology import LEDGER, MAPPER, SERVICES, ServiceKafka

DECLARED = {spec.name for spec in TOPICS}


def test_production_keeps_every_record_on_two_of_three_brokers() -> None:
    assert PRODUCTION.replicas == 3
    assert PRODUCTION.min_insync_replicas == 2
    for spec in TOPICS:
        assert spec.config(PRODUCTION)["min.insync.replicas"] == "2"
    # The devstack has one broker: more replicas could never be placed.
    assert DEVELOPMENT.replicas == DEVELOPMENT.min_insync_replicas == 1


def test_the_raw_record_is_kept_for_the_bookkeeping_years() -> None:
    raw = next(spec for spec in TOPICS if spec.name == INGEST_RAW)
    config = raw.config(PRODUCTION)
    assert config["cleanup.policy"] == "delete"
    assert int(config["retention.ms"]) >= 6 * 365 * 86_400_000


def test_tenant_settings_are_compacted_not_expired() -> None:
    config_topic = next(spec for spec in TOPICS if spec.name == TENANTS_CONFIG)
    config = config_topic.config(PRODUCTION)
    assert config["cleanup.policy"] == "compact"
    assert "retention.ms" not in config


def test_every_consumed_topic_has_a_declared_dead_letter_topic() -> None:
    for service in SERVICES:
        for topic in service.reads:
            assert topic in DECLARED, (service.service, topic)
            if topic not in DLQ_TOPICS:
                assert dlq_topic(topic) in DECLARED, topic


@pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.service)
def test_a_service_writes_only_declared_topics(service: ServiceKafka) -> None:
    assert set(service.writes_to) <= DECLARED
    # It may dead-letter what it reads.
    for topic in service.reads:
        if topic not in DLQ_TOPICS:
            assert dlq_topic(topic) in service.writes_to


def test_consumer_groups_are_unique_and_named_after_the_service() -> None:
    groups = [g for service in SERVICES for g in service.groups()]
    assert len(groups) == len(set(groups))
    assert MAPPER.groups() == (
        "bogfoer-mapper.events",
        "bogfoer-mapper.config",
        "bogfoer-mapper.actions",
    )
    assert MAPPER.groups("test-x") == ("test-x.events", "test-x.config", "test-x.actions")


def test_the_ledger_may_redrive_to_every_topic_that_has_dead_letters() -> None:
    for dead_letters in LEDGER.subscription("dead-letters").topics:
        original = next(s.name for s in TOPICS if dlq_topic(s.name) == dead_letters)
        assert original in LEDGER.writes_to
    # ... but never to a dead-letter topic of its own making.
    assert not set(LEDGER.produces) & set(DLQ_TOPICS)


def test_an_unknown_subscription_name_is_an_error() -> None:
    with pytest.raises(KeyError, match="mapper has no subscription 'results'"):
        MAPPER.subscription("results")
