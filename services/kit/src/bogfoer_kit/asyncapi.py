"""The AsyncAPI document of Bogfør's topics, generated from the contracts.

`python -m bogfoer_kit.asyncapi` writes docs/asyncapi.json; every service also serves it at
`/asyncapi.json`. A test fails when the committed file and the code disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI

from bogfoer_contracts.events import InboundEvent, SalesEvent
from bogfoer_contracts.ops import OpsAction
from bogfoer_contracts.postings import PostingCommand, PostingResult
from bogfoer_contracts.tenants import TenantConfig
from bogfoer_contracts.topics import (
    INGEST_INBOUND,
    INGEST_RAW,
    OPS_ACTIONS,
    POSTINGS_COMMANDS,
    POSTINGS_RESULTS,
    PRODUCTION,
    SALES_EVENTS,
    TENANTS_CONFIG,
    TOPICS,
    TopicSpec,
)

DOC_PATH = Path(__file__).resolve().parents[4] / "docs" / "asyncapi.json"

# topic -> (payload type, who writes, who reads, what it holds)
_CATALOGUE: dict[str, tuple[Any, str, str, str]] = {
    INGEST_INBOUND: (
        InboundEvent,
        "shop platforms that produce to Kafka (record key: the tenant id)",
        "ingest",
        "Shop events straight from Kafka, validated and stamped like an HTTP POST.",
    ),
    INGEST_RAW: (
        InboundEvent,
        "ingest",
        "ingest (Stripe normaliser), replay",
        "Every accepted request body exactly as received (a shop's InboundEvent, a batch "
        '{"events": [InboundEvent, ...]} with x-batch-events and x-batch-accepted, or a '
        "Stripe event), with x-tenant, x-source, x-received-at headers: the audit trail.",
    ),
    SALES_EVENTS: (SalesEvent, "ingest", "mapper", "Canonical sales events (envelope + data)."),
    TENANTS_CONFIG: (
        TenantConfig,
        "poster (tenant admin API)",
        "mapper",
        "Compacted: each tenant's settings, newest version wins.",
    ),
    POSTINGS_COMMANDS: (
        PostingCommand,
        "mapper",
        "poster, ledger",
        "What must happen in Dinero, one deterministic posting_key each.",
    ),
    POSTINGS_RESULTS: (
        PostingResult,
        "poster, mapper (holds)",
        "ledger",
        "What happened: done, waiting, failed, parked or held.",
    ),
    OPS_ACTIONS: (
        OpsAction,
        "the ledger's ops web app and API, `bogfoer reconcile --repair`",
        "mapper (remap_posting), poster (retry_posting, resume_tenant), ledger (the record)",
        "What an operator asked for, with who and when; each action idempotent.",
    ),
}


def catalogue_broker(bootstrap: str = "kafka:9092") -> KafkaBroker:
    broker = KafkaBroker(bootstrap, description="Bogfør's topics; the record key is the tenant id")
    for spec in TOPICS:
        if spec.name in _CATALOGUE:
            payload, writer, reader, what = _CATALOGUE[spec.name]
            broker.publisher(
                spec.name,
                schema=payload,
                title=spec.name,
                description=f"{what} Written by {writer}; read by {reader}. {_settings(spec)}.",
            )
        else:
            broker.publisher(
                spec.name,
                title=spec.name,
                description="Dead letters: the original record's bytes and headers plus "
                "x-dlq-reason, x-dlq-detail and x-original-topic/partition/offset; read by "
                "the ledger (/v1/dead-letters).",
            )
    return broker


def _settings(spec: TopicSpec) -> str:
    kept = "compacted" if spec.compacted else f"kept {spec.retention_days} days"
    return (
        f"{spec.partitions} partitions, {kept}; in production {PRODUCTION.replicas} replicas, "
        f"min.insync.replicas={PRODUCTION.min_insync_replicas}"
    )


def document() -> dict[str, Any]:
    spec = AsyncAPI(catalogue_broker(), title="Bogfør topics", version="1")
    result: dict[str, Any] = spec.to_specification().to_jsonable()
    return result


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    DOC_PATH.write_text(render())
    sys.stdout.write(f"wrote {DOC_PATH}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
