"""The client's configuration: where Dinero lives, who we are to it, and how patient to be.

A plain model, not a settings class: the service that owns the client reads its environment
and builds this (tests point the three URLs at the sandbox).
"""

from __future__ import annotations

from typing import Protocol, Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr

__all__ = ["DineroConfig", "DineroSettings"]


class DineroSettings(Protocol):
    """The `dinero_*` fields every program that calls Dinero has in its settings (the poster,
    the reconciler), read from its own environment."""

    @property
    def dinero_api_url(self) -> str: ...
    @property
    def dinero_connect_token_url(self) -> str: ...
    @property
    def dinero_legacy_token_url(self) -> str: ...
    @property
    def dinero_connect_client_id(self) -> str | None: ...
    @property
    def dinero_connect_client_secret(self) -> SecretStr | None: ...
    @property
    def dinero_legacy_client_id(self) -> str | None: ...
    @property
    def dinero_legacy_client_secret(self) -> SecretStr | None: ...
    @property
    def dinero_refresh_grace_seconds(self) -> float: ...
    @property
    def dinero_rate_limit(self) -> int: ...
    @property
    def dinero_rate_window_seconds(self) -> float: ...
    @property
    def dinero_read_timeout_seconds(self) -> float: ...


class DineroConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    api_base_url: str = "https://api.dinero.dk"
    #: Visma Connect token endpoint (authorization code and refresh grants).
    connect_token_url: str = "https://connect.visma.com/connect/token"  # noqa: S105 - a URL
    #: The legacy API-key password grant for personal integrations.
    legacy_token_url: str = "https://authz.dinero.dk/dineroapi/oauth/token"  # noqa: S105 - a URL

    connect_client_id: str | None = None
    connect_client_secret: SecretStr | None = None
    legacy_client_id: str | None = None
    legacy_client_secret: SecretStr | None = None

    #: The grace period configured for our app in Visma Connect (5-60 s, or 0 for none): an
    #: uncertain refresh is replayed only inside it. 0 is the safe default: never replay.
    refresh_grace_seconds: float = Field(default=0.0, ge=0, le=60)
    #: Renew an access token this long before it expires, so no call races the expiry.
    token_renew_margin_seconds: float = Field(default=120.0, ge=0)

    #: Dinero's documented limit: 100 requests a minute per (client id, organisation).
    rate_limit_requests: int = Field(default=100, ge=1)
    rate_limit_window_seconds: float = Field(default=60.0, gt=0)

    #: Attempts for a retryable call (reads; writes only on 429) before RetryLater reaches
    #: the caller. The poster retries later on its own schedule.
    max_attempts: int = Field(default=4, ge=1)
    backoff_base_seconds: float = Field(default=0.5, ge=0)
    #: A 429 without Retry-After: Dinero's advice is to wait up to a minute.
    backoff_cap_seconds: float = Field(default=60.0, ge=0)

    connect_timeout_seconds: float = Field(default=5.0, gt=0)
    #: Bounds how long a write may hang before it becomes an UnknownOutcome.
    read_timeout_seconds: float = Field(default=30.0, gt=0)

    @classmethod
    def from_settings(cls, settings: DineroSettings) -> Self:
        return cls(
            api_base_url=settings.dinero_api_url,
            connect_token_url=settings.dinero_connect_token_url,
            legacy_token_url=settings.dinero_legacy_token_url,
            connect_client_id=settings.dinero_connect_client_id,
            connect_client_secret=settings.dinero_connect_client_secret,
            legacy_client_id=settings.dinero_legacy_client_id,
            legacy_client_secret=settings.dinero_legacy_client_secret,
            refresh_grace_seconds=settings.dinero_refresh_grace_seconds,
            rate_limit_requests=settings.dinero_rate_limit,
            rate_limit_window_seconds=settings.dinero_rate_window_seconds,
            read_timeout_seconds=settings.dinero_read_timeout_seconds,
        )
