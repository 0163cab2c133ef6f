"""ledger's configuration; nothing else in the service reads the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bogfoer_kit.settings import ServiceSettings


class LedgerSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOGFOER_LEDGER_", extra="ignore", frozen=True)

    http_port: int = 8004
    database_url: str = Field(validation_alias="DATABASE_URL")
    group_id: str = "bogfoer-ledger"
    # Postgres schema of the ledger's own tables.
    db_schema: str = "ledger"
