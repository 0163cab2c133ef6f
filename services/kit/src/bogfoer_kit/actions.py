"""Publishing an operator's action (contracts/ops.py) on `ops.actions.v1`, key = tenant.

The ops web app, the poster's admin API and the command line publish the same records; the
service that owns the state carries each out, and the ledger records it with who and when.
"""

from __future__ import annotations

import datetime as dt
import uuid

from faststream.kafka import KafkaBroker

from bogfoer_contracts.ops import OPS_ACTION, OpsAction, RemapPosting, ResumeTenant, RetryPosting
from bogfoer_contracts.topics import OPS_ACTIONS, key_for

ACTION_KINDS = ("remap_posting", "retry_posting", "resume_tenant")


def new_action_id() -> str:
    return uuid.uuid4().hex


def make_action(
    kind: str,
    tenant_id: str,
    requested_by: str,
    *,
    posting_key: str | None = None,
    note: str | None = None,
    action_id: str | None = None,
    at: dt.datetime | None = None,
) -> OpsAction:
    """One action; ValueError when `kind` is unknown or a posting action lacks its key."""
    action_id = action_id or new_action_id()
    requested_at = at or dt.datetime.now(dt.UTC)
    if kind == "resume_tenant":
        return ResumeTenant(
            action_id=action_id,
            tenant_id=tenant_id,
            requested_by=requested_by,
            requested_at=requested_at,
            note=note or None,
        )
    if kind not in ACTION_KINDS:
        raise ValueError(f"unknown action {kind!r}")
    if not posting_key:
        raise ValueError(f"{kind} needs a posting key")
    model = RemapPosting if kind == "remap_posting" else RetryPosting
    return model(
        action_id=action_id,
        tenant_id=tenant_id,
        requested_by=requested_by,
        requested_at=requested_at,
        note=note or None,
        posting_key=posting_key,
    )


async def publish_action(broker: KafkaBroker, action: OpsAction) -> None:
    """On Kafka (acks=all) when this returns."""
    await broker.publish(
        OPS_ACTION.dump_json(action),
        topic=OPS_ACTIONS,
        key=key_for(action.tenant_id),
        headers={"content-type": "application/json", "x-action-id": action.action_id},
    )
