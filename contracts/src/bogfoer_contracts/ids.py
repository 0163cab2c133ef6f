"""Deterministic identifiers: event ids and posting keys.

The same input always gives the same id, so a redelivered webhook or a replayed event
produces the same id and every consumer can drop the duplicate.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from typing import Annotated

from pydantic import Field

TENANT_PATTERN = r"^[a-z0-9][a-z0-9-]{1,62}$"
TenantId = Annotated[str, Field(pattern=TENANT_PATTERN, description="lower-case slug")]

_EVENT_NAMESPACE = uuid.UUID("6f1d8a3e-6a8c-4c69-9d2e-0b9f1c2a7e55")
# Dinero's ExternalReference holds at most 128 characters.
EXTERNAL_REFERENCE_MAX = 128
_UNSAFE = re.compile(r"[^A-Za-z0-9_.:-]")


def event_id(tenant_id: str, source: str, source_event_id: str) -> str:
    """The id of a canonical event, derived from its source and the source's own id."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, f"{tenant_id}/{source}/{source_event_id}"))


def posting_key(tenant_id: str, kind: str, *parts: str) -> str:
    """The key of one Dinero document, used as its ExternalReference (≤ 128 characters).

    Readable when it fits (`bogfoer:shop-a:invoice:shopify:1042`); otherwise the tail is
    replaced by a hash so the key stays unique and within Dinero's limit.
    """
    clean = [_UNSAFE.sub("_", p) for p in parts]
    key = ":".join(["bogfoer", tenant_id, kind, *clean])
    if len(key) <= EXTERNAL_REFERENCE_MAX:
        return key
    digest = hashlib.sha256(key.encode()).hexdigest()[:40]
    head = ":".join(["bogfoer", tenant_id, kind])[: EXTERNAL_REFERENCE_MAX - 42]
    return f"{head}:{digest}"
