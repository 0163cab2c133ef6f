"""`--repair`: what to ask the pipeline for (pure), and asking it (Kafka).

Repairs go through the normal path, never around it: `remap_posting` to the mapper (derive
the posting again with the current settings; the poster carries it out with a look-up first)
and `retry_posting` to the poster, on `ops.actions.v1` with `requested_by="reconcile"`, where
the ledger records them. Findings only a person can fix are listed, not acted on.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaProducer

from bogfoer_cli.reconcile.findings import Finding
from bogfoer_contracts.ops import OpsAction, RemapPosting, RetryPosting
from bogfoer_contracts.topics import OPS_ACTIONS, key_for

REQUESTED_BY = "reconcile"


def plan(tenant: str, findings: Iterable[Finding], now: dt.datetime) -> list[OpsAction]:
    """One action per posting: a re-map where any finding asks for one, else a retry."""
    wanted: dict[str, tuple[str, str]] = {}
    for finding in findings:
        if finding.posting_key is None or finding.repair not in ("remap", "retry"):
            continue
        current = wanted.get(finding.posting_key)
        if current is None or (finding.repair == "remap" and current[0] == "retry"):
            wanted[finding.posting_key] = (finding.repair, f"{finding.klass}: {finding.message}")
    actions: list[OpsAction] = []
    for key, (repair, note) in wanted.items():
        common = {
            "action_id": uuid.uuid4().hex,
            "tenant_id": tenant,
            "requested_by": REQUESTED_BY,
            "requested_at": now,
            "posting_key": key,
            "note": note[:2000],
        }
        if repair == "remap":
            actions.append(RemapPosting.model_validate(common))
        else:
            actions.append(RetryPosting.model_validate(common))
    return actions


async def publish(
    bootstrap: str, actions: list[OpsAction], options: dict[str, Any] | None = None
) -> None:
    if not actions:
        return
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        enable_idempotence=True,
        acks="all",
        client_id="bogfoer-reconcile",
        **(options or {}),
    )
    await producer.start()
    try:
        for action in actions:
            await producer.send_and_wait(
                OPS_ACTIONS, action.model_dump_json().encode(), key=key_for(action.tenant_id)
            )
    finally:
        await producer.stop()
