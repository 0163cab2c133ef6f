"""The settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bogfoer_kit.auth import Guard, StaticTokens, TokenGrant, settings_authenticator


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

    # Who may call the admin and ops routes and read /metrics: a JSON list of
    # {"subject", "role": "viewer"|"operator"|"tenant", "token", "tenants"} (bogfoer_kit.auth).
    # None by default: a service with no grant refuses every protected route.
    auth_tokens: list[TokenGrant] = Field(default_factory=list)
    # The operator token machine clients use (onboarding scripts, the demo); ingest, the
    # poster and the ledger require one.
    admin_token: SecretStr | None = None

    def authenticator(self) -> StaticTokens:
        return settings_authenticator(self.auth_tokens, self.admin_token)

    def guard(self) -> Guard:
        return Guard(self.authenticator())
