"""The committed AsyncAPI document of the topics matches the code (`make schemas`)."""

from __future__ import annotations

from bogfoer_contracts.topics import TOPICS
from bogfoer_kit.asyncapi import DOC_PATH, document, render


def test_committed_asyncapi_matches_the_code() -> None:
    assert DOC_PATH.read_text() == render(), "topics or contracts changed: run `make schemas`"


def test_every_declared_topic_is_documented_with_its_payload() -> None:
    channels = document()["channels"]
    assert {spec.name for spec in TOPICS} == {c["address"] for c in channels.values()}
    sales = next(c for c in channels.values() if c["address"] == "sales.events.v1")
    assert "Canonical sales events" in sales["description"]
