"""ingest's configuration; nothing else in the service reads the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from bogfoer_contracts.topology import INGEST
from bogfoer_kit.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOGFOER_INGEST_", extra="ignore", frozen=True)

    http_port: int = 8001
    database_url: str = Field(validation_alias="DATABASE_URL")
    db_schema: str = "ingest"
    # The consumer groups are <group_id>.<subscription> (bogfoer_contracts.topology).
    group_id: str = INGEST.principal
    # Shop orders are a few kB; Stripe caps webhook payloads well below this.
    max_body_bytes: int = 1_048_576
    # Replay window for Bogfoer-Signature and Stripe-Signature (Stripe's own default),
    # on either side of now.
    signature_tolerance_seconds: int = 300
    # How long a request waits for Kafka before answering 503: long enough for acks=all on
    # a healthy cluster, short enough that a client never times out first (issue 12).
    kafka_deadline_seconds: float = 1.5
    # The 503's Retry-After: a broker restart takes seconds, not minutes.
    kafka_retry_after_seconds: int = 5
    # How often each replica asks PostgreSQL which tenants' credentials changed (it caches
    # them): a revoked key or secret stops working everywhere within about this long.
    tenant_refresh_seconds: float = 1.0
    # Bearer token for the tenant admin API.
    admin_token: SecretStr
    # Key that seals tenants' secrets at rest (SecretSealer.generate_key()).
    secrets_key: SecretStr
    # Stripe's API; tests and the demo point it at the local Stripe double.
    stripe_api_base: str = "https://api.stripe.com"
    # Where shops and Stripe reach ingest from outside (e.g. https://ingest.bogfoer.dk): the
    # addresses onboarding shows and the webhook endpoint it registers in Stripe. Unset: the
    # address the admin request came to (fine locally, wrong behind a proxy).
    public_url: str | None = None
    # How often an idle replica looks for a Stripe backfill to carry out (a new one wakes it).
    backfill_poll_seconds: float = 5.0
