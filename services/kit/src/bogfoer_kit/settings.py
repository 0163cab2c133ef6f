"""The settings every service shares; each service subclasses with its own env prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bogfoer_kit.auth import Guard, StaticTokens, TokenGrant, settings_authenticator


class WebSettings(BaseSettings):
    """What every service has, Kafka or not (the portal speaks only HTTP and PostgreSQL)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # PostgreSQL over TLS: the CA of the server's certificate (CloudNativePG: `<cluster>-ca`,
    # key `ca.crt`); the host name is verified. Unset: as DATABASE_URL's `sslmode` says.
    database_ca_file: str | None = Field(default=None, validation_alias="DATABASE_CA_FILE")
    http_host: str = "127.0.0.1"
    http_port: int = 8000
    # Generous enough for one Dinero call with its retries to finish on SIGTERM.
    graceful_timeout_seconds: float = 20.0
    # A service that has not finished starting after this exits, so that it is started
    # again (a start can hang for good: aiokafka's producer, bootstrapped while the broker
    # shuts down, never gets a producer id). Slow starts on a busy node stay well within.
    startup_timeout_seconds: float = 60.0
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


class ServiceSettings(WebSettings):
    """A service of the pipeline: the above, and Kafka."""

    # No default: a service must never guess where Kafka is.
    kafka_bootstrap_servers: str = Field(validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    # PLAINTEXT on the devstack; SASL_SSL against a TLS listener with SCRAM users (Strimzi).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = Field(
        default="PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "PLAIN"] = Field(
        default="SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM"
    )
    # The CA that signed the brokers' certificates (Strimzi: `<cluster>-cluster-ca-cert`,
    # key `ca.crt`); unset: the system's CAs. Host names are always verified.
    kafka_ca_file: str | None = Field(default=None, validation_alias="KAFKA_CA_FILE")
    # The service's own Kafka user (its Strimzi KafkaUser; the password is in its Secret).
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    # "create": declare the missing topics of bogfoer_contracts.topics (development);
    # "verify": the topics belong to Strimzi's Topic Operator (production), so the service
    # starts only once all exist, and its Kafka user needs no right to create topics.
    kafka_topics: Literal["create", "verify"] = "create"
    # The most records one poll of a consumer takes (`bogfoer_kit.consumer.POLL_RECORDS`):
    # everything fetched, so the next fetch overlaps this poll's work. Smaller means shorter
    # transactions and less memory in hand, and slower consumers.
    kafka_poll_records: int = Field(default=10_000, ge=1)

    @model_validator(mode="after")
    def _sasl_needs_a_user(self) -> ServiceSettings:
        if self.kafka_security_protocol == "SASL_SSL" and not (
            self.kafka_username and self.kafka_password
        ):
            raise ValueError(
                "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs the Kafka username and password"
            )
        return self
