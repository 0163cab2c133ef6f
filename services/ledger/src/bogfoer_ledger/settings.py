"""ledger's configuration; nothing else in the service reads the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from bogfoer_contracts.topology import LEDGER
from bogfoer_kit.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOGFOER_LEDGER_", extra="ignore", frozen=True)

    http_port: int = 8004
    database_url: str = Field(validation_alias="DATABASE_URL")
    # The consumer groups are <group_id>.<subscription> (bogfoer_contracts.topology).
    group_id: str = LEDGER.principal
    # Postgres schema of the ledger's own tables.
    db_schema: str = "ledger"
    # The operator token of the ops API (and a first login to the web app).
    admin_token: SecretStr

    # A non-final posting older than this is "stuck" on the ops pages (the alert rule in
    # deploy/prometheus has its own threshold, also an hour).
    stuck_after_seconds: float = 3600.0
    # How long a web session lasts; it also ends when its token is removed from settings.
    session_hours: float = 12.0
    # Cookies only over HTTPS; set false for plain-HTTP local runs (the demo, the tests).
    session_cookie_secure: bool = True
    # How often the consumer lag of every bogfoer-* group is measured (ops pages, /metrics).
    lag_interval_seconds: float = 15.0
    # PostgreSQL roles granted read-only access to `postings` at start: the reconciler's
    # (`bogfoer reconcile` reads the table; in production it runs as the poster's role).
    # A JSON list, e.g. ["bogfoer_poster"].
    postings_readers: list[str] = Field(default_factory=list)
    # Rows per page on the ops pages.
    page_size: int = Field(default=50, ge=5, le=500)
