"""JSON Schema files generated from the models: `python -m bogfoer_contracts.schemas`.

The committed files in contracts/schemas/ are what other teams (shop platforms, ops
tooling) read; tests/test_schemas.py fails when a model changes without regenerating.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from bogfoer_contracts.events import SALES_EVENT, TYPED_INBOUND_EVENT
from bogfoer_contracts.ops import OPS_ACTION
from bogfoer_contracts.postings import POSTING_COMMAND, PostingResult
from bogfoer_contracts.tenants import TenantConfig

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"

_SOURCES: dict[str, TypeAdapter[Any]] = {
    "sales-event.v1": SALES_EVENT,
    "inbound-event.v1": TYPED_INBOUND_EVENT,
    "tenant-config.v1": TypeAdapter(TenantConfig),
    "posting-command.v1": POSTING_COMMAND,
    "posting-result.v1": TypeAdapter(PostingResult),
    "ops-action.v1": OPS_ACTION,
}


def generate() -> dict[str, str]:
    """File name -> file text, deterministic (sorted keys, trailing newline)."""
    return {
        f"{name}.schema.json": json.dumps(
            adapter.json_schema(mode="validation"), indent=2, sort_keys=True, ensure_ascii=False
        )
        + "\n"
        for name, adapter in _SOURCES.items()
    }


def main() -> int:
    SCHEMA_DIR.mkdir(exist_ok=True)
    for name, text in generate().items():
        (SCHEMA_DIR / name).write_text(text)
        sys.stdout.write(f"wrote {SCHEMA_DIR / name}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
