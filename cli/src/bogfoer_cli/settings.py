"""The command line's configuration; nothing else in `bogfoer_cli` reads the environment.

The reconciler reads the ledger's schema (read-only) and reaches Dinero with the poster's
sealed credentials, so it takes the database URL the services use and the poster's
credentials key and Dinero settings (`BOGFOER_RECONCILE_*`, see docs/operations.md).
"""

from __future__ import annotations

import ssl
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bogfoer_dinero import DineroConfig


class ReconcileSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOGFOER_RECONCILE_", extra="ignore", frozen=True)

    kafka_bootstrap_servers: str = Field(validation_alias="KAFKA_BOOTSTRAP_SERVERS")
    # As the services: PLAINTEXT on the devstack, SASL_SSL (SCRAM) against Strimzi's listener,
    # with its own Kafka user (Read on the two topics it replays, Write on ops.actions.v1).
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = Field(
        default="PLAINTEXT", validation_alias="KAFKA_SECURITY_PROTOCOL"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "PLAIN"] = Field(
        default="SCRAM-SHA-512", validation_alias="KAFKA_SASL_MECHANISM"
    )
    kafka_ca_file: str | None = Field(default=None, validation_alias="KAFKA_CA_FILE")
    kafka_username: str | None = None
    kafka_password: SecretStr | None = None
    database_url: str = Field(validation_alias="DATABASE_URL")
    database_ca_file: str | None = Field(default=None, validation_alias="DATABASE_CA_FILE")
    ledger_schema: str = "ledger"
    poster_schema: str = "poster"
    # The poster's key: Dinero credentials are sealed with it (SecretSealer).
    credentials_key: SecretStr

    dinero_api_url: str = "https://api.dinero.dk"
    dinero_connect_token_url: str = "https://connect.visma.com/connect/token"  # noqa: S105
    dinero_legacy_token_url: str = "https://authz.dinero.dk/dineroapi/oauth/token"  # noqa: S105
    dinero_connect_client_id: str | None = None
    dinero_connect_client_secret: SecretStr | None = None
    dinero_legacy_client_id: str | None = None
    dinero_legacy_client_secret: SecretStr | None = None
    dinero_refresh_grace_seconds: float = 0.0
    dinero_read_timeout_seconds: float = 30.0
    # Dinero's limit per organisation, shared with the poster through PostgreSQL; the
    # reconciler takes at most `dinero_share` of it, so the poster keeps the rest.
    dinero_rate_limit: int = 100
    dinero_rate_window_seconds: float = 60.0
    dinero_share: float = Field(default=0.3, gt=0, le=1)
    # The part of the limit no process of ours takes (the poster's setting of the same name).
    dinero_rate_reserved_share: float = Field(default=0.1, ge=0, lt=1)

    # Events this long before --from are replayed too: a refund in the range needs the
    # order it refunds (placed up to three months earlier by default).
    lookback_days: int = 92
    # A posting not final this long after it was recorded is reported as stuck.
    stuck_after_hours: float = 24.0
    # Bucket files the replay spreads orders over (memory holds one bucket's orders; a bucket
    # larger than 256 kB is split again, so memory does not grow with the stream).
    spool_buckets: int = 1024

    def kafka_options(self) -> dict[str, Any]:
        """aiokafka's security arguments (the same for the consumer, admin and producer)."""
        if self.kafka_security_protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {
            "security_protocol": self.kafka_security_protocol,
            "ssl_context": ssl.create_default_context(cafile=self.kafka_ca_file),
        }
        if self.kafka_security_protocol == "SASL_SSL":
            options |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_username,
                "sasl_plain_password": (
                    self.kafka_password.get_secret_value() if self.kafka_password else None
                ),
            }
        return options

    def database_ssl(self) -> ssl.SSLContext | None:
        """TLS to PostgreSQL with this CA (host name verified); None: as DATABASE_URL says."""
        if self.database_ca_file is None:
            return None
        return ssl.create_default_context(cafile=self.database_ca_file)

    def dinero_config(self) -> DineroConfig:
        return DineroConfig.from_settings(self)
