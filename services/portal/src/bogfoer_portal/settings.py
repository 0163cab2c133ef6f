"""The portal's configuration; nothing else in the service reads the environment."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from bogfoer_kit.settings import WebSettings


class PortalSettings(WebSettings):
    model_config = SettingsConfigDict(env_prefix="BOGFOER_PORTAL_", extra="ignore", frozen=True)

    http_port: int = 8005
    database_url: str = Field(validation_alias="DATABASE_URL")
    db_schema: str = "portal"
    # The operator token of the platform API (creating onboardings, carrying out steps).
    admin_token: SecretStr
    # Key that seals the PKCE verifiers and authorisation codes in flight
    # (SecretSealer.generate_key()).
    secrets_key: SecretStr
    # Where shop owners' browsers reach the portal (e.g. https://portal.bogfoer.dk): the
    # one-time links and the Visma Connect redirect URI are made from it. Unset: the address
    # the request came to (fine locally, wrong behind a proxy).
    public_url: str | None = None

    # The services the steps are carried out through, and the operator tokens the portal
    # holds for them (subject shown in their logs and trails: whoever they were granted to).
    poster_url: str = "http://127.0.0.1:8003"
    poster_token: SecretStr
    ingest_url: str = "http://127.0.0.1:8001"
    ingest_token: SecretStr
    backend_timeout_seconds: float = 30.0

    # Visma Connect: the consent page and our app's client id (its secret stays with the
    # poster, which exchanges the code).
    dinero_connect_authorize_url: str = "https://connect.visma.com/connect/authorize"
    dinero_connect_client_id: str = ""
    dinero_connect_scope: str = "dineropublicapi:read dineropublicapi:write offline_access"
    # How long a consent may take between leaving for Visma Connect and coming back.
    authorization_minutes: float = 10.0

    # A one-time link works once, within this many hours of being made.
    link_hours: float = 72.0
    # A shop owner's session after the link: long enough to finish and watch a backfill.
    session_hours: float = 12.0
    # Cookies only over HTTPS; set false for plain-HTTP local runs (the demo, the tests).
    session_cookie_secure: bool = True
