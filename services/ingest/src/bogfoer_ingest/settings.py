"""ingest's configuration; nothing else in the service reads the environment."""

from __future__ import annotations

from bogfoer_kit.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOGFOER_INGEST_", extra="ignore", frozen=True)

    http_port: int = 8001
    # Shop orders are a few kB; Stripe caps webhook payloads well below this.
    max_body_bytes: int = 1_048_576
