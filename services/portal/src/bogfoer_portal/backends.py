"""The poster's and ingest's admin APIs, as the portal calls them with its operator tokens.

A refusal comes back as the `ApiError` the service answered (its status, reason and detail),
so the platform API relays it unchanged and the pages put it into words; a service that does
not answer is a 503 `<service>_unreachable`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter

from bogfoer_contracts.admin import (
    Backfill,
    BackfillRequest,
    Chart,
    CurrentSettings,
    DepositAccountView,
    DineroConnection,
    NewDepositAccount,
    OrganisationView,
    StripeConnected,
    StripeConnection,
    TenantView,
)
from bogfoer_contracts.tenants import TenantConfig, TenantSettings
from bogfoer_kit.errors import ApiError
from bogfoer_portal.settings import PortalSettings

T = TypeVar("T")


class _Service:
    def __init__(self, name: str, base: str, token: str, http: httpx.AsyncClient) -> None:
        self.name = name
        self.base = base.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.http = http

    def __repr__(self) -> str:  # never the token
        return f"_Service({self.name!r}, {self.base!r})"

    async def call(
        self, method: str, path: str, body: BaseModel | dict[str, Any] | None = None
    ) -> httpx.Response:
        content = None
        if isinstance(body, BaseModel):
            content = body.model_dump_json(by_alias=True, exclude_unset=False).encode()
        elif body is not None:
            content = TypeAdapter(dict[str, Any]).dump_json(body)
        headers = self.headers | ({"Content-Type": "application/json"} if content else {})
        try:
            response = await self.http.request(
                method, self.base + path, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise ApiError(503, f"{self.name}_unreachable", f"{type(exc).__name__}: {exc}") from exc
        if response.is_success:
            return response
        try:
            error = response.json()["error"]
            reason, detail = str(error["reason"]), error.get("detail")
        except (ValueError, KeyError, TypeError):
            reason, detail = f"{self.name}_error", response.text[:500]
        raise ApiError(response.status_code, reason, detail)

    async def read(self, model: type[T], method: str, path: str, body: Any = None) -> T:
        response = await self.call(method, path, body)
        return TypeAdapter(model).validate_json(response.content)


class Backends:
    """One HTTP client for both services; opened in the lifespan, closed at shutdown."""

    def __init__(self, settings: PortalSettings, http: httpx.AsyncClient | None = None) -> None:
        self.http = http or httpx.AsyncClient(timeout=settings.backend_timeout_seconds)
        self.poster = _Service(
            "poster", settings.poster_url, settings.poster_token.get_secret_value(), self.http
        )
        self.ingest = _Service(
            "ingest", settings.ingest_url, settings.ingest_token.get_secret_value(), self.http
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- the poster: Dinero --------------------------------------------------------------

    async def dinero_connection(self, tenant: str) -> DineroConnection:
        return await self.poster.read(DineroConnection, "GET", f"/v1/tenants/{tenant}/dinero")

    async def exchange_code(self, tenant: str, code: str, redirect_uri: str, verifier: str) -> None:
        await self.poster.call(
            "POST",
            f"/v1/tenants/{tenant}/dinero/authorization-code",
            {"code": code, "redirect_uri": redirect_uri, "code_verifier": verifier},
        )

    async def organisations(self, tenant: str) -> list[OrganisationView]:
        return await self.poster.read(
            list[OrganisationView], "GET", f"/v1/tenants/{tenant}/dinero/organisations"
        )

    async def chart(self, tenant: str, organisation: int) -> Chart:
        return await self.poster.read(
            Chart, "GET", f"/v1/tenants/{tenant}/dinero/organisations/{organisation}/chart"
        )

    async def create_deposit_account(
        self, tenant: str, organisation: int, account: NewDepositAccount
    ) -> DepositAccountView:
        return await self.poster.read(
            DepositAccountView,
            "POST",
            f"/v1/tenants/{tenant}/dinero/organisations/{organisation}/deposit-accounts",
            account,
        )

    async def check_settings(self, tenant: str, settings: TenantSettings) -> None:
        await self.poster.call("POST", f"/v1/tenants/{tenant}/settings/check", settings)

    async def put_settings(self, tenant: str, settings: TenantSettings) -> TenantConfig:
        return await self.poster.read(
            TenantConfig, "PUT", f"/v1/tenants/{tenant}/settings", settings
        )

    async def current_settings(self, tenant: str) -> CurrentSettings | None:
        try:
            return await self.poster.read(CurrentSettings, "GET", f"/v1/tenants/{tenant}/settings")
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    async def resume(self, tenant: str) -> None:
        await self.poster.call("POST", f"/v1/tenants/{tenant}/unpark")

    # --- ingest: the shop's and Stripe's doors -------------------------------------------

    async def tenant(self, tenant: str) -> TenantView:
        return await self.ingest.read(TenantView, "GET", f"/v1/admin/tenants/{tenant}")

    async def set_signing_secret(self, tenant: str, secret: str) -> None:
        await self.ingest.call(
            "PUT", f"/v1/admin/tenants/{tenant}/credentials", {"hmac_secret": secret}
        )

    async def connect_stripe(self, tenant: str, connection: StripeConnection) -> StripeConnected:
        body = {
            "api_key": connection.api_key.get_secret_value(),
            "webhook_secret": (
                connection.webhook_secret.get_secret_value()
                if connection.webhook_secret is not None
                else None
            ),
        }
        return await self.ingest.read(
            StripeConnected, "PUT", f"/v1/admin/tenants/{tenant}/stripe", body
        )

    async def start_backfill(self, tenant: str, since: dt.date) -> Backfill:
        return await self.ingest.read(
            Backfill,
            "POST",
            f"/v1/admin/tenants/{tenant}/stripe/backfills",
            BackfillRequest(since=since),
        )

    async def backfill(self, tenant: str, backfill_id: str) -> Backfill:
        return await self.ingest.read(
            Backfill, "GET", f"/v1/admin/tenants/{tenant}/stripe/backfills/{backfill_id}"
        )
