"""The settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # No default: a service must never guess where Kafka is.
    kafka_bootstrap_servers: str = Field(validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Generous enough for one Dinero call with its retries to finish on SIGTERM.
    graceful_timeout_seconds: float = 20.0
    # "none" in tests, "console" for people, "otlp" with OTEL_EXPORTER_OTLP_ENDPOINT in prod.
    otel_exporter: str = "none"
    log_level: str = "INFO"
    # "json" (one object a line, with trace ids) for log collectors; "text" for people.
    log_format: str = "text"
