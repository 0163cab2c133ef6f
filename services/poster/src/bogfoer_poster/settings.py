"""poster's configuration; nothing else in the service reads the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from bogfoer_contracts.topology import POSTER
from bogfoer_dinero import DineroConfig
from bogfoer_kit.settings import ServiceSettings


class PosterSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOGFOER_POSTER_", extra="ignore", frozen=True)

    http_port: int = 8003
    database_url: str = Field(validation_alias="DATABASE_URL")
    # The consumer groups are <group_id>.<subscription> (bogfoer_contracts.topology).
    group_id: str = POSTER.principal
    db_schema: str = "poster"

    # Bearer token for the tenant admin API (settings, Dinero connection, re-drive).
    admin_token: SecretStr
    # Key that seals Dinero credentials at rest (SecretSealer.generate_key()).
    credentials_key: SecretStr

    dinero_api_url: str = "https://api.dinero.dk"
    dinero_connect_token_url: str = "https://connect.visma.com/connect/token"  # noqa: S105
    dinero_legacy_token_url: str = "https://authz.dinero.dk/dineroapi/oauth/token"  # noqa: S105
    dinero_connect_client_id: str | None = None
    dinero_connect_client_secret: SecretStr | None = None
    dinero_legacy_client_id: str | None = None
    dinero_legacy_client_secret: SecretStr | None = None
    dinero_refresh_grace_seconds: float = 0.0
    dinero_rate_limit: int = 100
    dinero_rate_window_seconds: float = 60.0
    # The part of each organisation's limit no process of ours takes: room for the
    # bookkeeper's (and the shop's other tools') own calls with the same client id.
    dinero_rate_reserved_share: float = Field(default=0.1, ge=0, lt=1)
    dinero_read_timeout_seconds: float = 30.0
    # Checking settings against Dinero waits on the organisation's rate limit, which can take
    # a whole window; an operator hears 503 with Retry-After after this long instead.
    admin_dinero_timeout_seconds: float = 10.0

    # How long a claimed posting belongs to the replica that claimed it (renewed at every
    # step): longer than one attempt can take, rate-limit waits and timeouts included.
    claim_lease_seconds: float = 300.0
    # How often idle workers look for due postings; new commands wake them at once.
    poll_interval_seconds: float = 0.5
    # A retryable failure waits base * 2^attempt, capped (plus Dinero's Retry-After).
    retry_base_seconds: float = 1.0
    retry_cap_seconds: float = 300.0
    # How often each organisation's booked drafts are looked for while postings wait for
    # them (one call; doubling while nothing is booked).
    draft_poll_min_seconds: float = 30.0
    draft_poll_max_seconds: float = 3600.0
    # How old an organisation's chart (accounts and their VAT) may be when a document is
    # checked against it before it is written.
    chart_max_age_seconds: float = 300.0
    # Daily summaries: a day closes this long after it ends in Denmark, once its tenant
    # sent no summary member for `summary_quiet_seconds`; looked for every
    # `summary_check_seconds`.
    summary_close_after_seconds: float = 7200.0
    summary_quiet_seconds: float = 600.0
    summary_check_seconds: float = 30.0

    def dinero_config(self) -> DineroConfig:
        return DineroConfig.from_settings(self)
