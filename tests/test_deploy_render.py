"""What production is told about Kafka equals what the code does, from one list.

The KafkaTopics, the KafkaUsers' ACLs and KEDA's consumer groups are rendered from
`bogfoer_contracts.topics` and `bogfoer_contracts.topology`; `tests/test_topology.py` proves
the handlers subscribe and publish exactly as that topology says. Here: the committed files
are what the code renders today (`make manifests`), and the rendered overlay holds exactly
those topics, users, ACLs and groups.
"""

from __future__ import annotations

from typing import Any

import pytest

from bogfoer_contracts.topics import PRODUCTION, TOPICS
from bogfoer_contracts.topology import SERVICES, TOOLS
from bogfoer_deploy import render, validate

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def prod() -> list[Doc]:
    return validate.build("prod")


def of_kind(docs: list[Doc], kind: str) -> list[Doc]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("relative", render.outputs())
def test_committed_manifests_are_what_the_code_renders(relative: str) -> None:
    source, docs = render.outputs()[relative]
    committed = (render.K8S / relative).read_text()
    assert committed == render.render(source, docs), f"{relative} is stale: run `make manifests`"


def test_the_topics_are_the_declared_topics_replicated_three_times(prod: list[Doc]) -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind(prod, "KafkaTopic")}
    assert set(topics) == {spec.name for spec in TOPICS}
    for spec in TOPICS:
        assert topics[spec.name]["partitions"] == spec.partitions
        assert topics[spec.name]["replicas"] == 3
        assert topics[spec.name]["config"] == spec.config(PRODUCTION)
        assert topics[spec.name]["config"]["min.insync.replicas"] == "2"


def test_dev_topics_fit_one_broker() -> None:
    for topic in of_kind(validate.build("dev"), "KafkaTopic"):
        assert topic["spec"]["replicas"] == 1
        assert topic["spec"]["config"]["min.insync.replicas"] == "1"


def _acls(user: Doc) -> set[tuple[str, str, str]]:
    return {
        (rule["resource"]["type"], rule["resource"]["name"], operation)
        for rule in user["spec"]["authorization"]["acls"]
        for operation in rule["operations"]
    }


def test_each_service_user_may_touch_exactly_what_the_service_uses(prod: list[Doc]) -> None:
    users = {u["metadata"]["name"]: u for u in of_kind(prod, "KafkaUser")}
    for kafka in (*SERVICES, *TOOLS):
        user = users.pop(kafka.principal)
        assert user["spec"]["authentication"] == {"type": "scram-sha-512"}
        for rule in user["spec"]["authorization"]["acls"]:
            assert rule["resource"]["patternType"] == "literal"  # no prefixes, no wildcards
        reads = set(kafka.reads_any_way)  # the reconciler replays without a group
        writes = set(kafka.writes_to)
        expected = (
            {("topic", t, "Read") for t in reads}
            | {("topic", t, "Write") for t in writes}
            | {("topic", t, "Describe") for t in reads | writes}
            | {("group", g, "Read") for g in kafka.groups()}
        )
        for watched in (*kafka.measures_lag_of, kafka) if kafka.measures_lag_of else ():
            expected |= {("topic", t, "Describe") for t in watched.reads}
            expected |= {("group", g, "Describe") for g in watched.groups()}
        assert _acls(user) == expected, kafka.service
    # The only other user is KEDA's, which may only look.
    keda = users.pop(render.KEDA_USER)
    assert not users
    assert {operation for _, _, operation in _acls(keda)} == {"Describe"}


def test_keda_scales_on_groups_the_services_really_use(prod: list[Doc]) -> None:
    groups = {g: kafka for kafka in SERVICES for g in kafka.groups()}
    scaled = of_kind(prod, "ScaledObject")
    assert {s["metadata"]["name"] for s in scaled} == {
        "bogfoer-ingest",
        "bogfoer-mapper",
        "bogfoer-ledger",
    }
    keda_acls = _acls(
        next(u for u in of_kind(prod, "KafkaUser") if u["metadata"]["name"] == "bogfoer-keda")
    )
    for scaled_object in scaled:
        target = scaled_object["spec"]["scaleTargetRef"]["name"]
        lag = [t for t in scaled_object["spec"]["triggers"] if t["type"] == "kafka"]
        assert lag, target
        for trigger in lag:
            meta = trigger["metadata"]
            kafka = groups[meta["consumerGroup"]]  # a group a handler subscribes with
            assert kafka.principal == target  # ... of the Deployment being scaled
            subscription = next(
                s for s in kafka.subscriptions if s.group(kafka.principal) == meta["consumerGroup"]
            )
            assert meta["topic"] in subscription.topics
            assert int(meta["lagThreshold"]) > 0
            assert meta["sasl"] == "scram_sha512"
            assert meta["tls"] == "enable"
            assert meta["bootstrapServers"] == render.KAFKA_BOOTSTRAP
            # KEDA's user may describe exactly that group and topic.
            assert ("group", meta["consumerGroup"], "Describe") in keda_acls
            assert ("topic", meta["topic"], "Describe") in keda_acls
        # Never more replicas than partitions to share.
        topics = {t["metadata"]["topic"] for t in lag}
        partitions = max(s.partitions for s in TOPICS if s.name in topics)
        assert scaled_object["spec"]["maxReplicaCount"] == partitions
