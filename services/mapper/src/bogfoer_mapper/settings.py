"""mapper's configuration; nothing else in the service reads the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from bogfoer_contracts.topology import MAPPER
from bogfoer_kit.settings import ServiceSettings
from bogfoer_mapper.states import DEFAULT_SIZE


class MapperSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BOGFOER_MAPPER_", extra="ignore", frozen=True)

    http_port: int = 8002
    database_url: str = Field(validation_alias="DATABASE_URL")
    # The consumer groups are <group_id>.<subscription> (bogfoer_contracts.topology).
    group_id: str = MAPPER.principal
    # Postgres schema of the mapper's own tables; no other service reads them.
    db_schema: str = "mapper"
    # Order states kept parsed, as this process wrote them (`bogfoer_mapper.states`).
    state_cache_size: int = Field(default=DEFAULT_SIZE, ge=0)
